//! Answers "what is playing" and "is this deployment healthy" from the ports: asking
//! Spotify only when the answer is due (`quota::Schedule`) and its share of the budget has
//! room. In their own files: one refresh, its calls and what it shares (`fetch`), this
//! instance's copy of the shared state (`memory`), the keep-fresh job and the health check
//! (`health`), what was played recently (`recent`) and the owner's privacy rules (`rules`).

mod fetch;
mod health;
mod live;
mod memory;
mod recent;
mod rules;
mod runner;

pub use runner::{PRESENCE, Runner};

pub use recent::RECENT_WINDOW;
pub use rules::PRIVACY_REREAD;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tracing::{info, warn};

use crate::domain::art::ArtLibrary;
use crate::domain::ports::{Clock, CredentialsError, LivePush, PrivacySource, SharedState, SnapshotStore};
use crate::domain::ports::{Spotify, SpotifyError};
use crate::domain::quota::{Budget, Room, Schedule, Share, answer_max_age};
use crate::domain::{NowPlaying, Privacy, StaleReason};
use crate::domain::{TokenError, TokenManager};

/// The longest a 429 stops every Spotify call: Spotify's longest seen is about 5.3 hours.
/// A `QUOTA_EXCEEDED` refusal is honoured longer (`quota::MAX_QUOTA_WAIT`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ServiceError {
    #[error("reauthorization required: {0}")]
    ReauthorizationRequired(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Spotify failed and there is no earlier good answer to fall back on.
    #[error("Spotify is unavailable: {cause}")]
    UpstreamUnavailable { cause: SpotifyError, retry_after: Option<Duration> },
    /// The share of the budget of Spotify calls is spent for now, and there is no earlier
    /// answer to fall back on.
    #[error("this deployment's budget of Spotify calls (SPOTIFY_CALLS_PER_DAY) is spent for now")]
    BudgetSpent,
}

impl ServiceError {
    /// What a stale answer served instead of this error says of why.
    pub fn stale_reason(&self) -> StaleReason {
        match self {
            ServiceError::UpstreamUnavailable { cause: SpotifyError::QuotaExceeded { .. }, .. } => {
                StaleReason::QuotaExceeded
            }
            ServiceError::UpstreamUnavailable { cause: SpotifyError::RateLimited { .. }, .. } => {
                StaleReason::RateLimited
            }
            ServiceError::BudgetSpent => StaleReason::BudgetSpent,
            _ => StaleReason::Unavailable,
        }
    }
}

impl From<TokenError> for ServiceError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Reauthorize(reason) => ServiceError::ReauthorizationRequired(reason),
            TokenError::Credentials(e) => ServiceError::Credentials(e),
            TokenError::Spotify(cause) => ServiceError::UpstreamUnavailable { retry_after: retry_after(&cause), cause },
        }
    }
}

/// The error a running refusal stands for: the quota's or the rate limit's.
fn refused(wait: Duration, quota: bool) -> ServiceError {
    let cause = if quota {
        SpotifyError::QuotaExceeded { retry_after: wait }
    } else {
        SpotifyError::RateLimited { retry_after: wait }
    };
    ServiceError::UpstreamUnavailable { cause, retry_after: Some(wait) }
}

fn retry_after(cause: &SpotifyError) -> Option<Duration> {
    match cause {
        SpotifyError::RateLimited { retry_after } | SpotifyError::QuotaExceeded { retry_after } => Some(*retry_after),
        _ => None,
    }
}

/// How the shared answer cache behaves; `Default` is what the function runs with.
#[derive(Clone, Copy, Debug)]
pub struct CacheTiming {
    /// No answer is due sooner than this after it was fetched (`CACHE_SECONDS`); after a
    /// failure, Spotify is asked again this long later.
    pub window: Duration,
    /// The most one request may take, whatever fails; image proxies give up at about 10 s.
    pub request_deadline: Duration,
    /// The most the Spotify calls of one refresh may take, token refresh included.
    pub spotify_deadline: Duration,
    /// How long a refresh lease holds if its owner dies mid-refresh.
    pub lease: Duration,
    /// How long an instance with nothing to show waits for another's refresh.
    pub wait: Duration,
    pub poll: Duration,
    /// The most a refresh waits for album art it has never seen, to take its palette; the
    /// fetch goes on after that, and the next refresh has the palette.
    pub palette: Duration,
}

impl Default for CacheTiming {
    fn default() -> Self {
        CacheTiming {
            window: Duration::from_secs(5),
            request_deadline: Duration::from_secs(8),
            spotify_deadline: Duration::from_secs(6),
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(3),
            poll: Duration::from_millis(100),
            palette: Duration::from_millis(800),
        }
    }
}

