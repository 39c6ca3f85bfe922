//! Hand-written fakes of the ports, and fixture loading, shared by the integration tests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use now_playing::adapters::spotify::{parse_currently_playing, parse_recently_played};
use now_playing::domain::ports::{
    Clock, CredentialStore, CredentialsError, SharedState, SnapshotStore, Spotify, SpotifyError, StoreError,
    TokenGrant, TokenStore,
};
use now_playing::domain::service::CacheTiming;
use now_playing::domain::token::LeaseTiming;
use now_playing::domain::{AccessToken, Credentials, NowPlaying, NowPlayingService, Playback, Played, TokenManager};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use time::macros::datetime;

pub const NOW: OffsetDateTime = datetime!(2026-11-27 20:00:00 UTC);
pub const CLIENT_SECRET: &str = "client-secret-7f3a9c";
pub const REFRESH_TOKEN: &str = "refresh-token-2b8e41";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/spotify").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn playback(name: &str) -> Playback {
    parse_currently_playing(&fixture(name)).expect("fixture parses")
}

pub fn last_played() -> Played {
    parse_recently_played(&fixture("recently_played.json")).expect("fixture parses").expect("one entry")
}

pub fn credentials() -> Credentials {
    Credentials {
        client_id: "client-id".into(),
        client_secret: SecretString::from(CLIENT_SECRET),
        refresh_token: SecretString::from(REFRESH_TOKEN),
        authorized_at: datetime!(2026-08-01 12:00:00 UTC),
        scope: None,
        suggestions_playlist_id: None,
    }
}

