//! Request -> domain -> response: routing, CORS, caching headers and the one error mapping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json;
use tracing::{error, info, warn};

use crate::config::AllowedOrigins;
use crate::domain::{Art, ImageHosts, NowPlaying, NowPlayingService, ServiceError, is_spotify_link};
use crate::embed::{self, Theme};
use crate::fingerprint::fnv1a;
use crate::metrics;
use crate::ports::{ArtCache, Artwork, CredentialsError, SpotifyError};

const ALLOW: &str = "GET, HEAD, OPTIONS";

/// Everything a request needs, built once per cold start.
pub struct App {
    pub service: NowPlayingService,
    pub allowed_origins: AllowedOrigins,
    pub cache_seconds: u32,
    /// Names the days-left metric, so two deployments in one account stay apart.
    pub credentials_parameter: String,
    pub artwork: Arc<dyn Artwork>,
    /// Album art already fetched, shared by all instances.
    pub shared_art: Arc<dyn ArtCache>,
    /// This instance's copy, by URL.
    pub art_cache: Mutex<HashMap<String, Art>>,
    /// The preview page's Content-Security-Policy: its images come from these hosts.
    page_policy: String,
    /// The configured base URL of the preview page's snippets (`PUBLIC_URL`), if any.
    public_url: Option<String>,
}

/// The card inlines its art; it needs nothing else from anywhere.
const CARD_POLICY: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/// The preview page: its own script and data, images from `hosts`, inline styles (the
/// widget's shadow DOM), nothing else; never framed.
fn page_policy(hosts: &ImageHosts) -> String {
    let mut images = String::from("'self' data: https://*.scdn.co https://*.spotifycdn.com");
    for host in hosts.extra() {
        images.push_str(&format!(" http://{host} https://{host}"));
    }
    format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; img-src {images}; style-src 'unsafe-inline'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The most a card request may take, art included.
const CARD_DEADLINE: Duration = Duration::from_secs(9);

/// How many images an instance keeps; a listening session touches a handful an hour.
const ART_CACHE_ENTRIES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Current,
    Health,
    Card,
    Open,
    Widget,
    Page,
}

/// The path as the client sent it, without an HTTP API stage prefix. REST API events
/// carry the resource path in `path`; HTTP API events put a named stage in `rawPath`.
pub fn route_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let raw = if raw.is_empty() { req.uri().path() } else { raw };
    let mut path = raw.to_owned();
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(stage) = ctx.stage.as_deref().filter(|s| *s != "$default")
        && let Some(rest) = path.strip_prefix(&format!("/{stage}"))
        && (rest.is_empty() || rest.starts_with('/'))
    {
        path = rest.to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() }
}

fn route(path: &str) -> Option<Route> {
    match path {
        "/v1/current" => Some(Route::Current),
        "/v1/health" => Some(Route::Health),
        "/v1/current.svg" => Some(Route::Card),
        "/v1/open" => Some(Route::Open),
        "/v1/widget.js" => Some(Route::Widget),
        "/" => Some(Route::Page),
        _ => None,
    }
}

impl App {
    pub fn new(
        service: NowPlayingService,
        allowed_origins: AllowedOrigins,
        cache_seconds: u32,
        credentials_parameter: String,
        artwork: Arc<dyn Artwork>,
        shared_art: Arc<dyn ArtCache>,
    ) -> Self {
        App {
            service,
            allowed_origins,
            cache_seconds,
            credentials_parameter,
            artwork,
            shared_art,
            art_cache: Mutex::new(HashMap::new()),
            page_policy: page_policy(&ImageHosts::default()),
            public_url: None,
        }
    }

