//! The access-token lifecycle: memory, then the shared store, then one refresh per expiry
//! across all instances, with refresh-token rotation persisted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::domain::ports::{Clock, CredentialStore, CredentialsError, Spotify, SpotifyError, TokenStore};
use crate::domain::{Credentials, after};

/// A token is refreshed when it has this much left or less.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The keep-fresh schedule (every 10 minutes, infra/lib/keep-fresh.ts) refreshes the token
/// when it has this much left or less: more than the schedule's period, so the token never
/// lapses between two runs, and Spotify's hour-long tokens are refreshed once an hour.
pub const KEEP_FRESH_AHEAD: Duration = Duration::from_secs(15 * 60);

/// A Spotify access token and when it expires. Its `Debug` never shows the value.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub value: SecretString,
    pub expires_at: OffsetDateTime,
}

impl AccessToken {
    /// Still usable at `now` with the refresh margin to spare.
    pub fn is_fresh_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at - now > REFRESH_MARGIN
    }

    fn same_value(&self, other: &AccessToken) -> bool {
        self.value.expose_secret() == other.value.expose_secret()
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The owner must authorize again (`make bootstrap`); retrying cannot help.
    #[error("reauthorization required: {0}")]
    Reauthorize(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Spotify(SpotifyError),
}

/// How long an instance waits for another one's refresh before doing its own.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    /// How long the lease holds when its owner dies mid-refresh.
    pub lease: Duration,
    /// How long a waiting instance polls the store for the new token.
    pub wait: Duration,
    pub poll: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming { lease: Duration::from_secs(10), wait: Duration::from_secs(3), poll: Duration::from_millis(100) }
    }
}

/// What one look at the shared token found.
#[derive(Debug)]
enum Found {
    /// A token with the margin to spare.
    Usable(AccessToken),
    /// The token is missing or stale, and this instance took the refresh lease.
    Leased,
    /// The token is missing or stale, and another instance holds the lease.
    Elsewhere,
    /// The store could not be reached: refresh without it.
    Unavailable,
}

/// Hands out valid access tokens, refreshing them at most once per expiry across instances.
pub struct TokenManager {
    spotify: Arc<dyn Spotify>,
    store: Arc<dyn TokenStore>,
    credential_store: Arc<dyn CredentialStore>,
    clock: Arc<dyn Clock>,
    instance_id: String,
    timing: LeaseTiming,
    credentials: Arc<tokio::sync::Mutex<Option<Credentials>>>,
    memory: Mutex<Option<AccessToken>>,
    /// What `prefetch` found, and when, if the token was not usable: `obtain` then goes on
    /// from there instead of looking again, and `forgo` gives back a lease taken for nothing.
    prefetched: Mutex<Option<(OffsetDateTime, Found)>>,
    refresh_gate: tokio::sync::Mutex<()>,
    /// Writes of a refreshed token still under way; `settle` waits for them.
    pending: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Refreshes made since `take_refreshes` last asked.
    refreshes: AtomicU32,
}

/// How long `prefetch`'s finding stands for the request that made it.
const PREFETCH_HOLDS: Duration = Duration::from_secs(2);

/// The collaborators of a `TokenManager`.
pub struct TokenPorts {
    pub spotify: Arc<dyn Spotify>,
    /// The shared token and its refresh lease.
    pub store: Arc<dyn TokenStore>,
    /// The owner's credentials.
    pub credentials: Arc<dyn CredentialStore>,
    pub clock: Arc<dyn Clock>,
}

impl TokenManager {
    /// `instance_id` names this process in the leases it takes.
    pub fn new(ports: TokenPorts, instance_id: String, timing: LeaseTiming) -> Self {
        let TokenPorts { spotify, store, credentials: credential_store, clock } = ports;
        TokenManager {
            spotify,
            store,
            credential_store,
            clock,
            instance_id,
            timing,
            credentials: Arc::new(tokio::sync::Mutex::new(None)),
            memory: Mutex::new(None),
            prefetched: Mutex::new(None),
            refresh_gate: tokio::sync::Mutex::new(()),
            pending: Mutex::new(Vec::new()),
            refreshes: AtomicU32::new(0),
        }
    }

