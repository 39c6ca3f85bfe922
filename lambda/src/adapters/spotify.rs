//! Spotify's accounts service and Web API over reqwest, and the parsing of their payloads.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::adapters::body::{BodyError, read_capped};
use crate::domain::{
    AccessToken, Credentials, Image, ImageHosts, Item, ItemKind, Link, MAX_ARTISTS, MAX_IMAGES, MAX_NAME_CHARS,
    Playback, Played, is_spotify_link,
};
use crate::ports::{Spotify, SpotifyError, TokenGrant};

/// Used when a 429 carries no readable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most a Web API answer may be: a currently-playing answer is a few kilobytes.
const MAX_API_BODY: usize = 512 * 1024;
/// The most an accounts-service answer may be: a token answer is a few hundred bytes.
const MAX_ACCOUNTS_BODY: usize = 64 * 1024;
/// The longest an access token is taken to live, whatever `expires_in` says (Spotify: 1 h).
const MAX_TOKEN_LIFE_SECONDS: f64 = 86_400.0;

pub struct SpotifyHttp {
    client: Client,
    api_url: String,
    accounts_url: String,
    /// Where item images may come from; others are dropped from the answer.
    hosts: ImageHosts,
}

impl SpotifyHttp {
    /// `api_url` and `accounts_url` are base URLs without a trailing slash.
    pub fn new(client: Client, api_url: &str, accounts_url: &str) -> Self {
        SpotifyHttp {
            client,
            api_url: api_url.trim_end_matches('/').to_owned(),
            accounts_url: accounts_url.trim_end_matches('/').to_owned(),
            hosts: ImageHosts::default(),
        }
    }

    /// Also passes on item images from these hosts (`ART_HOSTS`), besides Spotify's CDNs.
    pub fn with_image_hosts(mut self, hosts: ImageHosts) -> Self {
        self.hosts = hosts;
        self
    }

    /// The HTTP client with per-call timeouts that fit the request deadline. It follows no
    /// redirect: Spotify's API and accounts service never redirect, a redirected token POST
    /// would carry the refresh token to another host, and a redirected image would come
    /// from a host nobody checked.
    pub fn default_client() -> Result<Client, reqwest::Error> {
        Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(1500))
            .timeout(Duration::from_secs(3))
            .user_agent(concat!("now-playing/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// A Web API `GET`; 200 and 204 pass, every other status becomes its error.
    async fn get(&self, path: &str, token: &SecretString) -> Result<Response, SpotifyError> {
        let response = self
            .client
            .get(format!("{}{path}", self.api_url))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(transport)?;
        match response.status() {
            StatusCode::OK | StatusCode::NO_CONTENT => Ok(response),
            StatusCode::UNAUTHORIZED => Err(SpotifyError::Unauthorized),
            StatusCode::FORBIDDEN => {
                let body = read_capped(response, 16 * 1024).await.unwrap_or_default();
                Err(SpotifyError::Forbidden(web_api_message(&body).unwrap_or_else(|| "no reason given".into())))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(&response)),
            other => Err(SpotifyError::Upstream(other.as_u16())),
        }
    }
}

/// What the authorize page refuses in a link.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeProblem {
    RedirectUri,
    ClientId,
}

/// The account that authorized the app (`GET /v1/me`).
#[derive(Debug, Deserialize)]
pub struct Profile {
    pub id: String,
    pub display_name: Option<String>,
    /// `premium`, `free` or `open`; the Web API needs Premium for a development-mode app.
    pub product: Option<String>,
}

/// The authorization-code flow, used once by `make bootstrap`, never by the function.
impl SpotifyHttp {
    /// The `/authorize` URL the owner opens in a browser.
    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scopes: &str,
        state: &str,
    ) -> Result<String, String> {
        let query = [
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", scopes),
            ("state", state),
            ("show_dialog", "true"),
        ];
        let mut url = reqwest::Url::parse(&format!("{}/authorize", self.accounts_url))
            .map_err(|e| format!("the accounts URL {:?} is not a URL: {e}", self.accounts_url))?;
        url.query_pairs_mut().extend_pairs(query);
        Ok(url.into())
    }

