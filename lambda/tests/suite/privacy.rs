//! The owner's privacy rules through the service and every route that shows the music:
//! hidden plays answered as if they had not happened, silence while paused or in quiet
//! hours, a change within a minute, and nothing shown when the rules cannot be read.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use now_playing::config::AllowedOrigins;
use now_playing::domain::service::PRIVACY_REREAD;
use now_playing::domain::{ArtLibrary, Item, NowPlayingService, Playback, Played, Status};
use now_playing::http::App;
use time::macros::datetime;

use super::support::*;

/// The track the fixtures play (`currently_playing_track.json`).
const PLAYING: &str = "4uLU6hMCjMI75M1A2tKUQC";
const PLAYING_ARTIST: &str = "0gxyHStUsqpMadRV0Di1Qt";

fn hide_playing() -> String {
    format!(r#"{{"hide": {{"tracks": ["{PLAYING}"]}}}}"#)
}

fn playing_item() -> Item {
    let Playback::Item { item, .. } = playback("currently_playing_track.json") else { panic!("a track") };
    item
}

/// Another track in the history, by another artist.
fn other(name: &str, minutes_ago: i64) -> Played {
    let mut item = playing_item();
    item.id = Some(format!("{:0>22}", name.len()));
    item.name = name.into();
    item.url = None;
    item.artists = vec![now_playing::domain::Link { name: "Someone Else".into(), url: None }];
    Played { item, played_at: NOW - time::Duration::minutes(minutes_ago), context: None }
}

fn service(h: &Harness, rules: &Arc<FakePrivacy>) -> NowPlayingService {
    h.instance("a").with_privacy(rules.clone())
}

#[tokio::test]
async fn a_hidden_play_is_answered_as_the_last_play_the_rules_show() {
    let h = playing_harness();
    let hidden_earlier = Played { item: playing_item(), played_at: NOW - time::Duration::minutes(4), context: None };
    h.spotify.script_history(vec![Ok(vec![hidden_earlier, other("Shown", 9), other("Older", 20)])]);
    let rules = FakePrivacy::with(Ok(Some(&hide_playing())));
    let doc = service(&h, &rules).current().await.unwrap();
    assert_eq!(doc.status, Status::LastPlayed);
    assert_eq!(doc.item.as_ref().map(|i| i.name.as_str()), Some("Shown"));
    assert_eq!(doc.played_at, Some(NOW - time::Duration::minutes(9)));
    assert_eq!(doc.progress_ms, None, "nothing of the hidden play's timing");
    assert_eq!(h.spotify.history_limits(), vec![50], "the history is searched past hidden plays");
}

#[tokio::test]
async fn a_hidden_play_with_nothing_else_shown_is_offline() {
    let h = playing_harness();
    h.spotify.script_history(vec![Ok(vec![])]);
    let rules = FakePrivacy::with(Ok(Some(&format!(r#"{{"hide": {{"artists": ["{PLAYING_ARTIST}"]}}}}"#))));
    let doc = service(&h, &rules).current().await.unwrap();
    assert_eq!((doc.status, doc.item), (Status::Offline, None));
}

#[tokio::test]
async fn paused_sharing_and_quiet_hours_show_no_item_and_read_no_history() {
    // NOW is 2026-11-27 20:00 UTC: 21:00 in Berlin.
    for rules in [
        r#"{"sharing": "paused"}"#,
        r#"{"quiet_hours": {"from": "20:30", "to": "06:00", "time_zone": "Europe/Berlin"}}"#,
    ] {
        let h = playing_harness();
        let doc = service(&h, &FakePrivacy::with(Ok(Some(rules)))).current().await.unwrap();
        assert_eq!((doc.status, doc.item), (Status::Offline, None), "{rules}");
        assert_eq!(h.spotify.calls().2, 0, "{rules}: no history read while nothing may be shown");
    }
    let h = playing_harness();
    let outside = r#"{"quiet_hours": {"from": "22:00", "to": "06:00", "time_zone": "Europe/Berlin"}}"#;
    let doc = service(&h, &FakePrivacy::with(Ok(Some(outside)))).current().await.unwrap();
    assert_eq!(doc.status, Status::Playing, "outside the quiet hours");
}

#[tokio::test]
async fn without_rules_or_with_none_hiding_it_the_play_is_shown_and_the_history_read_as_before() {
    for rules in [Ok(None), Ok(Some("{}"))] {
        let h = playing_harness();
        let doc = service(&h, &FakePrivacy::with(rules)).current().await.unwrap();
        assert_eq!(doc.item.map(|i| i.name), Some("Never Gonna Give You Up".to_owned()));
    }
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(Playback::Nothing)]);
    h.spotify.script_history(vec![Ok(vec![other("Shown", 1)])]);
    service(&h, &FakePrivacy::with(Ok(None))).current().await.unwrap();
    assert_eq!(h.spotify.history_limits(), vec![1], "one entry, as without rules");
}

#[tokio::test]
async fn a_rule_change_shows_within_a_minute_and_the_rules_are_read_once_a_minute() {
    let h = playing_harness();
    let rules = FakePrivacy::with(Ok(None));
    let s = service(&h, &rules);
    assert_eq!(s.current().await.unwrap().status, Status::Playing);
    rules.set(Ok(Some(r#"{"sharing": "paused"}"#)));
    h.clock.advance(WINDOW + Duration::from_secs(1));
    assert_eq!(s.current().await.unwrap().status, Status::Playing, "read less than a minute ago");
    assert_eq!(rules.reads(), 1);
    h.clock.advance(PRIVACY_REREAD);
    let doc = s.current().await.unwrap();
    assert_eq!((doc.status, doc.item), (Status::Offline, None), "read again: paused");
    assert_eq!(rules.reads(), 2);
}

#[tokio::test]
async fn an_answer_decided_under_older_rules_is_screened_even_when_served_stale() {
    let h = playing_harness();
    let rules = FakePrivacy::with(Ok(None));
    let s = service(&h, &rules);
    assert_eq!(s.current().await.unwrap().status, Status::Playing);
    // Spotify fails from now on, and the owner hides the track.
    h.spotify.script_playing(vec![Err(now_playing::domain::ports::SpotifyError::Upstream(503))]);
    rules.set(Ok(Some(&hide_playing())));
    h.clock.advance(PRIVACY_REREAD + Duration::from_secs(1));
    let doc = s.current().await.unwrap();
    assert!(doc.stale);
    assert_eq!((doc.status, doc.item), (Status::Offline, None));
}

#[tokio::test]
async fn rules_that_cannot_be_read_or_understood_show_nothing_and_health_says_why() {
    let secret_rule = format!(r#"{{"hide": {{"tracks": ["{PLAYING}"]}}, "sharing": "guilty-pleasures"}}"#);
    for (rules, why) in [
        (
            Err("the privacy parameter /now-playing/privacy could not be read; see the function's log"),
            "could not be read",
        ),
        (Ok(Some(secret_rule.as_str())), "sharing must be on or paused"),
        (Ok(Some("{not json")), "not JSON"),
        (Ok(Some("[\"paused\"]")), "must be a JSON object"),
    ] {
        let h = playing_harness();
        let source = FakePrivacy::with(rules);
        let app = App::new(service(&h, &source), art(), app_settings(AllowedOrigins::Any));
        let current = app.handle(get("/v1/current", &[])).await;
        assert_eq!(json_of(&current)["status"], "offline", "{why}");
        assert_eq!(json_of(&current)["item"], serde_json::Value::Null);
        let health = app.handle(get("/v1/health", &[])).await;
        assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE, "{why}");
        let body = json_of(&health);
        assert_eq!(body["privacy"], "unreadable");
        let problem = body["problem"].as_str().unwrap();
        assert!(problem.contains(why) && problem.contains("nothing is shown"), "{problem}");
        assert!(
            !problem.contains("guilty") && !problem.contains(PLAYING),
            "the rules are the owner's business: {problem}"
        );
    }
    let h = playing_harness();
    let app = App::new(service(&h, &FakePrivacy::with(Ok(Some("{}")))), art(), app_settings(AllowedOrigins::Any));
    let health = json_of(&app.handle(get("/v1/health", &[])).await);
    assert_eq!((health["privacy"].as_str(), health["problem"].as_str()), (Some("rules"), None));
}

#[tokio::test]
async fn no_route_shows_anything_of_a_hidden_play() {
    let h = playing_harness();
    let item = playing_item();
    let earlier = Played { item: item.clone(), played_at: NOW - time::Duration::minutes(5), context: None };
    h.spotify.script_history(vec![Ok(vec![earlier])]);
    let mut leaks = vec![PLAYING.to_owned(), item.name.clone(), item.album.name.clone()];
    leaks.extend(item.artists.iter().map(|a| a.name.clone()));
    leaks.extend(item.images.iter().map(|i| i.url.clone()));
    let rules = FakePrivacy::with(Ok(Some(&hide_playing())));
    let app = App::new(service(&h, &rules), art(), app_settings(AllowedOrigins::Any));
    for (path, query) in [
        ("/v1/current", vec![]),
        ("/v1/current.svg", vec![]),
        ("/v1/current.svg", vec![("theme", "dark")]),
        ("/v1/open", vec![]),
        ("/v1/art", vec![("size", "640")]),
        ("/v1/recent", vec![]),
        ("/v1/recent.svg", vec![("limit", "10")]),
        ("/", vec![]),
    ] {
        let r = app.handle(get(path, &query)).await;
        let seen = format!("{:?} {}", r.headers(), text_of(&r));
        for leak in &leaks {
            assert!(!seen.contains(leak.as_str()), "{path}: {leak} in {seen:.300}");
        }
    }
    assert_eq!(app.handle(get("/v1/open", &[])).await.headers()["location"], "https://open.spotify.com/");
    assert_eq!(app.handle(get("/v1/art", &[])).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn quiet_hours_are_read_in_their_zone_through_the_routes() {
    let h = playing_harness();
    *h.clock.0.lock().unwrap() = datetime!(2026-12-05 22:30 UTC); // 23:30 in Berlin
    let rules = r#"{"quiet_hours": {"from": "23:00", "to": "07:00", "time_zone": "Europe/Berlin"}}"#;
    let app = App::new(service(&h, &FakePrivacy::with(Ok(Some(rules)))), art(), app_settings(AllowedOrigins::Any));
    assert_eq!(json_of(&app.handle(get("/v1/current", &[])).await)["status"], "offline");
}

#[tokio::test]
async fn plays_in_quiet_hours_stay_hidden_on_every_route_once_the_hours_are_over() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(Playback::Nothing); 4]);
    let at = |hour_minute: time::Time| time::OffsetDateTime::new_utc(datetime!(2026-12-08 0:00).date(), hour_minute);
    let ended = |name: &str, minute: time::Time| Played { played_at: at(minute), ..other(name, 0) };
    let history = vec![
        ended("Quiet three", time::macros::time!(14:40)),
        ended("Quiet two", time::macros::time!(14:36)),
        ended("Quiet one", time::macros::time!(14:32)),
        ended("Before", time::macros::time!(14:00)),
    ];
    h.spotify.script_history(vec![Ok(history.clone()), Ok(history.clone()), Ok(history)]);
    *h.clock.0.lock().unwrap() = at(time::macros::time!(14:50));
    let rules = r#"{"quiet_hours": {"from": "14:07", "to": "14:52", "time_zone": "UTC"}}"#;
    let app = App::new(service(&h, &FakePrivacy::with(Ok(Some(rules)))), art(), app_settings(AllowedOrigins::Any));
    assert_eq!(json_of(&app.handle(get("/v1/current", &[])).await)["status"], "offline");
    assert_eq!(json_of(&app.handle(get("/v1/recent", &[])).await)["items"], serde_json::json!([]));
    *h.clock.0.lock().unwrap() = at(time::macros::time!(14:52:02));
    let current = app.handle(get("/v1/current", &[])).await;
    let recent = app.handle(get("/v1/recent", &[])).await;
    let card = app.handle(get("/v1/card.svg", &[])).await;
    assert_eq!(json_of(&current)["status"], "last_played");
    assert_eq!(json_of(&current)["item"]["name"], "Before");
    let names: Vec<_> =
        json_of(&recent)["items"].as_array().unwrap().iter().map(|p| p["item"]["name"].clone()).collect();
    assert_eq!(names, ["Before"]);
    for answer in [&current, &recent, &card] {
        assert!(!text_of(answer).contains("Quiet"), "{}", text_of(answer));
    }
}

fn art() -> Arc<ArtLibrary> {
    Arc::new(ArtLibrary::new(Arc::new(FakeArtwork::default()), Arc::new(MemoryArtCache::default())))
}

fn get(path: &str, query: &[(&str, &str)]) -> Request {
    rest_get(path, query)
}

fn text_of(r: &Response<Body>) -> String {
    match r.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

fn json_of(r: &Response<Body>) -> serde_json::Value {
    serde_json::from_str(&text_of(r)).unwrap_or_default()
}
