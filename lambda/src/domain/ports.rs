//! The traits the domain needs from the outside world, one per collaborator.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::domain::quota::{CallLedger, Share};
use crate::domain::suggestions::{Suggestion, TrackId};
use crate::domain::{AccessToken, Credentials, Item, NowPlaying, Playback, Played, RecentPlays};

/// A fresh access token from Spotify's accounts service.
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub expires_in: Duration,
    /// Present when Spotify rotated the refresh token: it replaces the stored one.
    pub refresh_token: Option<SecretString>,
    /// The scopes granted, space-separated, when the answer names them.
    pub scope: Option<String>,
}

/// Why a Spotify call failed. Carries no secret, so it may be logged as is.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SpotifyError {
    #[error("Spotify rejected the access token (401)")]
    Unauthorized,
    #[error("Spotify refused the refresh token (invalid_grant): it was revoked or has expired")]
    InvalidGrant,
    #[error("Spotify refused the client credentials (invalid_client)")]
    InvalidClient,
    #[error("Spotify refused access (403): {0}")]
    Forbidden(String),
    #[error("Spotify is rate limiting this app for {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// A 429 whose `reason` is `QUOTA_EXCEEDED`: the developer account's daily quota is
    /// spent, for every app of the account, until `retry_after` has passed.
    #[error("Spotify's daily quota for this developer account is spent for {retry_after:?} (QUOTA_EXCEEDED)")]
    QuotaExceeded { retry_after: Duration },
    #[error("Spotify answered HTTP {0}")]
    Upstream(u16),
    #[error("Spotify did not answer in time")]
    Timeout,
    #[error("could not reach Spotify: {0}")]
    Network(String),
    #[error("Spotify sent a body that could not be read: {0}")]
    Malformed(String),
}

/// Spotify's accounts service and Web API, as far as this function uses them.
#[async_trait]
pub trait Spotify: Send + Sync {
    /// Exchanges the refresh token for an access token (`grant_type=refresh_token`).
    async fn refresh(&self, credentials: &Credentials) -> Result<TokenGrant, SpotifyError>;
    /// `GET /v1/me/player/currently-playing`, episodes included. 204 is `Playback::Nothing`.
    async fn currently_playing(&self, token: &AccessToken) -> Result<Playback, SpotifyError>;
    /// The `limit` (1 to 50) most recent entries of `GET /v1/me/player/recently-played`,
    /// most recent first.
    async fn recently_played(&self, token: &AccessToken, limit: u8) -> Result<Vec<Played>, SpotifyError>;
}

/// A failure of the shared token store; the caller carries on without it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("token store: {0}")]
pub struct StoreError(pub String);

/// The access token shared between instances, with the lease that lets one instance
/// refresh it while the others wait.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The stored access token, whatever its expiry; `None` when there is none.
    async fn load(&self) -> Result<Option<AccessToken>, StoreError>;
    /// Stores the token for every instance, and ends the refresh lease.
    async fn save(&self, token: &AccessToken) -> Result<(), StoreError>;
    /// Takes the refresh lease for `owner` until `until`, unless another owner holds an
    /// unexpired one. `Ok(false)` means somebody else is refreshing.
    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// The stored token, with the lease taken for `owner` in the same step when the token
    /// is missing or expires at or before `stale_before` and nobody else holds the lease.
    /// `true` when the lease was taken, with the token as it stands then (one another owner
    /// stored meanwhile included); `false` with a stale token means another owner is
    /// refreshing. A store that can should do this in one round trip.
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(Option<AccessToken>, bool), StoreError> {
        let stored = self.load().await?;
        if stored.as_ref().is_some_and(|token| token.expires_at > stale_before) {
            return Ok((stored, false));
        }
        if self.try_lease(owner, now, until).await? { Ok((self.load().await?, true)) } else { Ok((stored, false)) }
    }
    /// Gives the lease back early if `owner` still holds it.
    async fn release_lease(&self, owner: &str) -> Result<(), StoreError>;
}

