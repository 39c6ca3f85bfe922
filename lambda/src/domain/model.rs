//! What the owner's page gets (`NowPlaying`) and what Spotify told us (`Playback`, `Played`).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::millis;
use crate::domain::palette::Palette;

/// `at` plus `duration`, saturating at the end of year 9999: a duration that comes from
/// upstream (`Retry-After`, `expires_in`) may be absurd, and date arithmetic must not panic.
pub fn after(at: OffsetDateTime, duration: std::time::Duration) -> OffsetDateTime {
    time::Duration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d))
        .unwrap_or(time::macros::datetime!(9999-12-31 23:59:59 UTC))
}

/// The most characters of a name or title kept from Spotify; longer ones are cut.
pub const MAX_NAME_CHARS: usize = 200;
/// The most images kept per item (Spotify sends three sizes).
pub const MAX_IMAGES: usize = 4;
/// A jump in progress past this is a seek a live page is told of; less is clock drift.
pub const LIVE_SEEK_MS: u64 = 2_000;
/// The most artists kept per item for show.
pub const MAX_ARTISTS: usize = 10;
/// The most artist ids kept per item for the privacy rules; a track credited to more is
/// taken as one whose artists cannot be read.
pub const MAX_CREDITED: usize = 100;

/// The owner's Spotify app credentials and long-lived authorization, as stored in SSM.
/// Secret fields never print: their `Debug` is `[REDACTED]`.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
    /// When the owner authorized the app; the refresh token lapses six months later.
    pub authorized_at: OffsetDateTime,
    /// The scopes the owner granted, space-separated, when known.
    pub scope: Option<String>,
    /// The owner's "Suggested by visitors" playlist, once `make bootstrap ARGS="--suggestions"` made it.
    pub suggestions_playlist_id: Option<String>,
}

/// `status` of the public JSON document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Playing,
    Paused,
    LastPlayed,
    Offline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Track,
    Episode,
}

/// A name with its Spotify page, when it has one (local files have none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A track or an episode, flattened to what a widget shows. For an episode the show
/// stands in both `artists` and `album`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The colours of the art (`art_image`), once this service has seen the image; `None`
    /// without art, or until the image could be had.
    #[serde(default)]
    pub palette: Option<Palette>,
    /// Who and what made it, by id, for the privacy rules: kept with the shared state,
    /// never part of what a visitor gets (`public`).
    #[serde(default)]
    pub credits: Credits,
}

/// The ids of an item's artists and of its album (a track) or show (an episode), read from
/// Spotify's `id`, else its `uri`, else its link, before anything is trimmed for show. The
/// privacy rules judge these, so an artist past the tenth still counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    /// Every artist's id (none for an episode); `None` when one could not be read, or
    /// there were more than `MAX_CREDITED`.
    pub artists: Option<Vec<String>>,
    /// The album's id, or the show's; `None` when it could not be read.
    pub collection: Option<String>,
}

/// What a visitor gets of an `Item`: every field but its credits.
#[derive(Serialize)]
pub struct PublicItem<'a> {
    #[serde(rename = "type")]
    pub kind: ItemKind,
    pub id: &'a Option<String>,
    pub name: &'a str,
    pub url: &'a Option<String>,
    pub artists: &'a [Link],
    pub album: &'a Link,
    pub images: &'a [Image],
    pub duration_ms: u64,
    pub explicit: bool,
    pub is_local: bool,
    pub palette: &'a Option<Palette>,
}

impl Item {
    /// The item as a visitor gets it.
    pub fn public(&self) -> PublicItem<'_> {
        PublicItem {
            kind: self.kind,
            id: &self.id,
            name: &self.name,
            url: &self.url,
            artists: &self.artists,
            album: &self.album,
            images: &self.images,
            duration_ms: self.duration_ms,
            explicit: self.explicit,
            is_local: self.is_local,
            palette: &self.palette,
        }
    }
}

/// What `currently-playing` said.
#[expect(clippy::large_enum_variant, reason = "one value per request, moved once; a Box buys nothing")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playback {
    /// A track or episode is loaded; `is_playing` false means paused. `context` is where it
    /// plays from (`spotify:playlist:…`), when Spotify says.
    Item { item: Item, is_playing: bool, progress_ms: Option<u64>, context: Option<String> },
    /// 204, a private session, an ad, an unknown item type or a null item: nothing to show.
    Nothing,
}

/// An item and when it was played: the latest entry of `recently-played`, or what this
/// service last saw playing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Played {
    pub item: Item,
    #[serde(with = "time::serde::rfc3339")]
    pub played_at: OffsetDateTime,
    /// Where it was played from (`spotify:playlist:…`), when Spotify said: the privacy
    /// rules' playlists. Kept with the shared state, never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// What was played recently, most recent first, consecutive plays of one track as one:
