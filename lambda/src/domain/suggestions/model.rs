//! What a suggestion is: track ids, the visitor's words, the modes, the limits and the errors.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::TokenError;
use crate::domain::ports::SpotifyError;
use crate::domain::proof::ProofError;

/// The scopes the owner grants with `make bootstrap ARGS="--suggestions"`.
pub const PLAYLIST_SCOPES: [&str; 2] = ["playlist-modify-private", "playlist-modify-public"];
/// The most results a search answers (Spotify's development-mode limit).
pub const SEARCH_LIMIT: u8 = 10;
pub const MAX_QUERY_CHARS: usize = 100;
pub const MAX_NAME_CHARS: usize = 40;
pub const MAX_MESSAGE_CHARS: usize = 140;
/// A track pending, or added within this, cannot be suggested again.
pub const REPEAT_AFTER: Duration = Duration::from_secs(30 * 86400);
/// How long a search's results are shared.
pub const SEARCH_CACHE: Duration = Duration::from_secs(3600);
/// How long a challenge may be solved and sent.
pub const CHALLENGE_LIFE: Duration = Duration::from_secs(10 * 60);
/// A browser tries half of these on average: well under a second on a phone.
pub const CHALLENGE_MAXNUMBER: u64 = 50_000;
/// A Spotify track id (22 base-62 characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackId(String);

impl TrackId {
    /// Reads an id, a `spotify:track:` URI or an `https://open.spotify.com/track/` link.
    pub fn parse(input: &str) -> Option<TrackId> {
        let input = input.trim();
        let id = if let Some(id) = input.strip_prefix("spotify:track:") {
            id
        } else if let Some(rest) = input.strip_prefix("https://open.spotify.com/") {
            let path = rest.split(['?', '#']).next().unwrap_or_default();
            let mut segments = path.split('/').filter(|s| !s.is_empty());
            let mut first = segments.next()?;
            // Localized links: /intl-de/track/ID
            if first.starts_with("intl-") {
                first = segments.next()?;
            }
            if first != "track" {
                return None;
            }
            let id = segments.next()?;
            if segments.next().is_some() {
                return None;
            }
            id
        } else {
            input
        };
        (id.len() == 22 && id.chars().all(|c| c.is_ascii_alphanumeric())).then(|| TrackId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn uri(&self) -> String {
        format!("spotify:track:{}", self.0)
    }
}

impl std::fmt::Display for TrackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `SUGGESTIONS`: whether visitors may suggest, and whether the owner reviews first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Off,
    Review,
    Auto,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Mode::Off),
            "review" => Ok(Mode::Review),
            "auto" => Ok(Mode::Auto),
            other => Err(format!("{other:?} is not one of off, review, auto")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stored; waiting for the owner, or for a retry of a failed addition.
    Pending,
    /// In the playlist.
    Added,
    Rejected,
}

/// One visitor's suggestion. Spotify's metadata is not kept: only the id and the
/// visitor's own words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub track: TrackId,
    pub name: Option<String>,
    pub message: Option<String>,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Why the last attempt to add it failed, while it waits for a retry.
    pub reason: Option<String>,
}

/// What the daily digest found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Digest {
    /// Suggestions waiting for the owner's decision (or for a retried addition).
    pub pending: usize,
    /// Whether a message went out: at most one a UTC day, and none when nothing waits.
    pub notified: bool,
}

/// The digest's subject and text: the count and the oldest date, never a visitor's words.
pub fn digest_text(pending: &[Suggestion]) -> (String, String) {
    let n = pending.len();
    let subject = match n {
        1 => "now-playing: 1 suggested song is waiting".to_owned(),
        n => format!("now-playing: {n} suggested songs are waiting"),
    };
    let oldest = pending.iter().map(|s| s.created_at).min().map(|t| t.date().to_string()).unwrap_or_default();
    let (songs, are) = if n == 1 { ("song", "is") } else { ("songs", "are") };
    let text = format!(
        "{n} {songs} suggested by visitors {are} waiting for your decision, the oldest since {oldest}.\n\n\
         make suggestions                          lists them\n\
         make suggestions ARGS=\"approve ID\"        adds one to the playlist\n\
         make suggestions ARGS=\"approve --all\"     adds them all\n\
         make suggestions ARGS=\"reject ID\"         declines one\n\n\
         This reminder comes at most once a day, while suggestions wait.\n"
    );
    (subject, text)
}

/// The limits, all configurable (`SUGGESTIONS_PER_VISITOR_PER_HOUR`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub suggestions_per_visitor_per_hour: u32,
    pub suggestions_per_day: u32,
    pub searches_per_visitor_per_minute: u32,
    /// Spotify look-ups (searches and track checks) by all instances per `lookup_window`,
    /// well under Spotify's rolling 30-second limit, so `/v1/current` keeps its share.
    pub lookups_per_window: u32,
    pub lookup_window: Duration,
    /// Refused suggestions (a bad proof, an unknown track, a repeat) a visitor may make in
    /// an hour, and all visitors in a day: a budget apart from the suggestions'.
    pub refusals_per_visitor_per_hour: u32,
    pub refusals_per_day: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            suggestions_per_visitor_per_hour: 3,
            suggestions_per_day: 50,
            searches_per_visitor_per_minute: 30,
            lookups_per_window: 20,
            lookup_window: Duration::from_secs(30),
            refusals_per_visitor_per_hour: 10,
            refusals_per_day: 200,
        }
    }
}

/// The settings of the feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    /// `SUGGESTIONS_PROOF_OF_WORK`: a proof of work with every suggestion.
    pub proof_of_work: bool,
    pub limits: Limits,
}

