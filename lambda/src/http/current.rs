//! The now-playing routes: `/v1/current`, `/v1/open`, `/v1/art` and `/v1/health`.

use std::time::Duration;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::warn;

use super::App;
use super::caching::{PRIVATE, Shared};
use super::respond::{error_body, json_body, validated, with_retry_after};
use crate::domain::art::nearest_image;
use crate::domain::ports::{CredentialsError, SpotifyError};
use crate::domain::{NowPlaying, ServiceError, is_spotify_link};

const OPEN_SPOTIFY: &str = "https://open.spotify.com/";
/// The widest `/v1/art?size=` asked for; Spotify's largest rendition is 640 px.
const MAX_ART_SIZE: u32 = 4096;

impl App {
    pub(super) async fn current(&self, req: &Request) -> Response<Body> {
        match self.service.current().await {
            Ok(doc) => validated(req, json_body(StatusCode::OK, &doc.public()), &self.shared(Shared::Answer)),
            Err(e) => service_error(&e),
        }
    }

    /// A redirect to what is playing on Spotify, else to Spotify's home page.
    pub(super) async fn open(&self) -> Response<Body> {
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
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_str(&self.shared(Shared::Answer)).unwrap_or(PRIVATE));
        r
    }

    /// A redirect to the current album art at about `?size=` pixels wide (300 when not
    /// given), for pages that want only an `<img>`.
    pub(super) async fn art(&self, req: &Request) -> Response<Body> {
        let size = req.query_string_parameters_ref().and_then(|q| q.first("size").map(str::to_owned));
        let size = match size.as_deref().map(str::parse::<u32>) {
            None => 300,
            Some(Ok(size)) if (1..=MAX_ART_SIZE).contains(&size) => size,
            Some(_) => {
                return error_body(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &format!("size must be a width in pixels from 1 to {MAX_ART_SIZE}, such as 64, 300 or 640"),
                );
            }
        };
        let doc = match self.service.current().await {
            Ok(doc) => doc,
            Err(e) => return service_error(&e),
        };
        let image = doc.item.as_ref().and_then(|item| nearest_image(&item.images, size));
        let Some(location) = image.and_then(|i| HeaderValue::from_str(&i.url).ok()) else {
            return error_body(
                StatusCode::NOT_FOUND,
                "no_art",
                "nothing with album art is playing or was played last (a local file, or nothing at all)",
            );
        };
        let mut r = Response::builder().status(StatusCode::FOUND).body(Body::Empty).unwrap_or_default();
        r.headers_mut().insert(header::LOCATION, location);
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_str(&self.shared(Shared::Answer)).unwrap_or(PRIVATE));
        r
    }

    /// The keep-fresh schedule's event: the access token is refreshed before it can lapse,
    /// so the first visitor after a quiet spell does not wait for the accounts service.
    pub(super) async fn health(&self) -> Response<Body> {
        let health = self.service.health().await;
        let status = if health.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        let mut doc = serde_json::to_value(&health).unwrap_or_default();
        if let Some(live) = &self.live {
            doc["live"] = live.health(self.service.now());
        }
        let mut r = json_body(status, &doc);
        r.headers_mut().insert(header::CACHE_CONTROL, PRIVATE);
        r
    }
}

/// The one place where a domain failure becomes a status code and a stable error code.
pub(super) fn service_error(e: &ServiceError) -> Response<Body> {
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
        ServiceError::BudgetSpent => (
            StatusCode::SERVICE_UNAVAILABLE,
            "budget_spent",
            "this deployment's budget of Spotify calls (spotifyCallsPerDay) is spent for this hour, and there is \
             no earlier answer to fall back on"
                .to_owned(),
            Some(Duration::from_secs(60)),
        ),
        ServiceError::UpstreamUnavailable { cause, retry_after } => {
            let status =
                if *cause == SpotifyError::Timeout { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
            (status, "upstream_unavailable", format!("{cause}; no earlier answer to fall back on"), *retry_after)
        }
    };
    let r = error_body(status, code, &message);
    match retry_after {
        Some(wait) => with_retry_after(r, wait),
        None => r,
    }
}
