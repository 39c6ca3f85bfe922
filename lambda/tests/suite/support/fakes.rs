//! Every fake of a port: in memory, scripted, and counting what they were asked.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use now_playing::domain::ports::{
    ArtCache, ArtError, Artwork, Catalog, Clock, Counters, CredentialStore, CredentialsError, LivePush, LiveState,
    Notifier, NotifyError, Playlists, Presence, PrivacySource, Refusal, SearchCache, SharedState, SnapshotStore,
    Spotify, SpotifyError, StoreError, SuggestionStore, TickQueue, TokenGrant, TokenStore,
};
use now_playing::domain::quota::{BUCKETS_BEFORE, CallLedger, Room, Share, hour_of};
use now_playing::domain::suggestions::{Suggestion, TrackId, blocks_repeat};
use now_playing::domain::{AccessToken, Art, Credentials, Item, NowPlaying, Playback, Played};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::*;

pub struct FakeClock(pub Mutex<OffsetDateTime>);

impl FakeClock {
    pub fn at(now: OffsetDateTime) -> Arc<Self> {
        Arc::new(FakeClock(Mutex::new(now)))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// Answers from scripts; once a script runs out, the last answer repeats.
#[derive(Default)]
pub struct FakeSpotify {
    pub refreshes: Mutex<VecDeque<Result<TokenGrant, SpotifyError>>>,
    pub playing: Mutex<VecDeque<Result<Playback, SpotifyError>>>,
    pub recent: Mutex<VecDeque<Result<Vec<Played>, SpotifyError>>>,
    pub recent_limits: Mutex<Vec<u8>>,
    pub refresh_calls: AtomicUsize,
    pub playing_calls: AtomicUsize,
    pub recent_calls: AtomicUsize,
    /// The refresh token each refresh call was made with.
    pub refreshed_with: Mutex<Vec<String>>,
    /// The access token each player call was made with.
    pub played_with: Mutex<Vec<String>>,
    /// How long each player call takes.
    pub delay: Mutex<Duration>,
    /// How long each token refresh takes.
    pub refresh_delay: Mutex<Duration>,
}

pub fn grant(access: &str, rotated: Option<&str>) -> Result<TokenGrant, SpotifyError> {
    Ok(TokenGrant {
        access_token: SecretString::from(access),
        expires_in: Duration::from_secs(3600),
        refresh_token: rotated.map(SecretString::from),
        scope: None,
    })
}

fn next<T: Clone>(queue: &Mutex<VecDeque<T>>, what: &str) -> T {
    let mut q = queue.lock().unwrap();
    if q.len() > 1 {
        q.pop_front().unwrap()
    } else {
        q.front().cloned().unwrap_or_else(|| panic!("no scripted {what}"))
    }
}

fn clone_grant(g: &Result<TokenGrant, SpotifyError>) -> Result<TokenGrant, SpotifyError> {
    match g {
        Ok(g) => Ok(TokenGrant {
            access_token: g.access_token.clone(),
            expires_in: g.expires_in,
            refresh_token: g.refresh_token.clone(),
            scope: g.scope.clone(),
        }),
        Err(e) => Err(e.clone()),
    }
}

impl FakeSpotify {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeSpotify::default())
    }
    pub fn script_refresh(&self, answers: Vec<Result<TokenGrant, SpotifyError>>) {
        *self.refreshes.lock().unwrap() = answers.into();
    }
    pub fn script_playing(&self, answers: Vec<Result<Playback, SpotifyError>>) {
        *self.playing.lock().unwrap() = answers.into();
    }
    /// The history's latest entry, or none, per call.
    pub fn script_recent(&self, answers: Vec<Result<Option<Played>, SpotifyError>>) {
        self.script_history(answers.into_iter().map(|a| a.map(|p| p.into_iter().collect())).collect());
    }
    /// The history, most recent first, per call.
    pub fn script_history(&self, answers: Vec<Result<Vec<Played>, SpotifyError>>) {
        *self.recent.lock().unwrap() = answers.into();
    }
    /// The `limit` of each history call so far.
    pub fn history_limits(&self) -> Vec<u8> {
        self.recent_limits.lock().unwrap().clone()
    }
    pub fn calls(&self) -> (usize, usize, usize) {
        (
            self.refresh_calls.load(Ordering::SeqCst),
            self.playing_calls.load(Ordering::SeqCst),
            self.recent_calls.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl Spotify for FakeSpotify {
    async fn refresh(&self, credentials: &Credentials) -> Result<TokenGrant, SpotifyError> {
        self.refresh_calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.refresh_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        self.refreshed_with.lock().unwrap().push(credentials.refresh_token.expose_secret().to_owned());
        let mut q = self.refreshes.lock().unwrap();
        if q.len() > 1 { q.pop_front().unwrap() } else { clone_grant(q.front().expect("no scripted refresh")) }
    }
    async fn currently_playing(&self, token: &AccessToken) -> Result<Playback, SpotifyError> {
        self.playing_calls.fetch_add(1, Ordering::SeqCst);
        self.played_with.lock().unwrap().push(token.value.expose_secret().to_owned());
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        next(&self.playing, "currently-playing")
    }
    async fn recently_played(&self, _token: &AccessToken, limit: u8) -> Result<Vec<Played>, SpotifyError> {
        self.recent_calls.fetch_add(1, Ordering::SeqCst);
        self.recent_limits.lock().unwrap().push(limit);
        next(&self.recent, "recently-played").map(|plays| plays.into_iter().take(limit.into()).collect())
    }
}

/// The lease rule of both stores, in memory: a lease held by another owner blocks until it
/// lapses. Derefs to its slot, so a test can set or inspect a lease directly.
#[derive(Default)]
pub struct FakeLease(Mutex<Option<(String, OffsetDateTime)>>);

impl FakeLease {
    pub fn take(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> bool {
        let mut lease = self.0.lock().unwrap();
        match lease.as_ref() {
            Some((holder, expires)) if holder != owner && *expires >= now => false,
            _ => {
                *lease = Some((owner.to_owned(), until));
                true
            }
        }
    }

    pub fn end(&self, owner: &str) {
        let mut lease = self.0.lock().unwrap();
        if lease.as_ref().is_some_and(|(holder, _)| holder == owner) {
            *lease = None;
        }
    }
}

impl std::ops::Deref for FakeLease {
    type Target = Mutex<Option<(String, OffsetDateTime)>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The shared token store in memory; `failing` makes every call fail like an outage.
#[derive(Default)]
pub struct MemoryTokenStore {
    pub token: Mutex<Option<AccessToken>>,
    pub lease: FakeLease,
    pub failing: std::sync::atomic::AtomicBool,
    pub saves: AtomicUsize,
    /// Another instance's token that lands just as this one takes the lease.
    pub landing: Mutex<Option<AccessToken>>,
    /// How long each call takes, as a network round trip would: concurrent callers then
    /// interleave between reading the token and taking the lease.
    pub round_trip: Mutex<Duration>,
}

impl MemoryTokenStore {
    async fn travel(&self) {
        let pause = *self.round_trip.lock().unwrap();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    pub fn new() -> Arc<Self> {
        Arc::new(MemoryTokenStore::default())
    }
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) { Err(StoreError("table unavailable".into())) } else { Ok(()) }
    }
    pub fn stored_value(&self) -> Option<String> {
        self.token.lock().unwrap().as_ref().map(|t| t.value.expose_secret().to_owned())
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<AccessToken>, StoreError> {
        self.travel().await;
        self.check()?;
        Ok(self.token.lock().unwrap().clone())
    }
    async fn save(&self, token: &AccessToken) -> Result<(), StoreError> {
        self.travel().await;
        self.check()?;
        self.saves.fetch_add(1, Ordering::SeqCst);
        *self.token.lock().unwrap() = Some(token.clone());
        // As DynamoDB's put of the item that also holds the lease.
        *self.lease.lock().unwrap() = None;
        Ok(())
    }
    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        self.travel().await;
        self.check()?;
        if let Some(token) = self.landing.lock().unwrap().take() {
            *self.token.lock().unwrap() = Some(token);
        }
        Ok(self.lease.take(owner, now, until))
    }
    async fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        self.check()?;
        self.lease.end(owner);
        Ok(())
    }
}

/// The SSM parameter in memory.
pub struct MemoryCredentialStore {
    pub stored: Mutex<Result<Credentials, CredentialsError>>,
    pub loads: AtomicUsize,
    pub saves: AtomicUsize,
}

impl MemoryCredentialStore {
    pub fn with(credentials: Result<Credentials, CredentialsError>) -> Arc<Self> {
        Arc::new(MemoryCredentialStore {
            stored: Mutex::new(credentials),
            loads: AtomicUsize::new(0),
            saves: AtomicUsize::new(0),
        })
    }
    pub fn refresh_token(&self) -> String {
        self.stored.lock().unwrap().as_ref().map(|c| c.refresh_token.expose_secret().to_owned()).unwrap_or_default()
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentialStore {
    async fn load(&self) -> Result<Credentials, CredentialsError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.stored.lock().unwrap().clone()
    }
    async fn save(&self, credentials: &Credentials) -> Result<(), CredentialsError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        *self.stored.lock().unwrap() = Ok(credentials.clone());
        Ok(())
    }
}

/// The shared snapshot record in memory; `failing` makes every call fail like an outage.
#[derive(Default)]
pub struct MemorySnapshotStore {
    pub state: Mutex<SharedState>,
    pub lease: FakeLease,
    pub failing: std::sync::atomic::AtomicBool,
    pub saves: AtomicUsize,
    /// Another instance's answer that lands just as this one takes the lease.
    pub landing: Mutex<Option<NowPlaying>>,
}

impl MemorySnapshotStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) { Err(StoreError("table unavailable".into())) } else { Ok(()) }
    }

