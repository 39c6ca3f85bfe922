//! The shared answer cache over fakes: one Spotify call per window across instances, the
//! shared backoff, the deadline, and answering through a store outage.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;
use now_playing::domain::ports::SpotifyError;
use now_playing::domain::{NowPlaying, Playback, ServiceError, Status};

#[tokio::test]
async fn within_the_window_another_instance_serves_the_shared_snapshot_without_calling_spotify() {
    let h = playing_harness();
    let first = h.instance("a").current().await.unwrap();
    h.clock.advance(Duration::from_secs(4));
    let second = h.instance("b").current().await.unwrap();
    assert_eq!(second, first);
    assert_eq!(h.spotify.calls(), (1, 1, 0));
}

#[tokio::test]
async fn after_the_window_one_instance_refreshes_while_another_serves_the_previous_answer() {
    let h = playing_harness();
    let first = h.instance("a").current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    // Instance "a" is refreshing right now.
    *h.snapshots.lease.lock().unwrap() = Some(("a".into(), NOW + Duration::from_secs(60)));
    let answer = h.instance("b").current().await.unwrap();
    assert_eq!(answer, first, "the previous answer, as it was");
    assert!(!answer.stale, "a refresh in progress is not a failure");
    assert_eq!(h.spotify.calls().1, 1, "b did not call Spotify");
}

#[tokio::test]
async fn a_cold_instance_waits_for_the_refresh_in_progress() {
    let h = playing_harness();
    *h.snapshots.lease.lock().unwrap() = Some(("elsewhere#0".into(), NOW + Duration::from_secs(60)));
    let published = NowPlaying::from_spotify(playback("currently_playing_paused.json"), None, None, NOW);
    let snapshots = h.snapshots.clone();
    let doc = published.clone();
    let other_instance = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        snapshots.state.lock().unwrap().snapshot = Some(doc);
    });
    let answer = h.instance("cold").current().await.unwrap();
    other_instance.await.unwrap();
    assert_eq!(answer, published);
    assert_eq!(h.spotify.calls(), (0, 0, 0), "the cold instance did not call Spotify");
}

#[tokio::test]
async fn a_cold_instance_waiting_stops_as_soon_as_the_refresh_in_progress_is_rate_limited() {
    let h = Harness::new();
    *h.snapshots.lease.lock().unwrap() = Some(("elsewhere#0".into(), NOW + Duration::from_secs(60)));
    let snapshots = h.snapshots.clone();
    let other_instance = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        snapshots.state.lock().unwrap().backoff_until = Some(NOW + Duration::from_secs(600));
    });
    let started = std::time::Instant::now();
    let answer = h.instance("cold").current().await;
    other_instance.await.unwrap();
    let Err(ServiceError::UpstreamUnavailable { retry_after: Some(wait), .. }) = answer else {
        panic!("expected the shared backoff, got {answer:?}")
    };
    assert_eq!(wait, Duration::from_secs(600));
    assert_eq!(h.spotify.calls(), (0, 0, 0), "no call while Spotify is rate limiting");
    assert!(started.elapsed() < FAST_CACHE.wait, "it stopped waiting at once");
}

#[tokio::test]
async fn many_concurrent_instances_on_a_cold_cache_call_spotify_once() {
    let h = playing_harness();
    let instances: Vec<_> = (0..16).map(|i| Arc::new(h.instance(&format!("i{i}")))).collect();
    let tasks: Vec<_> = instances
        .iter()
        .flat_map(|s| (0..4).map(move |_| s.clone()))
        .map(|s| tokio::spawn(async move { s.current().await }))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status, Status::Playing);
    }
    assert_eq!(h.spotify.calls(), (1, 1, 0));
}

#[tokio::test]
async fn a_429_is_shared_so_no_instance_calls_spotify_until_retry_after_passes() {
    let h = playing_harness();
    h.spotify.script_playing(vec![
        Ok(playback("currently_playing_track.json")),
        Err(SpotifyError::RateLimited { retry_after: Duration::from_secs(19056) }),
        Ok(playback("currently_playing_paused.json")),
    ]);
    h.instance("a").current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    assert!(h.instance("a").current().await.unwrap().stale);
    for hour in 1..=5 {
        h.clock.advance(Duration::from_secs(3600));
        let answer = h.instance(&format!("new-{hour}")).current().await.unwrap();
        assert!(answer.stale, "hour {hour}: the last good answer, marked stale");
    }
    assert_eq!(h.spotify.calls().1, 2, "no call while the backoff lasts");
    h.clock.advance(Duration::from_secs(19056 - 5 * 3600));
    *h.store.token.lock().unwrap() = None;
    h.spotify.script_refresh(vec![grant("access-2", None)]);
    let after = h.instance("after").current().await.unwrap();
    assert_eq!((after.status, after.stale), (Status::Paused, false));
}

#[tokio::test]
async fn a_429_with_nothing_to_serve_is_upstream_unavailable_with_retry_after() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::RateLimited { retry_after: Duration::from_secs(600) })]);
    h.instance("a").current().await.unwrap_err();
    let err = h.instance("b").current().await.unwrap_err();
    assert!(
        matches!(err, ServiceError::UpstreamUnavailable { retry_after: Some(d), .. } if d == Duration::from_secs(600))
    );
    assert_eq!(h.spotify.calls().1, 1);
}