/// What every instance shares about the answer: one record, read once per request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedState {
    /// The last good answer.
    pub snapshot: Option<NowPlaying>,
    /// When the answer is due: the schedule's decision when it was saved, or the retry
    /// after a failure. Nobody asks Spotify for it sooner.
    pub due_at: Option<OffsetDateTime>,
    /// The last item seen playing, and when: a better "last played" than Spotify's lagging history.
    pub last_seen: Option<Played>,
    /// Until when nobody may call Spotify (a 429's `Retry-After`).
    pub backoff_until: Option<OffsetDateTime>,
    /// Until when Spotify refuses every Web API call of the account (`QUOTA_EXCEEDED`).
    pub quota_until: Option<OffsetDateTime>,
    /// The last recently-played list.
    pub recent: Option<RecentPlays>,
    /// The Web API calls spent, by hour and share.
    pub calls: CallLedger,
}

impl SharedState {
    /// Whether Spotify is to be asked for the answer at `now`: it is missing or due, and no
    /// refusal runs.
    pub fn refresh_due(&self, now: OffsetDateTime) -> bool {
        let due = self.snapshot.is_none() || self.due_at.is_none_or(|due| due <= now);
        due && self.refused_until(now).is_none()
    }

    /// The end of the backoff or quota refusal that runs at `now`, if one does, and whether
    /// it is the quota's.
    pub fn refused_until(&self, now: OffsetDateTime) -> Option<(OffsetDateTime, bool)> {
        let quota = self.quota_until.filter(|until| *until > now).map(|until| (until, true));
        quota.or(self.backoff_until.filter(|until| *until > now).map(|until| (until, false)))
    }
}

/// What stopped Spotify's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A 429 of the rate limit.
    RateLimited,
    /// A 429 whose reason is `QUOTA_EXCEEDED`.
    QuotaExceeded,
}

/// The shared answer cache, with the lease that lets one instance refresh it when it is
/// due, and the ledger of the Web API calls every instance spends.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    async fn load(&self) -> Result<SharedState, StoreError>;
    /// Takes the right to call Spotify until `until`, unless another owner holds it.
    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// `try_lease`, answering the shared state as it stands once the lease is taken (an
    /// answer another owner saved meanwhile included), or `None` when another owner holds
    /// it. A store that can should do this in one round trip.
    async fn take_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<SharedState>, StoreError> {
        if self.try_lease(owner, now, until).await? { Ok(Some(self.load().await?)) } else { Ok(None) }
    }
    /// The shared state, with the lease taken for `owner` and one call of `Share::Current`
    /// counted in the same step, when all of these hold at `now`: a refresh is due
    /// (`SharedState::refresh_due`), nobody else holds the lease, the share has room in
    /// this hour (`CallLedger::room` is `Free`) and the next hour is not opened for it.
    /// `true` when the lease was taken, with the state as written; otherwise nothing
    /// changed and the state tells why. One round trip.
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError>;
    /// Counts one call of `share` in the hour of `now` if the share has room there and the
    /// next hour is not opened for it: `true` then, with the ledger as written; `false`
    /// with the ledger as it stands. Atomic: of two takes for the last call, one wins.
    async fn take_call(&self, share: Share, now: OffsetDateTime) -> Result<(bool, CallLedger), StoreError>;
    /// Opens `hour` for `share` with `room` calls, unless it is open already or the
    /// share's buckets of the 24 hours before differ from `seen` (a call counted since).
    /// `false` when nothing was written. May drop the hours `seen` has that no limit counts.
    async fn open_hour(&self, share: Share, hour: i64, room: u32, seen: &CallLedger) -> Result<bool, StoreError>;
    /// `open_hour` of `Share::Current` and `load_or_lease` in one step, for the first call
    /// of an hour: the hour is opened with `room` and the lease taken with this call
    /// counted, when the conditions of both hold (`room` at least 1); otherwise nothing
    /// changed and the state tells why.
    async fn open_hour_and_lease(
        &self,
        hour: i64,
        room: u32,
        seen: &CallLedger,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError>;
    /// Counts `count` token refreshes in the hour of `now` (apart from every share).
    async fn count_refreshes(&self, count: u32, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Stores a fresh answer (and what it shows playing, if anything) due at `due_at`, and
    /// ends the lease.
    async fn save(
        &self,
        snapshot: &NowPlaying,
        last_seen: Option<&Played>,
        due_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Records a refusal: no instance calls Spotify before `until`. Ends the lease.
    async fn back_off(&self, until: OffsetDateTime, refusal: Refusal) -> Result<(), StoreError>;
    /// Shares a recently-played list.
    async fn save_recent(&self, recent: &RecentPlays) -> Result<(), StoreError>;
    /// Ends the lease, if `owner` still holds it; with `due_at`, the answer is next due
    /// then (a retry after a failure).
    async fn release(&self, owner: &str, due_at: Option<OffsetDateTime>) -> Result<(), StoreError>;
}

/// Why the credentials could not be read or written. Never carries a secret value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("the SSM parameter {0} does not exist; run `make bootstrap` to create it")]
    Missing(String),
    #[error(
        "the SSM parameter {name} is not a valid credentials document ({reason}); run `make bootstrap` to rewrite it"
    )]
    Malformed { name: String, reason: String },
    #[error("the SSM parameter {name} could not be accessed: {reason}")]
    Unavailable { name: String, reason: String },
}