    /// Another instance's answer lands, fresh for the harness's window.
    fn land(&self) {
        if let Some(doc) = self.landing.lock().unwrap().take() {
            let mut state = self.state.lock().unwrap();
            state.due_at = Some(doc.fetched_at + WINDOW);
            state.snapshot = Some(doc);
        }
    }

    /// Opens the current hour for every share with `room` calls, as a first call would.
    pub fn open_every_share(&self, at: OffsetDateTime, room: u32) {
        let mut state = self.state.lock().unwrap();
        for share in Share::ALL {
            state.calls.open(share, hour_of(at), room);
        }
    }
}

/// What the DynamoDB store's conditions check: room in the hour, the next hour unopened.
fn has_room(ledger: &CallLedger, share: Share, now: OffsetDateTime) -> bool {
    ledger.room(share, now) == Room::Free && ledger.opened(share, hour_of(now) + 1).is_none()
}

/// Whether `share`'s buckets of the 24 hours before `hour` are as `seen` has them.
fn unchanged_since(ledger: &CallLedger, seen: &CallLedger, share: Share, hour: i64) -> bool {
    (hour - BUCKETS_BEFORE..hour).all(|h| ledger.calls(share, h) == seen.calls(share, h))
}

#[async_trait]
impl SnapshotStore for MemorySnapshotStore {
    async fn load(&self) -> Result<SharedState, StoreError> {
        self.check()?;
        Ok(self.state.lock().unwrap().clone())
    }
    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        self.check()?;
        self.land();
        Ok(self.lease.take(owner, now, until))
    }
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError> {
        self.check()?;
        self.land();
        let mut state = self.state.lock().unwrap();
        let leased =
            state.refresh_due(now) && has_room(&state.calls, Share::Current, now) && self.lease.take(owner, now, until);
        if leased {
            state.calls.count(Share::Current, hour_of(now));
        }
        Ok((state.clone(), leased))
    }
    async fn take_call(&self, share: Share, now: OffsetDateTime) -> Result<(bool, CallLedger), StoreError> {
        self.check()?;
        let mut state = self.state.lock().unwrap();
        let taken = has_room(&state.calls, share, now);
        if taken {
            state.calls.count(share, hour_of(now));
        }
        Ok((taken, state.calls.clone()))
    }
    async fn open_hour(&self, share: Share, hour: i64, room: u32, seen: &CallLedger) -> Result<bool, StoreError> {
        self.check()?;
        let mut state = self.state.lock().unwrap();
        if state.calls.opened(share, hour).is_some() || !unchanged_since(&state.calls, seen, share, hour) {
            return Ok(false);
        }
        state.calls.open(share, hour, room);
        Ok(true)
    }
    async fn open_hour_and_lease(
        &self,
        hour: i64,
        room: u32,
        seen: &CallLedger,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError> {
        self.check()?;
        self.land();
        let mut state = self.state.lock().unwrap();
        let share = Share::Current;
        let opens = state.calls.opened(share, hour).is_none() && unchanged_since(&state.calls, seen, share, hour);
        if opens && room == 0 {
            state.calls.open(share, hour, 0);
        }
        let leased = opens && room > 0 && state.refresh_due(now) && self.lease.take(owner, now, until);
        if leased {
            state.calls.open(share, hour, room);
            state.calls.count(share, hour);
        }
        Ok((state.clone(), leased))
    }
    async fn count_refreshes(&self, count: u32, now: OffsetDateTime) -> Result<(), StoreError> {
        self.check()?;
        self.state.lock().unwrap().calls.hours.entry(hour_of(now)).or_default().refreshes += count;
        Ok(())
    }
    async fn save(
        &self,
        snapshot: &NowPlaying,
        last_seen: Option<&Played>,
        due_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.saves.fetch_add(1, Ordering::SeqCst);
        let mut state = self.state.lock().unwrap();
        state.snapshot = Some(snapshot.clone());
        state.due_at = Some(due_at);
        if let Some(seen) = last_seen {
            state.last_seen = Some(seen.clone());
        }
        *self.lease.lock().unwrap() = None;
        Ok(())
    }
    async fn save_recent(&self, recent: &now_playing::domain::RecentPlays) -> Result<(), StoreError> {
        self.state.lock().unwrap().recent = Some(recent.clone());
        Ok(())
    }
    async fn back_off(&self, until: OffsetDateTime, refusal: Refusal) -> Result<(), StoreError> {
        self.check()?;
        let mut state = self.state.lock().unwrap();
        match refusal {
            Refusal::RateLimited => state.backoff_until = Some(until),
            Refusal::QuotaExceeded => state.quota_until = Some(until),
        }
        *self.lease.lock().unwrap() = None;
        Ok(())
    }
    async fn release(&self, owner: &str, due_at: Option<OffsetDateTime>) -> Result<(), StoreError> {
        self.check()?;
        if self.lease.lock().unwrap().as_ref().is_some_and(|(holder, _)| holder == owner)
            && let Some(due) = due_at
        {
            self.state.lock().unwrap().due_at = Some(due);
        }
        self.lease.end(owner);
        Ok(())
    }
}

