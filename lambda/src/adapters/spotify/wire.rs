//! Spotify's payloads read into the domain's types: lenient per field, strict on shape,
//! bounded in size, and passing on only links and images from trusted hosts.

use std::time::Duration;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::ports::{SpotifyError, TokenGrant};
use crate::domain::privacy::{id_in_link, is_spotify_id};
use crate::domain::{
    Credits, Image, ImageHosts, Item, ItemKind, Link, MAX_ARTISTS, MAX_CREDITED, MAX_IMAGES, MAX_NAME_CHARS, Playback,
    Played, is_spotify_link,
};

/// The longest an access token is taken to live, whatever `expires_in` says (Spotify: 1 h).
const MAX_TOKEN_LIFE_SECONDS: f64 = 86_400.0;

/// `{"error": {"status": 403, "message": "..."}}` from the Web API.
pub(super) fn web_api_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.get("message")?.as_str().map(|m| m.chars().take(200).collect())
}

/// `{"error": {"status": 429, "message": "...", "reason": "QUOTA_EXCEEDED"}}`: the reason a
/// Web API error gives, if any.
pub(super) fn web_api_reason(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.get("reason")?.as_str().map(str::to_owned)
}

/// `{"error": "invalid_grant", "error_description": "..."}` from the accounts service.
pub(super) fn accounts_error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.as_str().map(str::to_owned)
}

#[derive(Deserialize)]
struct TokenGrantWire {
    access_token: String,
    expires_in: serde_json::Number,
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// The accounts service's token answer. An absurd `expires_in` is taken as a day at most.
pub fn parse_token_grant(body: &[u8]) -> Result<TokenGrant, SpotifyError> {
    let wire: TokenGrantWire = serde_json::from_slice(body).map_err(|e| malformed("token", &e))?;
    if wire.access_token.is_empty() {
        return Err(SpotifyError::Malformed("token answer has an empty access_token".into()));
    }
    let seconds = wire.expires_in.as_f64().unwrap_or(0.0);
    let seconds = if seconds.is_finite() { seconds.clamp(0.0, MAX_TOKEN_LIFE_SECONDS) } else { 0.0 };
    Ok(TokenGrant {
        access_token: SecretString::from(wire.access_token),
        expires_in: Duration::from_secs_f64(seconds),
        refresh_token: wire.refresh_token.filter(|t| !t.is_empty()).map(SecretString::from),
        scope: wire.scope.filter(|s| !s.trim().is_empty()),
    })
}

/// Describes a JSON failure by position and kind only: serde's own message can quote
/// the input, and a token answer must never be quoted.
pub(super) fn malformed(what: &str, e: &serde_json::Error) -> SpotifyError {
    SpotifyError::Malformed(format!(
        "{what} answer: {:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    ))
}

// Lenient where the contract allows: one odd field is dropped (an image with a width of
// -1, a link that is not a string), never the whole answer. Strict where it matters: the
// shape of the answer, the item's `type`, `played_at`, and the token answer.

/// The value read as `T`, or `T`'s default when it is not one.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).unwrap_or_default())
}

/// The entries of a list that read as `T`; the others are dropped.
fn lenient_list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(values) => values.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect(),
        _ => Vec::new(),
    })
}

/// A name: text as it is, a number as its digits, anything else empty.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

/// At most `MAX_NAME_CHARS` characters, so that every answer stays small enough to share.
fn bounded(name: String) -> String {
    if name.chars().count() > MAX_NAME_CHARS { name.chars().take(MAX_NAME_CHARS).collect() } else { name }
}

#[derive(Deserialize)]
struct CurrentlyPlayingWire {
    #[serde(default, deserialize_with = "lenient")]
    is_playing: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    progress_ms: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    currently_playing_type: Option<String>,
    item: Option<Value>,
    #[serde(default, deserialize_with = "lenient")]
    context: Option<ContextWire>,
}

/// Where a play comes from; only its URI is kept (the privacy rules' playlists).
#[derive(Deserialize, Default)]
struct ContextWire {
    #[serde(default, deserialize_with = "lenient")]
    uri: Option<String>,
}

impl ContextWire {
    /// `spotify:kind:id`, bounded; anything else is unknown.
    fn uri(self) -> Option<String> {
        self.uri.filter(|u| u.len() <= 120 && u.starts_with("spotify:") && u.chars().all(|c| c.is_ascii_graphic()))
    }
}

/// A `CurrentlyPlayingObject`. Ads, unknown types and null items are `Playback::Nothing`.
/// Images only from Spotify's CDNs.
pub fn parse_currently_playing(body: &[u8]) -> Result<Playback, SpotifyError> {
    parse_currently_playing_from(body, &ImageHosts::default())
}

