//! Live push: an answer that changes what a page shows goes to every open page at once,
//! as the world may see it (screened by the owner's rules), from the refresh that read it.

use tracing::{info, warn};

use super::NowPlayingService;
use crate::domain::{NowPlaying, Privacy};

impl NowPlayingService {
    /// Publishes `doc` when, screened, it changes a page that shows `before` (the previous
    /// answer, screened as it is now); nothing without a live channel.
    pub(super) async fn push_if_changed(&self, before: Option<&NowPlaying>, doc: &NowPlaying, privacy: &Privacy) {
        let Some(live) = &self.live else { return };
        let now = self.clock.now();
        let shown = privacy.screen(doc.clone(), now);
        let was = before.map(|b| privacy.screen(b.clone(), now));
        if was.as_ref().is_some_and(|was| !shown.changes_a_page(was)) {
            return;
        }
        match live.publish(&shown).await {
            Ok(()) => info!(status = ?shown.status, "pushed the new answer to open pages"),
            Err(e) => warn!(error = %e, "could not push the new answer; pages see it when they next poll"),
        }
    }
}