/// `GET /v1/recent`, decided under the privacy rules and shared like the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentPlays {
    pub plays: Vec<Played>,
    #[serde(with = "crate::domain::millis")]
    pub fetched_at: OffsetDateTime,
    pub stale: bool,
    /// Why, when `stale`.
    #[serde(default)]
    pub stale_reason: Option<StaleReason>,
}

/// The most plays `/v1/recent` lists.
pub const MAX_RECENT: usize = 20;

impl RecentPlays {
    /// `history` (most recent first) as a visitor may see it: the plays `shown` lets
    /// through, a track played again right after itself once, at most `MAX_RECENT`.
    pub fn from_history(history: Vec<Played>, shown: impl Fn(&Played) -> bool, fetched_at: OffsetDateTime) -> Self {
        let mut plays: Vec<Played> = Vec::new();
        for play in history.into_iter().filter(|p| shown(p)) {
            let repeat = plays.last().is_some_and(|last| last.item.id.is_some() && last.item.id == play.item.id);
            if !repeat && plays.len() < MAX_RECENT {
                plays.push(play);
            }
        }
        RecentPlays { plays, fetched_at, stale: false, stale_reason: None }
    }

    /// What a visitor gets: the first `limit` plays, without their contexts.
    pub fn public(&self, limit: usize) -> serde_json::Value {
        let items: Vec<_> = self
            .plays
            .iter()
            .take(limit)
            .map(|p| serde_json::json!({ "item": p.item.public(), "played_at": millis::text(p.played_at) }))
            .collect();
        serde_json::json!({
            "items": items,
            "fetched_at": millis::text(self.fetched_at),
            "stale": self.stale,
            "stale_reason": self.stale_reason,
        })
    }
}

/// Why an answer is the last good one rather than a new one: `stale_reason` of the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleReason {
    /// Spotify refused: the developer account's daily quota is spent (`QUOTA_EXCEEDED`).
    QuotaExceeded,
    /// This deployment's own budget for the answer is spent for now (`SPOTIFY_CALLS_PER_DAY`).
    BudgetSpent,
    /// Spotify's rate limit: a 429 for too many calls in a short while.
    RateLimited,
    /// Spotify failed or did not answer in time.
    Unavailable,
}

/// The public JSON document answered by `GET /v1/current`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowPlaying {
    pub status: Status,
    pub is_playing: bool,
    pub item: Option<Item>,
    pub progress_ms: Option<u64>,
    #[serde(with = "crate::domain::millis::option")]
    pub played_at: Option<OffsetDateTime>,
    /// When the data was read from Spotify, to the millisecond: the cache window is
    /// measured from it, and a widget advances `progress_ms` from it.
    #[serde(with = "crate::domain::millis")]
    pub fetched_at: OffsetDateTime,
    /// True only when this is the last good answer served because Spotify failed.
    pub stale: bool,
    /// Why, when `stale`.
    #[serde(default)]
    pub stale_reason: Option<StaleReason>,
    /// Where the item plays or was played from, for the privacy rules: stored with the
    /// shared answer, never part of what a visitor gets (`public`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// What a visitor gets of a `NowPlaying`: every field but the play's context.
#[derive(Serialize)]
pub struct PublicNowPlaying<'a> {
    pub status: Status,
    pub is_playing: bool,
    pub item: Option<PublicItem<'a>>,
    pub progress_ms: Option<u64>,
    #[serde(with = "crate::domain::millis::option")]
    pub played_at: Option<OffsetDateTime>,
    #[serde(with = "crate::domain::millis")]
    pub fetched_at: OffsetDateTime,
    pub stale: bool,
    pub stale_reason: Option<StaleReason>,
}

