//! Built systems for a test: a `Harness` of fakes behind the real domain, and the HTTP
//! `App` over it.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use now_playing::domain::quota::Budget;
use now_playing::domain::service::CacheTiming;
use now_playing::domain::token::LeaseTiming;
use now_playing::domain::{NowPlayingService, ServicePorts, TokenManager, TokenPorts};

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

/// A budget so large that the steady checks come at the cache window: the tests that are
/// not about the budget see an answer due `WINDOW` after it was fetched.
pub const GENEROUS: Budget = Budget { calls_per_day: 1_000_000, visitor_percent: 20, recent_percent: 10 };

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
            TokenPorts {
                spotify: self.spotify.clone(),
                store: self.store.clone(),
                credentials: self.credentials.clone(),
                clock: self.clock.clone(),
            },
            id.to_owned(),
            FAST_LEASE,
        )
    }

    /// A new instance (its own memory) over the same shared fakes.
    pub fn instance(&self, id: &str) -> NowPlayingService {
        let tokens = self.tokens(id);
        NowPlayingService::new(
            ServicePorts {
                spotify: self.spotify.clone(),
                tokens: Arc::new(tokens),
                shared: self.snapshots.clone(),
                clock: self.clock.clone(),
            },
            id.to_owned(),
            FAST_CACHE,
        )
        .with_budget(GENEROUS)
    }
}

/// A harness whose Spotify grants one token and plays a track.
pub fn playing_harness() -> Harness {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    h.spotify.script_history(vec![Ok(vec![last_played()])]);
    h
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
    now_playing::http::App::new(h.instance("a").with_art(library.clone()), library, app_settings(origins))
}

/// The HTTP layer's settings as the function's defaults make them, with `origins`.
pub fn app_settings(origins: now_playing::config::AllowedOrigins) -> now_playing::http::AppSettings {
    now_playing::http::AppSettings {
        allowed_origins: origins,
        cache_seconds: 5,
        credentials_parameter: "/now-playing/spotify".into(),
    }
}

/// A REST API event for `GET path?query`, as API Gateway sends it through the `prod` stage.
pub fn rest_get(path: &str, query: &[(&str, &str)]) -> lambda_http::Request {
    let mut e: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}/tests/data/events/apigw_rest_current.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    e["path"] = path.into();
    e["resource"] = path.into();
    e["requestContext"]["path"] = format!("/prod{path}").into();
    e["queryStringParameters"] = query.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
    e["multiValueQueryStringParameters"] =
        query.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(vec![*v]))).collect();
    lambda_http::request::from_str(&e.to_string()).unwrap()
}
