//! The domain over hand-written fakes: statuses, the token lifecycle and the fallbacks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;
use now_playing::domain::ports::{Clock, CredentialsError, SpotifyError, TokenStore};
use now_playing::domain::token::KEEP_FRESH_AHEAD;
use now_playing::domain::{ItemKind, Playback, ServiceError, Status};
use secrecy::ExposeSecret;

#[tokio::test]
async fn a_playing_track_is_answered_with_its_progress() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let doc = h.instance("a").current().await.unwrap();
    assert_eq!(doc.status, Status::Playing);
    assert!(doc.is_playing);
    assert_eq!(doc.progress_ms, Some(81234));
    assert!(!doc.stale);
    let item = doc.item.unwrap();
    assert_eq!(item.name, "Never Gonna Give You Up");
    assert_eq!(item.images.iter().map(|i| i.width).collect::<Vec<_>>(), [Some(640), Some(300), Some(64)]);
    assert_eq!(h.spotify.calls(), (1, 1, 0), "nothing playing was not asked");
}

#[tokio::test]
async fn serves_last_played_when_nothing_is_playing() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(Playback::Nothing)]);
    h.spotify.script_recent(vec![Ok(Some(last_played()))]);
    let doc = h.instance("a").current().await.unwrap();
    assert_eq!(doc.status, Status::LastPlayed);
    assert_eq!(doc.progress_ms, None);
    assert!(doc.played_at.is_some());
}

#[tokio::test]
async fn an_ad_counts_as_nothing_playing() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_ad.json"))]);
    h.spotify.script_recent(vec![Ok(None)]);
    let doc = h.instance("a").current().await.unwrap();
    assert_eq!(doc.status, Status::Offline);
    assert_eq!(doc.item, None);
}

#[tokio::test]
async fn an_episode_puts_the_show_in_artists_and_album() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_episode.json"))]);
    let item = h.instance("a").current().await.unwrap().item.unwrap();
    assert_eq!(item.kind, ItemKind::Episode);
    assert_eq!(item.artists.len(), 1);
    assert_eq!(item.artists[0].name, "The Changelog");
    assert_eq!(item.album, item.artists[0]);
}

#[tokio::test]
async fn the_token_is_refreshed_once_and_then_reused_from_memory() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let service = h.instance("a");
    for _ in 0..3 {
        service.current().await.unwrap();
        h.clock.advance(WINDOW * 2);
    }
    assert_eq!(h.spotify.calls(), (1, 3, 0));
    assert_eq!(h.store.stored_value().as_deref(), Some("access-1"), "shared with other instances");
}

#[tokio::test]
async fn a_token_with_under_60_seconds_left_is_refreshed() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None), grant("access-2", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let service = h.instance("a");
    service.current().await.unwrap();
    h.clock.advance(Duration::from_secs(3600 - 59));
    service.current().await.unwrap();
    assert_eq!(h.spotify.calls().0, 2);
    assert_eq!(h.spotify.played_with.lock().unwrap().last().unwrap(), "access-2");
}

#[tokio::test]
async fn a_second_instance_uses_the_shared_token_instead_of_refreshing() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    h.instance("a").current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    h.instance("b").current().await.unwrap();
    assert_eq!(h.spotify.calls(), (1, 2, 0), "b called Spotify with a's token");
}

#[tokio::test]
async fn an_instance_that_loses_the_lease_waits_for_the_winner_token() {
    let h = Harness::new();
    *h.store.lease.lock().unwrap() = Some(("winner".into(), NOW + Duration::from_secs(10)));
    h.spotify.script_refresh(vec![grant("should-not-be-used", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let store = h.store.clone();
    let winner = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        *store.token.lock().unwrap() = Some(token("from-winner", NOW + Duration::from_secs(3600)));
    });
    h.instance("loser").current().await.unwrap();
    winner.await.unwrap();
    assert_eq!(h.spotify.calls().0, 0, "the loser must not refresh");
    assert_eq!(h.spotify.played_with.lock().unwrap().as_slice(), ["from-winner"]);
}

#[tokio::test]
async fn concurrent_instances_refresh_once_between_them() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let instances: Vec<_> = (0..8).map(|i| Arc::new(h.instance(&format!("i{i}")))).collect();
    let tasks: Vec<_> = instances.iter().cloned().map(|s| tokio::spawn(async move { s.current().await })).collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(h.spotify.calls().0, 1);
}