impl NowPlaying {
    /// The document a visitor gets.
    pub fn public(&self) -> PublicNowPlaying<'_> {
        PublicNowPlaying {
            status: self.status,
            is_playing: self.is_playing,
            item: self.item.as_ref().map(Item::public),
            progress_ms: self.progress_ms,
            played_at: self.played_at,
            fetched_at: self.fetched_at,
            stale: self.stale,
            stale_reason: self.stale_reason,
        }
    }

    /// Whether a page showing `before` must change to show this answer: another status or
    /// item, stale or not, or a seek of more than `LIVE_SEEK_MS` from where `before`'s
    /// progress would be by now. A page runs its bar on from `progress_ms` and
    /// `fetched_at`, so a play that simply goes on is no change.
    pub fn changes_a_page(&self, before: &NowPlaying) -> bool {
        let shown = |doc: &NowPlaying| {
            (doc.status, doc.is_playing, doc.stale, doc.item.as_ref().map(|i| (i.id.clone(), i.name.clone())))
        };
        if shown(self) != shown(before) {
            return true;
        }
        let (Some(now), Some(then)) = (self.progress_ms, before.progress_ms) else {
            return self.progress_ms != before.progress_ms || self.played_at != before.played_at;
        };
        let elapsed = if before.is_playing {
            u64::try_from((self.fetched_at - before.fetched_at).whole_milliseconds()).unwrap_or(0)
        } else {
            0
        };
        now.abs_diff(then.saturating_add(elapsed)) > LIVE_SEEK_MS
    }

    /// The item on screen and when it was read, if it is playing or paused: remembered
    /// as the last play for when Spotify's history lags.
    pub fn seen_playing(&self) -> Option<Played> {
        match self.status {
            Status::Playing | Status::Paused => {
                self.item.clone().map(|item| Played { item, played_at: self.fetched_at, context: self.context.clone() })
            }
            Status::LastPlayed | Status::Offline => None,
        }
    }

    /// Decides the document from what Spotify said. When nothing is playing, the last
    /// play is the newer of Spotify's history (`recent`, which lags) and what this
    /// service last saw playing (`last_seen`).
    pub fn from_spotify(
        playback: Playback,
        recent: Option<Played>,
        last_seen: Option<&Played>,
        fetched_at: OffsetDateTime,
    ) -> Self {
        let millis = fetched_at.nanosecond() / 1_000_000 * 1_000_000;
        let fetched_at = fetched_at.replace_nanosecond(millis).unwrap_or(fetched_at);
        let recent = match (recent, last_seen) {
            (Some(r), Some(seen)) if seen.played_at > r.played_at => Some(seen.clone()),
            (None, Some(seen)) => Some(seen.clone()),
            (recent, _) => recent,
        };
        match (playback, recent) {
            (Playback::Item { item, is_playing, progress_ms, context }, _) => NowPlaying {
                status: if is_playing { Status::Playing } else { Status::Paused },
                is_playing,
                item: Some(item),
                progress_ms,
                played_at: None,
                fetched_at,
                stale: false,
                stale_reason: None,
                context,
            },
            (Playback::Nothing, Some(Played { item, played_at, context })) => NowPlaying {
                status: Status::LastPlayed,
                is_playing: false,
                item: Some(item),
                progress_ms: None,
                played_at: Some(played_at),
                fetched_at,
                stale: false,
                stale_reason: None,
                context,
            },
            (Playback::Nothing, None) => NowPlaying::offline(fetched_at),
        }
    }
}

