//! The access-token lifecycle: memory, then the shared store, then one refresh per expiry
//! across all instances, with refresh-token rotation persisted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::domain::{Credentials, after};
use crate::ports::{Clock, CredentialStore, CredentialsError, Spotify, SpotifyError, TokenStore};

/// A token is refreshed when it has less than this left.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The keep-fresh schedule (every 10 minutes, infra/lib/keep-fresh.ts) refreshes the token
/// when it has less than this left: more than the schedule's period, so the token never
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

/// Hands out valid access tokens, refreshing them at most once per expiry across instances.
pub struct TokenManager {
    spotify: Arc<dyn Spotify>,
    store: Arc<dyn TokenStore>,
    credential_store: Arc<dyn CredentialStore>,
    clock: Arc<dyn Clock>,
    instance_id: String,
    timing: LeaseTiming,
    credentials: tokio::sync::Mutex<Option<Credentials>>,
    memory: Mutex<Option<AccessToken>>,
    /// When `prefetch` last found no usable token in the store: `obtain` then goes straight
    /// to the lease instead of reading the store again.
    found_stale: Mutex<Option<OffsetDateTime>>,
    refresh_gate: tokio::sync::Mutex<()>,
    /// Writes of a refreshed token still under way; `settle` waits for them.
    pending: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How long `prefetch`'s finding stands for the request that made it.
const PREFETCH_HOLDS: Duration = Duration::from_secs(2);

impl TokenManager {
    pub fn new(
        spotify: Arc<dyn Spotify>,
        store: Arc<dyn TokenStore>,
        credential_store: Arc<dyn CredentialStore>,
        clock: Arc<dyn Clock>,
        instance_id: String,
        timing: LeaseTiming,
    ) -> Self {
        TokenManager {
            spotify,
            store,
            credential_store,
            clock,
            instance_id,
            timing,
            credentials: tokio::sync::Mutex::new(None),
            memory: Mutex::new(None),
            found_stale: Mutex::new(None),
            refresh_gate: tokio::sync::Mutex::new(()),
            pending: Mutex::new(Vec::new()),
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

    /// Reads the shared token into memory when memory has none fresh, so that a request
    /// can read it in the same round as the shared answer; a stale or missing one is noted
    /// for `obtain`. Never fails: without it `token` reads the store itself.
    pub async fn prefetch(&self) {
        if self.cached(None).is_some() {
            return;
        }
        match self.store.load().await {
            Ok(Some(token)) if self.usable(&token, None) => self.remember(&token),
            Ok(_) => *lock(&self.found_stale) = Some(self.clock.now()),
            Err(e) => warn!(error = %e, "token store unavailable while prefetching"),
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
    /// it has less than `ahead` left, so no visitor meets an expired one. `Ok(false)` when
    /// the stored token had enough left and Spotify was not called.
    pub async fn keep_fresh(&self, ahead: Duration) -> Result<bool, TokenError> {
        let _gate = self.refresh_gate.lock().await;
        let lasts = |token: &AccessToken| token.expires_at - self.clock.now() >= ahead;
        match self.store.load().await {
            Ok(Some(token)) if lasts(&token) => {
                info!(expires_at = %token.expires_at, "access token kept: it has time left");
                self.remember(&token);
                return Ok(false);
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "token store unavailable; refreshing without it"),
        }
        let now = self.clock.now();
        match self.store.try_lease(&self.instance_id, now, now + self.timing.lease).await {
            Ok(false) => {
                info!("another instance is refreshing the access token; nothing to do");
                Ok(false)
            }
            leased => {
                let result = self.refresh().await;
                self.settle().await;
                if leased.is_ok()
                    && let Err(e) = self.store.release_lease(&self.instance_id).await
                {
                    warn!(error = %e, "could not release the refresh lease; it lapses by itself");
                }
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

    /// Shared store first; otherwise refresh under the lease, or wait for whoever holds it.
    async fn obtain(&self, rejected: Option<&AccessToken>) -> Result<AccessToken, TokenError> {
        let prefetched = lock(&self.found_stale).take().is_some_and(|at| self.clock.now() - at < PREFETCH_HOLDS);
        let stored = if prefetched && rejected.is_none() { Ok(None) } else { self.store.load().await };
        match stored {
            Ok(Some(token)) if self.usable(&token, rejected) => {
                info!(token_source = "store", "access token");
                self.remember(&token);
                return Ok(token);
            }
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "token store unavailable; refreshing without it");
                return self.refresh().await;
            }
        }
        let now = self.clock.now();
        // The lease answers the token as it stands: the previous holder may have stored one
        // and let go since our read. The credentials a refresh needs are read meanwhile.
        let (leased, _) =
            tokio::join!(self.store.take_lease(&self.instance_id, now, now + self.timing.lease), self.credentials());
        match leased {
            Ok(Some(stored)) => {
                if let Some(token) = stored.filter(|token| self.usable(token, rejected)) {
                    let (store, owner) = (self.store.clone(), self.instance_id.clone());
                    self.in_background(async move {
                        if let Err(e) = store.release_lease(&owner).await {
                            warn!(error = %e, "could not release the refresh lease; it lapses by itself");
                        }
                    });
                    self.remember(&token);
                    return Ok(token);
                }
                // Saving the new token ends the lease.
                self.refresh().await
            }
            Ok(None) => self.wait_for_other_refresh(rejected).await,
            Err(e) => {
                warn!(error = %e, "refresh lease unavailable; refreshing without it");
                self.refresh().await
            }
        }
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
            if let Ok(Some(token)) = self.store.load().await
                && self.usable(&token, rejected)
            {
                self.remember(&token);
                return Ok(token);
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

    async fn reload_credentials(&self) -> Result<Credentials, CredentialsError> {
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