/// Album art from memory: a 1×1 PNG for any URL (or `jpeg`, when set), counting fetches.
#[derive(Default)]
pub struct FakeArtwork {
    pub fetches: AtomicUsize,
    /// How long each fetch takes.
    pub delay: Mutex<Duration>,
    /// A JPEG to serve instead of the PNG, as Spotify's CDN does.
    pub jpeg: Mutex<Option<Vec<u8>>>,
}

#[async_trait]
impl Artwork for FakeArtwork {
    async fn fetch(&self, _url: &str) -> Result<now_playing::domain::Art, now_playing::domain::ports::ArtError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        Ok(match self.jpeg.lock().unwrap().clone() {
            Some(bytes) => now_playing::domain::Art::new("image/jpeg".into(), bytes),
            None => now_playing::domain::Art::new("image/png".into(), PIXEL_PNG.to_vec()),
        })
    }
}

/// Shared album art in memory.
#[derive(Default)]
pub struct MemoryArtCache {
    pub items: Mutex<std::collections::HashMap<String, now_playing::domain::Art>>,
    pub loads: AtomicUsize,
}

#[async_trait]
impl ArtCache for MemoryArtCache {
    async fn load(&self, url: &str) -> Result<Option<now_playing::domain::Art>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.items.lock().unwrap().get(url).cloned())
    }
    async fn save(&self, url: &str, art: &now_playing::domain::Art) -> Result<(), StoreError> {
        self.items.lock().unwrap().insert(url.to_owned(), art.clone());
        Ok(())
    }
}