pub struct NowPlayingService {
    spotify: Arc<dyn Spotify>,
    tokens: Arc<TokenManager>,
    shared: Arc<dyn SnapshotStore>,
    clock: Arc<dyn Clock>,
    instance_id: String,
    /// Numbers each refresh attempt, so concurrent requests of one instance hold distinct leases.
    attempts: AtomicU64,
    timing: CacheTiming,
    /// What the Web API calls may spend (`SPOTIFY_CALLS_PER_DAY` and its shares).
    budget: Budget,
    /// Whether the schedule aims at a playing track's end (off only to compare with a grid).
    track_ends: bool,
    /// This instance's copy of the shared state, newest of what it saw and fetched.
    memory: Mutex<SharedState>,
    /// Where the palette of new art comes from; without it answers carry none.
    art: Option<Arc<ArtLibrary>>,
    /// Where the owner's privacy rules are; without it everything is shown.
    privacy_source: Option<Arc<dyn PrivacySource>>,
    /// Where a changed answer is pushed (`with_live`).
    live: Option<Arc<dyn LivePush>>,
    /// The live schedule while pages watch (`with_runner`).
    runner: Option<runner::Runner>,
    /// When this instance last wrote viewers' presence.
    presence_written: Mutex<Option<OffsetDateTime>>,
    /// The rules as last read, and when.
    privacy: Mutex<Option<(Privacy, OffsetDateTime)>>,
}

/// The collaborators of a `NowPlayingService`.
pub struct ServicePorts {
    pub spotify: Arc<dyn Spotify>,
    pub tokens: Arc<TokenManager>,
    /// The shared answer, what was last seen, the refusals, the ledger and the answer's lease.
    pub shared: Arc<dyn SnapshotStore>,
    pub clock: Arc<dyn Clock>,
}

impl NowPlayingService {
    /// `instance_id` names this process in the leases it takes.
    pub fn new(ports: ServicePorts, instance_id: String, timing: CacheTiming) -> Self {
        let ServicePorts { spotify, tokens, shared, clock } = ports;
        NowPlayingService {
            spotify,
            tokens,
            shared,
            clock,
            instance_id,
            attempts: AtomicU64::new(0),
            timing,
            budget: Budget::default(),
            track_ends: true,
            memory: Mutex::new(SharedState::default()),
            art: None,
            privacy_source: None,
            live: None,
            runner: None,
            presence_written: Mutex::new(None),
            privacy: Mutex::new(None),
        }
    }

    /// Answers carry the palette of their art, taken from `art`.
    pub fn with_art(mut self, art: Arc<ArtLibrary>) -> Self {
        self.art = Some(art);
        self
    }

    /// Pushes each answer that changes what a page shows to `live`, screened by the rules.
    pub fn with_live(mut self, live: Arc<dyn LivePush>) -> Self {
        self.live = Some(live);
        self
    }

    /// Spends Spotify's calls within `budget` (the default is `Budget::default()`).
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Asks at a fixed pace only, never at a track's end: the design before the schedule,
    /// kept to measure against.
    pub fn without_track_ends(mut self) -> Self {
        self.track_ends = false;
        self
    }

    /// When this instance takes the answer to be due next.
    pub fn due_at(&self) -> Option<OffsetDateTime> {
        lock(&self.memory).due_at
    }

    /// The service's clock now.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The schedule the answer is due by.
    pub fn schedule(&self) -> Schedule {
        Schedule { budget: self.budget, floor: self.timing.window, track_ends: self.track_ends }
    }

    /// How long a shared cache may keep the answer: until it is due, or until a running
    /// refusal ends (nothing can change before), within `CACHE_SECONDS` and a minute.
    pub fn answer_max_age(&self) -> Duration {
        let now = self.clock.now();
        let memory = lock(&self.memory);
        let refused = memory.refused_until(now).map(|(until, _)| until);
        answer_max_age(memory.due_at.max(refused), now, self.timing.window)
    }

    /// The now-playing document: from this instance's memory or the shared snapshot until
    /// it is due; otherwise one instance asks Spotify, within the answer's share of the
    /// budget, while the others serve the previous answer. The last good answer, marked
    /// stale with the reason, when Spotify fails, refuses or the share is spent. Every
    /// route that shows the music derives from this one answer, screened by the owner's
    /// rules as they are now.
    pub async fn current(&self) -> Result<NowPlaying, ServiceError> {
        let answered = tokio::time::timeout(self.timing.request_deadline, self.answer()).await;
        let (answer, privacy) = match answered {
            Ok(answered) => answered,
            Err(_) => {
                warn!("request deadline passed");
                let fallen = self
                    .fall_back(ServiceError::UpstreamUnavailable { cause: SpotifyError::Timeout, retry_after: None });
                (fallen, self.privacy().await)
            }
        };
        answer.map(|doc| privacy.screen(doc, self.clock.now()))
    }

    /// The answer, and the privacy rules read in the same round as the shared state.
    async fn answer(&self) -> (Result<NowPlaying, ServiceError>, Privacy) {
        if let Some(doc) = self.fresh(self.clock.now()) {
            info!(cache = "memory", "answered from this instance");
            return (Ok(doc), self.privacy().await);
        }
        // One round: the privacy rules, the shared state and the token, each with its lease
        // taken in the same step if it is due for a refresh, in case Spotify must be called.
        let now = self.clock.now();
        let owner = format!("{}#{}", self.instance_id, self.attempts.fetch_add(1, Ordering::Relaxed));
        let until = now + self.timing.lease;
        let (privacy, loaded, ()) =
            tokio::join!(self.privacy(), self.shared.load_or_lease(&owner, now, until), self.tokens.prefetch());
        let mut leased = match loaded {
            Ok((state, leased)) => {
                self.merge(state);
                Some(leased)
            }
            Err(e) => {
                warn!(error = %e, "snapshot store unavailable; answering from this instance");
                None
            }
        };
        if leased == Some(false) && self.due_in_unopened_hour(now) {
            leased = Some(self.open_hour_and_lease(&owner, now, until).await);
        }
        (self.after_the_round(&owner, leased, &privacy).await, privacy)
    }

