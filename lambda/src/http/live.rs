//! `/v1/live`: what a page needs to subscribe to pushed answers (AppSync Events: the
//! realtime endpoint, the API's host, its public key, the channel), and the answer to show
//! until the first push. Without a realtime endpoint it says so (`"transport": null`), and
//! pages poll as before.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::App;
use super::caching::Shared;
use super::current::service_error;
use super::respond::{json_body, validated};
use time::OffsetDateTime;

use crate::config::Live;

/// What pages are told of the Event API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOffer {
    realtime: String,
    host: String,
    api_key: String,
    channel: String,
    key_expires: Option<OffsetDateTime>,
}

/// How long before the pages' key lapses `/v1/health` says so.
pub const KEY_WARNING: time::Duration = time::Duration::days(14);

impl LiveOffer {
    /// The offer of `live`, when it has a realtime endpoint and a key.
    pub fn of(live: &Live) -> Option<LiveOffer> {
        let host = live.url.split_once("://").map_or(live.url.as_str(), |(_, rest)| rest);
        Some(LiveOffer {
            realtime: live.realtime_url.clone()?,
            host: host.split('/').next().unwrap_or(host).to_owned(),
            api_key: live.api_key.clone()?,
            channel: live.channel.clone(),
            key_expires: live.api_key_expires,
        })
    }

    /// `live` of `/v1/health`: the key's expiry, and a warning within `KEY_WARNING` of it.
    pub fn health(&self, now: OffsetDateTime) -> serde_json::Value {
        let Some(expires) = self.key_expires else { return serde_json::json!({ "api_key_expires_at": null }) };
        let left = expires - now;
        let warning = (left < KEY_WARNING).then(|| {
            format!(
                "the pages' key for live push lapses in {} days; then live pages poll instead. Run make deploy to renew it",
                left.whole_days().max(0)
            )
        });
        serde_json::json!({
            "api_key_expires_at": expires.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "days_remaining": left.whole_days(),
            "warning": warning,
        })
    }

    /// The realtime endpoint's origin, for the preview page's `connect-src`.
    pub fn origin(&self) -> &str {
        let after_scheme = self.realtime.find("://").map_or(0, |i| i + 3);
        let end = self.realtime[after_scheme..].find('/').map_or(self.realtime.len(), |i| after_scheme + i);
        &self.realtime[..end]
    }
}

impl App {
    pub(super) async fn live(&self, req: &Request) -> Response<Body> {
        // A page asks on load and every few minutes: viewers are present, in the same round
        // as the answer is read.
        let (doc, ()) = tokio::join!(self.service.current(), self.service.viewer_arrived());
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => return service_error(&e),
        };
        let current = serde_json::to_value(doc.public()).unwrap_or_default();
        let body = match &self.live {
            Some(offer) => serde_json::json!({
                "transport": "appsync-events",
                "realtime": offer.realtime,
                "host": offer.host,
                "api_key": offer.api_key,
                "channel": offer.channel,
                "current": current,
            }),
            None => serde_json::json!({ "transport": null, "current": current }),
        };
        validated(req, json_body(StatusCode::OK, &body), &self.shared(Shared::Live))
    }
}