/// `parse_currently_playing`, with images also from `hosts`.
pub fn parse_currently_playing_from(body: &[u8], hosts: &ImageHosts) -> Result<Playback, SpotifyError> {
    let wire: CurrentlyPlayingWire = serde_json::from_slice(body).map_err(|e| malformed("currently-playing", &e))?;
    if matches!(wire.currently_playing_type.as_deref(), Some("ad" | "unknown")) {
        return Ok(Playback::Nothing);
    }
    let Some(item) = wire.item.filter(|v| !v.is_null()) else {
        return Ok(Playback::Nothing);
    };
    Ok(match parse_item(item, hosts)? {
        Some(item) => Playback::Item {
            item,
            is_playing: wire.is_playing.unwrap_or(false),
            progress_ms: wire.progress_ms,
            context: wire.context.and_then(ContextWire::uri),
        },
        None => Playback::Nothing,
    })
}

#[derive(Deserialize)]
struct RecentlyPlayedWire {
    items: Vec<PlayHistoryWire>,
}

#[derive(Deserialize)]
struct PlayHistoryWire {
    track: Option<Value>,
    played_at: String,
    #[serde(default, deserialize_with = "lenient")]
    context: Option<ContextWire>,
}

/// The entries of a `CursorPagingPlayHistoryObject`, most recent first; an entry without a
/// track that reads is skipped.
pub fn parse_recently_played(body: &[u8]) -> Result<Vec<Played>, SpotifyError> {
    parse_recently_played_from(body, &ImageHosts::default())
}

/// `parse_recently_played`, with images also from `hosts`.
pub fn parse_recently_played_from(body: &[u8], hosts: &ImageHosts) -> Result<Vec<Played>, SpotifyError> {
    let wire: RecentlyPlayedWire = serde_json::from_slice(body).map_err(|e| malformed("recently-played", &e))?;
    let mut plays = Vec::with_capacity(wire.items.len());
    for entry in wire.items {
        let played_at = OffsetDateTime::parse(&entry.played_at, &Rfc3339)
            .map_err(|_| SpotifyError::Malformed("recently-played answer: played_at is not an RFC 3339 time".into()))?;
        let Some(track) = entry.track.filter(|v| !v.is_null()) else { continue };
        if let Some(item) = parse_item(track, hosts)? {
            plays.push(Played { item, played_at, context: entry.context.and_then(ContextWire::uri) });
        }
    }
    Ok(plays)
}

#[derive(Deserialize, Default)]
struct ExternalUrls {
    #[serde(default, deserialize_with = "lenient")]
    spotify: Option<String>,
}

impl ExternalUrls {
    /// The link, if it goes to `https://open.spotify.com/`.
    fn spotify(self) -> Option<String> {
        self.spotify.filter(|u| is_spotify_link(u))
    }
}

#[derive(Deserialize)]
struct ImageWire {
    url: String,
    width: Option<u32>,
    height: Option<u32>,
}

#[derive(Deserialize)]
struct NamedWire {
    #[serde(deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "lenient")]
    external_urls: ExternalUrls,
}

/// An album or a show: a name, a link and images.
#[derive(Deserialize, Default)]
struct CollectionWire {
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    uri: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    external_urls: ExternalUrls,
    #[serde(default, deserialize_with = "lenient_list")]
    images: Vec<ImageWire>,
}

/// The id of an artist, album or show (`kind`): its `id`, else the one in its
/// `spotify:kind:ID` URI, else the one in its open.spotify.com link.
fn id_of(id: &Option<String>, uri: &Option<String>, links: &ExternalUrls, kind: &str) -> Option<String> {
    let from_uri = || {
        let uri = uri.as_deref()?;
        let id = uri.strip_prefix("spotify:")?.strip_prefix(kind)?.strip_prefix(':')?;
        is_spotify_id(id).then_some(id)
    };
    id.as_deref()
        .filter(|id| is_spotify_id(id))
        .or_else(from_uri)
        .or_else(|| links.spotify.as_deref().and_then(|url| id_in_link(url, kind)))
        .map(str::to_owned)
}

