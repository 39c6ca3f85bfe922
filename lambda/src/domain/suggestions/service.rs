//! The decisions from a visitor's search to the owner's playlist, and the limits that
//! protect Spotify's quota and the owner.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::model::*;
use crate::domain::ports::{
    Catalog, Clock, Counters, Notifier, Playlists, SearchCache, SnapshotStore, SpotifyError, SuggestionStore,
};
use crate::domain::proof::{Challenge, ProofError, ProofKey};
use crate::domain::service::MAX_BACKOFF;
use crate::domain::{AccessToken, Credentials, Item, TokenManager, after};

/// How many failed additions a later suggestion retries.
const RETRIES_PER_REQUEST: usize = 3;
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// The day's suggestions and refusals, of all visitors.
const SUGGESTIONS_ALL: &str = "suggestions#all";
const REFUSALS_ALL: &str = "refusals#all";
/// How long the daily digest's sender holds it: longer than the function's timeout, and
/// Lambda's retries of a failed run come after it lapses.
const DIGEST_HOLD: Duration = Duration::from_secs(60);

/// A visitor's counters.
struct LimitKeys {
    visitor_suggestions: String,
    visitor_refusals: String,
}

impl LimitKeys {
    fn of(visitor: &Visitor) -> Self {
        LimitKeys {
            visitor_suggestions: format!("visitor#{}#suggest", visitor.0),
            visitor_refusals: format!("visitor#{}#refused", visitor.0),
        }
    }
}

/// What identifies a visitor's network: an IPv4 address as it is, an IPv6 address by its
/// /64 (an IPv4-mapped one as its IPv4 address); anything else as it came.
fn visitor_network(source_ip: &str) -> String {
    match source_ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => source_ip.to_owned(),
    }
}

fn unavailable(e: impl std::fmt::Display) -> SuggestError {
    warn!(error = %e, "suggestion store unavailable");
    SuggestError::Unavailable("the suggestion store could not be reached; nothing was stored, try again".into())
}

