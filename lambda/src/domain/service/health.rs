//! The keep-fresh job and `/v1/health`: the token kept fresh, the authorization's state,
//! the privacy rules' and the Spotify calls spent.

use std::time::Duration;

use tracing::warn;

use super::{NowPlayingService, ServiceError, lock};
use crate::domain::Health;
use crate::domain::health::SpotifyUse;

impl NowPlayingService {
    /// Refreshes the shared access token if it has `ahead` left or less (the keep-fresh
    /// schedule); `Ok(true)` when it was refreshed.
    pub async fn keep_fresh(&self, ahead: Duration) -> Result<bool, ServiceError> {
        let refreshed = self.tokens.keep_fresh(ahead).await?;
        let refreshes = self.tokens.take_refreshes();
        if refreshes > 0
            && let Err(e) = self.shared.count_refreshes(refreshes, self.clock.now()).await
        {
            warn!(error = %e, "could not count the token refresh");
        }
        Ok(refreshed)
    }

    /// The authorization's state, without calling Spotify, the privacy rules' and the
    /// Spotify calls spent.
    pub async fn health(&self) -> Health {
        let (credentials, privacy, usage) = tokio::join!(self.tokens.credentials(), self.privacy(), self.usage());
        Health::of(credentials, self.clock.now()).with_privacy(&privacy).with_spotify(usage)
    }

    /// The authorization's state as stored now, read again rather than remembered.
    pub async fn health_afresh(&self) -> Health {
        let (credentials, privacy, usage) =
            tokio::join!(self.tokens.reload_credentials(), self.privacy(), self.usage());
        Health::of(credentials, self.clock.now()).with_privacy(&privacy).with_spotify(usage)
    }

    /// The calls spent as the shared ledger has them (this instance's copy when the
    /// store cannot be read).
    async fn usage(&self) -> SpotifyUse {
        match self.shared.load().await {
            Ok(state) => self.merge(state),
            Err(e) => warn!(error = %e, "health: the call ledger could not be read; this instance's copy"),
        }
        SpotifyUse::of(&lock(&self.memory), &self.budget, self.clock.now())
    }
}
