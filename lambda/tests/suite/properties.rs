//! Arbitrary input never panics: Spotify payload parsing and request routing.

use crate::support::*;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, RequestExt};
use now_playing::adapters::spotify::{parse_currently_playing, parse_recently_played, parse_token_grant};
use now_playing::config::AllowedOrigins;
use proptest::prelude::*;
use serde_json::Value;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec!["track", "episode", "ad", "unknown", "", "item", "name"]).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "is_playing",
                    "progress_ms",
                    "item",
                    "type",
                    "name",
                    "artists",
                    "album",
                    "images",
                    "show",
                    "external_urls",
                    "spotify",
                    "items",
                    "track",
                    "played_at",
                    "currently_playing_type",
                    "url",
                    "width",
                    "is_local",
                    "access_token",
                    "expires_in",
                    "refresh_token",
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Real payloads with one field replaced by arbitrary JSON.
fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let names = prop::sample::select(vec![
        "currently_playing_track.json",
        "currently_playing_episode.json",
        "currently_playing_local.json",
        "recently_played.json",
    ]);
    (names, any::<prop::sample::Index>(), arbitrary_json()).prop_map(|(name, index, replacement)| {
        let mut value: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let mut pointers = Vec::new();
        collect_pointers(&value, String::new(), &mut pointers);
        let target = index.get(&pointers).clone();
        if let Some(slot) = value.pointer_mut(&target) {
            *slot = replacement;
        }
        serde_json::to_vec(&value).unwrap()
    })
}

fn collect_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| collect_pointers(v, format!("{at}/{k}"), out)),
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, v)| collect_pointers(v, format!("{at}/{i}"), out))
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_parsers(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_currently_playing(&bytes);
        let _ = parse_recently_played(&bytes);
        let _ = parse_token_grant(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics_the_parsers(value in arbitrary_json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let _ = parse_currently_playing(&bytes);
        let _ = parse_recently_played(&bytes);
        let _ = parse_token_grant(&bytes);
    }

    #[test]
    fn real_payloads_with_a_field_mangled_parse_or_fail_cleanly(bytes in mutated_fixture()) {
        let _ = parse_currently_playing(&bytes);
        let _ = parse_recently_played(&bytes);
    }
}

/// What a healthy deployment answers any request with: never a 500, which is a bug.
const DOCUMENTED: [StatusCode; 6] = [
    StatusCode::OK,
    StatusCode::FOUND,
    StatusCode::NO_CONTENT,
    StatusCode::NOT_MODIFIED,
    StatusCode::NOT_FOUND,
    StatusCode::METHOD_NOT_ALLOWED,
];

/// The content types of the routes' answers.
const CONTENT_TYPES: [&str; 4] =
    ["application/json", "text/html; charset=utf-8", "image/svg+xml; charset=utf-8", "text/javascript; charset=utf-8"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_requests_get_a_documented_answer_with_a_body(
        path in prop_oneof!["/v1/(current|health|open|widget\\.js|current\\.svg)/?", "/", "/[ -~]{0,40}", "\\PC{0,30}"],
        method in prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let h = Harness::new();
        h.spotify.script_refresh(vec![grant("access-1", None)]);
        h.spotify.script_playing(vec![Ok(playback("currently_playing_track.json"))]);
        let app = app_over(&h, AllowedOrigins::Any, std::sync::Arc::new(FakeArtwork::default()));
        let req = lambda_http::http::Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri("https://example.com/")
            .body(Body::Empty)
            .unwrap()
            .with_raw_http_path(path.clone());
        let r = runtime.block_on(app.handle(req));
        prop_assert!(DOCUMENTED.contains(&r.status()), "{} {:?} -> {}", method, path, r.status());
        match r.status() {
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED => {}
            StatusCode::FOUND => prop_assert!(r.headers().contains_key("location")),
            _ => {
                let Body::Text(text) = r.body() else { panic!("empty body for {method} {path:?}") };
                let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
                let content_type = content_type.unwrap_or_default();
                prop_assert!(CONTENT_TYPES.contains(&content_type.as_str()), "{:?} for {} {:?}", content_type, method, path);
                if content_type == "application/json" {
                    let json: Value = serde_json::from_str(text).unwrap();
                    let document = DOCUMENT_KEYS.iter().all(|k| json.get(k).is_some());
                    let health = json.get("configured").is_some() && json.get("days_remaining").is_some();
                    let error = json["error"]["code"].is_string() && json["error"]["message"].is_string();
                    prop_assert!(document || health || error, "{} for {} {:?}", text, method, path);
                    if r.status() != StatusCode::OK {
                        prop_assert!(error, "a non-200 JSON answer is an error: {}", text);
                    }
                } else {
                    prop_assert_eq!(r.status(), StatusCode::OK, "only 200s carry a page, card or script");
                }
            }
        }
    }
}

/// The keys of `/v1/current`'s document and of its item.
const DOCUMENT_KEYS: [&str; 8] =
    ["status", "is_playing", "item", "progress_ms", "played_at", "fetched_at", "stale", "stale_reason"];
const ITEM_KEYS: [&str; 10] =
    ["type", "id", "name", "url", "artists", "album", "images", "duration_ms", "explicit", "is_local"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever Spotify sends (a mangled payload, any `Retry-After`, any `expires_in`), the
    /// function answers `/v1/current` with the document or a JSON error of the documented
    /// shape, small enough to share, and never panics.
    #[test]
    fn any_upstream_answer_gives_a_documented_bounded_answer(
        body in mutated_fixture(),
        retry_after in any::<u64>(),
        expires_in in any::<u64>(),
        rate_limited in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let h = Harness::new();
        h.spotify.script_refresh(vec![Ok(now_playing::domain::ports::TokenGrant {
            access_token: "access-1".into(),
            expires_in: std::time::Duration::from_secs(expires_in),
            refresh_token: None,
            scope: None,
        })]);
        let playing = if rate_limited {
            Err(now_playing::domain::ports::SpotifyError::RateLimited { retry_after: std::time::Duration::from_secs(retry_after) })
        } else {
            parse_currently_playing(&body)
        };
        h.spotify.script_playing(vec![playing]);
        h.spotify.script_history(vec![parse_recently_played(&body)]);
        let app = app_over(&h, AllowedOrigins::Any, std::sync::Arc::new(FakeArtwork::default()));
        let req = lambda_http::http::Request::builder()
            .uri("https://example.com/v1/current")
            .body(Body::Empty)
            .unwrap()
            .with_raw_http_path("/v1/current");
        let r = runtime.block_on(app.handle(req));
        let Body::Text(text) = r.body() else { panic!("an empty body") };
        prop_assert!(text.len() < 16 * 1024, "{} bytes", text.len());
        let json: Value = serde_json::from_str(text).unwrap();
        match r.status() {
            StatusCode::OK => {
                let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
                prop_assert_eq!(keys.len(), DOCUMENT_KEYS.len());
                prop_assert!(DOCUMENT_KEYS.iter().all(|k| keys.contains(k)), "{:?}", keys);
                if let Some(item) = json["item"].as_object() {
                    prop_assert!(ITEM_KEYS.iter().all(|k| item.contains_key(*k)), "{:?}", item.keys());
                }
            }
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                prop_assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "{}", text);
                if let Some(wait) = r.headers().get("retry-after") {
                    let seconds: u64 = wait.to_str().unwrap().parse().unwrap();
                    prop_assert!(seconds <= now_playing::domain::service::MAX_BACKOFF.as_secs(), "{}", seconds);
                }
            }
            other => prop_assert!(false, "undocumented status {} for /v1/current: {}", other, text),
        }
    }
}