/// Every artist's id, from the list as Spotify sent it (an entry too odd to show still
/// counts), or `None` when one cannot be read, the list is not one, or it is too long.
fn artist_ids(artists: &Value) -> Option<Vec<String>> {
    let artists = artists.as_array().filter(|list| list.len() <= MAX_CREDITED)?;
    let text = |entry: &Value, key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
    artists
        .iter()
        .map(|entry| {
            let links = ExternalUrls {
                spotify: entry
                    .get("external_urls")
                    .and_then(|u| u.get("spotify"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            };
            id_of(&text(entry, "id"), &text(entry, "uri"), &links, "artist")
        })
        .collect()
}

#[derive(Deserialize)]
struct TrackWire {
    #[serde(default, deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "lenient")]
    external_urls: ExternalUrls,
    /// As sent: read for show by `lenient_list`, and whole for the credits.
    #[serde(default)]
    artists: Value,
    #[serde(default, deserialize_with = "lenient")]
    album: CollectionWire,
    #[serde(default, deserialize_with = "lenient")]
    duration_ms: u64,
    #[serde(default, deserialize_with = "lenient")]
    explicit: bool,
    #[serde(default, deserialize_with = "lenient")]
    is_local: bool,
}

#[derive(Deserialize)]
struct EpisodeWire {
    #[serde(default, deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "lenient")]
    external_urls: ExternalUrls,
    #[serde(default, deserialize_with = "lenient_list")]
    images: Vec<ImageWire>,
    #[serde(default, deserialize_with = "lenient")]
    show: CollectionWire,
    #[serde(default, deserialize_with = "lenient")]
    duration_ms: u64,
    #[serde(default, deserialize_with = "lenient")]
    explicit: bool,
}

/// A track or episode by its `type`; `None` for any other type.
fn parse_item(value: Value, hosts: &ImageHosts) -> Result<Option<Item>, SpotifyError> {
    let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
    match kind.as_deref() {
        Some("track") => {
            let t: TrackWire = serde_json::from_value(value).map_err(|e| malformed("track", &e))?;
            let album = t.album;
            let credits = Credits {
                artists: artist_ids(&t.artists),
                collection: id_of(&album.id, &album.uri, &album.external_urls, "album"),
            };
            Ok(Some(Item {
                kind: ItemKind::Track,
                id: t.id.filter(|_| !t.is_local),
                name: bounded(t.name),
                url: t.external_urls.spotify().filter(|_| !t.is_local),
                artists: shown_artists(t.artists),
                album: Link { name: bounded(album.name), url: album.external_urls.spotify() },
                images: images(album.images, hosts),
                duration_ms: t.duration_ms,
                explicit: t.explicit,
                is_local: t.is_local,
                palette: None,
                credits,
            }))
        }
        Some("episode") => {
            let e: EpisodeWire = serde_json::from_value(value).map_err(|e| malformed("episode", &e))?;
            let credits = Credits {
                artists: Some(Vec::new()),
                collection: id_of(&e.show.id, &e.show.uri, &e.show.external_urls, "show"),
            };
            let show = Link { name: bounded(e.show.name), url: e.show.external_urls.spotify() };
            let own_images = images(e.images, hosts);
            Ok(Some(Item {
                kind: ItemKind::Episode,
                id: e.id,
                name: bounded(e.name),
                url: e.external_urls.spotify(),
                artists: vec![show.clone()],
                album: show,
                images: if own_images.is_empty() { images(e.show.images, hosts) } else { own_images },
                duration_ms: e.duration_ms,
                explicit: e.explicit,
                is_local: false,
                palette: None,
                credits,
            }))
        }
        _ => Ok(None),
    }
}

/// The first `MAX_ARTISTS` artists that read as one.
fn shown_artists(artists: Value) -> Vec<Link> {
    let Value::Array(entries) = artists else { return Vec::new() };
    entries.into_iter().filter_map(|v| serde_json::from_value(v).ok()).take(MAX_ARTISTS).map(link).collect()
}

fn link(named: NamedWire) -> Link {
    Link { name: bounded(named.name), url: named.external_urls.spotify() }
}

/// Images from allowed hosts only, largest first whatever order Spotify sent (unknown sizes
/// last), at most `MAX_IMAGES`.
fn images(wire: Vec<ImageWire>, hosts: &ImageHosts) -> Vec<Image> {
    let mut images: Vec<Image> = wire
        .into_iter()
        .filter(|i| hosts.allows(&i.url))
        .map(|i| Image { url: i.url, width: i.width, height: i.height })
        .collect();
    images.sort_by_key(|i| std::cmp::Reverse(i.width.unwrap_or(0)));
    images.truncate(MAX_IMAGES);
    images
}

#[derive(Deserialize)]
struct SearchWire {
    tracks: SearchPageWire,
}

#[derive(Deserialize)]
struct SearchPageWire {
    #[serde(default, deserialize_with = "lenient_list")]
    items: Vec<Value>,
}

/// The tracks of a `GET /v1/search?type=track` answer that a visitor can suggest: with an
/// id, not local. An entry that cannot be read is left out, not the whole answer.
pub fn parse_search_from(body: &[u8], hosts: &ImageHosts) -> Result<Vec<Item>, SpotifyError> {
    let wire: SearchWire = serde_json::from_slice(body).map_err(|e| malformed("search", &e))?;
    Ok(wire
        .tracks
        .items
        .into_iter()
        .filter_map(|v| parse_item(v, hosts).ok().flatten())
        .filter(|i| i.kind == ItemKind::Track && i.id.is_some() && !i.is_local)
        .collect())
}

/// A `GET /v1/tracks/{id}` answer.
pub fn parse_track_from(body: &[u8], hosts: &ImageHosts) -> Result<Option<Item>, SpotifyError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed("track", &e))?;
    Ok(parse_item(value, hosts)?.filter(|i| i.kind == ItemKind::Track && i.id.is_some()))
}
