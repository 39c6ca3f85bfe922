//! API Gateway REST (v1) and HTTP API (v2) events through the HTTP layer: routing,
//! status codes, CORS and caching headers.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::support::*;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use now_playing::config::AllowedOrigins;
use now_playing::domain::ports::{CredentialsError, SpotifyError};
use now_playing::http::{App, route_path};
use now_playing::invocation::{self, Invocation, Job};
use secrecy::ExposeSecret;
use serde_json::Value;

fn event(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/events").join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn request(mut value: Value, edit: impl FnOnce(&mut Value)) -> Request {
    edit(&mut value);
    lambda_http::request::from_str(&value.to_string()).expect("a valid API Gateway event")
}

fn rest(path: &str, method: &str) -> Request {
    request(event("apigw_rest_current.json"), |e| {
        e["path"] = path.into();
        e["httpMethod"] = method.into();
        e["requestContext"]["httpMethod"] = method.into();
    })
}

fn app(h: &Harness, origins: AllowedOrigins) -> App {
    app_over(h, origins, Arc::new(FakeArtwork::default()))
}

fn body_json(r: &Response<Body>) -> Value {
    match r.body() {
        Body::Text(t) => serde_json::from_str(t).expect("JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

fn header_of(r: &Response<Body>, name: header::HeaderName) -> Option<&str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_rest_api_event_is_routed_without_its_stage() {
    let req = request(event("apigw_rest_current.json"), |_| {});
    assert_eq!(route_path(&req), "/v1/current");
    let h = playing_harness();
    let r = app(&h, AllowedOrigins::Any).handle(req).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), Some("application/json"));
    let doc = body_json(&r);
    assert_eq!(doc["status"], "playing");
    assert_eq!(doc["item"]["name"], "Never Gonna Give You Up");
}

#[tokio::test]
async fn an_http_api_event_with_a_named_stage_is_routed_without_it() {
    let req = request(event("apigw_http_current.json"), |_| {});
    assert_eq!(route_path(&req), "/v1/current");
    let h = playing_harness();
    assert_eq!(app(&h, AllowedOrigins::Any).handle(req).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_http_api_event_on_the_default_stage_is_routed() {
    let req = request(event("apigw_http_current.json"), |e| {
        e["rawPath"] = "/v1/current".into();
        e["requestContext"]["http"]["path"] = "/v1/current".into();
        e["requestContext"]["stage"] = "$default".into();
    });
    assert_eq!(route_path(&req), "/v1/current");
}

#[tokio::test]
async fn a_rest_stage_named_like_the_version_does_not_eat_the_path() {
    let req = request(event("apigw_rest_current.json"), |e| e["requestContext"]["stage"] = "v1".into());
    assert_eq!(route_path(&req), "/v1/current");
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let h = Harness::new();
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/nope", "GET")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(&r)["error"]["code"], "not_found");
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"), "CORS on errors too");
}

#[tokio::test]
async fn a_post_is_a_json_405_with_allow() {
    let h = Harness::new();
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "POST")).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body_json(&r)["error"]["code"], "method_not_allowed");
    assert_eq!(header_of(&r, header::ALLOW), Some("GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn a_preflight_is_answered_without_calling_spotify() {
    let h = Harness::new();
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "OPTIONS")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_METHODS), Some("GET, HEAD, OPTIONS"));
    assert_eq!(h.spotify.calls(), (0, 0, 0));
}

#[tokio::test]
async fn a_listed_origin_is_echoed_and_another_is_not() {
    let origins = AllowedOrigins::List(vec!["https://example.com".into()]);
    let h = playing_harness();
    let r = app(&h, origins.clone()).handle(request(event("apigw_rest_current.json"), |_| {})).await;
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("https://example.com"));
    assert_eq!(header_of(&r, header::VARY), Some("Origin"));
    let other = request(event("apigw_rest_current.json"), |e| {
        e["headers"]["Origin"] = "https://evil.example".into();
        e["multiValueHeaders"]["Origin"] = serde_json::json!(["https://evil.example"]);
    });
    let r = app(&h, origins).handle(other).await;
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn the_answer_is_briefly_cacheable_and_revalidates_to_304() {
    let h = playing_harness();
    let app = app(&h, AllowedOrigins::Any);
    let first = app.handle(rest("/v1/current", "GET")).await;
    assert_eq!(
        header_of(&first, header::CACHE_CONTROL),
        Some("public, max-age=5, stale-while-revalidate=30, stale-if-error=300")
    );
    let etag = header_of(&first, header::ETAG).unwrap().to_owned();
    let again = request(event("apigw_rest_current.json"), |e| {
        e["headers"]["If-None-Match"] = etag.clone().into();
        e["multiValueHeaders"]["If-None-Match"] = serde_json::json!([etag.clone()]);
    });
    let second = app.handle(again).await;
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header_of(&second, header::ETAG), Some(etag.as_str()));
    let changed = request(event("apigw_rest_current.json"), |e| {
        e["headers"]["If-None-Match"] = "\"0000000000000000\"".into();
        e["multiValueHeaders"]["If-None-Match"] = serde_json::json!(["\"0000000000000000\""]);
    });
    assert_eq!(app.handle(changed).await.status(), StatusCode::OK);
}