    /// The preview page's snippets use this base URL rather than the request context's.
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url;
        self
    }

    /// The image hosts the preview page may show besides Spotify's CDNs (`ART_HOSTS`).
    pub fn with_image_hosts(mut self, hosts: &ImageHosts) -> Self {
        self.page_policy = page_policy(hosts);
        self
    }

    /// Always answers: every failure becomes a JSON error response, never an invocation error.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let path = route_path(&req);
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut response = match (route(&path), req.method()) {
            (None, _) => {
                error_body(StatusCode::NOT_FOUND, "not_found", &format!("no such resource: {}", printable(&path)))
            }
            (Some(_), &Method::OPTIONS) => preflight(),
            (Some(route), &Method::GET | &Method::HEAD) => self.answer(route, &req, &path).await,
            (Some(_), method) => {
                let mut r = error_body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    &format!("{method} is not allowed here; use GET"),
                );
                r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                r
            }
        };
        if let Some(allow) = self.allowed_origins.allow(origin.as_deref())
            && let Ok(value) = HeaderValue::from_str(&allow)
        {
            response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        if matches!(self.allowed_origins, AllowedOrigins::List(_)) {
            response.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
        }
        response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        info!(method = %req.method(), path = %printable(&path), status = response.status().as_u16(), "request");
        response
    }

    async fn answer(&self, route: Route, req: &Request, path: &str) -> Response<Body> {
        let briefly = format!("public, max-age={}", self.cache_seconds);
        match route {
            Route::Current => match self.service.current().await {
                Ok(doc) => validated(req, json_body(StatusCode::OK, &doc), &briefly),
                Err(e) => service_error(&e),
            },
            Route::Card => {
                let started = std::time::Instant::now();
                let doc = self.service.current().await.inspect_err(|e| warn!(error = %e, "card drawn without data"));
                let doc = doc.ok();
                // The art gets what is left of the card's deadline, so the whole answer
                // stays inside it: image proxies give up at about 10 s.
                let left = CARD_DEADLINE.saturating_sub(started.elapsed());
                let art = tokio::time::timeout(left, self.art_for(doc.as_ref())).await.ok().flatten();
                let theme = Theme::from_query(req.query_string_parameters_ref().and_then(|q| q.first("theme")));
                // Drawn as of the read, so the card and its ETag stay the same for the window.
                let at = doc.as_ref().map_or_else(time::OffsetDateTime::now_utc, |d| d.fetched_at);
                let svg = embed::svg_card(doc.as_ref(), art.as_ref(), theme, at);
                let mut r = validated(req, text_body("image/svg+xml; charset=utf-8", svg), &briefly);
                r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CARD_POLICY));
                r
            }
            Route::Open => {
                let target = match self.service.current().await {
                    // Checked again here: a snapshot shared by an older release may predate the check.
                    Ok(NowPlaying { item: Some(item), .. }) => {
                        item.url.filter(|u| is_spotify_link(u)).unwrap_or_else(|| OPEN_SPOTIFY.into())
                    }
                    _ => OPEN_SPOTIFY.into(),
                };
                let mut r = Response::builder().status(StatusCode::FOUND).body(Body::Empty).unwrap_or_default();
                if let Ok(v) = HeaderValue::from_str(&target) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_str(&briefly).unwrap_or(NO_STORE));
                r
            }
            Route::Widget => {
                let versioned = req
                    .query_string_parameters_ref()
                    .and_then(|q| q.first("v"))
                    .is_some_and(|v| v == embed::widget_version());
                // A versioned URL never changes; the bare one is re-checked hourly.
                let cache = if versioned { "public, max-age=31536000, immutable" } else { "public, max-age=3600" };
                validated(req, text_body("text/javascript; charset=utf-8", embed::WIDGET_JS.to_owned()), cache)
            }
            Route::Page => {
                let base = self.public_url.clone().unwrap_or_else(|| public_base(req, path));
                let page = embed::preview_page(&base);
                let mut r = validated(req, text_body("text/html; charset=utf-8", page), "public, max-age=300");
                if let Ok(v) = HeaderValue::from_str(&self.page_policy) {
                    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
                }
                r
            }
            Route::Health => {
                let health = self.service.health().await;
                if let Some(days) = health.days_remaining {
                    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                    println!("{}", metrics::days_remaining_line(&self.credentials_parameter, days, now_ms));
                }
                let status = if health.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                let mut r = json_body(status, &health);
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
        }
    }
}

