//! Live push from the service: an answer that changes what a page shows is published once,
//! from the refresh that read it, screened by the owner's rules; an answer that does not
//! change a page, or a failed publish, changes nothing else.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use now_playing::domain::{Playback, Status};

use super::support::*;

fn live_instance(h: &Harness) -> (now_playing::domain::NowPlayingService, Arc<FakeLive>) {
    let live = Arc::new(FakeLive::default());
    (h.instance("a").with_live(live.clone()), live)
}

#[tokio::test]
async fn a_new_answer_is_pushed_once_and_one_that_changes_no_page_is_not() {
    let h = playing_harness();
    h.spotify.script_playing(vec![
        Ok(playback("currently_playing_paused.json")),
        Ok(playback("currently_playing_paused.json")),
        Ok(Playback::Nothing),
    ]);
    h.spotify.script_history(vec![Ok(vec![]), Ok(vec![])]);
    let (service, live) = live_instance(&h);
    let first = service.current().await.unwrap();
    assert_eq!(first.status, Status::Paused);
    assert_eq!(live.pushed(), vec![first.clone()], "the first answer is news to every page");
    service.current().await.unwrap();
    assert_eq!(live.pushed().len(), 1, "served from memory: no refresh, no push");
    // Past the next steady check: asked again, still paused at the same place.
    h.clock.advance(std::time::Duration::from_secs(130));
    let again = service.current().await.unwrap();
    assert_eq!(h.spotify.calls().1, 2, "asked Spotify again");
    assert!(again.fetched_at > first.fetched_at);
    assert_eq!(live.pushed().len(), 1, "nothing a page shows changed");
    h.clock.advance(std::time::Duration::from_secs(130));
    let gone = service.current().await.unwrap();
    assert_eq!(gone.status, Status::LastPlayed, "the paused track, now the last play");
    assert_eq!(live.pushed(), vec![first, gone], "stopped: pushed");
}

#[tokio::test]
async fn a_hidden_play_is_never_pushed_only_the_screened_answer() {
    let h = playing_harness();
    h.spotify.script_history(vec![Ok(vec![])]);
    let rules = FakePrivacy::with(Ok(Some(r#"{"hide": {"tracks": ["4uLU6hMCjMI75M1A2tKUQC"]}}"#)));
    let live = Arc::new(FakeLive::default());
    let service = h.instance("a").with_privacy(rules).with_live(live.clone());
    service.current().await.unwrap();
    let pushed = live.pushed();
    assert_eq!(pushed.len(), 1);
    assert_eq!((pushed[0].status, pushed[0].item.as_ref()), (Status::Offline, None));
    let text = serde_json::to_string(&pushed[0].public()).unwrap();
    assert!(!text.contains("4uLU6hMCjMI75M1A2tKUQC") && !text.contains("Never Gonna"), "{text}");
}

#[tokio::test]
async fn a_failed_push_leaves_the_answer_as_it_was() {
    let h = playing_harness();
    let (service, live) = live_instance(&h);
    live.fail.store(true, Ordering::SeqCst);
    let doc = service.current().await.unwrap();
    assert_eq!(doc.status, Status::Playing);
    assert!(live.pushed().is_empty());
}

fn live_config(realtime: bool) -> now_playing::config::Live {
    now_playing::config::Live {
        url: "https://abc123.appsync-api.eu-west-1.amazonaws.com".into(),
        channel: "/now-playing/current".into(),
        realtime_url: realtime
            .then(|| "wss://abc123.appsync-realtime-api.eu-west-1.amazonaws.com/event/realtime".into()),
        api_key: realtime.then(|| "da2-publicpagekey".into()),
        api_key_expires: Some(NOW + time::Duration::days(100)),
        queue_url: None,
        presence: now_playing::domain::service::PRESENCE,
    }
}

fn json(r: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    match r.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("a JSON body, got {other:?}"),
    }
}

fn header<'a>(r: &'a lambda_http::Response<lambda_http::Body>, name: &str) -> &'a str {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn v1_live_names_where_to_subscribe_and_the_answer_to_start_from_shared_for_30_s() {
    let h = playing_harness();
    let config = live_config(true);
    let app = app_over(&h, now_playing::config::AllowedOrigins::Any, Arc::new(FakeArtwork::default()))
        .with_live(Some(&config));
    let r = app.handle(rest_get("/v1/live", &[])).await;
    assert_eq!(r.status(), 200);
    let doc = json(&r);
    assert_eq!(doc["transport"], "appsync-events");
    assert_eq!(doc["realtime"], "wss://abc123.appsync-realtime-api.eu-west-1.amazonaws.com/event/realtime");
    assert_eq!(doc["host"], "abc123.appsync-api.eu-west-1.amazonaws.com");
    assert_eq!(doc["api_key"], "da2-publicpagekey");
    assert_eq!(doc["channel"], "/now-playing/current");
    assert_eq!(doc["current"]["status"], "playing");
    assert!(doc["current"]["item"].get("credits").is_none(), "the public answer");
    assert!(header(&r, "cache-control").starts_with("public, max-age=30,"), "{}", header(&r, "cache-control"));
    let page = app.handle(rest_get("/", &[])).await;
    assert!(
        header(&page, "content-security-policy")
            .contains("connect-src 'self' wss://abc123.appsync-realtime-api.eu-west-1.amazonaws.com;"),
        "the preview page may subscribe: {}",
        header(&page, "content-security-policy")
    );
}