/// Messages to the owner, kept as (subject, text).
#[derive(Default)]
pub struct Outbox(pub Mutex<Vec<(String, String)>>);

#[async_trait]
impl Notifier for Outbox {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        self.0.lock().unwrap().push((subject.to_owned(), message.to_owned()));
        Ok(())
    }
}

// --- Visitors' suggestions: Spotify's catalogue and playlists, the table in memory.

/// The owner's suggestions playlist, the fake catalogue's tracks and one it does not have.
pub const PLAYLIST: &str = "3cEYpjA9oz9GiPac4AsH4n";
pub const TRACKS: [&str; 4] =
    ["4uLU6hMCjMI75M1A2tKUQC", "sG3KbcHKDquMGLEQLcNddF", "uz1vjrVi316RbiSoMDT7Jh", "0YHWu8pHqbb3b7onP8hIeJ"];
pub const UNKNOWN: &str = "0000000000000000000000";

pub fn item(id: &str) -> Item {
    let Playback::Item { item, .. } = playback("currently_playing_track.json") else { panic!("a track fixture") };
    Item { id: Some(id.to_owned()), name: format!("Track {id}"), ..item }
}

/// Spotify's catalogue: the four tracks; counts its calls.
#[derive(Default)]
pub struct FakeCatalog {
    pub searches: AtomicUsize,
    pub lookups: AtomicUsize,
}