    /// What the round's outcome leads to: a refusal or a fresh answer ends it, another
    /// instance's lease means waiting for its answer, a lease of this one means asking.
    async fn after_the_round(
        &self,
        owner: &str,
        leased: Option<bool>,
        privacy: &Privacy,
    ) -> Result<NowPlaying, ServiceError> {
        let now = self.clock.now();
        let lease = (leased == Some(true)).then_some(owner);
        if let Some((wait, quota)) = self.refusal(now) {
            tokio::join!(self.release(lease, None), self.tokens.forgo());
            info!(spotify_call = "skipped", backoff_seconds = wait.as_secs(), quota, "refused; not calling Spotify");
            return self.fall_back(refused(wait, quota));
        }
        if let Some(doc) = self.fresh(now) {
            tokio::join!(self.release(lease, None), self.tokens.forgo());
            info!(cache = "shared", "answered from the shared snapshot");
            return Ok(doc);
        }
        match leased {
            Some(true) => self.refresh(lease, privacy).await,
            Some(false) if lock(&self.memory).calls.room(Share::Current, now) == Room::Spent => {
                self.tokens.forgo().await;
                info!(spotify_call = "skipped", "the answer's share of the budget is spent for this hour");
                self.fall_back(ServiceError::BudgetSpent)
            }
            Some(false) => {
                self.tokens.forgo().await;
                self.while_another_refreshes(privacy).await
            }
            // The table cannot be reached: this instance keeps the schedule from its own
            // memory (the answer was due there, or it had none), so an outage costs each
            // instance no more than its pace.
            None => self.refresh(None, privacy).await,
        }
    }

    /// Whether the answer is due but this hour is not yet open for its share: the first
    /// call of each hour opens it.
    fn due_in_unopened_hour(&self, now: OffsetDateTime) -> bool {
        let memory = lock(&self.memory);
        memory.refresh_due(now) && memory.calls.room(Share::Current, now) == Room::Unopened
    }

    /// Opens the hour with what the 24 hours before left the answer's share and takes the
    /// lease in the same step; `true` when it was taken.
    async fn open_hour_and_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> bool {
        let seen = lock(&self.memory).calls.clone();
        let hour = crate::domain::quota::hour_of(now);
        let room = seen.room_for(Share::Current, hour, self.budget.limit(Share::Current));
        match self.shared.open_hour_and_lease(hour, room, &seen, owner, now, until).await {
            Ok((state, leased)) => {
                info!(hour, room, leased, "opened the hour's budget of the answer");
                self.merge(state);
                leased
            }
            Err(e) => {
                warn!(error = %e, "could not open the hour's budget");
                false
            }
        }
    }

    /// Another instance holds the lease: the previous answer stands until it is done.
    async fn while_another_refreshes(&self, privacy: &Privacy) -> Result<NowPlaying, ServiceError> {
        if let Some(doc) = lock(&self.memory).snapshot.clone() {
            info!(cache = "previous", "another instance is refreshing; answering the previous snapshot");
            return Ok(doc);
        }
        let deadline = tokio::time::Instant::now() + self.timing.wait;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(self.timing.poll).await;
            if let Ok(state) = self.shared.load().await {
                self.merge(state);
                if let Some((wait, quota)) = self.refusal(self.clock.now()) {
                    return self.fall_back(refused(wait, quota));
                }
                if let Some(doc) = lock(&self.memory).snapshot.clone() {
                    info!(cache = "waited", "answered from another instance's refresh");
                    return Ok(doc);
                }
            }
        }
        warn!("the other instance's refresh did not arrive in time; calling Spotify here");
        if !self.spend(Share::Current).await {
            return self.fall_back(ServiceError::BudgetSpent);
        }
        self.refresh(None, privacy).await
    }

    async fn release(&self, lease: Option<&str>, due_at: Option<OffsetDateTime>) {
        if let Some(owner) = lease
            && let Err(e) = self.shared.release(owner, due_at).await
        {
            warn!(error = %e, "could not release the refresh lease; it lapses by itself");
        }
    }
}

/// A 401 after a fresh token means the authorization lacks a scope: only a new one helps.
fn after_retry(e: SpotifyError) -> ServiceError {
    match e {
        SpotifyError::Unauthorized => ServiceError::ReauthorizationRequired(
            "Spotify rejected a fresh access token; the authorization lacks a scope".into(),
        ),
        cause => ServiceError::UpstreamUnavailable { retry_after: retry_after(&cause), cause },
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
