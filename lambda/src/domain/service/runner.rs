//! The live runner: while anybody watches, exactly one runner asks Spotify at the times the
//! schedule says (a track's end, the budget's steady pace) and so pushes each change without
//! waiting for a visitor's request. A page's `/v1/live` marks viewers present for the
//! presence window and starts a runner if none holds the schedule; each tick refreshes the
//! answer if it is due, then asks for the next tick at the next due time, or stops once the
//! window has passed with nobody asking. No viewer, no run, no call.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tracing::{info, warn};

use super::{NowPlayingService, lock};
use crate::domain::after;
use crate::domain::ports::{LiveState, TickQueue};

/// How long viewers count as present after a page's last `/v1/live` (pages ask every 4 min).
pub const PRESENCE: Duration = Duration::from_secs(600);
/// A page's presence is written at most this often per instance.
const PRESENCE_WRITE_EVERY: Duration = Duration::from_secs(180);
/// How long past its next tick a runner holds the schedule: a runner whose tick never came
/// is replaced by the next page's `/v1/live` after this.
const RUNNER_SLACK: Duration = Duration::from_secs(60);
/// SQS's longest delay.
const MAX_TICK: Duration = Duration::from_secs(900);

/// What the runner needs: the shared presence and the queue its ticks wait in.
pub struct Runner {
    pub state: Arc<dyn LiveState>,
    pub queue: Arc<dyn TickQueue>,
    /// How long viewers count as present (`PRESENCE`; shorter in tests).
    pub presence: Duration,
}

impl NowPlayingService {
    /// Runs the live schedule with `runner` while pages watch.
    pub fn with_runner(mut self, runner: Runner) -> Self {
        self.runner = Some(runner);
        self
    }

    /// A page asked `/v1/live`: viewers are present for the window, and a runner is started
    /// if none holds the schedule. Written at most every few minutes per instance.
    pub async fn viewer_arrived(&self) {
        let Some(runner) = &self.runner else { return };
        let now = self.clock.now();
        let every = PRESENCE_WRITE_EVERY.min(runner.presence / 2);
        if lock(&self.presence_written).is_some_and(|at| now - at < every) {
            return;
        }
        if let Err(e) = runner.state.mark_viewers(after(now, runner.presence)).await {
            warn!(error = %e, "could not mark viewers present; the next visit tries again");
            return;
        }
        *lock(&self.presence_written) = Some(now);
        let id = format!("{}#{}", self.instance_id, now.unix_timestamp_nanos());
        match runner.state.claim_runner(&id, now, after(now, RUNNER_SLACK)).await {
            Ok(true) => {
                info!(runner = %id, "viewers present: the live runner starts");
                if let Err(e) = runner.queue.tick_after(&id, Duration::ZERO).await {
                    warn!(error = %e, "could not start the live runner; the next page's visit tries again");
                    let _ = runner.state.end_runner(&id).await;
                }
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "could not claim the live runner"),
        }
    }

    /// One tick of runner `id`: ends it when no viewer is left or another runner took over;
    /// else refreshes the answer if due (pushing a change) and asks for the next tick at the
    /// next due time.
    pub async fn tick(&self, id: &str) -> Result<(), String> {
        let Some(runner) = &self.runner else { return Err("live push is off (LIVE_QUEUE_URL)".into()) };
        let presence = runner.state.presence().await.map_err(|e| e.to_string())?;
        if presence.runner.as_ref().is_none_or(|(holder, _)| holder != id) {
            info!(runner = %id, "another runner holds the live schedule; this one stops");
            return Ok(());
        }
        let now = self.clock.now();
        let viewers_until = presence.viewers_until.unwrap_or(now);
        if viewers_until <= now {
            info!(runner = %id, "no viewer left: the live runner stops");
            return runner.state.end_runner(id).await.map_err(|e| e.to_string());
        }
        if let Err(e) = self.current().await {
            warn!(error = %e, "the live runner's refresh failed; the next tick tries again");
        }
        let now = self.clock.now();
        let next = self.next_tick(now, viewers_until);
        if !runner.state.keep_runner(id, after(now, next + RUNNER_SLACK)).await.map_err(|e| e.to_string())? {
            return Ok(());
        }
        runner.queue.tick_after(id, next).await
    }

    /// Until the answer is due (or a refusal ends), at least a second, at most SQS's 15
    /// minutes, and no later than just past the viewers' window, when the runner stops.
    fn next_tick(&self, now: OffsetDateTime, viewers_until: OffsetDateTime) -> Duration {
        let memory = lock(&self.memory);
        let refused = memory.refused_until(now).map(|(until, _)| until);
        let due = memory.due_at.max(refused).unwrap_or(now);
        let until = |at: OffsetDateTime| Duration::try_from(at - now).unwrap_or(Duration::ZERO);
        let stop = until(viewers_until) + Duration::from_secs(1);
        until(due).clamp(Duration::from_secs(1), MAX_TICK).min(stop.max(Duration::from_secs(1)))
    }
}
