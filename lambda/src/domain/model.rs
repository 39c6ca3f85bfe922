//! What the owner's page gets (`NowPlaying`) and what Spotify told us (`Playback`, `Played`).

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;

/// The owner's Spotify app credentials and long-lived authorization, as stored in SSM.
/// Secret fields never print: their `Debug` is `[REDACTED]`.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
    /// When the owner authorized the app; the refresh token lapses six months later.
    pub authorized_at: OffsetDateTime,
}

/// `status` of the public JSON document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Playing,
    Paused,
    LastPlayed,
    Offline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Track,
    Episode,
}

/// A name with its Spotify page, when it has one (local files have none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub name: String,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Image {
    pub url: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A track or an episode, flattened to what a widget shows. For an episode the show
/// stands in both `artists` and `album`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    #[serde(rename = "type")]
    pub kind: ItemKind,
    pub id: Option<String>,
    pub name: String,
    pub url: Option<String>,
    pub artists: Vec<Link>,
    pub album: Link,
    /// Largest first; possibly empty.
    pub images: Vec<Image>,
    pub duration_ms: u64,
    pub explicit: bool,
    pub is_local: bool,
}

/// What `currently-playing` said.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per request, moved once; a Box buys nothing"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playback {
    /// A track or episode is loaded; `is_playing` false means paused.
    Item {
        item: Item,
        is_playing: bool,
        progress_ms: Option<u64>,
    },
    /// 204, a private session, an ad, an unknown item type or a null item: nothing to show.
    Nothing,
}

/// The most recent entry of `recently-played`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Played {
    pub item: Item,
    pub played_at: OffsetDateTime,
}

/// The public JSON document answered by `GET /v1/current`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NowPlaying {
    pub status: Status,
    pub is_playing: bool,
    pub item: Option<Item>,
    pub progress_ms: Option<u64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub played_at: Option<OffsetDateTime>,
    /// When the data was read from Spotify.
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
    /// True only when this is the last good answer served because Spotify failed.
    pub stale: bool,
}

impl NowPlaying {
    /// Decides the document from what Spotify said; `recent` is consulted only when
    /// nothing is playing.
    pub fn from_spotify(
        playback: Playback,
        recent: Option<Played>,
        fetched_at: OffsetDateTime,
    ) -> Self {
        let fetched_at = fetched_at.replace_nanosecond(0).unwrap_or(fetched_at);
        match (playback, recent) {
            (
                Playback::Item {
                    item,
                    is_playing,
                    progress_ms,
                },
                _,
            ) => NowPlaying {
                status: if is_playing {
                    Status::Playing
                } else {
                    Status::Paused
                },
                is_playing,
                item: Some(item),
                progress_ms,
                played_at: None,
                fetched_at,
                stale: false,
            },
            (Playback::Nothing, Some(Played { item, played_at })) => NowPlaying {
                status: Status::LastPlayed,
                is_playing: false,
                item: Some(item),
                progress_ms: None,
                played_at: Some(played_at),
                fetched_at,
                stale: false,
            },
            (Playback::Nothing, None) => NowPlaying {
                status: Status::Offline,
                is_playing: false,
                item: None,
                progress_ms: None,
                played_at: None,
                fetched_at,
                stale: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn item(name: &str) -> Item {
        Item {
            kind: ItemKind::Track,
            id: Some("id1".into()),
            name: name.into(),
            url: Some("https://open.spotify.com/track/id1".into()),
            artists: vec![Link {
                name: "Artist".into(),
                url: None,
            }],
            album: Link {
                name: "Album".into(),
                url: None,
            },
            images: vec![],
            duration_ms: 1000,
            explicit: false,
            is_local: false,
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-27 20:00:00.250 UTC);

    #[test]
    fn a_paused_track_is_paused_not_playing() {
        let doc = NowPlaying::from_spotify(
            Playback::Item {
                item: item("A"),
                is_playing: false,
                progress_ms: Some(5),
            },
            None,
            NOW,
        );
        assert_eq!(doc.status, Status::Paused);
        assert!(!doc.is_playing);
        assert_eq!(doc.progress_ms, Some(5));
    }

    #[test]
    fn nothing_playing_falls_back_to_the_last_play_without_progress() {
        let played_at = datetime!(2026-11-27 19:00:00 UTC);
        let doc = NowPlaying::from_spotify(
            Playback::Nothing,
            Some(Played {
                item: item("B"),
                played_at,
            }),
            NOW,
        );
        assert_eq!(doc.status, Status::LastPlayed);
        assert_eq!(doc.played_at, Some(played_at));
        assert_eq!(doc.progress_ms, None);
        assert_eq!(doc.item.unwrap().name, "B");
    }

    #[test]
    fn nothing_at_all_is_offline_with_a_null_item() {
        let doc = NowPlaying::from_spotify(Playback::Nothing, None, NOW);
        assert_eq!(doc.status, Status::Offline);
        assert_eq!(doc.item, None);
    }

    #[test]
    fn the_document_has_the_public_field_names_and_whole_second_times() {
        let doc = NowPlaying::from_spotify(
            Playback::Item {
                item: item("A"),
                is_playing: true,
                progress_ms: Some(81234),
            },
            None,
            NOW,
        );
        let json = serde_json::to_value(&doc).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "fetched_at",
                "is_playing",
                "item",
                "played_at",
                "progress_ms",
                "stale",
                "status"
            ]
        );
        assert_eq!(json["fetched_at"], "2026-11-27T20:00:00Z");
        assert_eq!(json["item"]["type"], "track");
        assert_eq!(json["played_at"], serde_json::Value::Null);
    }
}
