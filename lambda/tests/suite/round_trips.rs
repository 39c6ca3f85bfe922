//! How many round trips each path makes one after another: every AWS call here takes 1 ms
//! and every Spotify call 100 ms of tokio's paused clock, so a request's elapsed time reads
//! as `100 × Spotify + 1 × AWS` sequential calls. A change that adds a call in sequence
//! fails here, whatever a benchmark would say.

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use now_playing::domain::service::CacheTiming;
use now_playing::domain::token::{KEEP_FRESH_AHEAD, LeaseTiming};
use now_playing::domain::{ArtLibrary, NowPlayingService, ServicePorts, TokenManager, TokenPorts};

/// The shared state a path starts from; each `instance` is a cold process over it.
struct World {
    h: Harness,
    log: Arc<Log>,
    artwork: Arc<FakeArtwork>,
    art: Arc<MemoryArtCache>,
    /// The owner's privacy rules: none written, but read as the function reads them.
    privacy: Arc<FakePrivacy>,
}

impl World {
    fn new() -> World {
        let h = Harness::new();
        h.spotify.script_refresh(vec![grant("access-1", None)]);
        h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
        let artwork = Arc::new(FakeArtwork::default());
        *artwork.jpeg.lock().unwrap() = Some(jpeg(64, 64, |_, _| [0x1b, 0x2a, 0x49]));
        World {
            h,
            log: Arc::new(Log::default()),
            artwork,
            art: Arc::new(MemoryArtCache::default()),
            privacy: FakePrivacy::with(Ok(None)),
        }
    }

    fn instance(&self, id: &str) -> NowPlayingService {
        let spotify = Arc::new(Metered { inner: self.h.spotify.clone(), log: self.log.clone() });
        let tokens = TokenManager::new(
            TokenPorts {
                spotify: spotify.clone(),
                store: Arc::new(Metered { inner: self.h.store.clone(), log: self.log.clone() }),
                credentials: Arc::new(Metered { inner: self.h.credentials.clone(), log: self.log.clone() }),
                clock: self.h.clock.clone(),
            },
            id.to_owned(),
            LeaseTiming::default(),
        );
        // As the function's start does.
        tokens.preload_credentials();
        NowPlayingService::new(
            ServicePorts {
                spotify,
                tokens: Arc::new(tokens),
                shared: Arc::new(Metered { inner: self.h.snapshots.clone(), log: self.log.clone() }),
                clock: self.h.clock.clone(),
            },
            id.to_owned(),
            CacheTiming::default(),
        )
        .with_art(Arc::new(ArtLibrary::new(
            Arc::new(Metered { inner: self.artwork.clone(), log: self.log.clone() }),
            Arc::new(Metered { inner: self.art.clone(), log: self.log.clone() }),
        )))
        .with_privacy(Arc::new(Metered { inner: self.privacy.clone(), log: self.log.clone() }))
    }

    /// (sequential Spotify calls, sequential AWS calls, every call in order) of one request.
    async fn measure(&self, service: &NowPlayingService) -> (u128, u128, Vec<&'static str>) {
        self.log.0.lock().unwrap().clear();
        let started = tokio::time::Instant::now();
        service.current().await.expect("an answer");
        let ms = started.elapsed().as_millis();
        (ms / 100, ms % 100, self.log.0.lock().unwrap().clone())
    }

    /// Lets the answer fall due (a steady check at the default budget's pace), within the hour.
    fn later(&self) {
        self.h.clock.advance(Duration::from_secs(600));
    }
}

#[tokio::test(start_paused = true)]
async fn the_idle_visitor_nothing_cached_and_no_token() {
    let world = World::new();
    let (spotify, aws, calls) = world.measure(&world.instance("cold")).await;
    // One round of reads (the credentials were read at start, the rules beside the shared
    // state), the first call of the hour opening it with the lease, the refresh, the player,
    // and the save. Art never seen: one look in the shared art and one fetch from the CDN,
    // for its palette.
    assert_eq!((spotify, aws), (3, 4), "{calls:?}");
    let mut round = calls[..4].to_vec();
    round.sort_unstable();
    assert_eq!(round, ["answer.read+lease", "ssm.get", "ssm.privacy", "token.read+lease"], "one round");
    assert_eq!(calls[4], "ledger.open+lease");
}