#[async_trait]
impl Catalog for FakeCatalog {
    async fn search_tracks(&self, _: &AccessToken, _query: &str, limit: u8) -> Result<Vec<Item>, SpotifyError> {
        self.searches.fetch_add(1, Ordering::SeqCst);
        Ok(TRACKS.iter().take(limit.into()).map(|t| item(t)).collect())
    }
    async fn track(&self, _: &AccessToken, id: &TrackId) -> Result<Option<Item>, SpotifyError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(TRACKS.contains(&id.as_str()).then(|| item(id.as_str())))
    }
}

/// The owner's playlists: what was added where; scripted failures come first.
#[derive(Default)]
pub struct FakePlaylists {
    pub added: Mutex<Vec<(String, String)>>,
    pub failures: Mutex<VecDeque<SpotifyError>>,
}

impl FakePlaylists {
    pub fn added(&self) -> Vec<String> {
        self.added.lock().unwrap().iter().map(|(_, t)| t.clone()).collect()
    }
}

#[async_trait]
impl Playlists for FakePlaylists {
    async fn add_track(&self, _: &AccessToken, playlist: &str, track: &TrackId) -> Result<(), SpotifyError> {
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        self.added.lock().unwrap().push((playlist.to_owned(), track.as_str().to_owned()));
        Ok(())
    }
}

/// The table in memory: records, counters, used proofs, the retry list and the search cache.
#[derive(Default)]
pub struct MemoryTable {
    pub records: Mutex<HashMap<TrackId, Suggestion>>,
    pub counts: Mutex<HashMap<String, u32>>,
    pub used: Mutex<HashSet<String>>,
    pub held: Mutex<HashMap<String, OffsetDateTime>>,
    pub retry: Mutex<Vec<TrackId>>,
    pub searches: Mutex<HashMap<String, Vec<Item>>>,
    /// Counters whose next `take` finds another instance took the last use first.
    pub taken_elsewhere: Mutex<HashSet<String>>,
}