/// Keeps log lines and messages short and printable whatever the client sent.
fn printable(path: &str) -> String {
    path.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn preflight() -> Response<Body> {
    let mut r = Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).unwrap_or_default();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type, If-None-Match"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

fn json_body<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
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

const OPEN_SPOTIFY: &str = "https://open.spotify.com/";
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

impl App {
    /// The largest image up to 300 px wide (the card shows 88 px at 2x and more): from
    /// memory, else the shared cache, else fetched once and shared; `None` when there is
    /// none or it cannot be had quickly.
    async fn art_for(&self, doc: Option<&NowPlaying>) -> Option<Art> {
        let images = &doc?.item.as_ref()?.images;
        let url = &images.iter().find(|i| i.width.is_none_or(|w| w <= 300)).or(images.last())?.url;
        if let Some(art) = self.art_cache.lock().unwrap_or_else(|p| p.into_inner()).get(url) {
            return Some(art.clone());
        }
        let art = match self.shared_art.load(url).await {
            Ok(Some(art)) => art,
            other => {
                if let Err(e) = other {
                    warn!(error = %e, "shared album art unavailable");
                }
                let art = self
                    .artwork
                    .fetch(url)
                    .await
                    .inspect_err(|e| warn!(error = %e, "card drawn without album art"))
                    .ok()?;
                if let Err(e) = self.shared_art.save(url, &art).await {
                    warn!(error = %e, "could not share the album art");
                }
                art
            }
        };
        let mut cache = self.art_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= ART_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(url.clone(), art.clone());
        Some(art)
    }
}

/// Where this deployment is reachable, for the snippets on the preview page: the domain
/// name API Gateway puts in the request context and the stage or base path the request
/// came through. Never a client header (`Host`, `X-Forwarded-Host`, `X-Forwarded-Proto`):
/// the page is cacheable, and a cache that does not key on those would serve a foreign
/// script URL. A missing or odd domain name gives relative links.
fn public_base(req: &Request, path: &str) -> String {
    let (domain, prefix) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            let full = ctx.path.as_deref().unwrap_or_default();
            let prefix = full.trim_end_matches('/').strip_suffix(path.trim_end_matches('/')).unwrap_or_default();
            (ctx.domain_name.clone(), prefix.to_owned())
        }
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            let stage = ctx.stage.as_deref().filter(|s| *s != "$default").map(|s| format!("/{s}"));
            (ctx.domain_name.clone(), stage.unwrap_or_default())
        }
        _ => (None, String::new()),
    };
    let prefix =
        if prefix.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c)) { prefix } else { String::new() };
    match domain.as_deref().and_then(origin) {
        Some(origin) => format!("{origin}{prefix}"),
        None => prefix,
    }
}

/// `https://` and a plain host name with an optional port; `http://` only for loopback
/// with a port (local development). `None` for anything else, and for a loopback name
/// without a port, which `cargo lambda watch` reports whatever port it listens on.
fn origin(domain: &str) -> Option<String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => (host, Some(port)),
        Some(_) => return None,
        None => (domain, None),
    };
    let plain = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let loopback = matches!(host, "localhost" | "127.0.0.1");
    match (plain, loopback, port) {
        (false, _, _) | (true, true, None) => None,
        (true, true, Some(_)) => Some(format!("http://{domain}")),
        (true, false, _) => Some(format!("https://{}", domain.to_ascii_lowercase())),
    }
}

fn text_body(content_type: &'static str, text: String) -> Response<Body> {
    let mut r = Response::builder().status(StatusCode::OK).body(Body::Text(text)).unwrap_or_default();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Adds a strong ETag and `cache_control`; a matching `If-None-Match` becomes a 304.
fn validated(req: &Request, mut r: Response<Body>, cache_control: &str) -> Response<Body> {
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

/// `{"error": {"code", "message"}}`, never cached.
pub fn error_body(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "error": { "code": code, "message": message } }).to_string();
    let mut r = Response::builder().status(status).body(Body::Text(body)).unwrap_or_default();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The one place where a domain failure becomes a status code and a stable error code.
fn service_error(e: &ServiceError) -> Response<Body> {
    warn!(error = %e, "request failed");
    let (status, code, message, retry_after): (StatusCode, &str, String, Option<Duration>) = match e {
        ServiceError::ReauthorizationRequired(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "reauthorization_required",
            format!("{reason}. The owner must run `make bootstrap` to authorize again."),
            None,
        ),
        ServiceError::Credentials(CredentialsError::Unavailable { name, .. }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "credentials_unavailable",
            format!("the credentials parameter {name} could not be read; this is retried on the next request"),
            Some(Duration::from_secs(5)),
        ),
        ServiceError::Credentials(other) => {
            (StatusCode::SERVICE_UNAVAILABLE, "not_configured", other.to_string(), None)
        }
        ServiceError::UpstreamUnavailable { cause, retry_after } => {
            let status =
                if *cause == SpotifyError::Timeout { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
            (status, "upstream_unavailable", format!("{cause}; no earlier answer to fall back on"), *retry_after)
        }
    };
    let mut r = error_body(status, code, &message);
    if let Some(wait) = retry_after
        && let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