#[tokio::test]
async fn a_slow_spotify_is_cut_at_the_deadline_and_the_last_answer_served() {
    let h = playing_harness();
    let service = h.instance("a");
    let good = service.current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    *h.spotify.delay.lock().unwrap() = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let answer = service.current().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(answer.stale);
    assert_eq!(answer.item, good.item);
}

#[tokio::test]
async fn a_slow_spotify_with_nothing_to_serve_is_a_timeout() {
    let h = playing_harness();
    *h.spotify.delay.lock().unwrap() = Duration::from_secs(30);
    let err = h.instance("a").current().await.unwrap_err();
    assert!(matches!(err, ServiceError::UpstreamUnavailable { cause: SpotifyError::Timeout, .. }), "{err:?}");
}

#[tokio::test]
async fn a_snapshot_store_outage_still_answers_from_spotify_and_then_from_memory() {
    let h = playing_harness();
    h.snapshots.failing.store(true, Ordering::SeqCst);
    h.store.failing.store(true, Ordering::SeqCst);
    let service = h.instance("a");
    assert_eq!(service.current().await.unwrap().status, Status::Playing);
    assert_eq!(service.current().await.unwrap().status, Status::Playing);
    assert_eq!(h.spotify.calls().1, 1, "the second answer came from memory");
}

#[tokio::test]
async fn the_store_failing_mid_run_keeps_the_answers_coming() {
    let h = playing_harness();
    let service = h.instance("a");
    service.current().await.unwrap();
    h.snapshots.failing.store(true, Ordering::SeqCst);
    h.store.failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        h.clock.advance(WINDOW * 2);
        let answer = service.current().await.unwrap();
        assert_eq!((answer.status, answer.stale), (Status::Playing, false));
    }
}

#[tokio::test]
async fn last_played_is_what_was_last_seen_playing_when_the_history_lags() {
    let h = playing_harness();
    h.spotify.script_playing(vec![Ok(playback("currently_playing_episode.json")), Ok(Playback::Nothing)]);
    // Spotify's history still shows an older track.
    h.spotify.script_recent(vec![Ok(Some(last_played()))]);
    h.clock.advance(Duration::from_secs(3 * 3600));
    h.instance("a").current().await.unwrap();
    h.clock.advance(Duration::from_secs(600));
    // A different instance: what was seen playing came through the shared store.
    let doc = h.instance("b").current().await.unwrap();
    assert_eq!(doc.status, Status::LastPlayed);
    assert_eq!(doc.item.unwrap().name, "Rust in production");
    assert_eq!(doc.played_at, Some(NOW + Duration::from_secs(3 * 3600)));
}

#[tokio::test]
async fn an_instance_takes_a_newer_last_seen_from_the_store_over_its_own_older_one() {
    let h = playing_harness();
    h.spotify.script_playing(vec![
        Ok(playback("currently_playing_episode.json")),
        Ok(playback("currently_playing_track.json")),
        Ok(Playback::Nothing),
    ]);
    h.spotify.script_recent(vec![Ok(Some(last_played()))]);
    h.clock.advance(Duration::from_secs(3 * 3600));
    let a = h.instance("a");
    a.current().await.unwrap();
    h.clock.advance(Duration::from_secs(600));
    // Another instance sees a later play and shares it.
    h.instance("b").current().await.unwrap();
    h.clock.advance(Duration::from_secs(600));
    // "a" still remembers the episode; the store's later track wins.
    let doc = a.current().await.unwrap();
    assert_eq!(doc.status, Status::LastPlayed);
    assert_eq!(doc.item.unwrap().name, "Never Gonna Give You Up");
    assert_eq!(doc.played_at, Some(NOW + Duration::from_secs(3 * 3600 + 600)));
}

#[tokio::test]
async fn a_refresh_that_fails_gives_the_lease_back() {
    let h = playing_harness();
    h.spotify.script_playing(vec![Err(SpotifyError::Upstream(503)), Ok(playback("currently_playing_track.json"))]);
    h.instance("a").current().await.unwrap_err();
    assert!(h.snapshots.lease.lock().unwrap().is_none());
    assert_eq!(h.instance("b").current().await.unwrap().status, Status::Playing);
}

#[tokio::test]
async fn an_answer_that_lands_while_taking_the_lease_is_served_instead_of_calling_spotify() {
    let h = playing_harness();
    h.instance("a").current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    // Another instance saves a fresh answer and lets go between b's read and b's lease.
    let landed = NowPlaying::from_spotify(
        playback("currently_playing_paused.json"),
        None,
        None,
        h.clock.0.lock().unwrap().to_owned(),
    );
    *h.snapshots.landing.lock().unwrap() = Some(landed.clone());
    let answer = h.instance("b").current().await.unwrap();
    assert_eq!(answer, landed);
    assert_eq!(h.spotify.calls().1, 1, "b did not call Spotify");
    assert!(h.snapshots.lease.lock().unwrap().is_none(), "b gave the lease back");
}