#[async_trait]
impl SuggestionStore for MemoryTable {
    async fn insert(&self, suggestion: &Suggestion, since: OffsetDateTime) -> Result<Option<Suggestion>, StoreError> {
        let mut records = self.records.lock().unwrap();
        if let Some(existing) = records.get(&suggestion.track).filter(|e| blocks_repeat(e, since)) {
            return Ok(Some(existing.clone()));
        }
        records.insert(suggestion.track.clone(), suggestion.clone());
        Ok(None)
    }
    async fn update(&self, suggestion: &Suggestion) -> Result<(), StoreError> {
        self.records.lock().unwrap().insert(suggestion.track.clone(), suggestion.clone());
        Ok(())
    }
    async fn get(&self, track: &TrackId) -> Result<Option<Suggestion>, StoreError> {
        Ok(self.records.lock().unwrap().get(track).cloned())
    }
    async fn list(&self) -> Result<Vec<Suggestion>, StoreError> {
        Ok(self.records.lock().unwrap().values().cloned().collect())
    }
    async fn failed(&self) -> Result<Vec<TrackId>, StoreError> {
        Ok(self.retry.lock().unwrap().clone())
    }
    async fn set_retry(&self, track: &TrackId, retry: bool) -> Result<(), StoreError> {
        let mut list = self.retry.lock().unwrap();
        list.retain(|t| t != track);
        if retry {
            list.push(track.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl Counters for MemoryTable {
    async fn take(&self, key: &str, limit: u32, _until: OffsetDateTime) -> Result<bool, StoreError> {
        let mut counts = self.counts.lock().unwrap();
        let count = counts.entry(key.to_owned()).or_default();
        if self.taken_elsewhere.lock().unwrap().iter().any(|k| key.starts_with(k.as_str())) {
            *count = limit;
        }
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }
    async fn used(&self, key: &str) -> Result<u32, StoreError> {
        Ok(self.counts.lock().unwrap().get(key).copied().unwrap_or_default())
    }
    async fn give_back(&self, key: &str) -> Result<(), StoreError> {
        if let Some(count) = self.counts.lock().unwrap().get_mut(key) {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }
    async fn use_once(&self, key: &str, _until: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self.used.lock().unwrap().insert(key.to_owned()))
    }
    async fn claim(&self, key: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        let mut held = self.held.lock().unwrap();
        if held.get(key).is_some_and(|h| *h > now) {
            return Ok(false);
        }
        held.insert(key.to_owned(), until);
        Ok(true)
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.held.lock().unwrap().remove(key);
        Ok(())
    }
}

#[async_trait]
impl SearchCache for MemoryTable {
    async fn load(&self, query: &str) -> Result<Option<Vec<Item>>, StoreError> {
        Ok(self.searches.lock().unwrap().get(query).cloned())
    }
    async fn save(&self, query: &str, items: &[Item], _until: OffsetDateTime) -> Result<(), StoreError> {
        self.searches.lock().unwrap().insert(query.to_owned(), items.to_vec());
        Ok(())
    }
}

/// A notifier that fails its first `failures` sends.
#[derive(Default)]
pub struct FlakyOutbox {
    pub failures: Mutex<usize>,
    pub sent: Outbox,
}

#[async_trait]
impl Notifier for FlakyOutbox {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        let failed = {
            let mut failures = self.failures.lock().unwrap();
            let failed = *failures > 0;
            *failures = failures.saturating_sub(1);
            failed
        };
        if failed {
            return Err(NotifyError("SNS said no".into()));
        }
        self.sent.notify(subject, message).await
    }
}

// --- Round trips: ports that count their calls and take their time.

/// What one AWS call costs in `Metered`'s paused clock, and one Spotify call.
pub const AWS: Duration = Duration::from_millis(1);
pub const SPOTIFY: Duration = Duration::from_millis(100);

/// Every call, in the order made, for the failure message.
#[derive(Default)]
pub struct Log(pub Mutex<Vec<&'static str>>);

impl Log {
    pub async fn call(&self, name: &'static str, cost: Duration) {
        self.0.lock().unwrap().push(name);
        tokio::time::sleep(cost).await;
    }
}

/// A port that logs each call and takes its cost in paused time before answering.
pub struct Metered<T> {
    pub inner: Arc<T>,
    pub log: Arc<Log>,
}

#[async_trait]
impl TokenStore for Metered<MemoryTokenStore> {
    async fn load(&self) -> Result<Option<AccessToken>, StoreError> {
        self.log.call("token.load", AWS).await;
        self.inner.load().await
    }
    async fn save(&self, token: &AccessToken) -> Result<(), StoreError> {
        self.log.call("token.save", AWS).await;
        self.inner.save(token).await
    }
    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        self.log.call("token.lease", AWS).await;
        self.inner.try_lease(owner, now, until).await
    }
    /// One round trip, as DynamoDB's conditional update that answers the item either way.
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(Option<AccessToken>, bool), StoreError> {
        self.log.call("token.read+lease", AWS).await;
        self.inner.load_or_lease(owner, now, stale_before, until).await
    }
    async fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        self.log.call("token.release", AWS).await;
        self.inner.release_lease(owner).await
    }
}

#[async_trait]
impl SnapshotStore for Metered<MemorySnapshotStore> {
    async fn load(&self) -> Result<SharedState, StoreError> {
        self.log.call("answer.load", AWS).await;
        self.inner.load().await
    }
    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        self.log.call("answer.lease", AWS).await;
        self.inner.try_lease(owner, now, until).await
    }
    /// One round trip, as DynamoDB's conditional update that returns the item makes it.
    async fn take_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<SharedState>, StoreError> {
        self.log.call("answer.lease+read", AWS).await;
        self.inner.take_lease(owner, now, until).await
    }
    /// One round trip, as DynamoDB's conditional update that answers the item either way.
    async fn load_or_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError> {
        self.log.call("answer.read+lease", AWS).await;
        self.inner.load_or_lease(owner, now, until).await
    }
    async fn take_call(&self, share: Share, now: OffsetDateTime) -> Result<(bool, CallLedger), StoreError> {
        self.log.call("ledger.take", AWS).await;
        self.inner.take_call(share, now).await
    }
    async fn open_hour(&self, share: Share, hour: i64, room: u32, seen: &CallLedger) -> Result<bool, StoreError> {
        self.log.call("ledger.open", AWS).await;
        self.inner.open_hour(share, hour, room, seen).await
    }
    async fn open_hour_and_lease(
        &self,
        hour: i64,
        room: u32,
        seen: &CallLedger,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(SharedState, bool), StoreError> {
        self.log.call("ledger.open+lease", AWS).await;
        self.inner.open_hour_and_lease(hour, room, seen, owner, now, until).await
    }
    async fn count_refreshes(&self, count: u32, now: OffsetDateTime) -> Result<(), StoreError> {
        self.log.call("ledger.refreshes", AWS).await;
        self.inner.count_refreshes(count, now).await
    }
    async fn save(
        &self,
        snapshot: &NowPlaying,
        last_seen: Option<&Played>,
        due_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.log.call("answer.save", AWS).await;
        self.inner.save(snapshot, last_seen, due_at).await
    }
    async fn save_recent(&self, recent: &now_playing::domain::RecentPlays) -> Result<(), StoreError> {
        self.log.call("dynamodb.save_recent", AWS).await;
        self.inner.save_recent(recent).await
    }
    async fn back_off(&self, until: OffsetDateTime, refusal: Refusal) -> Result<(), StoreError> {
        self.log.call("answer.back_off", AWS).await;
        self.inner.back_off(until, refusal).await
    }
    async fn release(&self, owner: &str, due_at: Option<OffsetDateTime>) -> Result<(), StoreError> {
        self.log.call("answer.release", AWS).await;
        self.inner.release(owner, due_at).await
    }
}

#[async_trait]
impl CredentialStore for Metered<MemoryCredentialStore> {
    async fn load(&self) -> Result<Credentials, CredentialsError> {
        self.log.call("ssm.get", AWS).await;
        self.inner.load().await
    }
    async fn save(&self, credentials: &Credentials) -> Result<(), CredentialsError> {
        self.log.call("ssm.put", AWS).await;
        self.inner.save(credentials).await
    }
}

#[async_trait]
impl Spotify for Metered<FakeSpotify> {
    async fn refresh(&self, credentials: &Credentials) -> Result<TokenGrant, SpotifyError> {
        self.log.call("spotify.refresh", SPOTIFY).await;
        self.inner.refresh(credentials).await
    }
    async fn currently_playing(&self, token: &AccessToken) -> Result<Playback, SpotifyError> {
        self.log.call("spotify.player", SPOTIFY).await;
        self.inner.currently_playing(token).await
    }
    async fn recently_played(&self, token: &AccessToken, limit: u8) -> Result<Vec<Played>, SpotifyError> {
        self.log.call("spotify.recent", SPOTIFY).await;
        self.inner.recently_played(token, limit).await
    }
}

#[async_trait]
impl ArtCache for Metered<MemoryArtCache> {
    async fn load(&self, url: &str) -> Result<Option<Art>, StoreError> {
        self.log.call("art.load", AWS).await;
        self.inner.load(url).await
    }
    async fn save(&self, url: &str, art: &Art) -> Result<(), StoreError> {
        self.log.call("art.save", AWS).await;
        self.inner.save(url, art).await
    }
}

/// Spotify's image CDN, as far away as its Web API.
#[async_trait]
impl Artwork for Metered<FakeArtwork> {
    async fn fetch(&self, url: &str) -> Result<Art, ArtError> {
        self.log.call("cdn.image", SPOTIFY).await;
        self.inner.fetch(url).await
    }
}

/// The owner's privacy rules document, as a test sets it: `Ok(None)` is no document,
/// `Err` one that cannot be read.
pub struct FakePrivacy {
    pub document: Mutex<Result<Option<String>, String>>,
    pub reads: AtomicUsize,
}

impl FakePrivacy {
    pub fn with(document: Result<Option<&str>, &str>) -> Arc<Self> {
        let document = document.map(|d| d.map(str::to_owned)).map_err(str::to_owned);
        Arc::new(FakePrivacy { document: Mutex::new(document), reads: AtomicUsize::new(0) })
    }
    pub fn set(&self, document: Result<Option<&str>, &str>) {
        *self.document.lock().unwrap() = document.map(|d| d.map(str::to_owned)).map_err(str::to_owned);
    }
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PrivacySource for FakePrivacy {
    async fn load(&self) -> Result<Option<String>, String> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.document.lock().unwrap().clone()
    }
}

/// The live channel: what was pushed, in order; `fail` makes every publish fail.
#[derive(Default)]
pub struct FakeLive {
    pub pushed: Mutex<Vec<NowPlaying>>,
    pub fail: std::sync::atomic::AtomicBool,
}

impl FakeLive {
    pub fn pushed(&self) -> Vec<NowPlaying> {
        self.pushed.lock().unwrap().clone()
    }
}

#[async_trait]
impl LivePush for FakeLive {
    async fn publish(&self, doc: &NowPlaying) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("the Event API answered 503 Service Unavailable".into());
        }
        self.pushed.lock().unwrap().push(doc.clone());
        Ok(())
    }
}

