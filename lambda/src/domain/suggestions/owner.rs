//! The owner's side of suggestions: the list, the decisions, and the daily digest.

use std::time::Duration;

use tracing::{info, warn};

use super::limits::{DAY, window};
use super::model::*;
use super::service::{SuggestionService, unavailable};
use crate::domain::after;
use crate::domain::ports::Notifier;

/// How long the daily digest's sender holds it: longer than the function's timeout, and
/// Lambda's retries of a failed run come after it lapses.
const DIGEST_HOLD: Duration = Duration::from_secs(60);

impl SuggestionService {
    /// Every stored suggestion, oldest first, for the owner.
    pub async fn list(&self) -> Result<Vec<Suggestion>, SuggestError> {
        let mut all = self.store.list().await.map_err(unavailable)?;
        all.sort_by_key(|s| s.created_at);
        Ok(all)
    }

    /// The owner's daily reminder: how many suggestions wait, sent through `notifier` at most
    /// once a UTC day however often it is asked for, and only when some wait. The day is
    /// marked sent after the message went out; meanwhile the sender holds the day, so two
    /// runs cannot both send. A failed send lets go of it at once and fails, for a retry.
    pub async fn digest(&self, notifier: &dyn Notifier) -> Result<Digest, SuggestError> {
        self.open()?;
        let pending: Vec<Suggestion> =
            self.store.list().await.map_err(unavailable)?.into_iter().filter(|s| s.status == Status::Pending).collect();
        if pending.is_empty() {
            return Ok(Digest { pending: 0, notified: false });
        }
        let now = self.clock.now();
        let (day, end) = window(now, DAY);
        let (sent, sending) = (format!("digest#{day}#sent"), format!("digest#{day}#sending"));
        let not_sent = Digest { pending: pending.len(), notified: false };
        if !self.counters.claim(&sending, now, after(now, DIGEST_HOLD)).await.map_err(unavailable)? {
            return Ok(not_sent);
        }
        // Read under the hold: a run that sent, whenever, is not repeated.
        if self.counters.used(&sent).await.map_err(unavailable)? > 0 {
            return Ok(not_sent);
        }
        let (subject, text) = digest_text(&pending);
        if let Err(e) = notifier.notify(&subject, &text).await {
            warn!(error = %e, "the daily digest could not be sent");
            if let Err(e) = self.counters.release(&sending).await {
                warn!(error = %e, "could not let go of the daily digest; a retry waits for it to lapse");
            }
            return Err(SuggestError::Unavailable("the daily digest could not be sent; the log has the cause".into()));
        }
        if let Err(e) = self.counters.take(&sent, 1, end).await {
            // Sent all the same: answering success keeps Lambda from retrying it.
            warn!(error = %e, "the daily digest went out but could not be marked sent");
        }
        info!(pending = pending.len(), "daily digest sent");
        Ok(Digest { pending: pending.len(), notified: true })
    }

    /// The owner's decision on a pending (or failed) suggestion: approved ones are added
    /// to the playlist now.
    pub async fn decide(&self, track: &TrackId, approve: bool) -> Result<Suggestion, SuggestError> {
        let mut suggestion = self
            .store
            .get(track)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| SuggestError::NoSuchSuggestion(track.clone()))?;
        if !approve {
            suggestion.status = Status::Rejected;
            suggestion.reason = None;
            self.store.update(&suggestion).await.map_err(unavailable)?;
            self.store.set_retry(track, false).await.map_err(unavailable)?;
            return Ok(suggestion);
        }
        if suggestion.status == Status::Added {
            return Ok(suggestion);
        }
        let playlist = Self::playlist(&self.credentials().await?)?;
        suggestion.status = Status::Pending;
        Ok(self.add(suggestion, &playlist).await)
    }
}
