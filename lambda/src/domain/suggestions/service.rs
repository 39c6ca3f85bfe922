//! The decisions from a visitor's search to the owner's playlist. The limits that protect
//! Spotify's quota and the owner are `limits`; the owner's side (list, decide, the daily
//! digest) is `owner`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use tracing::{info, warn};

use super::limits::{DAY, HOUR, LimitKeys, REFUSALS_ALL, SUGGESTIONS_ALL, visitor_network, wait_until};
use super::model::*;
use super::words::{normalized_query, visitor_text};
use crate::domain::ports::{
    Catalog, Clock, Counters, Playlists, Refusal, SearchCache, SnapshotStore, SpotifyError, SuggestionStore,
};
use crate::domain::proof::{Challenge, ProofError, ProofKey};
use crate::domain::quota::{BUCKET_SECONDS, Budget, MAX_QUOTA_WAIT, Share, hour_of, spend};
use crate::domain::service::MAX_BACKOFF;
use crate::domain::{AccessToken, Credentials, Item, TokenManager, after};

/// How many failed additions a later suggestion retries.
const RETRIES_PER_REQUEST: usize = 3;
pub(super) fn unavailable(e: impl std::fmt::Display) -> SuggestError {
    warn!(error = %e, "suggestion store unavailable");
    SuggestError::Unavailable("the suggestion store could not be reached; nothing was stored, try again".into())
}