/// CloudFront compresses, and then hands its copy's ETag back as `W/"…"` when it
/// revalidates: the comparison is weak, so that is still a 304.
#[tokio::test]
async fn a_weak_if_none_match_from_a_compressing_cdn_is_a_304() {
    let h = playing_harness();
    let app = app(&h, AllowedOrigins::Any);
    for path in ["/v1/current", "/v1/current.svg", "/v1/widget.js", "/"] {
        let first = app.handle(rest_with_query(path, &[])).await;
        let etag = header_of(&first, header::ETAG).unwrap().to_owned();
        assert!(etag.starts_with('"'), "{path}: a strong ETag, {etag}");
        for sent in [format!("W/{etag}"), format!("\"other\", W/{etag}")] {
            let again = request(event("apigw_rest_current.json"), |e| {
                e["path"] = path.into();
                e["resource"] = path.into();
                e["requestContext"]["path"] = format!("/prod{path}").into();
                e["headers"]["If-None-Match"] = sent.clone().into();
                e["multiValueHeaders"]["If-None-Match"] = serde_json::json!([sent.clone()]);
            });
            let r = app.handle(again).await;
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}: {sent}");
            assert_eq!(header_of(&r, header::CACHE_CONTROL), header_of(&first, header::CACHE_CONTROL), "{path}");
        }
    }
}

/// Every answer says who may keep it and for how long: shared ones are `public` with a
/// `max-age`, everything else `private`, so a CDN never hands one visitor's answer (a 429,
/// an error) to another.
#[tokio::test]
async fn every_answer_says_who_may_cache_it() {
    let h = playing_harness();
    let app = app(&h, AllowedOrigins::Any);
    for spec in now_playing::http::ROUTES {
        for method in ["GET", "HEAD", "POST", "OPTIONS", "DELETE"] {
            let r = app.handle(rest(spec.path, method)).await;
            let cache = header_of(&r, header::CACHE_CONTROL).unwrap_or_default().to_owned();
            let shared = cache.starts_with("public, max-age=");
            let private = cache.starts_with("private");
            assert!(shared || private, "{method} {}: {} with Cache-Control {cache:?}", spec.path, r.status());
            if !r.status().is_success() && r.status() != StatusCode::FOUND {
                assert!(private, "{method} {}: a {} is nobody else's: {cache:?}", spec.path, r.status());
            }
        }
    }
    let missing = app.handle(rest("/v1/nothing-here", "GET")).await;
    assert_eq!(header_of(&missing, header::CACHE_CONTROL), Some("private, no-store"));
}

#[tokio::test]
async fn a_revoked_refresh_token_is_a_503_that_says_to_run_bootstrap() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![Err(SpotifyError::InvalidGrant)]);
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "GET")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(&r);
    assert_eq!(body["error"]["code"], "reauthorization_required");
    assert!(body["error"]["message"].as_str().unwrap().contains("make bootstrap"));
    assert_eq!(header_of(&r, header::CACHE_CONTROL), Some("private, no-store"));
}

#[tokio::test]
async fn spotify_down_with_no_earlier_answer_is_a_502() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::Upstream(500))]);
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "GET")).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body_json(&r)["error"]["code"], "upstream_unavailable");
}

#[tokio::test]
async fn a_spotify_timeout_with_no_earlier_answer_is_a_504() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::Timeout)]);
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "GET")).await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn a_429_with_no_earlier_answer_passes_retry_after_on() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Err(SpotifyError::RateLimited { retry_after: std::time::Duration::from_secs(120) })]);
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "GET")).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(header_of(&r, header::RETRY_AFTER), Some("120"));
}

#[tokio::test]
async fn a_missing_parameter_is_a_503_naming_it() {
    let h = Harness::new();
    *h.credentials.stored.lock().unwrap() = Err(CredentialsError::Missing("/now-playing/spotify".into()));
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "GET")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(&r);
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(body["error"]["message"].as_str().unwrap().contains("/now-playing/spotify"));
}

#[tokio::test]
async fn an_unreadable_parameter_is_a_503_to_retry_without_the_cause() {
    let h = Harness::new();
    *h.credentials.stored.lock().unwrap() = Err(CredentialsError::Unavailable {
        name: "/now-playing/spotify".into(),
        reason: "ThrottlingException: arn:aws:iam::123456789012:role/x".into(),
    });
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/current", "GET")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header_of(&r, header::RETRY_AFTER), Some("5"));
    assert_eq!(body_json(&r)["error"]["code"], "credentials_unavailable");
    assert!(!text_of(&r).contains("123456789012"));
}

#[tokio::test]
async fn health_answers_without_calling_spotify() {
    let h = Harness::new();
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/health", "GET")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = body_json(&r);
    assert_eq!(body["configured"], true);
    assert_eq!(body["days_remaining"], 65);
    assert_eq!(body["authorized_at"], "2026-08-01T12:00:00Z");
    assert_eq!(h.spotify.calls(), (0, 0, 0));
    assert_eq!(h.credentials.loads.load(Ordering::SeqCst), 1);
}