/// A visitor, as a keyed hash of the source address: never the address itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visitor(pub(super) String);

/// What a visitor sends, checked for shape by the HTTP layer.
#[derive(Clone, Debug, Default)]
pub struct Submission {
    pub track: String,
    pub name: Option<String>,
    pub message: Option<String>,
    pub proof: Option<String>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SuggestError {
    #[error("{0}")]
    BadRequest(String),
    #[error("suggestions are closed on this deployment")]
    Closed,
    #[error("{0}")]
    NotAuthorized(String),
    #[error("a proof of work is required: {0}")]
    ProofRequired(ProofError),
    #[error("Spotify has no track {0}")]
    TrackNotFound(TrackId),
    #[error("this track was already suggested")]
    AlreadySuggested(Box<Suggestion>),
    #[error("too many {what}; try again in {retry_after:?}")]
    RateLimited { what: &'static str, retry_after: Duration },
    #[error("reauthorization required: {0}")]
    Reauthorize(String),
    #[error("Spotify is unavailable: {0}")]
    Upstream(SpotifyError),
    /// The shared store or the credentials could not be used; nothing was stored.
    #[error("{0}")]
    Unavailable(String),
    #[error("no suggestion for track {0}")]
    NoSuchSuggestion(TrackId),
}

impl From<TokenError> for SuggestError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Reauthorize(reason) => SuggestError::Reauthorize(reason),
            TokenError::Credentials(e) => SuggestError::Unavailable(e.public_message()),
            TokenError::Spotify(e) => SuggestError::Upstream(e),
        }
    }
}

/// A pending suggestion, or one added since `since`, keeps the track from being suggested again.
pub fn blocks_repeat(existing: &Suggestion, since: OffsetDateTime) -> bool {
    match existing.status {
        Status::Pending => true,
        Status::Added => existing.created_at >= since,
        Status::Rejected => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_digest_says_one_song_or_many_and_since_when() {
        let at = |day: u8| Suggestion {
            track: TrackId::parse("4PTG3Z6ehGkBFwjybzWkR8").unwrap(),
            name: Some("Ada".into()),
            message: Some("hush".into()),
            status: Status::Pending,
            created_at: datetime!(2026-11-01 12:00 UTC).replace_day(day).unwrap(),
            reason: None,
        };
        let (subject, text) = digest_text(&[at(3)]);
        assert_eq!(subject, "now-playing: 1 suggested song is waiting");
        assert!(
            text.starts_with("1 song suggested by visitors is waiting for your decision, the oldest since 2026-11-03.")
        );
        let (subject, text) = digest_text(&[at(9), at(2), at(5)]);
        assert_eq!(subject, "now-playing: 3 suggested songs are waiting");
        assert!(
            text.starts_with(
                "3 songs suggested by visitors are waiting for your decision, the oldest since 2026-11-02."
            )
        );
        assert!(!text.contains("Ada") && !text.contains("hush"));
    }

    #[test]
    fn a_track_id_shows_as_itself_and_as_its_uri() {
        let id = TrackId::parse("spotify:track:4PTG3Z6ehGkBFwjybzWkR8").unwrap();
        assert_eq!(id.as_str(), "4PTG3Z6ehGkBFwjybzWkR8");
        assert_eq!(id.to_string(), "4PTG3Z6ehGkBFwjybzWkR8");
        assert_eq!(id.uri(), "spotify:track:4PTG3Z6ehGkBFwjybzWkR8");
    }

    #[test]
    fn a_track_is_read_from_an_id_a_uri_or_a_link() {
        let id = "4PTG3Z6ehGkBFwjybzWkR8";
        for input in [
            id.to_owned(),
            format!("spotify:track:{id}"),
            format!("https://open.spotify.com/track/{id}"),
            format!("https://open.spotify.com/track/{id}?si=abc123"),
            format!("https://open.spotify.com/intl-de/track/{id}"),
            format!("  {id}  "),
        ] {
            assert_eq!(TrackId::parse(&input).map(|t| t.0), Some(id.to_owned()), "{input}");
        }
    }

    #[test]
    fn anything_else_is_not_a_track() {
        for input in [
            "",
            "4PTG3Z6ehGkBFwjybzWkR",
            "4PTG3Z6ehGkBFwjybzWkR8x",
            "4PTG3Z6ehGkBFwjybzWk-8",
            "spotify:episode:4PTG3Z6ehGkBFwjybzWkR8",
            "https://open.spotify.com/album/4PTG3Z6ehGkBFwjybzWkR8",
            "https://open.spotify.com/track/4PTG3Z6ehGkBFwjybzWkR8/more",
            "https://evil.example/track/4PTG3Z6ehGkBFwjybzWkR8",
            "http://open.spotify.com/track/4PTG3Z6ehGkBFwjybzWkR8",
        ] {
            assert_eq!(TrackId::parse(input), None, "{input}");
        }
    }

    #[test]
    fn a_pending_or_recent_suggestion_blocks_a_repeat_and_a_rejected_one_does_not() {
        let since = datetime!(2026-10-29 12:00 UTC);
        let s = |status, created_at| Suggestion {
            track: TrackId::parse("4PTG3Z6ehGkBFwjybzWkR8").unwrap(),
            name: None,
            message: None,
            status,
            created_at,
            reason: None,
        };
        assert!(blocks_repeat(&s(Status::Pending, datetime!(2026-01-01 0:00 UTC)), since));
        assert!(blocks_repeat(&s(Status::Added, since), since));
        assert!(!blocks_repeat(&s(Status::Added, since - time::Duration::SECOND), since));
        assert!(!blocks_repeat(&s(Status::Rejected, since), since));
    }
}