/// The token lease alone, with the answer lease out of the way: instances that read the
/// stored token and take the lease one round trip apart still refresh once between them.
#[tokio::test]
async fn instances_racing_for_the_token_lease_refresh_once_between_them() {
    let h = Harness::new();
    *h.store.round_trip.lock().unwrap() = Duration::from_millis(5);
    *h.spotify.refresh_delay.lock().unwrap() = Duration::from_millis(20);
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    let managers: Vec<_> = (0..8).map(|i| Arc::new(h.tokens(&format!("i{i}")))).collect();
    let tasks: Vec<_> = managers.iter().cloned().map(|t| tokio::spawn(async move { t.token().await })).collect();
    for task in tasks {
        let token = task.await.unwrap().expect("every instance gets a token");
        assert_eq!(token.value.expose_secret(), "access-1");
    }
    assert_eq!(h.spotify.calls().0, 1, "one refresh for all eight");
}

#[tokio::test]
async fn when_the_lease_holder_never_delivers_the_waiter_refreshes_itself() {
    let h = Harness::new();
    *h.store.lease.lock().unwrap() = Some(("dead".into(), NOW + Duration::from_secs(10)));
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    h.instance("a").current().await.unwrap();
    assert_eq!(h.spotify.calls().0, 1);
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once() {
    let h = Harness::new();
    *h.store.token.lock().unwrap() = Some(token("revoked-early", NOW + Duration::from_secs(3000)));
    h.spotify.script_refresh(vec![grant("access-2", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::Unauthorized), Ok(playback("currently_playing_track.json"))]);
    let doc = h.instance("a").current().await.unwrap();
    assert_eq!(doc.status, Status::Playing);
    assert_eq!(h.spotify.calls(), (1, 2, 0));
    assert_eq!(h.spotify.played_with.lock().unwrap().as_slice(), ["revoked-early", "access-2"]);
}

#[tokio::test]
async fn a_second_401_asks_for_reauthorization_instead_of_looping() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None), grant("access-2", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::Unauthorized)]);
    let err = h.instance("a").current().await.unwrap_err();
    assert!(matches!(err, ServiceError::ReauthorizationRequired(_)), "{err:?}");
    assert_eq!(h.spotify.calls(), (2, 2, 0));
}

#[tokio::test]
async fn a_rotated_refresh_token_is_persisted_and_used_from_then_on() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", Some("rotated-refresh")), grant("access-2", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let service = h.instance("a");
    service.current().await.unwrap();
    assert_eq!(h.credentials.refresh_token(), "rotated-refresh");
    let stored = h.credentials.stored.lock().unwrap().clone().unwrap();
    assert_eq!(stored.client_id, "client-id", "other fields kept");
    assert_eq!(stored.authorized_at, credentials().authorized_at, "rotation does not restart the 6-month clock");
    h.clock.advance(Duration::from_secs(3600));
    service.current().await.unwrap();
    assert_eq!(h.spotify.refreshed_with.lock().unwrap().as_slice(), [REFRESH_TOKEN, "rotated-refresh"]);
}

#[tokio::test]
async fn the_same_refresh_token_coming_back_is_not_written_again() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", Some(REFRESH_TOKEN))]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    h.instance("a").current().await.unwrap();
    assert_eq!(h.credentials.saves.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn invalid_grant_is_not_retried_and_asks_for_bootstrap() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![Err(SpotifyError::InvalidGrant)]);
    let service = h.instance("a");
    let err = service.current().await.unwrap_err();
    assert!(matches!(err, ServiceError::ReauthorizationRequired(_)), "{err:?}");
    assert_eq!(h.spotify.calls().0, 1, "one refresh attempt, no retry with the same token");
}

#[tokio::test]
async fn invalid_grant_after_another_instance_rotated_retries_with_the_new_token() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![Err(SpotifyError::InvalidGrant), grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let service = h.instance("a");
    // This instance read the parameter, then another one rotated the token.
    service.health().await;
    let mut rotated = credentials();
    rotated.refresh_token = "rotated-elsewhere".to_owned().into();
    *h.credentials.stored.lock().unwrap() = Ok(rotated);
    service.current().await.unwrap();
    assert_eq!(h.spotify.refreshed_with.lock().unwrap().as_slice(), [REFRESH_TOKEN, "rotated-elsewhere"]);
}