#[tokio::test(start_paused = true)]
async fn the_first_call_of_an_hour_costs_one_round_more_than_the_next_in_it() {
    let world = World::new();
    world.instance("earlier").current().await.unwrap();
    world.h.clock.advance(Duration::from_secs(3600));
    world.h.spotify.script_refresh(vec![grant("access-2", None)]);
    let (_, first, calls) = world.measure(&world.instance("cold")).await;
    assert!(calls.contains(&"ledger.open+lease"), "{calls:?}");
    world.later();
    let (_, next, calls) = world.measure(&world.instance("cold")).await;
    assert!(!calls.iter().any(|c| c.starts_with("ledger.")), "{calls:?}");
    assert_eq!(first, next + 1);
}

#[tokio::test(start_paused = true)]
async fn the_idle_visitor_with_art_another_instance_fetched() {
    let world = World::new();
    world.instance("earlier").current().await.unwrap();
    world.h.snapshots.state.lock().unwrap().snapshot = None;
    world.h.snapshots.state.lock().unwrap().last_seen = None;
    world.h.store.token.lock().unwrap().take();
    world.h.spotify.script_refresh(vec![grant("access-2", None)]);
    let (spotify, aws, calls) = world.measure(&world.instance("cold")).await;
    assert_eq!((spotify, aws), (2, 3), "the shared art's palette, without the CDN: {calls:?}");
}

#[tokio::test(start_paused = true)]
async fn the_idle_visitor_with_an_expired_token() {
    let world = World::new();
    world.instance("earlier").current().await.unwrap();
    world.h.clock.advance(Duration::from_secs(2 * 3600));
    world.h.spotify.script_refresh(vec![grant("access-2", None)]);
    let (spotify, aws, calls) = world.measure(&world.instance("cold")).await;
    // The floor: one round of reads, the refresh, the player, one round of writes; two
    // hours on, this is the hour's first call, which opens it.
    assert_eq!((spotify, aws), (2, 3), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn the_idle_visitor_with_a_token_kept_fresh() {
    let world = World::new();
    world.instance("earlier").current().await.unwrap();
    world.later();
    let (spotify, aws, calls) = world.measure(&world.instance("cold")).await;
    assert_eq!((spotify, aws), (1, 2), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cold_start_with_a_fresh_shared_answer_is_one_read() {
    let world = World::new();
    world.instance("earlier").current().await.unwrap();
    let (spotify, aws, calls) = world.measure(&world.instance("cold")).await;
    assert_eq!((spotify, aws), (0, 1), "{calls:?}");
    assert!(calls.contains(&"ssm.privacy"), "the rules are read in the same round: {calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_warm_request_within_the_window_makes_no_call() {
    let world = World::new();
    let warm = world.instance("warm");
    warm.current().await.unwrap();
    let (spotify, aws, calls) = world.measure(&warm).await;
    assert_eq!((spotify, aws), (0, 0), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_warm_instance_after_the_window_with_its_token_in_memory() {
    let world = World::new();
    let warm = world.instance("warm");
    warm.current().await.unwrap();
    world.later();
    let (spotify, aws, calls) = world.measure(&warm).await;
    assert_eq!((spotify, aws), (1, 2), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn the_idle_visitor_with_a_token_under_a_minute_from_expiry() {
    let world = World::new();
    world.instance("earlier").current().await.unwrap();
    // The token has 30 s left: too little to use, so it is refreshed as an expired one is.
    world.h.clock.advance(Duration::from_secs(3600 - 30));
    world.h.spotify.script_refresh(vec![grant("access-2", None)]);
    let (spotify, aws, calls) = world.measure(&world.instance("cold")).await;
    assert_eq!((spotify, aws), (2, 2), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_keep_fresh_run_that_refreshes_is_one_read_the_refresh_and_the_save() {
    let world = World::new();
    let schedule = world.instance("schedule");
    world.log.0.lock().unwrap().clear();
    let started = tokio::time::Instant::now();
    assert!(schedule.keep_fresh(KEEP_FRESH_AHEAD).await.unwrap());
    let ms = started.elapsed().as_millis();
    let calls: Vec<_> = world.log.0.lock().unwrap().iter().copied().filter(|c| !c.starts_with("ssm.")).collect();
    assert_eq!((ms / 100, ms % 100), (1, 3), "{calls:?}");
    assert_eq!(
        calls,
        ["token.read+lease", "spotify.refresh", "token.save", "ledger.refreshes"],
        "the save ends the lease; the refresh is counted apart from the Web API's calls"
    );
}
