//! Response building blocks shared by every route: JSON and text bodies, errors, ETags.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::json;
use tracing::error;

use super::caching::PRIVATE;
use crate::fingerprint::fnv1a;

/// Keeps log lines and messages short and printable whatever the client sent.
pub(crate) fn printable(path: &str) -> String {
    path.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The answer to a CORS preflight for a route that allows `methods`.
pub(crate) fn preflight(methods: &str) -> Response<Body> {
    let mut r = Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).unwrap_or_default();
    let h = r.headers_mut();
    if let Ok(methods) = HeaderValue::from_str(methods) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type, If-None-Match"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    // The same for every caller (or, with a list of origins, for every `Origin`: `Vary`).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    r
}

pub(crate) fn json_body<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(text) => {
            let mut r = Response::builder().status(status).body(Body::Text(text)).unwrap_or_default();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => {
            error!(error = %e, "could not serialize a response");
            error_body(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the answer could not be written")
        }
    }
}

pub(crate) fn text_body(content_type: &'static str, text: String) -> Response<Body> {
    let mut r = Response::builder().status(StatusCode::OK).body(Body::Text(text)).unwrap_or_default();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Adds a strong ETag and `cache_control`; a matching `If-None-Match` becomes a 304. The
/// comparison is weak (RFC 9110 13.1.2): a CDN that compresses sends the ETag back as `W/"…"`.
pub(crate) fn validated(req: &Request, mut r: Response<Body>, cache_control: &str) -> Response<Body> {
    if r.status() != StatusCode::OK {
        return r;
    }
    let etag = match r.body() {
        Body::Text(text) => format!("\"{:016x}\"", fnv1a(text.as_bytes())),
        _ => return r,
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*"));
    if matches {
        r = Response::builder().status(StatusCode::NOT_MODIFIED).body(Body::Empty).unwrap_or_default();
    }
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    r
}

/// `{"error": {"code", "message"}}`, never kept by a shared cache: an error or a 429 may be
/// one visitor's alone, and a stale copy of the last good answer serves better.
pub fn error_body(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "error": { "code": code, "message": message } }).to_string();
    let mut r = Response::builder().status(status).body(Body::Text(body)).unwrap_or_default();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, PRIVATE);
    r
}

/// Adds `Retry-After` in whole seconds, at least one.
pub(crate) fn with_retry_after(mut r: Response<Body>, wait: std::time::Duration) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
