//! Spotify's quota spent as a budget, with the clock moved: the steady checks' pace, the
//! call at a track's end, the budget shared by instances racing for its last call, a
//! `QUOTA_EXCEEDED` refusal waited out, the visitors' and the recent list's shares, and a
//! simulated day and a half under a crowd.

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use now_playing::domain::ports::{Clock, SpotifyError};
use now_playing::domain::quota::{Budget, Schedule, Share};
use now_playing::domain::service::CacheTiming;
use now_playing::domain::suggestions::{Limits, Mode, Settings, SuggestError, SuggestionPorts, SuggestionService};
use now_playing::domain::{NowPlaying, NowPlayingService, StaleReason};
use time::OffsetDateTime;

/// The function's cache window and the default budget: a check every 123 s at a fresh start.
const TIMING: CacheTiming = CacheTiming { window: Duration::from_secs(5), ..FAST_CACHE };

fn instance(h: &Harness, session: &Arc<Session>, id: &str, budget: Budget) -> NowPlayingService {
    session_instance(h, session, id, TIMING).with_budget(budget)
}

fn at(seconds: u64) -> OffsetDateTime {
    NOW + Duration::from_secs(seconds)
}

fn playing(track: usize, duration_ms: u64) -> Segment {
    Segment::Playing { track, duration_ms, from_ms: 0 }
}

/// What a visitor's page would show: the track and whether it plays.
fn shown(doc: &NowPlaying) -> Option<(String, bool)> {
    match doc.status {
        now_playing::domain::Status::Playing | now_playing::domain::Status::Paused => {
            doc.item.as_ref().and_then(|i| i.id.clone()).map(|id| (id, doc.is_playing))
        }
        _ => None,
    }
}

/// Asks `service` every `step` from the clock's now until `until`; the first time the
/// answer shows `want`, or `None`.
async fn first_showing(
    h: &Harness,
    service: &NowPlayingService,
    step: Duration,
    until: OffsetDateTime,
    want: &Option<(String, bool)>,
) -> Option<OffsetDateTime> {
    while h.clock.now() <= until {
        if &shown(&service.current().await.expect("an answer")) == want {
            return Some(h.clock.now());
        }
        h.clock.advance(step);
    }
    None
}

#[tokio::test]
async fn a_page_watched_every_second_is_checked_at_the_budgets_pace_not_at_the_requests() {
    let h = Harness::new();
    let session = Session::new(
        h.clock.clone(),
        vec![(NOW, Change::Pause, Segment::Paused { track: 1, duration_ms: 200_000, at_ms: 1000 })],
    );
    let service = instance(&h, &session, "a", Budget::default());
    for _ in 0..1800 {
        service.current().await.unwrap();
        h.clock.advance(Duration::from_secs(1));
    }
    // 700 calls a day for the answer: one every 123 s, a little more apart as they are spent.
    let calls = session.call_times();
    assert!((14..=15).contains(&calls.len()), "{} calls in 30 minutes", calls.len());
    for pair in calls.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= time::Duration::seconds(123) && gap <= time::Duration::seconds(127), "{gap}");
    }
}

#[tokio::test]
async fn a_natural_track_end_is_in_the_answer_within_two_seconds_of_it() {
    let h = Harness::new();
    let session = Session::new(
        h.clock.clone(),
        vec![(NOW, Change::Start, playing(1, 45_000)), (at(45), Change::TrackEnd, playing(2, 45_000))],
    );
    let service = instance(&h, &session, "a", Budget::default());
    let seen = first_showing(&h, &service, Duration::from_millis(100), at(60), &Some((track_id(2), true))).await;
    let delay = seen.expect("the next track was shown") - at(45);
    assert!(delay <= time::Duration::seconds(2), "{delay}");
    assert_eq!(session.call_times(), [NOW, at(46)], "one call at the start, one a second after the end");
}

#[tokio::test]
async fn a_skip_a_pause_and_a_resume_show_within_one_steady_interval_and_two_seconds() {
    let h = Harness::new();
    let steady = Schedule::new(Budget::default(), TIMING.window).steady(0);
    let session = Session::new(
        h.clock.clone(),
        vec![
            (NOW, Change::Start, playing(1, 600_000)),
            (at(200), Change::Skip, playing(2, 600_000)),
            (at(400), Change::Pause, Segment::Paused { track: 2, duration_ms: 600_000, at_ms: 200_000 }),
            (at(700), Change::Resume, Segment::Playing { track: 2, duration_ms: 600_000, from_ms: 200_000 }),
        ],
    );
    let service = instance(&h, &session, "a", Budget::default());
    let bound = time::Duration::try_from(steady + Duration::from_secs(2)).unwrap();
    for (change_at, want) in [(200, (track_id(2), true)), (400, (track_id(2), false)), (700, (track_id(2), true))] {
        let seen = first_showing(&h, &service, Duration::from_secs(1), at(change_at + 300), &Some(want)).await;
        let delay = seen.expect("the change was shown") - at(change_at);
        assert!(delay <= bound, "the change at {change_at} s showed after {delay}");
    }
}