#[tokio::test]
async fn without_a_realtime_endpoint_v1_live_says_to_poll() {
    for config in [None, Some(live_config(false))] {
        let h = playing_harness();
        let app = app_over(&h, now_playing::config::AllowedOrigins::Any, Arc::new(FakeArtwork::default()))
            .with_live(config.as_ref());
        let doc = json(&app.handle(rest_get("/v1/live", &[])).await);
        assert_eq!(doc["transport"], serde_json::Value::Null, "{config:?}");
        assert_eq!(doc["current"]["status"], "playing");
        assert!(doc.get("api_key").is_none());
        let page = app.handle(rest_get("/", &[])).await;
        assert!(header(&page, "content-security-policy").contains("connect-src 'self';"));
    }
}

#[tokio::test]
async fn health_warns_two_weeks_before_the_pages_key_lapses() {
    for (days, warned) in [(100, false), (15, false), (13, true), (-1, true)] {
        let h = playing_harness();
        let config =
            now_playing::config::Live { api_key_expires: Some(NOW + time::Duration::days(days)), ..live_config(true) };
        let app = app_over(&h, now_playing::config::AllowedOrigins::Any, Arc::new(FakeArtwork::default()))
            .with_live(Some(&config));
        let doc = json(&app.handle(rest_get("/v1/health", &[])).await);
        let warning = &doc["live"]["warning"];
        assert_eq!(warning.is_string(), warned, "{days} days: {doc}");
        if warned {
            assert!(warning.as_str().unwrap().contains("make deploy"), "{warning}");
        }
        assert!(!doc.to_string().contains("da2-publicpagekey"), "health names no key");
    }
}

fn runner_instance(
    h: &Harness,
    name: &str,
    state: &Arc<MemoryLiveState>,
    ticks: &Arc<FakeTicks>,
) -> now_playing::domain::NowPlayingService {
    h.instance(name).with_runner(now_playing::domain::service::Runner {
        state: state.clone(),
        queue: ticks.clone(),
        presence: std::time::Duration::from_secs(600),
    })
}

#[tokio::test]
async fn one_runner_starts_for_many_pages_ticks_at_the_due_time_and_stops_with_the_last_viewer() {
    let h = playing_harness();
    let (state, ticks) = (Arc::new(MemoryLiveState::default()), Arc::new(FakeTicks::default()));
    let (a, b) = (runner_instance(&h, "a", &state, &ticks), runner_instance(&h, "b", &state, &ticks));
    a.viewer_arrived().await;
    b.viewer_arrived().await;
    a.viewer_arrived().await;
    let asked = ticks.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "one runner for every page and instance: {asked:?}");
    let (id, delay) = asked[0].clone();
    assert_eq!(delay, std::time::Duration::ZERO, "it starts at once");
    // A tick of another id (a replaced runner) does nothing, and asks Spotify nothing.
    b.tick("someone-else").await.unwrap();
    assert_eq!(h.spotify.calls().1, 0);
    assert_eq!(ticks.asked.lock().unwrap().len(), 1);
    // The runner's tick asks Spotify (the answer is due) and waits for the next due time.
    a.tick(&id).await.unwrap();
    assert_eq!(h.spotify.calls().1, 1);
    let (next_id, next) = ticks.asked.lock().unwrap().last().cloned().unwrap();
    assert_eq!(next_id, id);
    let due = std::time::Duration::try_from(a.due_at().unwrap() - a.now()).unwrap();
    assert_eq!(next, due.max(std::time::Duration::from_secs(1)), "at the schedule's time");
    // The presence window passes with nobody asking: the next tick ends the runner, no call.
    h.clock.advance(std::time::Duration::from_secs(601));
    a.tick(&id).await.unwrap();
    assert_eq!(h.spotify.calls().1, 1, "no viewer, no call");
    assert_eq!(state.presence.lock().unwrap().runner, None);
    assert_eq!(ticks.asked.lock().unwrap().len(), 2, "and no tick more");
}
