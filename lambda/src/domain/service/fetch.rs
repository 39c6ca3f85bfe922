//! The Spotify calls of one refresh of the answer, each counted in the answer's share
//! before it is made, and the palette of the art it shows.

use tracing::info;

use super::{NowPlayingService, ServiceError, after_retry, lock};
use crate::domain::art::art_image;
use crate::domain::ports::SpotifyError;
use crate::domain::quota::{Share, spend};
use crate::domain::{Item, NowPlaying, Palette, Playback, Played, Privacy};

/// How far back the history is searched for a play the rules show, when they hide some.
pub(super) const HISTORY_UNDER_RULES: u8 = 50;

impl NowPlayingService {
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
            Playback::Item { item, context, .. } => privacy.shows(item, context.as_deref(), now),
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