#[tokio::test]
async fn spotify_failing_serves_the_last_good_answer_marked_stale() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json")), Err(SpotifyError::Upstream(503))]);
    let service = h.instance("a");
    let good = service.current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    let stale = service.current().await.unwrap();
    assert!(stale.stale);
    assert_eq!(stale.item, good.item);
    assert_eq!(stale.fetched_at, good.fetched_at, "fetched_at stays when the data was read");
}

#[tokio::test]
async fn spotify_failing_with_nothing_to_fall_back_on_is_upstream_unavailable() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::Timeout)]);
    let err = h.instance("a").current().await.unwrap_err();
    assert!(matches!(err, ServiceError::UpstreamUnavailable { cause: SpotifyError::Timeout, .. }), "{err:?}");
}

#[tokio::test]
async fn a_429_stops_calls_to_spotify_until_retry_after_passes() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![
        Ok(playback("currently_playing_track.json")),
        Err(SpotifyError::RateLimited { retry_after: Duration::from_secs(19056) }),
        Ok(playback("currently_playing_paused.json")),
    ]);
    let service = h.instance("a");
    service.current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    assert!(service.current().await.unwrap().stale);
    h.clock.advance(Duration::from_secs(19000));
    assert!(service.current().await.unwrap().stale);
    assert_eq!(h.spotify.calls().1, 2, "no call while backing off");
    h.clock.advance(Duration::from_secs(60));
    *h.store.token.lock().unwrap() = None;
    h.spotify.script_refresh(vec![grant("access-2", None)]);
    let doc = service.current().await.unwrap();
    assert_eq!(doc.status, Status::Paused);
    assert!(!doc.stale);
}

#[tokio::test]
async fn a_token_store_outage_does_not_stop_the_answer() {
    let h = Harness::new();
    h.store.failing.store(true, Ordering::SeqCst);
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let service = h.instance("a");
    service.current().await.unwrap();
    h.clock.advance(WINDOW * 2);
    service.current().await.unwrap();
    assert_eq!(h.spotify.calls(), (1, 2, 0), "the token in memory still serves");
}

#[tokio::test]
async fn a_missing_parameter_is_reported_and_retried_on_the_next_request() {
    let h = Harness::new();
    *h.credentials.stored.lock().unwrap() = Err(CredentialsError::Missing("/now-playing/spotify".into()));
    let service = h.instance("a");
    let err = service.current().await.unwrap_err();
    assert!(matches!(err, ServiceError::Credentials(CredentialsError::Missing(_))), "{err:?}");
    *h.credentials.stored.lock().unwrap() = Ok(credentials());
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    service.current().await.unwrap();
}

#[tokio::test]
async fn health_tells_the_days_left_of_the_six_month_authorization() {
    let h = Harness::new();
    let health = h.instance("a").health().await;
    assert!(health.configured);
    assert!(health.is_ok());
    // Authorized 2026-08-01 12:00, now 2026-11-27 20:00: lapses 2027-02-01 12:00.
    assert_eq!(health.authorization_age_days, Some(118));
    assert_eq!(health.days_remaining, Some(65));
    assert_eq!(h.spotify.calls(), (0, 0, 0), "health never calls Spotify");
}

#[tokio::test]
async fn health_reports_a_lapsed_authorization() {
    let h = Harness::new();
    h.clock.advance(Duration::from_secs(80 * 86400));
    let health = h.instance("a").health().await;
    assert!(!health.is_ok());
    assert!(health.problem.unwrap().contains("make bootstrap"));
}

#[tokio::test]
async fn a_token_that_lands_while_taking_the_lease_is_used_instead_of_refreshing() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("should-not-be-used", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    *h.store.landing.lock().unwrap() = Some(token("landed", NOW + Duration::from_secs(3600)));
    h.instance("a").current().await.unwrap();
    assert_eq!(h.spotify.calls().0, 0, "no refresh");
    assert_eq!(h.spotify.played_with.lock().unwrap().as_slice(), ["landed"]);
    assert!(h.store.lease.lock().unwrap().is_none(), "the lease was given back");
}