impl CredentialsError {
    /// What a public answer may say: the parameter's name and the fix, never the cause of an
    /// access failure (the SDK's error names the role, the account and raw headers; it goes
    /// to the log only).
    pub fn public_message(&self) -> String {
        match self {
            CredentialsError::Unavailable { name, .. } => format!(
                "the SSM parameter {name} could not be read; the function's log has the cause \
                 (check that its role may call ssm:GetParameter on it)"
            ),
            other => other.to_string(),
        }
    }
}

/// The SSM SecureString that holds the client credentials and the refresh token.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Reads and decrypts the credentials.
    async fn load(&self) -> Result<Credentials, CredentialsError>;
    /// Overwrites the parameter with these credentials (after Spotify rotated the refresh token).
    async fn save(&self, credentials: &Credentials) -> Result<(), CredentialsError>;
}

/// Wall-clock time, replaceable in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// Why album art could not be had; the card is drawn without it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("album art: {0}")]
pub struct ArtError(pub String);

/// Album art by URL, for inlining in the SVG card.
#[async_trait]
pub trait Artwork: Send + Sync {
    async fn fetch(&self, url: &str) -> Result<crate::domain::Art, ArtError>;
}

/// Album art shared between instances, so each image is fetched once for all of them.
#[async_trait]
pub trait ArtCache: Send + Sync {
    async fn load(&self, url: &str) -> Result<Option<crate::domain::Art>, StoreError>;
    async fn save(&self, url: &str, art: &crate::domain::Art) -> Result<(), StoreError>;
}

/// Spotify's catalogue, for visitors looking for a song to suggest.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// `GET /v1/search?type=track`: at most `limit` (at most 10) playable tracks.
    async fn search_tracks(&self, token: &AccessToken, query: &str, limit: u8) -> Result<Vec<Item>, SpotifyError>;
    /// `GET /v1/tracks/{id}`; `None` when Spotify has no such track.
    async fn track(&self, token: &AccessToken, id: &TrackId) -> Result<Option<Item>, SpotifyError>;
}

/// The owner's playlist of suggestions.
#[async_trait]
pub trait Playlists: Send + Sync {
    /// `POST /v1/playlists/{playlist}/items` with the track's URI.
    async fn add_track(&self, token: &AccessToken, playlist: &str, track: &TrackId) -> Result<(), SpotifyError>;
}