#[tokio::test]
async fn two_instances_racing_for_the_last_call_of_the_share_make_one_call() {
    let h = Harness::new();
    let session = Session::new(h.clock.clone(), vec![(NOW, Change::Start, playing(1, 200_000))]);
    h.snapshots.open_every_share(NOW, 1);
    let (a, b) = (instance(&h, &session, "a", Budget::default()), instance(&h, &session, "b", Budget::default()));
    let (first, second) = tokio::join!(a.current(), b.current());
    assert_eq!(session.call_times().len(), 1, "{first:?} {second:?}");
    h.clock.advance(Duration::from_secs(1800));
    for service in [&a, &b] {
        let doc = service.current().await.unwrap();
        assert!(doc.stale, "the share is spent for the hour");
        assert_eq!(doc.stale_reason, Some(StaleReason::BudgetSpent));
    }
    assert_eq!(session.call_times().len(), 1);
    h.clock.advance(Duration::from_secs(1800));
    assert!(!a.current().await.unwrap().stale, "the next hour has room");
    assert_eq!(session.call_times().len(), 2);
}

#[tokio::test]
async fn after_quota_exceeded_no_instance_calls_until_its_retry_after_and_every_answer_is_stale() {
    let h = Harness::new();
    let session = Session::new(h.clock.clone(), vec![(NOW, Change::Start, playing(1, 200_000))]);
    let a = instance(&h, &session, "a", Budget::default());
    let b = instance(&h, &session, "b", Budget::default());
    a.current().await.unwrap();
    h.clock.advance(Duration::from_secs(600));
    *session.refusing.lock().unwrap() = Some(SpotifyError::QuotaExceeded { retry_after: Duration::from_secs(50_316) });
    let refused_at = h.clock.now();
    let doc = a.current().await.unwrap();
    assert_eq!((doc.stale, doc.stale_reason), (true, Some(StaleReason::QuotaExceeded)));
    assert_eq!(session.call_times().len(), 2);
    assert_eq!(a.answer_max_age(), Duration::from_secs(60), "nothing changes before the refusal ends");
    let health = serde_json::to_value(b.health().await).unwrap();
    let until = refused_at + Duration::from_secs(50_316);
    let text = until.format(&time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(health["spotify"]["quota_exceeded_until"], text.as_str());
    // Fourteen hours of visitors on both instances, and not one call.
    while h.clock.now() < until {
        for service in [&a, &b] {
            let doc = service.current().await.unwrap();
            assert_eq!((doc.stale, doc.stale_reason), (true, Some(StaleReason::QuotaExceeded)));
            let recent = service.recent().await;
            assert!(recent.is_err() || recent.unwrap().stale);
        }
        h.clock.advance(Duration::from_secs(300));
    }
    assert_eq!(session.call_times().len(), 2, "nothing asked before Retry-After");
    *session.refusing.lock().unwrap() = None;
    h.clock.advance(Duration::from_secs(1));
    assert!(!a.current().await.unwrap().stale);
    assert_eq!(session.call_times().len(), 3);
}

#[tokio::test]
async fn a_quota_refusal_is_honoured_for_at_most_a_day() {
    let h = Harness::new();
    let session = Session::new(h.clock.clone(), vec![(NOW, Change::Start, playing(1, 200_000))]);
    *session.refusing.lock().unwrap() = Some(SpotifyError::QuotaExceeded { retry_after: Duration::from_secs(900_000) });
    let a = instance(&h, &session, "a", Budget::default());
    assert!(a.current().await.is_err(), "no earlier answer to fall back on");
    assert_eq!(h.snapshots.state.lock().unwrap().quota_until, Some(NOW + Duration::from_secs(86_400)));
}

#[tokio::test]
async fn searches_spend_the_visitors_share_and_never_the_answers() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    let session = Session::new(h.clock.clone(), vec![(NOW, Change::Start, playing(1, 200_000))]);
    let budget = Budget { calls_per_day: 100, visitor_percent: 20, recent_percent: 10 };
    let catalog = Arc::new(FakeCatalog::default());
    let table = Arc::new(MemoryTable::default());
    let limits = Limits { lookups_per_window: 1000, searches_per_visitor_per_minute: 1000, ..Limits::default() };
    let suggestions = SuggestionService::new(
        SuggestionPorts {
            catalog: catalog.clone(),
            playlists: Arc::new(FakePlaylists::default()),
            store: table.clone(),
            counters: table.clone(),
            cache: table,
            shared: h.snapshots.clone(),
            tokens: Arc::new(h.tokens("s")),
            clock: h.clock.clone(),
        },
        Settings { mode: Mode::Review, proof_of_work: false, limits },
    )
    .with_budget(budget);
    let visitor = suggestions.visitor("203.0.113.9").await.unwrap();
    let mut refused = None;
    for n in 0..30 {
        match suggestions.search(&visitor, &format!("song {n}")).await {
            Ok(_) => {}
            Err(e) => {
                refused = Some((n, e));
                break;
            }
        }
    }
    let (n, e) = refused.expect("the share runs out");
    assert_eq!(n, 20, "a fifth of 100 calls");
    assert!(matches!(e, SuggestError::RateLimited { .. }), "{e:?}");
    let service = instance(&h, &session, "a", budget);
    let doc = service.current().await.unwrap();
    assert!(!doc.stale, "the answer keeps its own share");
    let spent = h.snapshots.state.lock().unwrap().calls.spent(Share::Visitors, h.clock.now());
    assert_eq!(spent, 20);
}