    /// What Spotify's authorize page says is wrong with the link before anyone logs in:
    /// an unregistered redirect URI or an unknown client id is shown there, and the browser
    /// then never reaches the callback. `None` when the page names neither.
    pub async fn authorize_link_problem(&self, url: &str) -> Option<AuthorizeProblem> {
        let response = self.client.get(url).send().await.ok()?;
        if response.status().is_redirection() {
            return None;
        }
        let page = read_capped(response, 64 * 1024).await.ok()?;
        let page = String::from_utf8_lossy(&page);
        if page.contains("Invalid redirect URI") {
            Some(AuthorizeProblem::RedirectUri)
        } else if page.contains("INVALID_CLIENT: Invalid client") {
            Some(AuthorizeProblem::ClientId)
        } else {
            None
        }
    }

    /// Exchanges the callback's `code` for tokens (`grant_type=authorization_code`).
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        code: &SecretString,
        redirect_uri: &str,
    ) -> Result<TokenGrant, SpotifyError> {
        let response = self
            .client
            .post(format!("{}/api/token", self.accounts_url))
            .basic_auth(client_id, Some(client_secret.expose_secret()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.expose_secret()),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(transport)?;
        token_answer(response).await
    }

    /// Whose account a token belongs to.
    pub async fn me(&self, token: &SecretString) -> Result<Profile, SpotifyError> {
        let body = capped(self.get("/v1/me", token).await?, MAX_API_BODY).await?;
        serde_json::from_slice(&body).map_err(|e| malformed("profile", &e))
    }
}

/// The accounts service's answer to either grant.
async fn token_answer(response: Response) -> Result<TokenGrant, SpotifyError> {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(rate_limited(&response));
    }
    let body = capped(response, MAX_ACCOUNTS_BODY).await?;
    if status.is_success() {
        return parse_token_grant(&body);
    }
    Err(match accounts_error_code(&body).as_deref() {
        Some("invalid_grant") => SpotifyError::InvalidGrant,
        Some("invalid_client") => SpotifyError::InvalidClient,
        _ => SpotifyError::Upstream(status.as_u16()),
    })
}

#[async_trait]
impl Spotify for SpotifyHttp {
    async fn refresh(&self, credentials: &Credentials) -> Result<TokenGrant, SpotifyError> {
        let response = self
            .client
            .post(format!("{}/api/token", self.accounts_url))
            .basic_auth(&credentials.client_id, Some(credentials.client_secret.expose_secret()))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", credentials.refresh_token.expose_secret())])
            .send()
            .await
            .map_err(transport)?;
        token_answer(response).await
    }

    async fn currently_playing(&self, token: &AccessToken) -> Result<Playback, SpotifyError> {
        let response = self.get("/v1/me/player/currently-playing?additional_types=track,episode", &token.value).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Playback::Nothing);
        }
        let body = capped(response, MAX_API_BODY).await?;
        parse_currently_playing_from(&body, &self.hosts)
    }

    async fn recently_played(&self, token: &AccessToken) -> Result<Option<Played>, SpotifyError> {
        let response = self.get("/v1/me/player/recently-played?limit=1", &token.value).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let body = capped(response, MAX_API_BODY).await?;
        parse_recently_played_from(&body, &self.hosts)
    }
}

/// The body, read with a cap so that an endless or huge answer cannot grow the process.
async fn capped(response: Response, limit: usize) -> Result<Vec<u8>, SpotifyError> {
    read_capped(response, limit).await.map_err(|e| match e {
        BodyError::TooLarge { limit } => SpotifyError::Malformed(format!("the answer is larger than {limit} bytes")),
        BodyError::Transport(e) => transport(e),
    })
}

