//! Answers "what is playing" and "is this deployment healthy" from the ports; what was
//! played recently (`recent`) and the owner's privacy rules (`rules`) in their own files.

mod recent;
mod rules;

pub use recent::RECENT_WINDOW;
pub use rules::PRIVACY_REREAD;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tracing::{info, warn};

use crate::domain::art::{ArtLibrary, art_image};
use crate::domain::ports::{Clock, CredentialsError, PrivacySource, SharedState, SnapshotStore, Spotify, SpotifyError};
use crate::domain::{Health, Item, NowPlaying, Palette, Playback, Played, Privacy};
use crate::domain::{TokenError, TokenManager, after};

/// The longest a 429 stops every Spotify call: Spotify's longest seen is about 5.3 hours.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// How far back the history is searched for a play the rules show, when they hide some.
const HISTORY_UNDER_RULES: u8 = 50;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ServiceError {
    #[error("reauthorization required: {0}")]
    ReauthorizationRequired(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Spotify failed and there is no earlier good answer to fall back on.
    #[error("Spotify is unavailable: {cause}")]
    UpstreamUnavailable { cause: SpotifyError, retry_after: Option<Duration> },
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

fn rate_limited(wait: Duration) -> ServiceError {
    ServiceError::UpstreamUnavailable {
        cause: SpotifyError::RateLimited { retry_after: wait },
        retry_after: Some(wait),
    }
}

fn retry_after(cause: &SpotifyError) -> Option<Duration> {
    match cause {
        SpotifyError::RateLimited { retry_after } => Some(*retry_after),
        _ => None,
    }
}

/// How the shared answer cache behaves; `Default` is what the function runs with.
#[derive(Clone, Copy, Debug)]
pub struct CacheTiming {
    /// An answer younger than this is served without calling Spotify (`CACHE_SECONDS`).
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
    /// This instance's copy of the shared state, newest of what it saw and fetched.
    memory: Mutex<SharedState>,
    /// Where the palette of new art comes from; without it answers carry none.
    art: Option<Arc<ArtLibrary>>,
    /// Where the owner's privacy rules are; without it everything is shown.
    privacy_source: Option<Arc<dyn PrivacySource>>,
    /// The rules as last read, and when.
    privacy: Mutex<Option<(Privacy, OffsetDateTime)>>,
}

/// The collaborators of a `NowPlayingService`.
pub struct ServicePorts {
    pub spotify: Arc<dyn Spotify>,
    pub tokens: Arc<TokenManager>,
    /// The shared answer, what was last seen, the backoff and the answer's lease.
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
            memory: Mutex::new(SharedState::default()),
            art: None,
            privacy_source: None,
            privacy: Mutex::new(None),
        }
    }

    /// Answers carry the palette of their art, taken from `art`.
    pub fn with_art(mut self, art: Arc<ArtLibrary>) -> Self {
        self.art = Some(art);
        self
    }

    /// The now-playing document: from this instance's memory or the shared snapshot while
    /// it is younger than the window; otherwise one instance asks Spotify while the others
    /// serve the previous answer. The last good answer, marked stale, when Spotify fails.
    /// Every route that shows the music derives from this one answer, screened by the
    /// owner's rules as they are now.
    pub async fn current(&self) -> Result<NowPlaying, ServiceError> {
        let privacy = self.privacy().await;
        let answer = match tokio::time::timeout(self.timing.request_deadline, self.answer(&privacy)).await {
            Ok(result) => result,
            Err(_) => {
                warn!("request deadline passed");
                self.fall_back(ServiceError::UpstreamUnavailable { cause: SpotifyError::Timeout, retry_after: None })
            }
        };
        answer.map(|doc| privacy.screen(doc, self.clock.now()))
    }

    async fn answer(&self, privacy: &Privacy) -> Result<NowPlaying, ServiceError> {
        if let Some(doc) = self.fresh(self.clock.now()) {
            info!(cache = "memory", "answered from this instance");
            return Ok(doc);
        }
        // One round: the shared state and the token, each with its lease taken in the same
        // step if it is due for a refresh, in case Spotify must be called.
        let now = self.clock.now();
        let owner = format!("{}#{}", self.instance_id, self.attempts.fetch_add(1, Ordering::Relaxed));
        let (loaded, ()) = tokio::join!(
            self.shared.load_or_lease(&owner, now, now - self.timing.window, now + self.timing.lease),
            self.tokens.prefetch()
        );
        let leased = match loaded {
            Ok((state, leased)) => {
                self.merge(state);
                Some(leased)
            }
            Err(e) => {
                warn!(error = %e, "snapshot store unavailable; answering from this instance");
                None
            }
        };
        let now = self.clock.now();
        let lease = (leased == Some(true)).then_some(owner.as_str());
        if let Some(wait) = self.backing_off(now) {
            tokio::join!(self.release(lease), self.tokens.forgo());
            info!(spotify_call = "skipped", backoff_seconds = wait.as_secs(), "rate limited; not calling Spotify");
            return self.fall_back(rate_limited(wait));
        }
        if let Some(doc) = self.fresh(now) {
            tokio::join!(self.release(lease), self.tokens.forgo());
            info!(cache = "shared", "answered from the shared snapshot");
            return Ok(doc);
        }
        match leased {
            Some(false) => {
                self.tokens.forgo().await;
                self.while_another_refreshes(privacy).await
            }
            _ => self.refresh(lease, privacy).await,
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
                if let Some(wait) = self.backing_off(self.clock.now()) {
                    return self.fall_back(rate_limited(wait));
                }
                if let Some(doc) = lock(&self.memory).snapshot.clone() {
                    info!(cache = "waited", "answered from another instance's refresh");
                    return Ok(doc);
                }
            }
        }
        warn!("the other instance's refresh did not arrive in time; calling Spotify here");
        self.refresh(None, privacy).await
    }

    /// Calls Spotify, then shares what came of it: the answer, or the backoff. `lease` is
    /// the owner id of the lease this attempt holds, if it holds one.
    async fn refresh(&self, lease: Option<&str>, privacy: &Privacy) -> Result<NowPlaying, ServiceError> {
        let last_seen = lock(&self.memory).last_seen.clone();
        let fetch = self.fetch(last_seen.as_ref(), privacy);
        let result = match tokio::time::timeout(self.timing.spotify_deadline, fetch).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::UpstreamUnavailable { cause: SpotifyError::Timeout, retry_after: None }),
        };
        if result.is_err() {
            self.tokens.settle().await;
        }
        match result {
            Ok(doc) => {
                info!(status = ?doc.status, "now playing read from Spotify");
                let seen = doc.seen_playing();
                {
                    let mut memory = lock(&self.memory);
                    memory.snapshot = Some(doc.clone());
                    if seen.is_some() {
                        memory.last_seen.clone_from(&seen);
                    }
                }
                if let Some(owner) = lease {
                    // The new token, if this refresh made one, is shared in the same round.
                    let (saved, ()) = tokio::join!(self.shared.save(&doc, seen.as_ref()), self.tokens.settle());
                    if let Err(e) = saved {
                        warn!(error = %e, "could not share the new snapshot");
                        self.release(Some(owner)).await;
                    }
                } else {
                    self.tokens.settle().await;
                }
                Ok(doc)
            }
            Err(ServiceError::UpstreamUnavailable { cause, retry_after }) => {
                warn!(error = %cause, "Spotify call failed");
                // One absurd Retry-After must not stop every call for days.
                let retry_after = retry_after.map(|wait| wait.min(MAX_BACKOFF));
                if let Some(wait) = retry_after {
                    let until = after(self.clock.now(), wait);
                    lock(&self.memory).backoff_until = Some(until);
                    // Shared whether or not this instance held the lease: every instance must stop.
                    if let Err(e) = self.shared.back_off(until).await {
                        warn!(error = %e, "could not share the backoff");
                    }
                } else {
                    self.release(lease).await;
                }
                self.fall_back(ServiceError::UpstreamUnavailable { cause, retry_after })
            }
            Err(other) => {
                self.release(lease).await;
                Err(other)
            }
        }
    }

    async fn release(&self, lease: Option<&str>) {
        if let Some(owner) = lease
            && let Err(e) = self.shared.release(owner).await
        {
            warn!(error = %e, "could not release the refresh lease; it lapses by itself");
        }
    }

    /// The snapshot in memory if it is younger than the window.
    fn fresh(&self, now: OffsetDateTime) -> Option<NowPlaying> {
        let memory = lock(&self.memory);
        memory.snapshot.as_ref().filter(|doc| now - doc.fetched_at < self.timing.window).cloned()
    }

    fn backing_off(&self, now: OffsetDateTime) -> Option<Duration> {
        let until = lock(&self.memory).backoff_until?;
        (until > now).then(|| Duration::try_from(until - now).unwrap_or_default())
    }

    /// Keeps the newer of each part: what this instance holds and what the store holds.
    fn merge(&self, shared: SharedState) {
        let mut memory = lock(&self.memory);
        if let Some(doc) = shared.snapshot
            && memory.snapshot.as_ref().is_none_or(|mine| doc.fetched_at > mine.fetched_at)
        {
            memory.snapshot = Some(doc);
        }
        if let Some(seen) = shared.last_seen
            && memory.last_seen.as_ref().is_none_or(|mine| seen.played_at > mine.played_at)
        {
            memory.last_seen = Some(seen);
        }
        if shared.backoff_until > memory.backoff_until {
            memory.backoff_until = shared.backoff_until;
        }
        if let Some(list) = shared.recent
            && memory.recent.as_ref().is_none_or(|mine| list.fetched_at > mine.fetched_at)
        {
            memory.recent = Some(list);
        }
    }

    fn fall_back(&self, error: ServiceError) -> Result<NowPlaying, ServiceError> {
        match lock(&self.memory).snapshot.clone() {
            Some(doc) => {
                info!(stale = true, "serving the last good answer");
                Ok(NowPlaying { stale: true, ..doc })
            }
            None => Err(error),
        }
    }

    /// The answer from Spotify, decided under `privacy`: a hidden play is as if it had not
    /// happened (the last play the rules show stands in, else nothing), and while sharing
    /// is paused or in quiet hours there is no item at all.
    async fn fetch(&self, last_seen: Option<&Played>, privacy: &Privacy) -> Result<NowPlaying, ServiceError> {
        let mut token = self.tokens.token().await?;
        let playback = match self.spotify.currently_playing(&token).await {
            Err(SpotifyError::Unauthorized) => {
                info!(spotify_status = 401, "access token rejected; refreshing once");
                token = self.tokens.token_after_rejection(&token).await?;
                self.spotify.currently_playing(&token).await.map_err(after_retry)?
            }
            other => other.map_err(after_retry)?,
        };
        let now = self.clock.now();
        let shown = match &playback {
            Playback::Item { item, context, .. } => privacy.shows(item, context.as_deref(), now),
            Playback::Nothing => false,
        };
        let playback = if shown { playback } else { Playback::Nothing };
        let recent = if shown || privacy.silent_at(now) {
            Vec::new()
        } else {
            let limit = if *privacy == Privacy::Open { 1 } else { HISTORY_UNDER_RULES };
            self.spotify.recently_played(&token, limit).await.map_err(after_retry)?
        };
        let recent = recent.into_iter().find(|played| privacy.shows_played(played, now));
        let last_seen = last_seen.filter(|played| privacy.shows_played(played, now));
        let mut doc = NowPlaying::from_spotify(playback, recent, last_seen, self.clock.now());
        if let Some(item) = doc.item.as_mut() {
            item.palette = self.palette(item).await;
        }
        Ok(doc)
    }

    /// The palette of `item`'s art. An image seen before costs nothing: its palette is in the
    /// previous answer, the last play or this instance's memory. A new one is looked up in
    /// the shared art, else fetched, for at most `timing.palette`; past that the answer goes
    /// without, and the fetch carries on for the next refresh.
    async fn palette(&self, item: &Item) -> Option<Palette> {
        let url = art_image(&item.images)?.url.clone();
        let known = {
            let memory = lock(&self.memory);
            let snapshot = memory.snapshot.as_ref().and_then(|doc| doc.item.as_ref());
            let seen = memory.last_seen.as_ref().map(|played| &played.item);
            [snapshot, seen].into_iter().flatten().find_map(|known| {
                (art_image(&known.images).is_some_and(|i| i.url == url)).then_some(known.palette).flatten()
            })
        };
        if known.is_some() {
            return known;
        }
        self.art.clone()?.palette_within(url, self.timing.palette).await
    }

    /// Refreshes the shared access token if it has `ahead` left or less (the keep-fresh
    /// schedule); `Ok(true)` when it was refreshed.
    pub async fn keep_fresh(&self, ahead: Duration) -> Result<bool, ServiceError> {
        Ok(self.tokens.keep_fresh(ahead).await?)
    }

    /// The authorization's state, without calling Spotify, and the privacy rules'.
    pub async fn health(&self) -> Health {
        Health::of(self.tokens.credentials().await, self.clock.now()).with_privacy(&self.privacy().await)
    }

    /// The authorization's state as stored now, read again rather than remembered.
    pub async fn health_afresh(&self) -> Health {
        Health::of(self.tokens.reload_credentials().await, self.clock.now()).with_privacy(&self.privacy().await)
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