/// A key for `purpose`, derived from the client secret: only the function knows it, and
/// a new authorization with a new secret changes it.
fn derived_key(credentials: &Credentials, purpose: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(credentials.client_secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The start of the fixed window of `length` that holds `now`, and its end.
fn window(now: OffsetDateTime, length: Duration) -> (i64, OffsetDateTime) {
    let secs = length.as_secs().max(1) as i64;
    let index = now.unix_timestamp().div_euclid(secs);
    let end = OffsetDateTime::from_unix_timestamp((index + 1) * secs).unwrap_or(now);
    (index, end)
}

fn wait_until(now: OffsetDateTime, end: OffsetDateTime) -> Duration {
    Duration::try_from(end - now).unwrap_or(Duration::from_secs(1)).max(Duration::from_secs(1))
}

pub struct SuggestionService {
    catalog: Arc<dyn Catalog>,
    playlists: Arc<dyn Playlists>,
    store: Arc<dyn SuggestionStore>,
    counters: Arc<dyn Counters>,
    cache: Arc<dyn SearchCache>,
    /// The now-playing state's backoff, shared with `/v1/current`.
    shared: Arc<dyn SnapshotStore>,
    tokens: Arc<TokenManager>,
    clock: Arc<dyn Clock>,
    settings: Settings,
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
        SuggestionService { catalog, playlists, store, counters, cache, shared, tokens, clock, settings }
    }

    /// `Closed` when suggestions are off.
    pub fn open(&self) -> Result<(), SuggestError> {
        if self.settings.mode == Mode::Off { Err(SuggestError::Closed) } else { Ok(()) }
    }

    async fn credentials(&self) -> Result<Credentials, SuggestError> {
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

    /// How many uses of `key` the window of `length` that holds now has counted.
    async fn used(&self, key: &str, length: Duration) -> Result<(u32, OffsetDateTime), SuggestError> {
        let (index, end) = window(self.clock.now(), length);
        Ok((self.counters.used(&format!("{key}#{index}")).await.map_err(unavailable)?, end))
    }

    /// Gives back a use that `count` took for something that was not stored.
    async fn give_back(&self, key: &str, length: Duration) {
        let (index, _) = window(self.clock.now(), length);
        if let Err(e) = self.counters.give_back(&format!("{key}#{index}")).await {
            warn!(error = %e, "could not give back a counted use");
        }
    }

    /// Counts one use of `what` by `key` in a window of `length`; 429 past `limit`.
    async fn count(&self, key: &str, what: &'static str, limit: u32, length: Duration) -> Result<(), SuggestError> {
        let now = self.clock.now();
        let (index, end) = window(now, length);
        match self.counters.take(&format!("{key}#{index}"), limit, end).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                info!(limit = what, "over a limit");
                Err(SuggestError::RateLimited { what, retry_after: wait_until(now, end) })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// One Spotify look-up from the global budget, unless Spotify asked every instance to
    /// wait: then the visitor waits too, and `/v1/current` keeps the quota.
    async fn lookup_allowed(&self) -> Result<(), SuggestError> {
        let now = self.clock.now();
        if let Ok(state) = self.shared.load().await
            && let Some(until) = state.backoff_until.filter(|u| *u > now)
        {
            return Err(SuggestError::RateLimited { what: "look-ups", retry_after: wait_until(now, until) });
        }
        let limits = self.settings.limits;
        self.count("budget#lookups", "look-ups", limits.lookups_per_window, limits.lookup_window).await
    }

    /// A 429 from Spotify stops every instance's calls, `/v1/current`'s included.
    async fn spotify_failed(&self, e: SpotifyError) -> SuggestError {
        if let SpotifyError::RateLimited { retry_after } = e {
            let retry_after = retry_after.min(MAX_BACKOFF);
            if let Err(store) = self.shared.back_off(after(self.clock.now(), retry_after)).await {
                warn!(error = %store, "could not share Spotify's backoff");
            }
            return SuggestError::RateLimited { what: "requests to Spotify", retry_after };
        }
        SuggestError::Upstream(e)
    }

    /// Runs `call` with a token, once more with a new one after a 401.
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, SuggestError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, SpotifyError>>,
    {
        let outcome = async {
            let token = self.tokens.token().await?;
            Ok::<_, SuggestError>(match call(token.clone()).await {
                Err(SpotifyError::Unauthorized) => call(self.tokens.token_after_rejection(&token).await?).await,
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
    fn playlist(credentials: &Credentials) -> Result<String, SuggestError> {
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

    /// Counts a refusal in the refusal budgets, then answers it. Other failures (a limit,
    /// an outage) are no refusal of the visitor's suggestion and count nowhere.
    async fn refused(&self, keys: &LimitKeys, e: SuggestError) -> SuggestError {
        if matches!(
            e,
            SuggestError::ProofRequired(_) | SuggestError::TrackNotFound(_) | SuggestError::AlreadySuggested(_)
        ) {
            let limits = self.settings.limits;
            // The budgets' own limits only stop the count; the reads before a suggestion
            // decide. A failure to count is logged: the refusal stands either way.
            let (_, _) = tokio::join!(
                self.count(&keys.visitor_refusals, "refused suggestions", limits.refusals_per_visitor_per_hour, HOUR),
                self.count(REFUSALS_ALL, "refused suggestions", limits.refusals_per_day, DAY),
            );
        }
        e
    }

    async fn give_back_suggestion(&self, keys: &LimitKeys, mine: bool, all: bool) {
        if mine {
            self.give_back(&keys.visitor_suggestions, HOUR).await;
        }
        if all {
            self.give_back(SUGGESTIONS_ALL, DAY).await;
        }
    }

    /// Adds a stored suggestion to the playlist; on failure it stays pending with the
    /// reason and joins the retry list. The record as stored afterwards.
    async fn add(&self, mut suggestion: Suggestion, playlist: &str) -> Suggestion {
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
        if self.counters.used(&sent).await.map_err(unavailable)? > 0 {
            return Ok(not_sent);
        }
        if !self.counters.claim(&sending, now, after(now, DIGEST_HOLD)).await.map_err(unavailable)? {
            return Ok(not_sent);
        }
        // Read again under the hold: a run that sent and let go just now is not repeated.
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn windows_are_fixed_and_their_end_is_the_wait() {
        let now = datetime!(2026-11-28 12:00:20 UTC);
        let (index, end) = window(now, Duration::from_secs(60));
        assert_eq!(end, datetime!(2026-11-28 12:01:00 UTC));
        assert_eq!(window(datetime!(2026-11-28 12:00:59 UTC), Duration::from_secs(60)).0, index);
        assert_ne!(window(datetime!(2026-11-28 12:01:00 UTC), Duration::from_secs(60)).0, index);
        assert_eq!(wait_until(now, end), Duration::from_secs(40));
        assert_eq!(wait_until(end, end), Duration::from_secs(1));
    }
}
