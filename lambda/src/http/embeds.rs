//! The embeds: the SVG card, the widget's script and the preview page.

use std::time::Duration;

use lambda_http::http::{HeaderValue, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::warn;

use super::App;
use super::caching::{IMMUTABLE, Shared};
use super::respond::{text_body, validated};
use crate::domain::art::art_image;
use crate::domain::{Art, ImageHosts, NowPlaying};
use crate::render::{self, Theme};

/// The card inlines its art; it needs nothing else from anywhere.
const CARD_POLICY: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/// The most a card request may take, art included.
const CARD_DEADLINE: Duration = Duration::from_secs(9);

/// The preview page: its own script and data, images from `hosts`, inline styles (the
/// widget's shadow DOM), the suggestion dialog's proof-of-work worker, nothing else; never
/// framed.
pub(super) fn page_policy(hosts: &ImageHosts) -> String {
    let mut images = String::from("'self' data: https://*.scdn.co https://*.spotifycdn.com");
    for host in hosts.extra() {
        images.push_str(&format!(" http://{host} https://{host}"));
    }
    format!(
        "default-src 'none'; script-src 'self'; worker-src blob:; connect-src 'self'; img-src {images}; style-src 'unsafe-inline'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

impl App {
    pub(super) async fn card(&self, req: &Request) -> Response<Body> {
        let started = tokio::time::Instant::now();
        let doc = self.service.current().await.inspect_err(|e| warn!(error = %e, "card drawn without data"));
        let doc = doc.ok();
        // The art gets what is left of the card's deadline, so the whole answer
        // stays inside it: image proxies give up at about 10 s.
        let left = CARD_DEADLINE.saturating_sub(started.elapsed());
        let art = tokio::time::timeout(left, self.art_for(doc.as_ref())).await.ok().flatten();
        let theme = Theme::from_query(req.query_string_parameters_ref().and_then(|q| q.first("theme")));
        // Drawn as of the read, so the card and its ETag stay the same for the window.
        let at = doc.as_ref().map_or_else(time::OffsetDateTime::now_utc, |d| d.fetched_at);
        let svg = render::svg_card(doc.as_ref(), art.as_ref(), theme, at);
        let mut r = validated(req, text_body("image/svg+xml; charset=utf-8", svg), &self.shared(Shared::Card));
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CARD_POLICY));
        r
    }

    /// The widget's script, or (`suggest`) its "Suggest a song" dialog.
    pub(super) fn widget(&self, req: &Request, suggest: bool) -> Response<Body> {
        let script = if suggest { &render::SUGGEST_SERVED } else { &render::WIDGET_SERVED };
        self.script(req, script)
    }

    /// The live module (`/v1/widget-live.js`): the widget imports it with `live`.
    pub(super) fn live_widget(&self, req: &Request) -> Response<Body> {
        self.script(req, &render::LIVE_SERVED)
    }

    /// A script: a versioned URL (`?v=`) never changes; the bare one is re-checked hourly.
    fn script(&self, req: &Request, script: &str) -> Response<Body> {
        let versioned =
            req.query_string_parameters_ref().and_then(|q| q.first("v")).is_some_and(|v| v == render::widget_version());
        let cache = if versioned { IMMUTABLE.to_owned() } else { self.shared(Shared::Script) };
        validated(req, text_body("text/javascript; charset=utf-8", script.to_string()), &cache)
    }

    pub(super) fn page(&self, req: &Request, path: &str) -> Response<Body> {
        let base = self.public_url.clone().unwrap_or_else(|| public_base(req, path));
        let page = render::preview_page(&base, self.suggestions_open());
        let mut r = validated(req, text_body("text/html; charset=utf-8", page), &self.shared(Shared::Page));
        // The page's own widget may subscribe to the realtime endpoint.
        let policy = match &self.live {
            Some(offer) => {
                self.page_policy.replace("connect-src 'self'", &format!("connect-src 'self' {}", offer.origin()))
            }
            None => self.page_policy.clone(),
        };
        if let Ok(v) = HeaderValue::from_str(&policy) {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
        r
    }

    /// The card's rendition of the art, when there is one and it can be had in time.
    async fn art_for(&self, doc: Option<&NowPlaying>) -> Option<Art> {
        let image = art_image(&doc?.item.as_ref()?.images)?;
        self.art.get(&image.url).await
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