fn transport(e: reqwest::Error) -> SpotifyError {
    if e.is_timeout() {
        SpotifyError::Timeout
    } else if e.is_decode() || e.is_body() {
        SpotifyError::Malformed("the body was cut off".into())
    } else {
        // Without the URL: it is configuration, but keep log lines short and uniform.
        SpotifyError::Network(e.without_url().to_string())
    }
}

fn rate_limited(response: &Response) -> SpotifyError {
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RETRY_AFTER);
    SpotifyError::RateLimited { retry_after }
}

/// `{"error": {"status": 403, "message": "..."}}` from the Web API.
fn web_api_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.get("message")?.as_str().map(|m| m.chars().take(200).collect())
}

/// `{"error": "invalid_grant", "error_description": "..."}` from the accounts service.
fn accounts_error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.as_str().map(str::to_owned)
}

#[derive(Deserialize)]
struct TokenGrantWire {
    access_token: String,
    expires_in: serde_json::Number,
    refresh_token: Option<String>,
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
    })
}

/// Describes a JSON failure by position and kind only: serde's own message can quote
/// the input, and a token answer must never be quoted.
fn malformed(what: &str, e: &serde_json::Error) -> SpotifyError {
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
        Some(item) => {
            Playback::Item { item, is_playing: wire.is_playing.unwrap_or(false), progress_ms: wire.progress_ms }
        }
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
}

/// The first (most recent) entry of a `CursorPagingPlayHistoryObject`.
pub fn parse_recently_played(body: &[u8]) -> Result<Option<Played>, SpotifyError> {
    parse_recently_played_from(body, &ImageHosts::default())
}

/// `parse_recently_played`, with images also from `hosts`.
pub fn parse_recently_played_from(body: &[u8], hosts: &ImageHosts) -> Result<Option<Played>, SpotifyError> {
    let wire: RecentlyPlayedWire = serde_json::from_slice(body).map_err(|e| malformed("recently-played", &e))?;
    let Some(entry) = wire.items.into_iter().next() else {
        return Ok(None);
    };
    let played_at = OffsetDateTime::parse(&entry.played_at, &Rfc3339)
        .map_err(|_| SpotifyError::Malformed("recently-played answer: played_at is not an RFC 3339 time".into()))?;
    let Some(track) = entry.track.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    Ok(parse_item(track, hosts)?.map(|item| Played { item, played_at }))
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

#[derive(Deserialize, Default)]
struct AlbumWire {
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "lenient")]
    external_urls: ExternalUrls,
    #[serde(default, deserialize_with = "lenient_list")]
    images: Vec<ImageWire>,
}

#[derive(Deserialize)]
struct TrackWire {
    #[serde(default, deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "lenient")]
    external_urls: ExternalUrls,
    #[serde(default, deserialize_with = "lenient_list")]
    artists: Vec<NamedWire>,
    #[serde(default, deserialize_with = "lenient")]
    album: AlbumWire,
    #[serde(default, deserialize_with = "lenient")]
    duration_ms: u64,
    #[serde(default, deserialize_with = "lenient")]
    explicit: bool,
    #[serde(default, deserialize_with = "lenient")]
    is_local: bool,
}

#[derive(Deserialize, Default)]
struct ShowWire {
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "lenient")]
    external_urls: ExternalUrls,
    #[serde(default, deserialize_with = "lenient_list")]
    images: Vec<ImageWire>,
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
    show: ShowWire,
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
            Ok(Some(Item {
                kind: ItemKind::Track,
                id: t.id.filter(|_| !t.is_local),
                name: bounded(t.name),
                url: t.external_urls.spotify().filter(|_| !t.is_local),
                artists: t.artists.into_iter().take(MAX_ARTISTS).map(link).collect(),
                album: Link { name: bounded(album.name), url: album.external_urls.spotify() },
                images: images(album.images, hosts),
                duration_ms: t.duration_ms,
                explicit: t.explicit,
                is_local: t.is_local,
            }))
        }
        Some("episode") => {
            let e: EpisodeWire = serde_json::from_value(value).map_err(|e| malformed("episode", &e))?;
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
            }))
        }
        _ => Ok(None),
    }
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