    /// The credentials, read from the parameter once per instance; a failed read is
    /// retried on the next call.
    pub async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut cached = self.credentials.lock().await;
        if let Some(credentials) = cached.as_ref() {
            return Ok(credentials.clone());
        }
        let loaded = self.credential_store.load().await?;
        info!(authorized_at = %loaded.authorized_at, "credentials loaded");
        *cached = Some(loaded.clone());
        Ok(loaded)
    }

    /// Starts reading the credentials in the background, so that the first refresh finds
    /// them read; the function calls it at start, before its first request. A read already
    /// made or under way is not repeated, and a failed one is retried when they are needed.
    pub fn preload_credentials(&self) {
        let Ok(mut cached) = self.credentials.clone().try_lock_owned() else {
            return;
        };
        if cached.is_some() {
            return;
        }
        let store = self.credential_store.clone();
        tokio::spawn(async move {
            match store.load().await {
                Ok(loaded) => {
                    info!(authorized_at = %loaded.authorized_at, "credentials loaded");
                    *cached = Some(loaded);
                }
                Err(e) => {
                    warn!(error = %e, "credentials could not be read at start; the first refresh reads them again")
                }
            }
        });
    }

    /// Reads the shared token into memory when memory has none fresh, so that a request
    /// reads it in the same round as the shared answer; when it is missing or stale, the
    /// refresh lease is taken in that same step, for `obtain`. Never fails: without it
    /// `token` looks at the store itself.
    pub async fn prefetch(&self) {
        if self.cached(None).is_some() {
            return;
        }
        match self.look_up(None).await {
            Found::Usable(token) => self.remember(&token),
            Found::Unavailable => {}
            found => *lock(&self.prefetched) = Some((self.clock.now(), found)),
        }
    }

    /// The request that prefetched turned out not to need a token: the lease it took, if
    /// any, is given back, so that another instance's refresh need not wait for it to lapse.
    pub async fn forgo(&self) {
        let prefetched = lock(&self.prefetched).take();
        if let Some((_, Found::Leased)) = prefetched
            && let Err(e) = self.store.release_lease(&self.instance_id).await
        {
            warn!(error = %e, "could not release the refresh lease; it lapses by itself");
        }
    }

    /// A token with more than the refresh margin left.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        if let Some(token) = self.cached(None) {
            return Ok(token);
        }
        let _gate = self.refresh_gate.lock().await;
        if let Some(token) = self.cached(None) {
            return Ok(token);
        }
        self.obtain(None).await
    }

    /// The keep-fresh schedule's work: refreshes the shared token, under the lease, only if
    /// it has `ahead` left or less, so no visitor meets an expired one. `Ok(false)` when
    /// the stored token had enough left and Spotify was not called.
    pub async fn keep_fresh(&self, ahead: Duration) -> Result<bool, TokenError> {
        let _gate = self.refresh_gate.lock().await;
        let now = self.clock.now();
        let stale_before = now + ahead;
        match self.store.load_or_lease(&self.instance_id, now, stale_before, now + self.timing.lease).await {
            Ok((Some(token), leased)) if token.expires_at > stale_before => {
                info!(expires_at = %token.expires_at, "access token kept: it has time left");
                if leased {
                    self.let_go();
                    self.settle().await;
                }
                self.remember(&token);
                Ok(false)
            }
            Ok((_, false)) => {
                info!("another instance is refreshing the access token; nothing to do");
                Ok(false)
            }
            leased => {
                if let Err(e) = &leased {
                    warn!(error = %e, "token store unavailable; refreshing without it");
                }
                // Saving the new token ends the lease; a failed refresh gives it back.
                let result = self.refresh().await;
                if result.is_err() && leased.is_ok() {
                    self.let_go();
                }
                self.settle().await;
                result.map(|_| true)
            }
        }
    }

    /// A token other than `rejected`, which the Web API just answered 401 to.
    pub async fn token_after_rejection(&self, rejected: &AccessToken) -> Result<AccessToken, TokenError> {
        let _gate = self.refresh_gate.lock().await;
        if let Some(token) = self.cached(Some(rejected)) {
            return Ok(token);
        }
        self.obtain(Some(rejected)).await
    }

    fn cached(&self, rejected: Option<&AccessToken>) -> Option<AccessToken> {
        let now = self.clock.now();
        let memory = self.memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        memory.as_ref().filter(|t| t.is_fresh_at(now) && !rejected.is_some_and(|r| r.same_value(t))).cloned()
    }

    fn remember(&self, token: &AccessToken) {
        *lock(&self.memory) = Some(token.clone());
    }

    fn usable(&self, token: &AccessToken, rejected: Option<&AccessToken>) -> bool {
        token.is_fresh_at(self.clock.now()) && !rejected.is_some_and(|r| r.same_value(token))
    }

    /// The shared token if it is usable; otherwise refresh under the lease, or wait for
    /// whoever holds it. Goes on from what `prefetch` found, when it found that moments ago.
    async fn obtain(&self, rejected: Option<&AccessToken>) -> Result<AccessToken, TokenError> {
        let prefetched = lock(&self.prefetched).take();
        let found = match prefetched {
            Some((at, found)) if rejected.is_none() && self.clock.now() - at < PREFETCH_HOLDS => found,
            _ => self.look_up(rejected).await,
        };
        match found {
            Found::Usable(token) => {
                info!(token_source = "store", "access token");
                self.remember(&token);
                Ok(token)
            }
            // Saving the new token ends the lease.
            Found::Leased | Found::Unavailable => self.refresh().await,
            Found::Elsewhere => self.wait_for_other_refresh(rejected).await,
        }
    }

    /// One look at the shared token, taking the refresh lease in the same step when it is
    /// missing or stale. A token the Web API rejected counts as stale whatever its expiry;
    /// one stored since then expires later.
    async fn look_up(&self, rejected: Option<&AccessToken>) -> Found {
        let now = self.clock.now();
        let stale_before = now + REFRESH_MARGIN;
        let stale_before = rejected.map_or(stale_before, |rejected| rejected.expires_at.max(stale_before));
        match self.store.load_or_lease(&self.instance_id, now, stale_before, now + self.timing.lease).await {
            Ok((Some(token), leased)) if self.usable(&token, rejected) => {
                // Another instance stored it between the look and the lease.
                if leased {
                    self.let_go();
                }
                Found::Usable(token)
            }
            Ok((_, true)) => Found::Leased,
            Ok((_, false)) => Found::Elsewhere,
            Err(e) => {
                warn!(error = %e, "token store unavailable; going on without it");
                Found::Unavailable
            }
        }
    }

    /// Gives the lease back in the background; `settle` waits for it.
    fn let_go(&self) {
        let (store, owner) = (self.store.clone(), self.instance_id.clone());
        self.in_background(async move {
            if let Err(e) = store.release_lease(&owner).await {
                warn!(error = %e, "could not release the refresh lease; it lapses by itself");
            }
        });
    }

    /// Waits for the writes of a refreshed token (and the end of its lease) still under way,
    /// so none is lost when the process is frozen after the response.
    pub async fn settle(&self) {
        let pending = std::mem::take(&mut *lock(&self.pending));
        for task in pending {
            if let Err(e) = task.await {
                warn!(error = %e, "a background write of the token store failed");
            }
        }
    }

    fn in_background(&self, write: impl Future<Output = ()> + Send + 'static) {
        lock(&self.pending).push(tokio::spawn(write));
    }

    async fn wait_for_other_refresh(&self, rejected: Option<&AccessToken>) -> Result<AccessToken, TokenError> {
        info!(token_source = "wait", "another instance is refreshing the access token");
        let deadline = tokio::time::Instant::now() + self.timing.wait;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(self.timing.poll).await;
            // Each look takes the lease if its holder gave it back without a token.
            match self.look_up(rejected).await {
                Found::Usable(token) => {
                    self.remember(&token);
                    return Ok(token);
                }
                Found::Leased => return self.refresh().await,
                Found::Elsewhere | Found::Unavailable => {}
            }
        }
        warn!("the other instance's refresh did not arrive in time; refreshing here");
        self.refresh().await
    }

    /// One call to the accounts service, with the rotation and `invalid_grant` rules.
    async fn refresh(&self) -> Result<AccessToken, TokenError> {
        let credentials = self.credentials().await?;
        let grant = match self.spotify.refresh(&credentials).await {
            Ok(grant) => grant,
            Err(SpotifyError::InvalidGrant) => {
                // Another instance may have rotated the refresh token since this one read it.
                let reloaded = self.reload_credentials().await?;
                if reloaded.refresh_token.expose_secret() == credentials.refresh_token.expose_secret() {
                    error!("Spotify refused the refresh token (invalid_grant); run `make bootstrap`");
                    return Err(TokenError::Reauthorize(
                        "Spotify refused the refresh token: it was revoked or is past its 6-month life".into(),
                    ));
                }
                info!("refresh token was rotated by another instance; retrying with it");
                self.spotify.refresh(&reloaded).await.map_err(refresh_failure)?
            }
            Err(e) => return Err(refresh_failure(e)),
        };
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let token = AccessToken { value: grant.access_token, expires_at: after(self.clock.now(), grant.expires_in) };
        if let Some(rotated) = grant.refresh_token {
            self.persist_rotation(rotated).await;
        }
        // Shared while the caller goes on to Spotify; `settle` waits for it. A failed save
        // gives the lease back, if this instance holds it, so others need not wait it out.
        let (store, owner, shared) = (self.store.clone(), self.instance_id.clone(), token.clone());
        self.in_background(async move {
            if let Err(e) = store.save(&shared).await {
                warn!(error = %e, "could not share the new access token; other instances will refresh their own");
                let _ = store.release_lease(&owner).await;
            }
        });
        info!(token_source = "refresh", expires_at = %token.expires_at, "access token refreshed");
        self.remember(&token);
        Ok(token)
    }

    /// The token refreshes this instance made since it was last asked, for the ledger
    /// (they go to the accounts service and count apart from the Web API's budget).
    pub fn take_refreshes(&self) -> u32 {
        self.refreshes.swap(0, Ordering::Relaxed)
    }

    /// Reads the credentials from their store again and keeps them, so that a new
    /// authorization (`make bootstrap`) shows at once; a failed read keeps the ones held.
    pub async fn reload_credentials(&self) -> Result<Credentials, CredentialsError> {
        let fresh = self.credential_store.load().await?;
        *self.credentials.lock().await = Some(fresh.clone());
        Ok(fresh)
    }

    /// Keeps the other fields, replaces the refresh token, writes it back to SSM.
    async fn persist_rotation(&self, rotated: SecretString) {
        let mut cached = self.credentials.lock().await;
        let Some(current) = cached.as_mut() else {
            return;
        };
        if current.refresh_token.expose_secret() == rotated.expose_secret() {
            return;
        }
        current.refresh_token = rotated;
        match self.credential_store.save(current).await {
            Ok(()) => info!("rotated refresh token persisted"),
            Err(e) => {
                error!(error = %e, "Spotify rotated the refresh token but it could not be persisted; this instance keeps using it")
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn refresh_failure(e: SpotifyError) -> TokenError {
    match e {
        SpotifyError::InvalidGrant => TokenError::Reauthorize(
            "Spotify refused the refresh token: it was revoked or is past its 6-month life".into(),
        ),
        SpotifyError::InvalidClient => {
            TokenError::Reauthorize("Spotify refused the client id or secret stored in the parameter".into())
        }
        other => TokenError::Spotify(other),
    }
}