/// Live push's presence and runner, in memory, with DynamoDB's conditions.
#[derive(Default)]
pub struct MemoryLiveState {
    pub presence: Mutex<Presence>,
}

#[async_trait]
impl LiveState for MemoryLiveState {
    async fn presence(&self) -> Result<Presence, StoreError> {
        Ok(self.presence.lock().unwrap().clone())
    }
    async fn mark_viewers(&self, until: OffsetDateTime) -> Result<(), StoreError> {
        let mut p = self.presence.lock().unwrap();
        p.viewers_until = p.viewers_until.max(Some(until));
        Ok(())
    }
    async fn claim_runner(&self, id: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        let mut p = self.presence.lock().unwrap();
        if p.runner.as_ref().is_some_and(|(_, held)| *held >= now) {
            return Ok(false);
        }
        p.runner = Some((id.to_owned(), until));
        Ok(true)
    }
    async fn keep_runner(&self, id: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let mut p = self.presence.lock().unwrap();
        match &mut p.runner {
            Some((holder, held)) if holder == id => {
                *held = until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn end_runner(&self, id: &str) -> Result<(), StoreError> {
        let mut p = self.presence.lock().unwrap();
        if p.runner.as_ref().is_some_and(|(holder, _)| holder == id) {
            p.runner = None;
        }
        Ok(())
    }
}

/// The runner's ticks as asked for: (runner id, delay).
#[derive(Default)]
pub struct FakeTicks {
    pub asked: Mutex<Vec<(String, Duration)>>,
}

#[async_trait]
impl TickQueue for FakeTicks {
    async fn tick_after(&self, id: &str, delay: Duration) -> Result<(), String> {
        self.asked.lock().unwrap().push((id.to_owned(), delay));
        Ok(())
    }
}

/// The rules' parameter, as far as SSM is.
#[async_trait]
impl PrivacySource for Metered<FakePrivacy> {
    async fn load(&self) -> Result<Option<String>, String> {
        self.log.call("ssm.privacy", AWS).await;
        self.inner.load().await
    }
}