/// A key for `purpose`, derived from the client secret: only the function knows it, and
/// a new authorization with a new secret changes it.
pub(super) fn derived_key(credentials: &Credentials, purpose: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(credentials.client_secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub struct SuggestionService {
    pub(super) catalog: Arc<dyn Catalog>,
    pub(super) playlists: Arc<dyn Playlists>,
    pub(super) store: Arc<dyn SuggestionStore>,
    pub(super) counters: Arc<dyn Counters>,
    pub(super) cache: Arc<dyn SearchCache>,
    /// The now-playing state's backoff, shared with `/v1/current`.
    pub(super) shared: Arc<dyn SnapshotStore>,
    pub(super) tokens: Arc<TokenManager>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: Settings,
    /// The budget whose visitors' share searches, look-ups and additions spend.
    pub(super) budget: Budget,
}

/// The collaborators of a `SuggestionService`.
pub struct SuggestionPorts {
    pub catalog: Arc<dyn Catalog>,
    pub playlists: Arc<dyn Playlists>,
    pub store: Arc<dyn SuggestionStore>,
    pub counters: Arc<dyn Counters>,
    pub cache: Arc<dyn SearchCache>,
    pub shared: Arc<dyn SnapshotStore>,
    pub tokens: Arc<TokenManager>,
    pub clock: Arc<dyn Clock>,
}

impl SuggestionService {
    pub fn new(ports: SuggestionPorts, settings: Settings) -> Self {
        let SuggestionPorts { catalog, playlists, store, counters, cache, shared, tokens, clock } = ports;
        let budget = Budget::default();
        SuggestionService { catalog, playlists, store, counters, cache, shared, tokens, clock, settings, budget }
    }

    /// Spends the visitors' share of `budget` (the default is `Budget::default()`).
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// `Closed` when suggestions are off.
    pub fn open(&self) -> Result<(), SuggestError> {
        if self.settings.mode == Mode::Off { Err(SuggestError::Closed) } else { Ok(()) }
    }

    pub(super) async fn credentials(&self) -> Result<Credentials, SuggestError> {
        self.tokens.credentials().await.map_err(|e| SuggestError::Unavailable(e.public_message()))
    }

    /// The visitor behind `source_ip`, keyed so that the address is never stored. An IPv6
    /// visitor is their /64: one subscriber gets a whole /64 and picks addresses in it at will.
    pub async fn visitor(&self, source_ip: &str) -> Result<Visitor, SuggestError> {
        self.open()?;
        let key = derived_key(&self.credentials().await?, "now-playing visitor v1");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(visitor_network(source_ip).as_bytes());
        Ok(Visitor(hex::encode(&mac.finalize().into_bytes()[..16])))
    }

    /// A 429 from Spotify stops every instance's calls, `/v1/current`'s included; a
    /// `QUOTA_EXCEEDED` one until its `Retry-After`, up to a day.
    pub(super) async fn spotify_failed(&self, e: SpotifyError) -> SuggestError {
        let (retry_after, refusal, what) = match e {
            SpotifyError::RateLimited { retry_after } => {
                (retry_after.min(MAX_BACKOFF), Refusal::RateLimited, "requests to Spotify")
            }
            SpotifyError::QuotaExceeded { retry_after } => {
                (retry_after.min(MAX_QUOTA_WAIT), Refusal::QuotaExceeded, "requests to Spotify today (its daily quota)")
            }
            other => return SuggestError::Upstream(other),
        };
        if let Err(store) = self.shared.back_off(after(self.clock.now(), retry_after), refusal).await {
            warn!(error = %store, "could not share Spotify's refusal");
        }
        SuggestError::RateLimited { what, retry_after }
    }

    /// Counts one call in the visitors' share before it is made; a spent share is a 429
    /// until the next hour, when calls of a day ago leave the window.
    async fn spend(&self) -> Result<(), SuggestError> {
        match spend(self.shared.as_ref(), self.clock.as_ref(), &self.budget, Share::Visitors).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                let now = self.clock.now();
                let next_hour = (hour_of(now) + 1) * BUCKET_SECONDS;
                let wait = Duration::from_secs(u64::try_from(next_hour - now.unix_timestamp()).unwrap_or(60));
                info!(spotify_call = "skipped", "the visitors' share of the budget is spent for this hour");
                Err(SuggestError::RateLimited {
                    what: "searches and suggestions for now (their share of Spotify calls)",
                    retry_after: wait,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Runs `call` with a token, once more with a new one after a 401.
    pub(super) async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, SuggestError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, SpotifyError>>,
    {
        let outcome = async {
            let token = self.tokens.token().await?;
            self.spend().await?;
            Ok::<_, SuggestError>(match call(token.clone()).await {
                Err(SpotifyError::Unauthorized) => {
                    let token = self.tokens.token_after_rejection(&token).await?;
                    self.spend().await?;
                    call(token).await
                }
                other => other,
            })
        }
        .await;
        // A token refreshed on the way is shared before the answer goes out.
        self.tokens.settle().await;
        match outcome? {
            Ok(value) => Ok(value),
            Err(e) => Err(self.spotify_failed(e).await),
        }
    }

    /// Up to ten tracks matching `q`, from the shared cache when somebody searched it lately.
    pub async fn search(&self, visitor: &Visitor, q: &str) -> Result<Vec<Item>, SuggestError> {
        self.open()?;
        let query = normalized_query(q)?;
        let limits = self.settings.limits;
        let key = format!("visitor#{}#search", visitor.0);
        let (allowed, cached) = tokio::join!(
            self.count(&key, "searches", limits.searches_per_visitor_per_minute, Duration::from_secs(60)),
            self.cache.load(&query)
        );
        allowed?;
        match cached {
            Ok(Some(items)) => {
                info!(cache = "hit", "search");
                return Ok(items);
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "search cache unavailable"),
        }
        self.lookup_allowed().await?;
        let q = query.as_str();
        let items = self.with_token(|t| async move { self.catalog.search_tracks(&t, q, SEARCH_LIMIT).await }).await?;
        if let Err(e) = self.cache.save(&query, &items, after(self.clock.now(), SEARCH_CACHE)).await {
            warn!(error = %e, "could not share the search results");
        }
        info!(cache = "miss", results = items.len(), "search");
        Ok(items)
    }

    /// A new proof-of-work challenge, or `None` when proofs are off.
    pub async fn challenge(&self) -> Result<Option<Challenge>, SuggestError> {
        self.open()?;
        if !self.settings.proof_of_work {
            return Ok(None);
        }
        let key = ProofKey::new(&derived_key(&self.credentials().await?, "now-playing proof v1"));
        let mut random = [0u8; 20];
        getrandom::fill(&mut random).map_err(|e| SuggestError::Unavailable(format!("no randomness: {e}")))?;
        Ok(Some(key.issue(after(self.clock.now(), CHALLENGE_LIFE), CHALLENGE_MAXNUMBER, random)))
    }

    /// The owner's playlist, when the stored authorization allows adding to it.
    pub(super) fn playlist(credentials: &Credentials) -> Result<String, SuggestError> {
        let fix = "the owner must run `make bootstrap ARGS=\"--suggestions\"`";
        let scopes: Vec<&str> = credentials.scope.as_deref().unwrap_or_default().split_whitespace().collect();
        if !PLAYLIST_SCOPES.iter().all(|s| scopes.contains(s)) {
            return Err(SuggestError::NotAuthorized(format!(
                "the stored authorization does not allow changing playlists; {fix}"
            )));
        }
        credentials
            .suggestions_playlist_id
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| SuggestError::NotAuthorized(format!("no suggestions playlist is configured; {fix}")))
    }

    /// Accepts a visitor's suggestion: stored before it is answered; in `auto` mode also
    /// added to the playlist (a failed addition stays pending, with its reason, for a retry).
    ///
    /// The visitor's and the day's suggestion limits count only what is stored. A refusal
    /// (a bad or replayed proof, a track Spotify does not have, a repeat) is counted in a
    /// budget of its own, per visitor and for everyone, and so can never use up the
    /// suggestions of the visitors who follow.
    pub async fn suggest(&self, visitor: &Visitor, submission: Submission) -> Result<(Suggestion, Item), SuggestError> {
        self.open()?;
        let track = TrackId::parse(&submission.track).ok_or_else(|| {
            SuggestError::BadRequest(
                "track must be a Spotify track id, a spotify:track: URI or an open.spotify.com/track link".into(),
            )
        })?;
        let name = visitor_text("name", submission.name.as_deref(), MAX_NAME_CHARS)?;
        let message = visitor_text("message", submission.message.as_deref(), MAX_MESSAGE_CHARS)?;
        let credentials = self.credentials().await?;
        let playlist = Self::playlist(&credentials)?;
        let limits = self.settings.limits;
        let keys = LimitKeys::of(visitor);
        // One round: both budgets, both limits and the track's record, read before any
        // Spotify look-up is spent on a visitor who may not suggest now.
        let (refused, refused_all, suggested, suggested_all, existing) = tokio::join!(
            self.used(&keys.visitor_refusals, HOUR),
            self.used(REFUSALS_ALL, DAY),
            self.used(&keys.visitor_suggestions, HOUR),
            self.used(SUGGESTIONS_ALL, DAY),
            self.store.get(&track),
        );
        let ((refused, refused_end), (refused_all, _)) = (refused?, refused_all?);
        let ((suggested, suggested_end), (suggested_all, day_end)) = (suggested?, suggested_all?);
        let now = self.clock.now();
        // Past the everyone-budget, only a visitor with a refusal of their own is stopped:
        // refusals from elsewhere cannot block a visitor who has none.
        if refused >= limits.refusals_per_visitor_per_hour || (refused > 0 && refused_all >= limits.refusals_per_day) {
            info!(limit = "refusals", "over a limit");
            let until = if refused >= limits.refusals_per_visitor_per_hour { refused_end } else { day_end };
            return Err(SuggestError::RateLimited { what: "refused suggestions", retry_after: wait_until(now, until) });
        }
        if suggested >= limits.suggestions_per_visitor_per_hour {
            info!(limit = "suggestions", "over a limit");
            return Err(SuggestError::RateLimited { what: "suggestions", retry_after: wait_until(now, suggested_end) });
        }
        if suggested_all >= limits.suggestions_per_day {
            info!(limit = "suggestions today", "over a limit");
            return Err(SuggestError::RateLimited { what: "suggestions today", retry_after: wait_until(now, day_end) });
        }
        let outcome = async {
            if self.settings.proof_of_work {
                self.check_proof(&credentials, submission.proof.as_deref()).await?;
            }
            let since = now - time::Duration::try_from(REPEAT_AFTER).unwrap_or(time::Duration::ZERO);
            if let Some(existing) = existing.map_err(unavailable)?
                && blocks_repeat(&existing, since)
            {
                return Err(SuggestError::AlreadySuggested(Box::new(existing)));
            }
            self.lookup_allowed().await?;
            let item = self
                .with_token(|t| {
                    let track = track.clone();
                    async move { self.catalog.track(&t, &track).await }
                })
                .await?
                .ok_or_else(|| SuggestError::TrackNotFound(track.clone()))?;
            Ok((item, since))
        }
        .await;
        let (item, since) = match outcome {
            Ok(found) => found,
            Err(e) => return Err(self.refused(&keys, e).await),
        };
        // Counted now, with the limits' conditions, so that visitors racing past the reads
        // above cannot store more than the limits; given back if nothing is stored.
        let (mine, all) = tokio::join!(
            self.count(&keys.visitor_suggestions, "suggestions", limits.suggestions_per_visitor_per_hour, HOUR),
            self.count(SUGGESTIONS_ALL, "suggestions today", limits.suggestions_per_day, DAY),
        );
        if mine.is_err() || all.is_err() {
            self.give_back_suggestion(&keys, mine.is_ok(), all.is_ok()).await;
            return Err(mine.and(all).expect_err("one of the two failed"));
        }
        let mut suggestion =
            Suggestion { track, name, message, status: Status::Pending, created_at: now, reason: None };
        let inserted = self.store.insert(&suggestion, since).await;
        if !matches!(inserted, Ok(None)) {
            self.give_back_suggestion(&keys, true, true).await;
        }
        if let Some(existing) = inserted.map_err(unavailable)? {
            return Err(self.refused(&keys, SuggestError::AlreadySuggested(Box::new(existing))).await);
        }
        info!(mode = ?self.settings.mode, "suggestion stored");
        if self.settings.mode == Mode::Auto {
            suggestion = self.add(suggestion, &playlist).await;
            self.retry_failed(&playlist, &suggestion.track).await;
        }
        Ok((suggestion, item))
    }

    /// The proof sent with a suggestion: valid, for a challenge of ours, used once.
    async fn check_proof(&self, credentials: &Credentials, proof: Option<&str>) -> Result<(), SuggestError> {
        let proof = proof.filter(|p| !p.is_empty()).ok_or(SuggestError::ProofRequired(ProofError::Malformed))?;
        let now = self.clock.now();
        let key = ProofKey::new(&derived_key(credentials, "now-playing proof v1"));
        let solution = key.verify(proof, now).map_err(SuggestError::ProofRequired)?;
        match self.counters.use_once(&format!("proof#{}", solution.challenge), after(now, CHALLENGE_LIFE)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SuggestError::ProofRequired(ProofError::Replayed)),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Adds a stored suggestion to the playlist; on failure it stays pending with the
    /// reason and joins the retry list. The record as stored afterwards.
    pub(super) async fn add(&self, mut suggestion: Suggestion, playlist: &str) -> Suggestion {
        let track = suggestion.track.clone();
        let added = self
            .with_token(|t| {
                let track = track.clone();
                async move { self.playlists.add_track(&t, playlist, &track).await }
            })
            .await;
        match added {
            Ok(()) => {
                suggestion.status = Status::Added;
                suggestion.reason = None;
                info!("suggestion added to the playlist");
            }
            Err(e) => {
                warn!(error = %e, "could not add a suggestion to the playlist; it stays pending");
                suggestion.reason = Some(e.to_string());
            }
        }
        if let Err(e) = self.store.update(&suggestion).await {
            warn!(error = %e, "could not record the suggestion's new state");
        }
        if let Err(e) = self.store.set_retry(&suggestion.track, suggestion.status == Status::Pending).await {
            warn!(error = %e, "could not update the retry list");
        }
        suggestion
    }

    /// Retries a few additions that failed earlier, other than `just_tried`'s.
    async fn retry_failed(&self, playlist: &str, just_tried: &TrackId) {
        let failed = match self.store.failed().await {
            Ok(failed) => failed,
            Err(e) => return warn!(error = %e, "could not read the retry list"),
        };
        for track in failed.into_iter().filter(|t| t != just_tried).take(RETRIES_PER_REQUEST) {
            match self.store.get(&track).await {
                Ok(Some(s)) if s.status == Status::Pending => {
                    self.add(s, playlist).await;
                }
                Ok(_) => {
                    let _ = self.store.set_retry(&track, false).await;
                }
                Err(e) => warn!(error = %e, "could not read a suggestion to retry"),
            }
        }
    }
}