#[tokio::test]
async fn the_recent_list_has_a_share_of_its_own_and_says_when_it_is_spent() {
    let h = Harness::new();
    let session = Session::new(h.clock.clone(), vec![(NOW, Change::Start, playing(1, 200_000))]);
    h.snapshots.open_every_share(NOW, 1);
    let service = instance(&h, &session, "a", Budget::default());
    assert!(!service.recent().await.unwrap().stale);
    h.clock.advance(Duration::from_secs(1200));
    let list = service.recent().await.unwrap();
    assert_eq!((list.stale, list.stale_reason), (true, Some(StaleReason::BudgetSpent)));
    assert!(!service.current().await.unwrap().stale, "the answer's share is untouched");
}

/// Every Web API call at `times`, counted in every 24 hours that ends at one of them.
fn busiest_day(times: &[OffsetDateTime]) -> usize {
    let mut busiest = 0;
    for (i, end) in times.iter().enumerate() {
        let start = *end - time::Duration::hours(24);
        busiest = busiest.max(times[..=i].iter().filter(|t| **t > start).count());
    }
    busiest
}

#[tokio::test]
async fn a_crowd_on_two_instances_for_a_day_and_a_half_stays_within_the_budget_in_any_24_hours() {
    let h = Harness::new();
    let midnight = NOW - Duration::from_secs(20 * 3600);
    *h.clock.0.lock().unwrap() = midnight;
    let mut segments = listening_day(midnight, 7);
    segments.extend(listening_day(midnight + Duration::from_secs(86_400), 8));
    let session = Session::new(h.clock.clone(), segments);
    // A small budget, so that a day of listening would spend it three times over unpaced.
    let budget = Budget { calls_per_day: 300, visitor_percent: 20, recent_percent: 10 };
    let (a, b) = (instance(&h, &session, "a", budget), instance(&h, &session, "b", budget));
    let end = midnight + Duration::from_secs(36 * 3600);
    let mut tick = 0u64;
    while h.clock.now() < end {
        let (x, y) = tokio::join!(a.current(), b.current());
        let _ = (x, y);
        if tick.is_multiple_of(30) {
            let _ = a.recent().await;
        }
        tick += 1;
        h.clock.advance(Duration::from_secs(2));
    }
    let calls = session.call_times();
    let shares = (budget.limit(Share::Current) + budget.limit(Share::Recent)) as usize;
    assert!(busiest_day(&calls) <= shares, "the answer's and the list's shares: {}", busiest_day(&calls));
    assert!(calls.len() > 200, "the budget is used, not left idle: {}", calls.len());
}

#[tokio::test]
async fn the_answers_max_age_says_when_it_is_due_within_the_window_and_a_minute() {
    let h = Harness::new();
    let session = Session::new(
        h.clock.clone(),
        vec![
            (NOW, Change::Start, playing(1, 45_000)),
            (at(45), Change::Pause, Segment::Paused { track: 2, duration_ms: 45_000, at_ms: 0 }),
        ],
    );
    let art = Arc::new(now_playing::domain::ArtLibrary::new(
        Arc::new(FakeArtwork::default()),
        Arc::new(MemoryArtCache::default()),
    ));
    let app = now_playing::http::App::new(
        instance(&h, &session, "a", Budget::default()),
        art,
        app_settings(now_playing::config::AllowedOrigins::Any),
    );
    let max_age = |r: &lambda_http::Response<lambda_http::Body>| {
        let cache = r.headers()[lambda_http::http::header::CACHE_CONTROL].to_str().unwrap().to_owned();
        cache.split(", ").find_map(|d| d.strip_prefix("max-age=")).unwrap().parse::<u64>().unwrap()
    };
    let r = app.handle(rest_get("/v1/current", &[])).await;
    assert_eq!(max_age(&r), 46, "until a second after the track's end");
    h.clock.advance(Duration::from_secs(42));
    assert_eq!(max_age(&app.handle(rest_get("/v1/current", &[])).await), 5, "never below the window");
    assert_eq!(max_age(&app.handle(rest_get("/v1/current.svg", &[])).await), 5, "the card is due with it");
    h.clock.advance(Duration::from_secs(10));
    let r = app.handle(rest_get("/v1/current", &[])).await;
    assert_eq!(max_age(&r), 60, "paused: the steady check is 123 s away, a cache asks within a minute");
}
