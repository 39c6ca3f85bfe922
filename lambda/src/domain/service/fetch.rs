//! One refresh of the answer: the Spotify calls it makes, each counted in the answer's
//! share before it is made, what it shares of the outcome (the answer and when it is next
//! due, or the refusal), and the palette of the art it shows.

use std::time::Duration;

use tracing::{info, warn};

use super::{MAX_BACKOFF, NowPlayingService, ServiceError, after_retry, lock};
use crate::domain::art::art_image;
use crate::domain::ports::{Refusal, SpotifyError};
use crate::domain::privacy::Heard;
use crate::domain::quota::{MAX_QUOTA_WAIT, Share, spend};
use crate::domain::{Item, NowPlaying, Palette, Playback, Played, Privacy, after};

/// How far back the history is searched for a play the rules show, when they hide some.
pub(super) const HISTORY_UNDER_RULES: u8 = 50;

impl NowPlayingService {
    /// Calls Spotify (its first call already counted), then shares what came of it: the
    /// answer and when it is next due, or the refusal. `lease` is the owner id of the
    /// lease this attempt holds, if it holds one.
    pub(super) async fn refresh(&self, lease: Option<&str>, privacy: &Privacy) -> Result<NowPlaying, ServiceError> {
        let last_seen = lock(&self.memory).last_seen.clone();
        let fetch = self.fetch(last_seen.as_ref(), privacy);
        let result = match tokio::time::timeout(self.timing.spotify_deadline, fetch).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::UpstreamUnavailable { cause: SpotifyError::Timeout, retry_after: None }),
        };
        if result.is_err() {
            self.tokens.settle().await;
        }
        let refreshes = self.tokens.take_refreshes();
        let counted = async {
            if refreshes > 0
                && let Err(e) = self.shared.count_refreshes(refreshes, self.clock.now()).await
            {
                warn!(error = %e, "could not count the token refresh");
            }
        };
        match result {
            Ok(doc) => {
                let (due, before) = {
                    let mut memory = lock(&self.memory);
                    let before = memory.snapshot.clone();
                    let due = self.schedule().due_at(&doc, memory.calls.spent(Share::Current, self.clock.now()));
                    memory.snapshot = Some(doc.clone());
                    memory.due_at = Some(due);
                    if let Some(seen) = doc.seen_playing() {
                        memory.last_seen = Some(seen);
                    }
                    (due, before)
                };
                info!(status = ?doc.status, due_at = %due, "now playing read from Spotify");
                // Pushed in the same round as the answer is shared: no round trip more.
                let pushed = self.push_if_changed(before.as_ref(), &doc, privacy);
                if let Some(owner) = lease {
                    // The new token, if this refresh made one, is shared in the same round.
                    let seen = doc.seen_playing();
                    let (saved, (), (), ()) =
                        tokio::join!(self.shared.save(&doc, seen.as_ref(), due), self.tokens.settle(), counted, pushed);
                    if let Err(e) = saved {
                        warn!(error = %e, "could not share the new snapshot");
                        self.release(Some(owner), None).await;
                    }
                } else {
                    tokio::join!(self.tokens.settle(), counted, pushed);
                }
                Ok(doc)
            }
            Err(ServiceError::UpstreamUnavailable { cause, retry_after }) => {
                warn!(error = %cause, "Spotify call failed");
                counted.await;
                let refusal = match cause {
                    SpotifyError::QuotaExceeded { retry_after } => Some((retry_after.min(MAX_QUOTA_WAIT), true)),
                    // One absurd Retry-After must not stop every call for days.
                    _ => retry_after.map(|wait| (wait.min(MAX_BACKOFF), false)),
                };
                if let Some((wait, quota)) = refusal {
                    self.refuse(wait, quota).await;
                } else {
                    // Asked again after the floor, not by every request until then.
                    let retry = after(self.clock.now(), self.timing.window);
                    lock(&self.memory).due_at = Some(retry);
                    self.release(lease, Some(retry)).await;
                }
                let retry_after = refusal.map(|(wait, _)| wait);
                self.fall_back(ServiceError::UpstreamUnavailable { cause, retry_after })
            }
            Err(other) => {
                counted.await;
                self.release(lease, None).await;
                self.fall_back(other)
            }
        }
    }

    /// Shares a refusal with every instance, whether or not this one held the lease: every
    /// instance must stop, every share included.
    pub(super) async fn refuse(&self, wait: Duration, quota: bool) {
        let until = after(self.clock.now(), wait);
        let refusal = {
            let mut memory = lock(&self.memory);
            if quota {
                memory.quota_until = Some(until);
                Refusal::QuotaExceeded
            } else {
                memory.backoff_until = Some(until);
                Refusal::RateLimited
            }
        };
        if let Err(e) = self.shared.back_off(until, refusal).await {
            warn!(error = %e, "could not share the refusal");
        }
    }

    /// Counts one more call of the answer's share; `false` when the share is spent (or
    /// the ledger cannot be reached, which counts as spent: an uncounted call could pass
    /// the budget).
    pub(super) async fn spend(&self, share: Share) -> bool {
        match spend(self.shared.as_ref(), self.clock.as_ref(), &self.budget, share).await {
            Ok(spent) => spent,
            Err(e) => {
                tracing::warn!(error = %e, "the call ledger could not be reached; not calling Spotify");
                false
            }
        }
    }

    /// The answer from Spotify, decided under `privacy`: a hidden play is as if it had not
    /// happened (the last play the rules show stands in, else nothing), and while sharing
    /// is paused or in quiet hours there is no item at all. The first currently-playing
    /// call is counted by the caller; a retry and the history read count here.
    pub(super) async fn fetch(
        &self,
        last_seen: Option<&Played>,
        privacy: &Privacy,
    ) -> Result<NowPlaying, ServiceError> {
        let mut token = self.tokens.token().await?;
        let playback = match self.spotify.currently_playing(&token).await {
            Err(SpotifyError::Unauthorized) => {
                info!(spotify_status = 401, "access token rejected; refreshing once");
                token = self.tokens.token_after_rejection(&token).await?;
                if !self.spend(Share::Current).await {
                    return Err(ServiceError::BudgetSpent);
                }
                self.spotify.currently_playing(&token).await.map_err(after_retry)?
            }
            other => other.map_err(after_retry)?,
        };
        let now = self.clock.now();
        let shown = match &playback {
            Playback::Item { item, context, progress_ms, .. } => {
                privacy.shows(item, context.as_deref(), Heard::playing(*progress_ms, now), now)
            }
            Playback::Nothing => false,
        };
        let playback = if shown { playback } else { Playback::Nothing };
        let recent = if shown || privacy.silent_at(now) {
            Vec::new()
        } else if self.spend(Share::Current).await {
            let limit = if *privacy == Privacy::Open { 1 } else { HISTORY_UNDER_RULES };
            self.spotify.recently_played(&token, limit).await.map_err(after_retry)?
        } else {
            info!(
                spotify_call = "skipped",
                "the answer's share is spent; the last play seen stands in for the history"
            );
            Vec::new()
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
}
