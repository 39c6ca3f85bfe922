//! Request -> domain -> response: routing and CORS here, one module per group of routes.

mod caching;
mod current;
mod edge;
mod embeds;
mod jobs;
mod live;
mod recent;
mod respond;
mod suggestions;

use std::sync::Arc;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::info;

pub use caching::{STALE_IF_ERROR_ANSWER, STALE_IF_ERROR_CARD, STALE_WHILE_REVALIDATE};
pub use edge::{EDGE_HEADER, EdgeSecret, VIEWER_ADDRESS};
pub use respond::error_body;
use respond::{preflight, printable};

use crate::config::AllowedOrigins;
use crate::domain::art::ArtLibrary;
use crate::domain::ports::Notifier;
use crate::domain::suggestions::SuggestionService;
use crate::domain::{ImageHosts, NowPlayingService};

/// Everything a request needs, built once per cold start.
pub struct App {
    pub service: NowPlayingService,
    pub allowed_origins: AllowedOrigins,
    pub cache_seconds: u32,
    /// Names the days-left metric, so two deployments in one account stay apart.
    pub credentials_parameter: String,
    /// Album art, fetched once for all instances.
    pub art: Arc<ArtLibrary>,
    /// The preview page's Content-Security-Policy: its images come from these hosts.
    page_policy: String,
    /// The configured base URL of the preview page's snippets (`PUBLIC_URL`), if any.
    public_url: Option<String>,
    /// Visitors' suggestions; `None` answers `suggestions_closed`.
    suggestions: Option<Arc<SuggestionService>>,
    /// Where the daily digest of waiting suggestions goes; without it the digest job fails.
    digest: Option<Arc<dyn Notifier>>,
    /// What the stack's CDN proves itself with; its requests carry the viewer's address.
    edge: Option<EdgeSecret>,
    /// Where pages subscribe for pushed answers (`/v1/live`); `None`: they poll.
    live: Option<live::LiveOffer>,
}

/// What answers a route: `App::answer` dispatches on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Current,
    Health,
    Card,
    Open,
    Art,
    Widget,
    SuggestWidget,
    Page,
    Search,
    Challenge,
    Suggestions,
    Recent,
    RecentCard,
    Live,
    LiveWidget,
}

/// Which stack a route is in: every deployment's, or only one with suggestions on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Always,
    Suggestions,
}

/// What a shared cache in front (the stack's CloudFront distribution, `make dev EDGE=1`'s
/// nginx) does with a route's requests. The answers' own `Cache-Control` decides how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Edge {
    /// Kept, keyed on the path and these query parameters alone: any other parameter
    /// (`?x=…` to dodge the cache) neither changes the answer nor reaches the function.
    Cached(&'static [&'static str]),
    /// Never kept: every request reaches the function with its query string and the
    /// visitor's address (answers that depend on who asks, writes, the health check).
    Passed,
}

/// One route: its path, the methods it answers besides the preflight, what answers it.
#[derive(Debug, serde::Serialize)]
pub struct RouteSpec {
    pub path: &'static str,
    /// As `Allow` lists them, without `OPTIONS`.
    pub methods: &'static str,
    pub group: Group,
    pub edge: Edge,
    #[serde(skip)]
    pub route: Route,
}

const READ: &str = "GET, HEAD";
const SHARED: Edge = Edge::Cached(&[]);

/// Every route the function answers, and so every resource the REST API has: the router,
/// `Allow`, the preflight, the stack and its edge's cache behaviours all read this table. The stack reads it as
/// `infra/routes.json`, which a test keeps equal to it; the stack's own test compares the
/// template with that file both ways. The stack's scheduled jobs are no routes: they
/// arrive as events no HTTP front can send (`crate::invocation`).
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec { path: "/", methods: READ, group: Group::Always, edge: SHARED, route: Route::Page },
    RouteSpec { path: "/v1/current", methods: READ, group: Group::Always, edge: SHARED, route: Route::Current },
    RouteSpec { path: "/v1/health", methods: READ, group: Group::Always, edge: Edge::Passed, route: Route::Health },
    RouteSpec {
        path: "/v1/current.svg",
        methods: READ,
        group: Group::Always,
        edge: Edge::Cached(&["theme"]),
        route: Route::Card,
    },
    RouteSpec { path: "/v1/open", methods: READ, group: Group::Always, edge: SHARED, route: Route::Open },
    RouteSpec {
        path: "/v1/recent",
        methods: READ,
        group: Group::Always,
        edge: Edge::Cached(&["limit"]),
        route: Route::Recent,
    },
    RouteSpec {
        path: "/v1/recent.svg",
        methods: READ,
        group: Group::Always,
        edge: Edge::Cached(&["limit", "theme"]),
        route: Route::RecentCard,
    },
    RouteSpec {
        path: "/v1/art",
        methods: READ,
        group: Group::Always,
        edge: Edge::Cached(&["size"]),
        route: Route::Art,
    },
    RouteSpec {
        path: "/v1/widget.js",
        methods: READ,
        group: Group::Always,
        edge: Edge::Cached(&["v"]),
        route: Route::Widget,
    },
    RouteSpec {
        path: "/v1/widget-suggest.js",
        methods: READ,
        group: Group::Always,
        edge: Edge::Cached(&["v"]),
        route: Route::SuggestWidget,
    },
    RouteSpec { path: "/v1/live", methods: READ, group: Group::Always, edge: SHARED, route: Route::Live },
    RouteSpec {
        path: "/v1/widget-live.js",
        methods: READ,
        group: Group::Always,
        edge: Edge::Cached(&["v"]),
        route: Route::LiveWidget,
    },
    RouteSpec {
        path: "/v1/search",
        methods: READ,
        group: Group::Suggestions,
        edge: Edge::Passed,
        route: Route::Search,
    },
    RouteSpec {
        path: "/v1/suggestions/challenge",
        methods: READ,
        group: Group::Suggestions,
        edge: Edge::Passed,
        route: Route::Challenge,
    },
    RouteSpec {
        path: "/v1/suggestions",
        methods: "POST",
        group: Group::Suggestions,
        edge: Edge::Passed,
        route: Route::Suggestions,
    },
];

