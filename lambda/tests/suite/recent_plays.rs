//! `GET /v1/recent`: the list's shape, collapsing and limits, its caching and sharing, stale
//! answers, and the privacy rules over it.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use now_playing::config::AllowedOrigins;
use now_playing::domain::ports::SpotifyError;
use now_playing::domain::service::RECENT_WINDOW;
use now_playing::domain::{ArtLibrary, NowPlayingService, Played};
use now_playing::http::App;

use super::support::*;

/// A play of a track named `name` (its id derived from the name), `minutes_ago`.
fn play(name: &str, minutes_ago: i64) -> Played {
    let mut played = last_played();
    played.item.id = Some(format!("{name:A>22}"));
    played.item.name = name.into();
    played.played_at = NOW - time::Duration::minutes(minutes_ago);
    played
}

fn app_of(service: NowPlayingService) -> App {
    let art = Arc::new(ArtLibrary::new(Arc::new(FakeArtwork::default()), Arc::new(MemoryArtCache::default())));
    App::new(service, art, app_settings(AllowedOrigins::Any))
}

fn get(query: &[(&str, &str)]) -> Request {
    get_path("/v1/recent", query)
}

fn get_path(path: &str, query: &[(&str, &str)]) -> Request {
    rest_get(path, query)
}

fn json_of(r: &Response<Body>) -> serde_json::Value {
    match r.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("expected JSON, got {other:?}"),
    }
}

fn names(doc: &serde_json::Value) -> Vec<String> {
    doc["items"].as_array().unwrap().iter().map(|i| i["item"]["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_list_collapses_repeats_keeps_the_shape_and_honours_limit() {
    let h = playing_harness();
    h.spotify.script_history(vec![Ok(vec![play("A", 1), play("A", 4), play("B", 8), play("A", 12), play("C", 20)])]);
    let app = app_of(h.instance("a"));
    let r = app.handle(get(&[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = json_of(&r);
    assert_eq!(names(&doc), ["A", "B", "A", "C"], "a track played again right after itself is one entry");
    assert_eq!(doc["items"][0]["played_at"], "2026-11-27T19:59:00.000Z");
    assert_eq!(doc["stale"], false);
    assert!(doc["fetched_at"].is_string());
    let first = doc["items"][0].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), ["item", "played_at"], "no context or anything else");
    assert_eq!(r.headers()["cache-control"], "public, max-age=30, stale-while-revalidate=30, stale-if-error=300");
    assert_eq!(names(&json_of(&app.handle(get(&[("limit", "2")])).await)), ["A", "B"]);
    assert_eq!(h.spotify.history_limits(), vec![50], "one history read serves every limit");
}

#[tokio::test]
async fn a_bad_limit_is_a_private_400() {
    let h = playing_harness();
    let app = app_of(h.instance("a"));
    for bad in ["0", "21", "ten", "-1", "2.5"] {
        let r = app.handle(get(&[("limit", bad)])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(json_of(&r)["error"]["code"], "bad_request");
        assert_eq!(r.headers()["cache-control"], "private, no-store");
    }
    assert_eq!(h.spotify.calls().2, 0, "no Spotify call for a bad request");
}

#[tokio::test]
async fn the_list_is_shared_for_its_window_and_served_stale_when_spotify_fails() {
    let h = playing_harness();
    h.spotify.script_history(vec![Ok(vec![play("A", 1)]), Err(SpotifyError::Upstream(503))]);
    let a = h.instance("a");
    assert_eq!(names(&a.recent().await.map(|l| l.public(10)).unwrap()), ["A"]);
    let b = h.instance("b");
    assert_eq!(names(&b.recent().await.map(|l| l.public(10)).unwrap()), ["A"], "from the shared copy");
    assert_eq!(h.spotify.calls().2, 1, "one history read for both instances");
    h.clock.advance(RECENT_WINDOW + Duration::from_secs(1));
    let stale = a.recent().await.unwrap();
    assert!(stale.stale);
    assert_eq!(stale.plays.len(), 1);
    assert_eq!(h.spotify.calls().2, 2);
}

#[tokio::test]
async fn hidden_plays_are_dropped_not_replaced_and_paused_sharing_lists_nothing() {
    let h = playing_harness();
    let hidden = play("Hidden", 5);
    let id = hidden.item.id.clone().unwrap();
    h.spotify.script_history(vec![Ok(vec![play("A", 1), hidden, play("B", 9)])]);
    let rules = FakePrivacy::with(Ok(Some(&format!(r#"{{"hide": {{"tracks": ["{id}"]}}}}"#))));
    let app = app_of(h.instance("a").with_privacy(rules.clone()));
    let doc = json_of(&app.handle(get(&[])).await);
    assert_eq!(names(&doc), ["A", "B"]);
    assert!(!doc.to_string().contains(&id));
    let h = playing_harness();
    let app = app_of(h.instance("a").with_privacy(FakePrivacy::with(Ok(Some(r#"{"sharing": "paused"}"#)))));
    assert_eq!(json_of(&app.handle(get(&[])).await)["items"], serde_json::json!([]));
    assert_eq!(h.spotify.calls().2, 0, "no history read while nothing may be shown");
}

#[tokio::test]
async fn a_list_shared_before_a_rule_is_screened_by_it() {
    let h = playing_harness();
    let rules = FakePrivacy::with(Ok(None));
    let s = h.instance("a").with_privacy(rules.clone());
    let first = play("SoonHidden", 2);
    let id = first.item.id.clone().unwrap();
    h.spotify.script_history(vec![Ok(vec![first, play("B", 9)])]);
    assert_eq!(s.recent().await.unwrap().plays.len(), 2);
    rules.set(Ok(Some(&format!(r#"{{"hide": {{"tracks": ["{id}"]}}}}"#))));
    h.clock.advance(now_playing::domain::service::PRIVACY_REREAD);
    h.spotify.script_history(vec![Err(SpotifyError::Upstream(503))]);
    let stale = s.recent().await.unwrap();
    assert_eq!(stale.plays.iter().map(|p| p.item.name.as_str()).collect::<Vec<_>>(), ["B"]);
}

#[tokio::test]
async fn the_card_draws_the_plays_with_their_art_inlined() {
    let h = playing_harness();
    h.spotify.script_history(vec![Ok(vec![play("A", 3), play("B", 30), play("C", 90)])]);
    let artwork = Arc::new(FakeArtwork::default());
    let art = Arc::new(ArtLibrary::new(artwork.clone(), Arc::new(MemoryArtCache::default())));
    let app = App::new(h.instance("a").with_art(art.clone()), art, app_settings(AllowedOrigins::Any));
    let r = app.handle(get_path("/v1/recent.svg", &[("limit", "2"), ("theme", "dark")])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    let Body::Text(svg) = r.body() else { panic!("text") };
    assert!(svg.contains(">A<") && svg.contains(">B<") && !svg.contains(">C<"), "{svg:.400}");
    assert!(svg.contains("3 minutes ago") && svg.contains("30 minutes ago"));
    assert_eq!(svg.matches("href=\"data:image/").count(), 2, "each row's art, inlined");
    for bad in ["0", "11", "all"] {
        let r = app.handle(get_path("/v1/recent.svg", &[("limit", bad)])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}