/// The suggestions, one record per track.
#[async_trait]
pub trait SuggestionStore: Send + Sync {
    /// Stores `suggestion` unless the same track is pending, or was added at or after
    /// `since`: then that one is returned and nothing is written. Atomic, so of many
    /// concurrent identical suggestions exactly one is stored.
    async fn insert(&self, suggestion: &Suggestion, since: OffsetDateTime) -> Result<Option<Suggestion>, StoreError>;
    /// Overwrites the stored record of `suggestion.track` (a decision, an added track, a
    /// failed attempt), with the lifetime its status gives it.
    async fn update(&self, suggestion: &Suggestion) -> Result<(), StoreError>;
    async fn get(&self, track: &TrackId) -> Result<Option<Suggestion>, StoreError>;
    /// Every stored suggestion, for the owner.
    async fn list(&self) -> Result<Vec<Suggestion>, StoreError>;
    /// Tracks whose adding to the playlist failed and is to be retried.
    async fn failed(&self) -> Result<Vec<TrackId>, StoreError>;
    /// Marks `track` for a retry (`retry` true) or removes it from the retry list.
    async fn set_retry(&self, track: &TrackId, retry: bool) -> Result<(), StoreError>;
}

/// Why a message to the owner could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// Messages to the owner (the daily digest of waiting suggestions), by e-mail through the
/// alarm topic.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), NotifyError>;
}

/// Counters shared by all instances: the limits and the one-time proofs.
#[async_trait]
pub trait Counters: Send + Sync {
    /// Counts one use of `key`, whose window ends at `until`, unless `limit` uses are
    /// counted already: then `Ok(false)` and nothing changes.
    async fn take(&self, key: &str, limit: u32, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// How many uses of `key` are counted: what `take` would compare with its limit.
    async fn used(&self, key: &str) -> Result<u32, StoreError>;
    /// Gives back one use of `key` that `take` counted for something that was not stored.
    async fn give_back(&self, key: &str) -> Result<(), StoreError>;
    /// Records `key` as used until `until`; `Ok(false)` when it already was.
    async fn use_once(&self, key: &str, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// Holds `key` until `until` unless another holds it past `now`: one sender at a time.
    async fn claim(&self, key: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// Lets go of a claim at once, so that a retry may take it.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

/// Search results shared by all instances for a while, so a search costs Spotify once.
#[async_trait]
pub trait SearchCache: Send + Sync {
    async fn load(&self, query: &str) -> Result<Option<Vec<Item>>, StoreError>;
    async fn save(&self, query: &str, items: &[Item], until: OffsetDateTime) -> Result<(), StoreError>;
}

/// Where the owner's privacy rules are kept (`PRIVACY_PARAMETER`).
#[async_trait]
pub trait PrivacySource: Send + Sync {
    /// The rules document; `None` when there is none. The error says what could not be
    /// read, for `/v1/health`, and names no cause an outsider should see.
    async fn load(&self) -> Result<Option<String>, String>;
}

/// Where a new answer is pushed to every open page (`LIVE_URL`: AppSync Events in the stack).
/// What is pushed is what the world may see: the answer screened by the owner's rules.
#[async_trait]
pub trait LivePush: Send + Sync {
    async fn publish(&self, doc: &NowPlaying) -> Result<(), String>;
}

/// Who watches and who runs the live schedule, shared by every instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    /// Until when somebody is taken to watch: a page asked `/v1/live` within the window.
    pub viewers_until: Option<OffsetDateTime>,
    /// The live runner's id, and until when it holds the schedule.
    pub runner: Option<(String, OffsetDateTime)>,
}

/// Presence and the runner's lease (a DynamoDB item in the stack).
#[async_trait]
pub trait LiveState: Send + Sync {
    async fn presence(&self) -> Result<Presence, StoreError>;
    /// Viewers are present until `until` (a later time already stored stays).
    async fn mark_viewers(&self, until: OffsetDateTime) -> Result<(), StoreError>;
    /// Becomes runner `id` until `until` if none holds the schedule at `now`.
    async fn claim_runner(&self, id: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// Runner `id` holds on until `until`; `false` when another took over.
    async fn keep_runner(&self, id: &str, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// Runner `id` lets go, if it still holds the schedule.
    async fn end_runner(&self, id: &str) -> Result<(), StoreError>;
}

/// Where the live runner's next tick waits until it is due (SQS delayed messages in the
/// stack): it comes back to the function as an event.
#[async_trait]
pub trait TickQueue: Send + Sync {
    /// A tick of runner `id` after `delay`, at most 15 minutes.
    async fn tick_after(&self, id: &str, delay: std::time::Duration) -> Result<(), String>;
}