#[test]
fn a_token_with_exactly_the_refresh_margin_left_is_refreshed() {
    use now_playing::domain::token::REFRESH_MARGIN;
    assert!(!token("a", NOW + REFRESH_MARGIN).is_fresh_at(NOW));
    assert!(token("a", NOW + REFRESH_MARGIN + Duration::from_secs(1)).is_fresh_at(NOW));
}

#[tokio::test]
async fn after_a_401_another_instance_s_new_token_is_used_without_a_refresh() {
    let h = Harness::new();
    *h.store.token.lock().unwrap() = Some(token("access-a", NOW + Duration::from_secs(3000)));
    // The other instance's token lands inside this instance's first player call; both calls
    // together stay inside the harness's 500 ms Spotify deadline.
    *h.spotify.delay.lock().unwrap() = Duration::from_millis(150);
    h.spotify.script_refresh(vec![grant("access-refreshed", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::Unauthorized), Ok(playback("currently_playing_track.json"))]);
    let store = h.store.clone();
    let other_instance = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        *store.token.lock().unwrap() = Some(token("access-b", NOW + Duration::from_secs(3600)));
    });
    h.instance("a").current().await.unwrap();
    other_instance.await.unwrap();
    assert_eq!(h.spotify.calls().0, 0, "the other instance's token, not a refresh");
    assert_eq!(h.spotify.played_with.lock().unwrap().as_slice(), ["access-a", "access-b"]);
}

// --- The keep-fresh schedule: the token is refreshed before any visitor meets it expired.

#[tokio::test]
async fn keep_fresh_refreshes_a_missing_token_and_shares_it() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    assert!(h.instance("schedule").keep_fresh(KEEP_FRESH_AHEAD).await.unwrap());
    assert_eq!(h.spotify.calls().0, 1);
    // A visitor's instance finds it in the store.
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    h.instance("visitor").current().await.unwrap();
    assert_eq!(h.spotify.calls().0, 1, "the visitor did not refresh");
}

#[tokio::test]
async fn keep_fresh_leaves_a_token_with_time_left_and_refreshes_one_without() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None), grant("access-2", None)]);
    let schedule = h.instance("schedule");
    assert!(schedule.keep_fresh(KEEP_FRESH_AHEAD).await.unwrap());
    // 60-minute tokens: with a second over 15 minutes left it is kept; with 15 it is refreshed.
    h.clock.advance(Duration::from_secs(45 * 60 - 1));
    assert!(!schedule.keep_fresh(KEEP_FRESH_AHEAD).await.unwrap());
    assert_eq!(h.spotify.calls().0, 1);
    h.clock.advance(Duration::from_secs(1));
    assert!(schedule.keep_fresh(KEEP_FRESH_AHEAD).await.unwrap());
    assert_eq!(h.spotify.calls().0, 2);
}

#[tokio::test]
async fn keep_fresh_keeps_a_token_with_time_left_in_this_instances_memory() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    assert!(h.instance("other").keep_fresh(KEEP_FRESH_AHEAD).await.unwrap());
    let tokens = h.tokens("schedule");
    assert!(!tokens.keep_fresh(KEEP_FRESH_AHEAD).await.unwrap(), "an hour left: kept");
    // The store goes away: this instance's next request still has the token.
    h.store.failing.store(true, Ordering::SeqCst);
    assert_eq!(tokens.token().await.unwrap().value.expose_secret(), "access-1");
    assert_eq!(h.spotify.calls().0, 1, "no second refresh");
}

#[tokio::test]
async fn keep_fresh_does_nothing_while_another_instance_refreshes() {
    let h = Harness::new();
    let now = h.clock.now();
    assert!(h.store.try_lease("someone-else", now, now + Duration::from_secs(10)).await.unwrap());
    assert!(!h.instance("schedule").keep_fresh(KEEP_FRESH_AHEAD).await.unwrap());
    assert_eq!(h.spotify.calls().0, 0);
}

