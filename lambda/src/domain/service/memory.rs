//! This instance's copy of the shared state: what is fresh in it, what it falls back on,
//! and how a newer shared state is merged in.

use std::time::Duration;

use time::OffsetDateTime;
use tracing::info;

use super::{NowPlayingService, ServiceError, lock};
use crate::domain::NowPlaying;
use crate::domain::ports::SharedState;

impl NowPlayingService {
    /// The snapshot in memory until it is due.
    pub(super) fn fresh(&self, now: OffsetDateTime) -> Option<NowPlaying> {
        let memory = lock(&self.memory);
        let due = memory.due_at?;
        memory.snapshot.as_ref().filter(|_| now < due).cloned()
    }

    /// How long the refusal running at `now` lasts, and whether it is the quota's.
    pub(super) fn refusal(&self, now: OffsetDateTime) -> Option<(Duration, bool)> {
        let (until, quota) = lock(&self.memory).refused_until(now)?;
        Some((Duration::try_from(until - now).unwrap_or_default(), quota))
    }

    /// Keeps the newer of each part: what this instance holds and what the store holds.
    pub(super) fn merge(&self, shared: SharedState) {
        let mut memory = lock(&self.memory);
        if let Some(doc) = shared.snapshot {
            let newer = memory.snapshot.as_ref().is_none_or(|mine| doc.fetched_at > mine.fetched_at);
            let same = memory.snapshot.as_ref().is_some_and(|mine| doc.fetched_at == mine.fetched_at);
            if newer {
                memory.snapshot = Some(doc);
                memory.due_at = shared.due_at;
            } else if same && shared.due_at > memory.due_at {
                // A retry set after a failure, for the same answer.
                memory.due_at = shared.due_at;
            }
        }
        if let Some(seen) = shared.last_seen
            && memory.last_seen.as_ref().is_none_or(|mine| seen.played_at > mine.played_at)
        {
            memory.last_seen = Some(seen);
        }
        if shared.backoff_until > memory.backoff_until {
            memory.backoff_until = shared.backoff_until;
        }
        if shared.quota_until > memory.quota_until {
            memory.quota_until = shared.quota_until;
        }
        if let Some(list) = shared.recent
            && memory.recent.as_ref().is_none_or(|mine| list.fetched_at > mine.fetched_at)
        {
            memory.recent = Some(list);
        }
        memory.calls.merge(&shared.calls);
        let now = self.clock.now();
        for hour in memory.calls.expired(now) {
            memory.calls.hours.remove(&hour);
        }
    }

    /// The last good answer, marked stale with why, else `error`.
    pub(super) fn fall_back(&self, error: ServiceError) -> Result<NowPlaying, ServiceError> {
        match (&error, lock(&self.memory).snapshot.clone()) {
            (ServiceError::ReauthorizationRequired(_) | ServiceError::Credentials(_), _) | (_, None) => Err(error),
            (_, Some(doc)) => {
                info!(stale = true, reason = ?error.stale_reason(), "serving the last good answer");
                Ok(NowPlaying { stale: true, stale_reason: Some(error.stale_reason()), ..doc })
            }
        }
    }
}
