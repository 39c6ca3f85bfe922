//! `/v1/recent` and `/v1/recent.svg`: what was played recently, as JSON and as a card.

use std::time::Duration;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use tokio::task::JoinSet;
use tracing::warn;

use super::App;
use super::caching::Shared;
use super::current::service_error;
use super::respond::{error_body, json_body, text_body, validated};
use crate::domain::art::nearest_image;
use crate::domain::{Art, MAX_RECENT};
use crate::render::{self, Theme};

/// How many plays `/v1/recent` lists without `?limit=`, and its card.
pub const DEFAULT_RECENT: usize = 10;
pub const DEFAULT_RECENT_CARD: usize = 5;
/// The most rows the card draws.
pub const MAX_RECENT_CARD: usize = 10;
/// The card inlines its art; it needs nothing else from anywhere.
const CARD_POLICY: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";
/// The most a card request may take, art included: image proxies give up at about 10 s.
const CARD_DEADLINE: Duration = Duration::from_secs(9);

/// `?limit=` from 1 to `max`, `default` when not given; `None` when it is anything else.
fn limit(req: &Request, default: usize, max: usize) -> Option<usize> {
    let given = req.query_string_parameters_ref().and_then(|q| q.first("limit").map(str::to_owned));
    match given.as_deref().map(str::parse::<usize>) {
        None => Some(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Some(n),
        Some(_) => None,
    }
}

fn bad_limit(max: usize) -> Response<Body> {
    error_body(
        StatusCode::BAD_REQUEST,
        "bad_request",
        &format!("limit must be a whole number from 1 to {max}, such as 5"),
    )
}

impl App {
    pub(super) async fn recent(&self, req: &Request) -> Response<Body> {
        let Some(limit) = limit(req, DEFAULT_RECENT, MAX_RECENT) else { return bad_limit(MAX_RECENT) };
        match self.service.recent().await {
            Ok(list) => validated(req, json_body(StatusCode::OK, &list.public(limit)), &self.shared(Shared::Recent)),
            Err(e) => service_error(&e),
        }
    }
}

impl App {
    /// The card of the last `?limit=` plays (5 by default, at most 10), each row with its
    /// art at 64 px or the nearest, fetched together within the card's deadline.
    pub(super) async fn recent_card(&self, req: &Request) -> Response<Body> {
        let started = tokio::time::Instant::now();
        let Some(limit) = limit(req, DEFAULT_RECENT_CARD, MAX_RECENT_CARD) else { return bad_limit(MAX_RECENT_CARD) };
        let recent = self.service.recent().await.inspect_err(|e| warn!(error = %e, "recent card drawn without data"));
        let recent = recent.ok();
        let urls: Vec<Option<String>> = recent
            .iter()
            .flat_map(|r| r.plays.iter().take(limit))
            .map(|p| nearest_image(&p.item.images, 64).map(|i| i.url.clone()))
            .collect();
        let mut fetches = JoinSet::new();
        for (n, url) in urls.into_iter().enumerate() {
            if let Some(url) = url {
                let art = self.art.clone();
                fetches.spawn(async move { (n, art.get(&url).await) });
            }
        }
        let mut art: Vec<Option<Art>> = vec![None; limit];
        let left = CARD_DEADLINE.saturating_sub(started.elapsed());
        let _ = tokio::time::timeout(left, async {
            while let Some(Ok((n, got))) = fetches.join_next().await {
                if let Some(slot) = art.get_mut(n) {
                    *slot = got;
                }
            }
        })
        .await;
        let theme = Theme::from_query(req.query_string_parameters_ref().and_then(|q| q.first("theme")));
        let at = recent.as_ref().map_or_else(time::OffsetDateTime::now_utc, |r| r.fetched_at);
        let svg = render::svg_recent(recent.as_ref(), &art, limit, theme, at);
        let mut r = validated(req, text_body("image/svg+xml; charset=utf-8", svg), &self.shared(Shared::RecentCard));
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CARD_POLICY));
        r
    }
}
