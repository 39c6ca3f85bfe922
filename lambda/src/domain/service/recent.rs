//! What was played recently: `GET /v1/recent`, shared and screened like the answer.

use std::time::Duration;

use time::OffsetDateTime;
use tracing::{info, warn};

use super::fetch::HISTORY_UNDER_RULES;
use super::{MAX_BACKOFF, NowPlayingService, ServiceError, after_retry, lock, refused};
use crate::domain::ports::SpotifyError;
use crate::domain::quota::{MAX_QUOTA_WAIT, Share, pace};
use crate::domain::{Privacy, RecentPlays};

/// The shortest a recently-played list is served before Spotify is asked again (longer
/// when the answers' window is, or the list's share of the budget needs it): the list
/// changes at most once a track.
pub const RECENT_WINDOW: Duration = Duration::from_secs(30);

impl NowPlayingService {
    /// How long a recently-played list is served: what is left of its share, spread over a
    /// day, and at least `RECENT_WINDOW`.
    pub fn recent_window(&self) -> Duration {
        let spent = lock(&self.memory).calls.spent(Share::Recent, self.clock.now());
        pace(self.budget.limit(Share::Recent), spent).max(self.timing.window).max(RECENT_WINDOW)
    }

    /// What was played recently, under the owner's rules as they are now: from this
    /// instance's memory or the shared copy while it is younger than `recent_window`, else
    /// from Spotify's history, shared for the others; the last list, marked stale, when
    /// Spotify fails. Nothing while sharing is paused or in quiet hours.
    pub async fn recent(&self) -> Result<RecentPlays, ServiceError> {
        let privacy = self.privacy().await;
        let answer = match tokio::time::timeout(self.timing.request_deadline, self.recent_answer(&privacy)).await {
            Ok(result) => result,
            Err(_) => self.recent_fall_back(ServiceError::UpstreamUnavailable {
                cause: SpotifyError::Timeout,
                retry_after: None,
            }),
        };
        let now = self.clock.now();
        answer.map(|mut list| {
            list.plays.retain(|play| privacy.shows_played(play, now));
            list
        })
    }

    async fn recent_answer(&self, privacy: &Privacy) -> Result<RecentPlays, ServiceError> {
        let now = self.clock.now();
        if privacy.silent_at(now) {
            return Ok(RecentPlays { plays: Vec::new(), fetched_at: now, stale: false, stale_reason: None });
        }
        if let Some(list) = self.fresh_recent(now) {
            return Ok(list);
        }
        match self.shared.load().await {
            Ok(state) => self.merge(state),
            Err(e) => warn!(error = %e, "snapshot store unavailable; the recent list from this instance"),
        }
        if let Some(list) = self.fresh_recent(now) {
            return Ok(list);
        }
        if let Some((wait, quota)) = self.refusal(now) {
            return self.recent_fall_back(refused(wait, quota));
        }
        if !self.spend(Share::Recent).await {
            info!(spotify_call = "skipped", "the recent list's share of the budget is spent for this hour");
            return self.recent_fall_back(ServiceError::BudgetSpent);
        }
        let fetched = match tokio::time::timeout(self.timing.spotify_deadline, self.fetch_recent(privacy)).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::UpstreamUnavailable { cause: SpotifyError::Timeout, retry_after: None }),
        };
        self.tokens.settle().await;
        match fetched {
            Ok(list) => {
                lock(&self.memory).recent = Some(list.clone());
                if let Err(e) = self.shared.save_recent(&list).await {
                    warn!(error = %e, "could not share the recent list");
                }
                Ok(list)
            }
            Err(ServiceError::UpstreamUnavailable { cause, retry_after }) => {
                warn!(error = %cause, "Spotify's history could not be read");
                let refusal = match cause {
                    SpotifyError::QuotaExceeded { retry_after } => Some((retry_after.min(MAX_QUOTA_WAIT), true)),
                    _ => retry_after.map(|wait| (wait.min(MAX_BACKOFF), false)),
                };
                if let Some((wait, quota)) = refusal {
                    self.refuse(wait, quota).await;
                }
                self.recent_fall_back(ServiceError::UpstreamUnavailable { cause, retry_after })
            }
            Err(ServiceError::BudgetSpent) => self.recent_fall_back(ServiceError::BudgetSpent),
            Err(other) => Err(other),
        }
    }

    async fn fetch_recent(&self, privacy: &Privacy) -> Result<RecentPlays, ServiceError> {
        let mut token = self.tokens.token().await?;
        let history = match self.spotify.recently_played(&token, HISTORY_UNDER_RULES).await {
            Err(SpotifyError::Unauthorized) => {
                token = self.tokens.token_after_rejection(&token).await?;
                if !self.spend(Share::Recent).await {
                    return Err(ServiceError::BudgetSpent);
                }
                self.spotify.recently_played(&token, HISTORY_UNDER_RULES).await.map_err(after_retry)?
            }
            other => other.map_err(after_retry)?,
        };
        let now = self.clock.now();
        Ok(RecentPlays::from_history(history, |play| privacy.shows_played(play, now), now))
    }

    fn fresh_recent(&self, now: OffsetDateTime) -> Option<RecentPlays> {
        let window = self.recent_window();
        lock(&self.memory).recent.as_ref().filter(|list| now - list.fetched_at < window).cloned()
    }

    fn recent_fall_back(&self, error: ServiceError) -> Result<RecentPlays, ServiceError> {
        match lock(&self.memory).recent.clone() {
            Some(list) => Ok(RecentPlays { stale: true, stale_reason: Some(error.stale_reason()), ..list }),
            None => Err(error),
        }
    }
}