#[tokio::test(start_paused = true)]
async fn a_visitor_meeting_a_keep_fresh_run_mid_refresh_waits_for_its_token() {
    let h = Harness::new();
    *h.store.round_trip.lock().unwrap() = Duration::from_millis(5);
    *h.spotify.refresh_delay.lock().unwrap() = Duration::from_millis(50);
    h.spotify.script_refresh(vec![grant("access-1", None), grant("access-2", None)]);
    let schedule = Arc::new(h.instance("schedule"));
    let run = tokio::spawn({
        let schedule = schedule.clone();
        async move { schedule.keep_fresh(KEEP_FRESH_AHEAD).await }
    });
    // The visitor comes while the schedule's refresh is under way, under its lease.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let token = h.tokens("visitor").token().await.unwrap();
    assert!(run.await.unwrap().unwrap());
    assert_eq!(token.value.expose_secret(), "access-1");
    assert_eq!(h.spotify.calls().0, 1, "the lease held for the length of the refresh");
}

#[tokio::test]
async fn keep_fresh_reports_a_refused_refresh_token() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![Err(SpotifyError::InvalidGrant)]);
    let e = h.instance("schedule").keep_fresh(KEEP_FRESH_AHEAD).await.unwrap_err();
    assert!(matches!(e, ServiceError::ReauthorizationRequired(_)), "{e:?}");
}

#[tokio::test]
async fn with_the_schedule_every_10_minutes_no_visitor_ever_refreshes_the_token() {
    let h = Harness::new();
    h.spotify.script_refresh((1..=40).map(|n| grant(&format!("access-{n}"), None)).collect());
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    let schedule = h.instance("schedule");
    let mut refreshes_by_visitors = 0;
    // Six hours; a cold visitor arrives at minute 7 of every 10, just before the next run.
    for run in 0..36 {
        schedule.keep_fresh(KEEP_FRESH_AHEAD).await.unwrap();
        h.clock.advance(Duration::from_secs(7 * 60));
        let before = h.spotify.calls().0;
        h.instance(&format!("visitor-{run}")).current().await.unwrap();
        refreshes_by_visitors += h.spotify.calls().0 - before;
        h.clock.advance(Duration::from_secs(3 * 60));
    }
    assert_eq!(refreshes_by_visitors, 0);
    let refreshes = h.spotify.calls().0;
    assert!((6..=8).contains(&refreshes), "about one refresh an hour, not one a run: {refreshes}");
}

#[tokio::test(start_paused = true)]
async fn a_new_token_is_stored_before_the_answer_goes_out() {
    let h = playing_harness();
    // The token's write takes longer than the rest of the request, which goes on without it.
    *h.store.round_trip.lock().unwrap() = Duration::from_millis(50);
    h.instance("a").current().await.unwrap();
    assert_eq!(
        h.store.stored_value().as_deref(),
        Some("access-1"),
        "a frozen process must not lose the token: the request waits for its write"
    );
    assert!(h.store.lease.lock().unwrap().is_none(), "the token's write ended its lease");
}

// --- The token lease taken in the first round, with the shared answer.

#[tokio::test]
async fn a_fresh_shared_answer_gives_back_the_token_lease_its_first_round_took() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
    h.instance("earlier").current().await.unwrap();
    // The answer is fresh, but the token is about to expire: the cold instance's first
    // round takes the token's lease, then finds it has no use for it.
    let now = h.clock.now();
    *h.store.token.lock().unwrap() = Some(token("access-1", now + Duration::from_secs(30)));
    h.instance("cold").current().await.unwrap();
    assert_eq!(h.spotify.calls().0, 1, "answered from the shared snapshot");
    assert!(
        h.store.try_lease("other", now, now + Duration::from_secs(10)).await.unwrap(),
        "the cold instance gave the token's lease back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_instance_takes_over_the_lease_its_holder_gave_back_without_a_token() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    let now = h.clock.now();
    assert!(h.store.try_lease("holder", now, now + Duration::from_secs(10)).await.unwrap());
    let waiter = tokio::spawn({
        let tokens = h.tokens("waiter");
        async move {
            let started = tokio::time::Instant::now();
            (tokens.token().await, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(25)).await;
    h.store.release_lease("holder").await.unwrap();
    let (token, waited) = waiter.await.unwrap();
    assert_eq!(token.unwrap().value.expose_secret(), "access-1");
    assert!(waited < FAST_LEASE.wait / 2, "took over at the next poll, not at the end of the wait: {waited:?}");
    assert!(h.store.stored_value().is_some(), "and shared what it refreshed");
}