impl NowPlaying {
    /// Nothing to show.
    pub fn offline(fetched_at: OffsetDateTime) -> Self {
        NowPlaying {
            status: Status::Offline,
            is_playing: false,
            item: None,
            progress_ms: None,
            played_at: None,
            fetched_at,
            stale: false,
            stale_reason: None,
            context: None,
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
            artists: vec![Link { name: "Artist".into(), url: None }],
            album: Link { name: "Album".into(), url: None },
            images: vec![],
            duration_ms: 1000,
            explicit: false,
            is_local: false,
            palette: None,
            credits: Default::default(),
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-27 20:00:00.250 UTC);

    #[test]
    fn a_page_changes_for_another_item_a_pause_staleness_or_a_seek_not_for_a_play_going_on() {
        let playing = |name: &str, progress: u64, at: OffsetDateTime, is_playing: bool| {
            NowPlaying::from_spotify(
                Playback::Item { item: item(name), is_playing, progress_ms: Some(progress), context: None },
                None,
                None,
                at,
            )
        };
        let before = playing("A", 10_000, NOW, true);
        let later = NOW + time::Duration::seconds(20);
        assert!(!playing("A", 30_000, later, true).changes_a_page(&before), "the bar runs on by itself");
        assert!(!playing("A", 31_900, later, true).changes_a_page(&before), "drift within 2 s");
        assert!(playing("A", 33_000, later, true).changes_a_page(&before), "a seek forward");
        assert!(playing("A", 2_000, later, true).changes_a_page(&before), "a restart");
        assert!(playing("A", 30_000, later, false).changes_a_page(&before), "paused");
        assert!(playing("B", 30_000, later, true).changes_a_page(&before), "another track");
        let stale = NowPlaying { stale: true, ..playing("A", 30_000, later, true) };
        assert!(stale.changes_a_page(&before), "stale");
        let paused = playing("A", 10_000, NOW, false);
        assert!(!playing("A", 10_000, later, false).changes_a_page(&paused), "still paused at the same place");
        assert!(NowPlaying::offline(later).changes_a_page(&before));
        assert!(!NowPlaying::offline(later).changes_a_page(&NowPlaying::offline(NOW)));
    }

    #[test]
    fn what_was_last_seen_playing_wins_over_an_older_history_entry() {
        let seen = NowPlaying::from_spotify(
            Playback::Item { item: item("Seen"), is_playing: true, progress_ms: Some(1), context: None },
            None,
            None,
            datetime!(2026-11-27 19:55:00 UTC),
        )
        .seen_playing();
        let history = Played { item: item("Older"), played_at: datetime!(2026-11-27 19:30:00 UTC), context: None };
        let doc = NowPlaying::from_spotify(Playback::Nothing, Some(history), seen.as_ref(), NOW);
        assert_eq!(doc.status, Status::LastPlayed);
        assert_eq!(doc.item.unwrap().name, "Seen");
        assert_eq!(doc.played_at, Some(datetime!(2026-11-27 19:55:00 UTC)));
    }

    #[test]
    fn a_newer_history_entry_wins_over_what_was_last_seen() {
        let seen = Played { item: item("Seen"), played_at: datetime!(2026-11-27 19:00:00 UTC), context: None };
        let history = Played { item: item("Newer"), played_at: datetime!(2026-11-27 19:30:00 UTC), context: None };
        let doc = NowPlaying::from_spotify(Playback::Nothing, Some(history), Some(&seen), NOW);
        assert_eq!(doc.item.unwrap().name, "Newer");
    }

    #[test]
    fn what_was_last_seen_fills_an_empty_history() {
        let seen = Played { item: item("Seen"), played_at: datetime!(2026-11-27 19:00:00 UTC), context: None };
        let doc = NowPlaying::from_spotify(Playback::Nothing, None, Some(&seen), NOW);
        assert_eq!(doc.status, Status::LastPlayed);
    }

    #[test]
    fn a_paused_track_is_paused_not_playing() {
        let doc = NowPlaying::from_spotify(
            Playback::Item { item: item("A"), is_playing: false, progress_ms: Some(5), context: None },
            None,
            None,
            NOW,
        );
        assert_eq!(doc.status, Status::Paused);
        assert!(!doc.is_playing);
        assert_eq!(doc.progress_ms, Some(5));
    }

    #[test]
    fn times_always_have_three_fraction_digits() {
        let played_at = datetime!(2026-11-27 19:00:00.410 UTC);
        let doc = NowPlaying::from_spotify(
            Playback::Nothing,
            Some(Played { item: item("B"), played_at, context: None }),
            None,
            datetime!(2026-11-27 20:00:00 UTC),
        );
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["played_at"], "2026-11-27T19:00:00.410Z");
        assert_eq!(json["fetched_at"], "2026-11-27T20:00:00.000Z");
        assert_eq!(serde_json::from_value::<NowPlaying>(json).unwrap(), doc);
    }

    #[test]
    fn nothing_playing_falls_back_to_the_last_play_without_progress() {
        let played_at = datetime!(2026-11-27 19:00:00 UTC);
        let doc = NowPlaying::from_spotify(
            Playback::Nothing,
            Some(Played { item: item("B"), played_at, context: None }),
            None,
            NOW,
        );
        assert_eq!(doc.status, Status::LastPlayed);
        assert_eq!(doc.played_at, Some(played_at));
        assert_eq!(doc.progress_ms, None);
        assert_eq!(doc.item.unwrap().name, "B");
    }

    #[test]
    fn nothing_at_all_is_offline_with_a_null_item() {
        let doc = NowPlaying::from_spotify(Playback::Nothing, None, None, NOW);
        assert_eq!(doc.status, Status::Offline);
        assert_eq!(doc.item, None);
    }

    #[test]
    fn the_document_has_the_public_field_names_and_millisecond_times() {
        let doc = NowPlaying::from_spotify(
            Playback::Item { item: item("A"), is_playing: true, progress_ms: Some(81234), context: None },
            None,
            None,
            NOW,
        );
        let json = serde_json::to_value(&doc).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["fetched_at", "is_playing", "item", "played_at", "progress_ms", "stale", "stale_reason", "status"]
        );
        assert_eq!(json["fetched_at"], "2026-11-27T20:00:00.250Z");
        let back: NowPlaying = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, doc, "a stored snapshot round-trips exactly");
        assert_eq!(json["item"]["type"], "track");
        assert_eq!(json["played_at"], serde_json::Value::Null);
    }
}