async fn invoke(app: &Arc<App>, event: Value) -> Result<Value, String> {
    let event = lambda_http::LambdaEvent::new(event, lambda_http::Context::default());
    invocation::handle(app.clone(), event).await.map_err(|d| format!("{}: {}", d.error_type, d.error_message))
}

#[tokio::test]
async fn the_stack_s_scheduled_events_are_its_jobs() {
    for (fixture, expected) in [
        ("scheduled_keep_fresh.json", Job::KeepFresh),
        ("scheduled_digest.json", Job::DailyDigest),
        ("scheduled_health.json", Job::HealthCheck),
    ] {
        assert!(matches!(Invocation::of(event(fixture)), Invocation::Job(j) if j == expected), "{fixture}");
    }
    for not_a_job in [
        serde_json::json!({ "now-playing-job": "keep-fresh", "httpMethod": "POST" }),
        serde_json::json!({ "now-playing-job": "drop-table" }),
        serde_json::json!({ "source": "aws.events", "detail-type": "Scheduled Event" }),
    ] {
        assert!(matches!(Invocation::of(not_a_job.clone()), Invocation::Unknown), "{not_a_job}");
    }
}

#[tokio::test]
async fn an_sqs_record_of_exactly_a_tick_is_the_live_runner_and_nothing_else_is() {
    let record =
        |source: &str, body: &str| serde_json::json!({ "messageId": "m1", "eventSource": source, "body": body });
    let tick = r#"{"now-playing-tick": "a#1"}"#;
    let event = serde_json::json!({ "Records": [record("aws:sqs", tick), record("aws:sqs", r#"{"now-playing-tick": "b#2"}"#)] });
    assert!(matches!(Invocation::of(event), Invocation::Ticks(ids) if ids == ["a#1", "b#2"]));
    for not_a_tick in [
        serde_json::json!({ "Records": [record("aws:sns", tick)] }),
        serde_json::json!({ "Records": [record("aws:sqs", r#"{"now-playing-tick": "a", "x": 1}"#)] }),
        serde_json::json!({ "Records": [record("aws:sqs", tick), record("aws:sqs", "not json")] }),
        serde_json::json!({ "Records": [record("aws:sqs", r#"{"now-playing-tick": ""}"#)] }),
        serde_json::json!({ "Records": [] }),
        serde_json::json!({ "Records": [record("aws:sqs", tick)], "httpMethod": "GET", "requestContext": {} }),
    ] {
        assert!(matches!(Invocation::of(not_a_tick.clone()), Invocation::Unknown), "{not_a_tick}");
    }
    // Without live push a tick is logged and answered, never failed into a retry.
    let h = Harness::new();
    let app = Arc::new(app(&h, AllowedOrigins::Any));
    let answered = invoke(&app, serde_json::json!({ "Records": [record("aws:sqs", tick)] })).await.unwrap();
    assert_eq!(answered, serde_json::json!({ "ticks": 1 }));
}

#[tokio::test]
async fn the_health_check_job_reads_the_credentials_afresh_and_fails_when_they_are_missing() {
    let h = Harness::new();
    let app = Arc::new(app(&h, AllowedOrigins::Any));
    let doc = invoke(&app, event("scheduled_health.json")).await.unwrap();
    assert_eq!(doc["days_remaining"], 65);
    // A new authorization (make bootstrap) is seen on the next check, not at the next cold start.
    *h.credentials.stored.lock().unwrap() = Ok(now_playing::domain::Credentials {
        authorized_at: now_playing::domain::ports::Clock::now(&*h.clock),
        ..credentials()
    });
    let doc = invoke(&app, event("scheduled_health.json")).await.unwrap();
    assert!(doc["days_remaining"].as_i64().unwrap() > 150, "{doc}");
    assert_eq!(h.credentials.loads.load(Ordering::SeqCst), 2);
    *h.credentials.stored.lock().unwrap() = Err(CredentialsError::Missing("/now-playing/spotify".into()));
    let failed = invoke(&app, event("scheduled_health.json")).await.unwrap_err();
    assert!(failed.starts_with("JobFailed: HealthCheck:"), "{failed}");
}

#[tokio::test]
async fn the_keep_fresh_job_refreshes_the_token_shows_no_secret_and_fails_as_a_function_error() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    let app = Arc::new(app(&h, AllowedOrigins::Any));
    let doc = invoke(&app, event("scheduled_keep_fresh.json")).await.unwrap();
    assert_eq!(doc, serde_json::json!({"refreshed": true}));
    assert!(!doc.to_string().contains("access-1"));
    let doc = invoke(&app, event("scheduled_keep_fresh.json")).await.unwrap();
    assert_eq!(doc, serde_json::json!({"refreshed": false}), "an hour left: kept");
    assert_eq!(h.spotify.calls().0, 1);
    h.store.token.lock().unwrap().take();
    h.spotify.script_refresh(vec![Err(SpotifyError::InvalidGrant)]);
    // Scheduled work has no visitor to read a 503: the invocation fails, and Lambda's
    // Errors metric, retries and on-failure destination see it.
    let failed = invoke(&app, event("scheduled_keep_fresh.json")).await.unwrap_err();
    assert!(failed.starts_with("JobFailed: KeepFresh:") && failed.contains("reauthoriz"), "{failed}");
    assert!(!failed.contains(credentials().client_secret.expose_secret()), "{failed}");
}

#[tokio::test]
async fn the_digest_job_without_a_topic_fails_and_sends_nothing() {
    let h = Harness::new();
    let app = Arc::new(app(&h, AllowedOrigins::Any));
    let failed = invoke(&app, event("scheduled_digest.json")).await.unwrap_err();
    assert!(failed.contains("DIGEST_TOPIC_ARN"), "{failed}");
    let outbox = Arc::new(Outbox::default());
    let with_digest = Arc::new(app_over(&h, AllowedOrigins::Any, Arc::default()).with_digest(Some(outbox.clone())));
    let failed = invoke(&with_digest, event("scheduled_digest.json")).await.unwrap_err();
    assert!(failed.contains("suggestions are off"), "{failed}");
    assert!(outbox.0.lock().unwrap().is_empty());
}

/// Every way an HTTP event could name an internal job's old path: the REST API's and the
/// HTTP API's events, a stage prefix, a trailing slash.
#[tokio::test]
async fn no_http_event_reaches_a_job() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    let outbox = Arc::new(Outbox::default());
    let app = Arc::new(app(&h, AllowedOrigins::Any).with_digest(Some(outbox.clone())));
    let mut events = Vec::new();
    for path in [
        "/internal/daily-digest",
        "/internal/keep-fresh",
        "/internal/daily-digest/",
        "/live/internal/daily-digest",
        "/internal/health-check",
    ] {
        for method in ["POST", "GET"] {
            events.push(with(event("apigw_rest_current.json"), |e| {
                e["path"] = path.into();
                e["resource"] = path.into();
                e["httpMethod"] = method.into();
                e["requestContext"]["httpMethod"] = method.into();
            }));
            events.push(with(event("apigw_http_current.json"), |e| {
                e["rawPath"] = format!("/prod{path}").into();
                e["requestContext"]["http"]["path"] = format!("/prod{path}").into();
                e["requestContext"]["http"]["method"] = method.into();
            }));
            // A function URL: no stage.
            events.push(with(event("apigw_http_current.json"), |e| {
                e["rawPath"] = path.into();
                e["requestContext"]["stage"] = "$default".into();
                e["requestContext"]["http"]["path"] = path.into();
                e["requestContext"]["http"]["method"] = method.into();
            }));
        }
    }
    for e in events {
        let answer = invoke(&app, e.clone()).await.unwrap();
        assert_eq!(answer["statusCode"], 404, "{e}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
    assert!(outbox.0.lock().unwrap().is_empty(), "the owner was mailed");
    assert_eq!(h.spotify.calls().0, 0, "a token was refreshed");
}

fn with(mut value: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut value);
    value
}

#[tokio::test]
async fn an_event_with_a_host_or_scheme_no_url_can_hold_is_answered_400_and_the_process_lives() {
    let app = Arc::new(app(&playing_harness(), AllowedOrigins::Any));
    let bad_http_api =
        |name: &str, value: &str| with(event("apigw_http_current.json"), |e| e["headers"][name] = value.into());
    let bad_rest = |name: &str, value: &str| {
        with(event("apigw_rest_current.json"), |e| {
            e["headers"][name] = value.into();
            e["multiValueHeaders"][name] = serde_json::json!([value]);
        })
    };
    for (name, value) in [
        ("host", "a b"),
        ("Host", "a b"),
        ("host", "example.com:99999"),
        ("host", "exa mple.com:443"),
        ("host", "[::1"),
        ("host", "evil.example/path"),
        ("x-forwarded-proto", "a b"),
        ("X-Forwarded-Proto", "javascript:"),
        ("x-forwarded-proto", "https://x"),
    ] {
        for e in [bad_http_api(name, value), bad_rest(name, value)] {
            let answer = invoke(&app, e).await.unwrap();
            assert_eq!(answer["statusCode"], 400, "{name}: {value:?}: {answer}");
            let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "bad_request");
        }
    }
    for (name, value) in [
        ("host", "np.example.com"),
        ("host", "np.example.com:8443"),
        ("host", "[2001:db8::1]:443"),
        ("host", "127.0.0.1"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-proto", "HTTP"),
    ] {
        let answer = invoke(&app, bad_http_api(name, value)).await.unwrap();
        assert_eq!(answer["statusCode"], 200, "{name}: {value:?}: {answer}");
    }
    let no_event = invoke(&app, serde_json::json!({"hello": "world"})).await.unwrap_err();
    assert!(no_event.starts_with("UnknownEvent"), "{no_event}");
}

#[tokio::test]
async fn health_is_503_when_unconfigured() {
    let h = Harness::new();
    *h.credentials.stored.lock().unwrap() = Err(CredentialsError::Missing("/now-playing/spotify".into()));
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/health", "GET")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_json(&r)["configured"], false);
}

fn rest_with_query(path: &str, query: &[(&str, &str)]) -> Request {
    request(event("apigw_rest_current.json"), |e| {
        e["path"] = path.into();
        e["resource"] = path.into();
        e["requestContext"]["path"] = format!("/prod{path}").into();
        e["queryStringParameters"] = query.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        e["multiValueQueryStringParameters"] =
            query.iter().map(|(k, v)| (k.to_string(), Value::from(vec![*v]))).collect();
    })
}

fn text_of(r: &Response<Body>) -> &str {
    match r.body() {
        Body::Text(t) => t,
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn the_card_is_an_svg_with_the_art_inlined_and_fetched_once() {
    let h = playing_harness();
    let artwork = Arc::new(FakeArtwork::default());
    let app = app_over(&h, AllowedOrigins::Any, artwork.clone());
    let r = app.handle(rest_with_query("/v1/current.svg", &[("theme", "dark")])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), Some("image/svg+xml; charset=utf-8"));
    let long_outage = "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400";
    assert_eq!(header_of(&r, header::CACHE_CONTROL), Some(long_outage), "a day of the last card beats a broken image");
    assert!(header_of(&r, header::ETAG).is_some());
    let svg = text_of(&r);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains("href=\"data:image/png;base64,iVBORw0KGgo"), "art inlined");
    assert!(svg.contains("Never Gonna Give You Up") && svg.contains("#181818"), "dark theme");
    app.handle(rest_with_query("/v1/current.svg", &[])).await;
    assert_eq!(artwork.fetches.load(Ordering::SeqCst), 1, "the art is fetched once");
}

#[tokio::test]
async fn the_card_is_drawn_even_when_spotify_has_nothing_for_it() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![Err(SpotifyError::InvalidGrant)]);
    let r = app(&h, AllowedOrigins::Any).handle(rest_with_query("/v1/current.svg", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text_of(&r).contains("Nothing playing"));
}

#[tokio::test]
async fn open_redirects_to_what_is_playing() {
    let h = playing_harness();
    let r = app(&h, AllowedOrigins::Any).handle(rest_with_query("/v1/open", &[])).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(header_of(&r, header::LOCATION), Some("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"));
}

#[tokio::test]
async fn art_redirects_to_the_rendition_nearest_the_size_asked() {
    let h = playing_harness();
    let app = app(&h, AllowedOrigins::Any);
    for (size, expected) in [
        (None, "https://i.scdn.co/image/ab67616d00001e02300"),
        (Some("64"), "https://i.scdn.co/image/ab67616d0000485164"),
        (Some("300"), "https://i.scdn.co/image/ab67616d00001e02300"),
        (Some("640"), "https://i.scdn.co/image/ab67616d0000b273640"),
        (Some("1000"), "https://i.scdn.co/image/ab67616d0000b273640"),
        (Some("100"), "https://i.scdn.co/image/ab67616d0000485164"),
    ] {
        let query: Vec<(&str, &str)> = size.map(|s| ("size", s)).into_iter().collect();
        let r = app.handle(rest_with_query("/v1/art", &query)).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{size:?}");
        assert_eq!(header_of(&r, header::LOCATION), Some(expected), "{size:?}");
        assert_eq!(
            header_of(&r, header::CACHE_CONTROL),
            Some("public, max-age=5, stale-while-revalidate=30, stale-if-error=300"),
            "as the answer's"
        );
    }
    for bad in ["0", "-1", "big", "4097", "300px"] {
        let r = app.handle(rest_with_query("/v1/art", &[("size", bad)])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body_json(&r)["error"]["code"], "bad_request");
        assert!(body_json(&r)["error"]["message"].as_str().unwrap().contains("64, 300 or 640"));
    }
}

#[tokio::test]
async fn art_without_art_is_a_json_404() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_local.json"))]);
    let r = app(&h, AllowedOrigins::Any).handle(rest_with_query("/v1/art", &[])).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), Some("application/json"));
    assert_eq!(body_json(&r)["error"]["code"], "no_art");
    assert_eq!(header_of(&r, header::LOCATION), None);
}

#[tokio::test]
async fn open_for_a_local_file_goes_to_spotify_itself() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    h.spotify.script_playing(vec![Ok(playback("currently_playing_local.json"))]);
    let r = app(&h, AllowedOrigins::Any).handle(rest_with_query("/v1/open", &[])).await;
    assert_eq!(header_of(&r, header::LOCATION), Some("https://open.spotify.com/"));
}

#[tokio::test]
async fn the_widget_is_served_with_a_long_cache_when_versioned() {
    let h = Harness::new();
    let app = app(&h, AllowedOrigins::Any);
    let version = now_playing::render::widget_version();
    let r = app.handle(rest_with_query("/v1/widget.js", &[("v", &version)])).await;
    assert_eq!(header_of(&r, header::CONTENT_TYPE), Some("text/javascript; charset=utf-8"));
    assert_eq!(header_of(&r, header::CACHE_CONTROL), Some("public, max-age=31536000, immutable"));
    assert!(text_of(&r).contains("class NowPlayingElement"));
    let bare = app.handle(rest_with_query("/v1/widget.js", &[])).await;
    let hourly = "public, max-age=3600, stale-while-revalidate=86400, stale-if-error=604800";
    assert_eq!(header_of(&bare, header::CACHE_CONTROL), Some(hourly));
    assert_eq!(h.spotify.calls(), (0, 0, 0));
}

#[tokio::test]
async fn the_suggest_dialog_is_served_beside_the_widget_under_the_same_version() {
    let h = Harness::new();
    let app = app(&h, AllowedOrigins::Any);
    let version = now_playing::render::widget_version();
    let r = app.handle(rest_with_query("/v1/widget-suggest.js", &[("v", &version)])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), Some("text/javascript; charset=utf-8"));
    assert_eq!(header_of(&r, header::CACHE_CONTROL), Some("public, max-age=31536000, immutable"));
    assert!(text_of(&r).contains("export function attach"));
    let base = app.handle(rest_with_query("/v1/widget.js", &[])).await;
    let widget = text_of(&base);
    assert!(!widget.contains("class Suggest"), "the base widget does not carry the dialog");
    assert!(widget.contains("new URL(`widget-${name}.js`, import.meta.url)"), "it loads it from beside itself");
    let live = app.handle(rest_with_query("/v1/widget-live.js", &[("v", &version)])).await;
    assert_eq!(header_of(&live, header::CACHE_CONTROL), Some("public, max-age=31536000, immutable"));
    assert!(text_of(&live).contains("export function attach") && text_of(&live).contains("aws-appsync-event-ws"));
    assert!(!widget.contains("aws-appsync-event-ws"), "nor the live module");
}

#[tokio::test]
async fn the_preview_page_shows_snippets_for_this_deployment_url() {
    let h = Harness::new();
    let r = app(&h, AllowedOrigins::Any).handle(rest_with_query("/", &[])).await;
    assert_eq!(header_of(&r, header::CONTENT_TYPE), Some("text/html; charset=utf-8"));
    let page = text_of(&r);
    let base = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod";
    assert!(page.contains(&format!("&lt;now-playing src=&quot;{base}/v1/current&quot;&gt;")), "{page}");
    assert!(page.contains(&format!("[![Now playing on Spotify]({base}/v1/current.svg)]({base}/v1/open)")));
    assert!(page.contains(&format!("<now-playing src=\"{base}/v1/current\">")), "the live widget");
}

#[tokio::test]
async fn another_instance_draws_the_card_with_the_shared_art_without_fetching_it() {
    let h = playing_harness();
    let artwork = Arc::new(FakeArtwork::default());
    let shared = Arc::new(MemoryArtCache::default());
    app_sharing(&h, AllowedOrigins::Any, artwork.clone(), shared.clone())
        .handle(rest_with_query("/v1/current.svg", &[]))
        .await;
    let other = app_sharing(&h, AllowedOrigins::Any, artwork.clone(), shared);
    let r = other.handle(rest_with_query("/v1/current.svg", &[])).await;
    assert!(text_of(&r).contains("data:image/png;base64,"));
    assert_eq!(artwork.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_image_host_cannot_hold_the_card_past_its_deadline() {
    let h = playing_harness();
    let artwork = Arc::new(FakeArtwork::default());
    *artwork.delay.lock().unwrap() = std::time::Duration::from_secs(30);
    let started = tokio::time::Instant::now();
    let r = app_over(&h, AllowedOrigins::Any, artwork).handle(rest_with_query("/v1/current.svg", &[])).await;
    assert!(started.elapsed() <= std::time::Duration::from_secs(9), "took {:?}", started.elapsed());
    assert_eq!(r.status(), StatusCode::OK);
    let svg = text_of(&r);
    assert!(svg.contains("Never Gonna Give You Up") && !svg.contains("data:image"), "drawn without the art");
}

// --- A hostile visitor: nothing a client sets reaches a page, and nothing private leaves.

#[tokio::test]
async fn health_tells_the_world_nothing_about_the_account() {
    let h = Harness::new();
    *h.credentials.stored.lock().unwrap() = Err(CredentialsError::Unavailable {
        name: "/now-playing/spotify".into(),
        reason: "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/np-role/np is not authorized \
                 to perform: ssm:GetParameter (x-amzn-requestid: 5f1c)"
            .into(),
    });
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/health", "GET")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = text_of(&r);
    for private in ["123456789012", "arn:", "np-role", "AccessDenied", "x-amzn"] {
        assert!(!text.contains(private), "{private} in {text}");
    }
    assert!(body_json(&r)["problem"].as_str().unwrap().contains("/now-playing/spotify"), "names what to check");
}

fn page_with(edit: impl FnOnce(&mut Value)) -> String {
    let req = request(event("apigw_rest_current.json"), |e| {
        e["path"] = "/".into();
        e["resource"] = "/".into();
        e["requestContext"]["path"] = "/prod/".into();
        edit(e);
    });
    let h = Harness::new();
    let r = futures_block(app(&h, AllowedOrigins::Any).handle(req));
    text_of(&r).to_owned()
}

fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn the_preview_page_takes_its_base_from_api_gateway_never_from_client_headers() {
    for (name, value) in [
        ("X-Forwarded-Host", "evil.example"),
        ("Host", "evil.example"),
        ("Host", "user@evil.example"),
        ("Host", "evil.example?x="),
        ("Host", "127.0.0.1.evil.example"),
        ("X-Forwarded-Proto", "http"),
    ] {
        let page = page_with(|e| {
            e["headers"][name] = value.into();
            e["multiValueHeaders"][name] = Value::from(vec![value]);
        });
        assert!(!page.contains("evil.example"), "{name}: {value}");
        assert!(page.contains("src=\"https://abc123.execute-api.eu-west-1.amazonaws.com/prod/v1/widget.js"), "{name}");
    }
}

#[test]
fn a_custom_domain_is_its_own_base_without_the_stage() {
    let page = page_with(|e| {
        e["requestContext"]["domainName"] = "np.example.com".into();
        e["requestContext"]["path"] = "/".into();
    });
    assert!(page.contains("src=\"https://np.example.com/v1/widget.js"), "{page}");
}

#[test]
fn a_loopback_name_without_a_port_gives_relative_links() {
    let page = page_with(|e| e["requestContext"]["domainName"] = "localhost".into());
    assert!(page.contains("src=\"/prod/v1/widget.js"), "{page}");
    let page = page_with(|e| e["requestContext"]["domainName"] = "127.0.0.1:9000".into());
    assert!(page.contains("src=\"http://127.0.0.1:9000/prod/v1/widget.js"), "{page}");
}

#[test]
fn an_odd_domain_name_gives_relative_links_not_a_foreign_host() {
    let page = page_with(|e| e["requestContext"]["domainName"] = "evil.example/\"<x".into());
    assert!(!page.contains("evil.example"));
    assert!(page.contains("src=\"/prod/v1/widget.js"), "{page}");
}

#[tokio::test]
async fn every_answer_says_nosniff_and_the_page_and_card_carry_a_policy() {
    let h = playing_harness();
    let app = app(&h, AllowedOrigins::Any);
    for (path, method) in [
        ("/v1/current", "GET"),
        ("/v1/health", "GET"),
        ("/v1/nope", "GET"),
        ("/v1/current", "DELETE"),
        ("/v1/current", "OPTIONS"),
        ("/v1/widget.js", "GET"),
        ("/v1/open", "GET"),
    ] {
        let r = app.handle(rest(path, method)).await;
        assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"), "{method} {path}");
    }
    for path in ["/", "/v1/current.svg"] {
        let r = app.handle(rest_with_query(path, &[])).await;
        assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"), "{path}");
        let policy = header_of(&r, header::CONTENT_SECURITY_POLICY).unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
    }
}

#[tokio::test]
async fn the_card_carries_only_characters_xml_allows() {
    let h = Harness::new();
    h.spotify.script_refresh(vec![grant("access-1", None)]);
    let mut doc: Value = serde_json::from_slice(&fixture("currently_playing_track.json")).unwrap();
    doc["item"]["name"] = "A\u{FFFE}B\u{FFFF}C\u{1}D\u{0B}E".into();
    doc["item"]["artists"][0]["name"] = "\u{FFFF}".into();
    let playing = now_playing::adapters::spotify::parse_currently_playing(&serde_json::to_vec(&doc).unwrap()).unwrap();
    h.spotify.script_playing(vec![Ok(playing)]);
    let r = app(&h, AllowedOrigins::Any).handle(rest_with_query("/v1/current.svg", &[])).await;
    let svg = text_of(&r);
    let illegal = |c: char| !matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
    assert!(!svg.chars().any(illegal), "{svg:?}");
    assert!(svg.contains("A\u{FFFD}B\u{FFFD}C\u{FFFD}D\u{FFFD}E"), "each replaced, the rest kept");
}

#[tokio::test]
async fn the_page_policy_admits_images_from_the_configured_hosts_only() {
    let h = Harness::new();
    let hosts = now_playing::domain::ImageHosts::new(vec!["127.0.0.1:5060".into()]);
    let r = app(&h, AllowedOrigins::Any).with_image_hosts(&hosts).handle(rest_with_query("/", &[])).await;
    let policy = header_of(&r, header::CONTENT_SECURITY_POLICY).unwrap().to_owned();
    let images = policy.split(';').map(str::trim).find(|d| d.starts_with("img-src")).unwrap();
    assert_eq!(
        images,
        "img-src 'self' data: https://*.scdn.co https://*.spotifycdn.com http://127.0.0.1:5060 https://127.0.0.1:5060"
    );
    let r = app(&h, AllowedOrigins::Any).handle(rest_with_query("/", &[])).await;
    let policy = header_of(&r, header::CONTENT_SECURITY_POLICY).unwrap().to_owned();
    assert!(!policy.contains("127.0.0.1"));
    assert!(policy.contains("; worker-src blob:;"), "the proof of work runs in a worker made from a blob: {policy}");
}

// --- What mutation testing found untested in the HTTP layer (docs/MUTANTS.md).

#[tokio::test]
async fn the_suggestion_routes_exist_and_say_so_when_suggestions_are_off() {
    let h = Harness::new();
    let app = app(&h, AllowedOrigins::Any);
    for (path, method) in [("/v1/search", "GET"), ("/v1/suggestions/challenge", "GET"), ("/v1/suggestions", "POST")] {
        let r = app.handle(rest(path, method)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(body_json(&r)["error"]["code"], "suggestions_closed", "{method} {path}");
    }
}

#[tokio::test]
async fn posting_routes_name_post_in_the_preflight_and_the_405() {
    let h = Harness::new();
    let app = app(&h, AllowedOrigins::Any);
    let r = app.handle(rest("/v1/suggestions", "OPTIONS")).await;
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_METHODS), Some("POST, OPTIONS"));
    for path in ["/v1/suggestions"] {
        let r = app.handle(rest(path, "GET")).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(header_of(&r, header::ALLOW), Some("POST, OPTIONS"), "{path}");
        assert!(body_json(&r)["error"]["message"].as_str().unwrap().ends_with("use POST"), "{path}");
    }
}

#[tokio::test]
async fn a_404_names_the_path_without_its_control_characters() {
    let h = Harness::new();
    let r = app(&h, AllowedOrigins::Any).handle(rest("/v1/no\u{7}pe\u{1b}[31m", "GET")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(&r)["error"]["message"], "no such resource: /v1/nope[31m");
}

fn http_api_page(stage: &str, domain: &str) -> String {
    let req = request(event("apigw_http_current.json"), |e| {
        let path = if stage == "$default" { "/".to_owned() } else { format!("/{stage}/") };
        e["rawPath"] = path.clone().into();
        e["requestContext"]["http"]["path"] = path.into();
        e["requestContext"]["stage"] = stage.into();
        e["requestContext"]["domainName"] = domain.into();
    });
    let h = Harness::new();
    let r = futures_block(app(&h, AllowedOrigins::Any).handle(req));
    text_of(&r).to_owned()
}

#[test]
fn an_http_api_page_takes_its_base_from_the_domain_and_a_named_stage() {
    let page = http_api_page("prod", "xyz789.execute-api.eu-west-1.amazonaws.com");
    assert!(page.contains("src=\"https://xyz789.execute-api.eu-west-1.amazonaws.com/prod/v1/widget.js"), "{page}");
    let page = http_api_page("$default", "np.example.com");
    assert!(page.contains("src=\"https://np.example.com/v1/widget.js"), "no stage on $default: {page}");
}

#[test]
fn a_domain_with_an_odd_port_gives_relative_links() {
    for domain in ["np.example.com:", "np.example.com:80a", "127.0.0.1:x"] {
        let page = page_with(|e| e["requestContext"]["domainName"] = domain.into());
        assert!(page.contains("src=\"/prod/v1/widget.js"), "{domain}: {page}");
    }
    let page = page_with(|e| e["requestContext"]["domainName"] = "np.example.com:8443".into());
    assert!(page.contains("src=\"https://np.example.com:8443/prod/v1/widget.js"), "{page}");
}

/// The stack builds its routes from `infra/routes.json`; this keeps that file equal to the
/// function's table. `UPDATE_ROUTES=1 cargo test` rewrites it after a route changes.
#[test]
fn the_stack_s_route_file_is_the_function_s_route_table() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/routes.json");
    let table = serde_json::to_string_pretty(now_playing::http::ROUTES).unwrap() + "\n";
    if std::env::var_os("UPDATE_ROUTES").is_some() {
        std::fs::write(&file, &table).unwrap();
    }
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        written == table,
        "infra/routes.json differs from now_playing::http::ROUTES: run `UPDATE_ROUTES=1 cargo test` and commit it\n{table}"
    );
}

/// A cached route's answer depends on its path and its declared query parameters alone:
/// the edge keys on nothing else and forwards nothing else. So every parameter the function
/// reads anywhere, and `?x=…` to dodge the cache, must change nothing unless declared.
#[tokio::test]
async fn a_cached_route_depends_on_no_query_parameter_it_does_not_declare() {
    use now_playing::http::Edge;
    let h = playing_harness();
    let app = app(&h, AllowedOrigins::Any);
    let version = now_playing::render::widget_version();
    let read_anywhere =
        [("theme", "dark"), ("size", "64"), ("v", version.as_str()), ("q", "abba"), ("limit", "1"), ("x", "8f3a9c")];
    let seen = |r: &Response<Body>| {
        let h = |name| header_of(r, name).map(str::to_owned);
        (r.status(), h(header::ETAG), h(header::LOCATION), h(header::CACHE_CONTROL))
    };
    let mut cached = 0;
    for spec in now_playing::http::ROUTES {
        let Edge::Cached(keys) = spec.edge else { continue };
        cached += 1;
        let plain = seen(&app.handle(rest_with_query(spec.path, &[])).await);
        for (name, value) in read_anywhere.iter().filter(|(name, _)| !keys.contains(name)) {
            let with = seen(&app.handle(rest_with_query(spec.path, &[(name, value)])).await);
            assert_eq!(plain, with, "{}?{name}={value} changes the answer but is not in its edge key", spec.path);
        }
    }
    assert_eq!(cached, 11);
}