impl RouteSpec {
    fn of(path: &str) -> Option<&'static RouteSpec> {
        ROUTES.iter().find(|r| r.path == path)
    }

    /// `Allow` and the preflight's methods.
    fn allow(&self) -> String {
        format!("{}, OPTIONS", self.methods)
    }

    fn allows(&self, method: &Method) -> bool {
        self.methods.split(", ").any(|m| m == method.as_str())
    }
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

/// How the HTTP layer answers, from the function's configuration.
#[derive(Clone, Debug)]
pub struct AppSettings {
    pub allowed_origins: AllowedOrigins,
    /// The shared answers' `max-age`.
    pub cache_seconds: u32,
    /// Names the days-left metric, so two deployments in one account stay apart.
    pub credentials_parameter: String,
}

impl App {
    /// The routes over `service`, with `art` for the card and `/v1/art`.
    pub fn new(service: NowPlayingService, art: Arc<ArtLibrary>, settings: AppSettings) -> Self {
        let AppSettings { allowed_origins, cache_seconds, credentials_parameter } = settings;
        App {
            service,
            allowed_origins,
            cache_seconds,
            credentials_parameter,
            art,
            page_policy: embeds::page_policy(&ImageHosts::default()),
            public_url: None,
            suggestions: None,
            digest: None,
            edge: None,
            live: None,
        }
    }

    /// Serves the suggestion routes with `service`.
    pub fn with_suggestions(mut self, service: Arc<SuggestionService>) -> Self {
        self.suggestions = Some(service);
        self
    }

    /// Sends the daily digest through `notifier` (the `daily-digest` job).
    pub fn with_digest(mut self, notifier: Option<Arc<dyn Notifier>>) -> Self {
        self.digest = notifier;
        self
    }

    /// Offers pages the realtime endpoint of `live` (`/v1/live`) when it has one, and lets
    /// the preview page connect to it.
    pub fn with_live(mut self, live: Option<&crate::config::Live>) -> Self {
        self.live = live.and_then(live::LiveOffer::of);
        self
    }

    /// Believes the viewer's address on requests that carry `secret` (`EDGE_SECRET`).
    pub fn with_edge(mut self, secret: Option<EdgeSecret>) -> Self {
        self.edge = secret;
        self
    }

    /// The preview page's snippets use this base URL rather than the request context's.
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url;
        self
    }

    /// The image hosts the preview page may show besides Spotify's CDNs (`ART_HOSTS`).
    pub fn with_image_hosts(mut self, hosts: &ImageHosts) -> Self {
        self.page_policy = embeds::page_policy(hosts);
        self
    }

    /// Always answers: every failure becomes a JSON error response, never an invocation error.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let path = route_path(&req);
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut response = match (RouteSpec::of(&path), req.method()) {
            (None, _) => {
                error_body(StatusCode::NOT_FOUND, "not_found", &format!("no such resource: {}", printable(&path)))
            }
            (Some(spec), &Method::OPTIONS) => preflight(&spec.allow()),
            (Some(spec), method) if spec.allows(method) => self.answer(spec.route, &req, &path).await,
            (Some(spec), method) => {
                let mut r = error_body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    &format!("{method} is not allowed here; use {}", spec.methods),
                );
                if let Ok(allow) = HeaderValue::from_str(&spec.allow()) {
                    r.headers_mut().insert(header::ALLOW, allow);
                }
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
        match route {
            Route::Current => self.current(req).await,
            Route::Card => self.card(req).await,
            Route::Open => self.open().await,
            Route::Art => self.art(req).await,
            Route::Widget => self.widget(req, false),
            Route::SuggestWidget => self.widget(req, true),
            Route::Page => self.page(req, path),
            Route::Health => self.health().await,
            Route::Search => self.search(req).await,
            Route::Challenge => self.challenge().await,
            Route::Suggestions => self.suggest(req).await,
            Route::Recent => self.recent(req).await,
            Route::RecentCard => self.recent_card(req).await,
            Route::Live => self.live(req).await,
            Route::LiveWidget => self.live_widget(req),
        }
    }

    /// `Cache-Control` for a shared answer of `kind`, with this deployment's cache window.
    fn shared(&self, kind: caching::Shared) -> String {
        match kind {
            caching::Shared::Recent | caching::Shared::RecentCard => {
                kind.header(u32::try_from(self.service.recent_window().as_secs()).unwrap_or(u32::MAX))
            }
            // Until the answer is due: the edge and the widget ask again when something can
            // have changed, not on a fixed grid.
            caching::Shared::Answer | caching::Shared::Card => {
                kind.header(u32::try_from(self.service.answer_max_age().as_secs()).unwrap_or(u32::MAX))
            }
            _ => kind.header(self.cache_seconds),
        }
    }
}