pub fn token(value: &str, expires_at: OffsetDateTime) -> AccessToken {
    AccessToken { value: SecretString::from(value), expires_at }
}

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
    pub recent: Mutex<VecDeque<Result<Option<Played>, SpotifyError>>>,
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
    pub fn script_recent(&self, answers: Vec<Result<Option<Played>, SpotifyError>>) {
        *self.recent.lock().unwrap() = answers.into();
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
    async fn recently_played(&self, _token: &AccessToken) -> Result<Option<Played>, SpotifyError> {
        self.recent_calls.fetch_add(1, Ordering::SeqCst);
        next(&self.recent, "recently-played")
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
}

#[async_trait]
impl SnapshotStore for MemorySnapshotStore {
    async fn load(&self) -> Result<SharedState, StoreError> {
        self.check()?;
        Ok(self.state.lock().unwrap().clone())
    }
    async fn try_lease(&self, owner: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool, StoreError> {
        self.check()?;
        if let Some(doc) = self.landing.lock().unwrap().take() {
            self.state.lock().unwrap().snapshot = Some(doc);
        }
        Ok(self.lease.take(owner, now, until))
    }
    async fn save(&self, snapshot: &NowPlaying, last_seen: Option<&Played>) -> Result<(), StoreError> {
        self.check()?;
        self.saves.fetch_add(1, Ordering::SeqCst);
        let mut state = self.state.lock().unwrap();
        state.snapshot = Some(snapshot.clone());
        if let Some(seen) = last_seen {
            state.last_seen = Some(seen.clone());
        }
        *self.lease.lock().unwrap() = None;
        Ok(())
    }
    async fn back_off(&self, until: OffsetDateTime) -> Result<(), StoreError> {
        self.check()?;
        self.state.lock().unwrap().backoff_until = Some(until);
        *self.lease.lock().unwrap() = None;
        Ok(())
    }
    async fn release(&self, owner: &str) -> Result<(), StoreError> {
        self.check()?;
        self.lease.end(owner);
        Ok(())
    }
}

/// The cache window the harness runs with; tests advance the clock past it to refresh.
pub const WINDOW: Duration = Duration::from_secs(5);

pub const FAST_CACHE: CacheTiming = CacheTiming {
    window: WINDOW,
    request_deadline: Duration::from_secs(2),
    spotify_deadline: Duration::from_millis(500),
    lease: Duration::from_secs(10),
    wait: Duration::from_millis(300),
    poll: Duration::from_millis(10),
    palette: Duration::from_millis(200),
};

/// A service over the fakes, as one Lambda instance would hold it.
pub struct Harness {
    pub spotify: Arc<FakeSpotify>,
    pub store: Arc<MemoryTokenStore>,
    pub credentials: Arc<MemoryCredentialStore>,
    pub snapshots: Arc<MemorySnapshotStore>,
    pub clock: Arc<FakeClock>,
}

pub const FAST_LEASE: LeaseTiming =
    LeaseTiming { lease: Duration::from_secs(10), wait: Duration::from_millis(300), poll: Duration::from_millis(10) };

impl Harness {
    pub fn new() -> Self {
        Harness {
            spotify: FakeSpotify::new(),
            store: MemoryTokenStore::new(),
            credentials: MemoryCredentialStore::with(Ok(credentials())),
            snapshots: Arc::new(MemorySnapshotStore::default()),
            clock: FakeClock::at(NOW),
        }
    }

    /// A new instance's token manager (its own memory) over the same shared fakes.
    pub fn tokens(&self, id: &str) -> TokenManager {
        TokenManager::new(
            self.spotify.clone(),
            self.store.clone(),
            self.credentials.clone(),
            self.clock.clone(),
            id.to_owned(),
            FAST_LEASE,
        )
    }

    /// A new instance (its own memory) over the same shared fakes.
    pub fn instance(&self, id: &str) -> NowPlayingService {
        let tokens = self.tokens(id);
        NowPlayingService::new(
            self.spotify.clone(),
            Arc::new(tokens),
            self.snapshots.clone(),
            self.clock.clone(),
            id.to_owned(),
            FAST_CACHE,
        )
    }
}

/// A harness whose Spotify grants one token and plays a track.
pub fn playing_harness() -> Harness {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    h
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

/// A baseline JPEG of `width` × `height` pixels coloured by `colour(x, y)`, at quality 90.
pub fn jpeg(width: u16, height: u16, colour: impl Fn(u16, u16) -> [u8; 3]) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&colour(x, y));
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encodable test image");
    out
}

pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49,
    0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0x68, 0x60, 0x60, 0x00, 0x00, 0x02, 0x04, 0x01, 0x01, 0xa9, 0x5b, 0x5e, 0x7b,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[async_trait]
impl now_playing::domain::ports::Artwork for FakeArtwork {
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
impl now_playing::domain::ports::ArtCache for MemoryArtCache {
    async fn load(&self, url: &str) -> Result<Option<now_playing::domain::Art>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.items.lock().unwrap().get(url).cloned())
    }
    async fn save(&self, url: &str, art: &now_playing::domain::Art) -> Result<(), StoreError> {
        self.items.lock().unwrap().insert(url.to_owned(), art.clone());
        Ok(())
    }
}

/// The HTTP layer over a harness instance, with its own (unshared) art cache.
pub fn app_over(
    h: &Harness,
    origins: now_playing::config::AllowedOrigins,
    artwork: Arc<FakeArtwork>,
) -> now_playing::http::App {
    app_sharing(h, origins, artwork, Arc::new(MemoryArtCache::default()))
}

/// The HTTP layer over a harness instance, sharing `art` with other instances.
pub fn app_sharing(
    h: &Harness,
    origins: now_playing::config::AllowedOrigins,
    artwork: Arc<FakeArtwork>,
    art: Arc<MemoryArtCache>,
) -> now_playing::http::App {
    let library = Arc::new(now_playing::domain::ArtLibrary::new(artwork, art));
    now_playing::http::App::new(
        h.instance("a").with_art(library.clone()),
        origins,
        5,
        "/now-playing/spotify".into(),
        library,
    )
}

/// Messages to the owner, kept as (subject, text).
#[derive(Default)]
pub struct Outbox(pub Mutex<Vec<(String, String)>>);

#[async_trait]
impl now_playing::domain::ports::Notifier for Outbox {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), now_playing::domain::ports::NotifyError> {
        self.0.lock().unwrap().push((subject.to_owned(), message.to_owned()));
        Ok(())
    }
}
