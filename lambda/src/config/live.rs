//! Live push's settings: the Event API the function publishes to, what pages subscribe
//! with, and the queue of the live runner's ticks.

use super::{ConfigError, base_url};

/// The Event API a changed answer is published to: its HTTP endpoint and the channel; and,
/// when pages may subscribe, its realtime endpoint and public API key (`/v1/live`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    pub url: String,
    pub channel: String,
    /// `LIVE_REALTIME_URL`: `wss://ID.appsync-realtime-api.REGION.amazonaws.com/event/realtime`.
    pub realtime_url: Option<String>,
    /// `LIVE_API_KEY`: the key pages connect and subscribe with. Public by design: it is
    /// in every page; it cannot publish.
    pub api_key: Option<String>,
    /// `LIVE_API_KEY_EXPIRES`: when the key lapses, in seconds since the epoch (every
    /// deploy of the stack renews it).
    pub api_key_expires: Option<time::OffsetDateTime>,
    /// `LIVE_QUEUE_URL`: the SQS queue the live runner's ticks wait in; without it no
    /// runner, and pushes come only from visitors' refreshes.
    pub queue_url: Option<String>,
    /// `LIVE_PRESENCE_SECONDS`: how long viewers count as present after a page's last
    /// `/v1/live` (600; 10 to 3600).
    pub presence: std::time::Duration,
}

/// The channel pages subscribe to unless `LIVE_CHANNEL` names another.
pub const DEFAULT_LIVE_CHANNEL: &str = "/now-playing/current";

pub(super) fn live(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Live>, ConfigError> {
    let Some(url) = get("LIVE_URL") else { return Ok(None) };
    let url = base_url("LIVE_URL", Some(url), "https://ID.appsync-api.eu-west-1.amazonaws.com")?;
    let channel = get("LIVE_CHANNEL").unwrap_or_else(|| DEFAULT_LIVE_CHANNEL.to_owned());
    let segments: Vec<&str> = channel.strip_prefix('/').unwrap_or("").split('/').collect();
    let valid = |s: &&str| !s.is_empty() && s.len() <= 50 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !channel.starts_with('/') || segments.len() > 5 || !segments.iter().all(valid) {
        return Err(ConfigError::Invalid {
            name: "LIVE_CHANNEL",
            reason: format!(
                "expected a channel such as {DEFAULT_LIVE_CHANNEL}: a namespace and up to four segments of letters, \
                 digits and '-'"
            ),
        });
    }
    let realtime_url = get("LIVE_REALTIME_URL");
    if let Some(url) = &realtime_url {
        let rest = url.strip_prefix("wss://").or_else(|| url.strip_prefix("ws://")).unwrap_or("");
        if rest.is_empty() || rest.contains(['?', '#', ' ', '"', '\'', '<', '>']) {
            return Err(ConfigError::Invalid {
                name: "LIVE_REALTIME_URL",
                reason: "expected a WebSocket URL such as wss://ID.appsync-realtime-api.eu-west-1.amazonaws.com/event/realtime"
                    .into(),
            });
        }
    }
    let api_key = get("LIVE_API_KEY");
    if api_key.as_ref().is_some_and(|k| k.len() > 128 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')) {
        return Err(ConfigError::Invalid {
            name: "LIVE_API_KEY",
            reason: "expected an AppSync API key such as da2-… (letters, digits and '-')".into(),
        });
    }
    if realtime_url.is_some() != api_key.is_some() {
        return Err(ConfigError::Invalid {
            name: if realtime_url.is_some() { "LIVE_API_KEY" } else { "LIVE_REALTIME_URL" },
            reason: "pages subscribe with both LIVE_REALTIME_URL and LIVE_API_KEY: set both, or neither".into(),
        });
    }
    let api_key_expires = match get("LIVE_API_KEY_EXPIRES") {
        Some(text) => {
            Some(text.parse::<i64>().ok().and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok()).ok_or_else(
                || ConfigError::Invalid {
                    name: "LIVE_API_KEY_EXPIRES",
                    reason: "expected seconds since the epoch, as the stack sets it".into(),
                },
            )?)
        }
        None => None,
    };
    let queue_url = match get("LIVE_QUEUE_URL") {
        Some(url) => Some(base_url(
            "LIVE_QUEUE_URL",
            Some(url),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/now-playing-ticks",
        )?),
        None => None,
    };
    let presence = match get("LIVE_PRESENCE_SECONDS") {
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if (10..=3600).contains(&seconds) => std::time::Duration::from_secs(seconds),
            _ => {
                return Err(ConfigError::Invalid {
                    name: "LIVE_PRESENCE_SECONDS",
                    reason: format!("expected whole seconds from 10 to 3600, got {text:?}"),
                });
            }
        },
        None => crate::domain::service::PRESENCE,
    };
    Ok(Some(Live { url, channel, realtime_url, api_key, api_key_expires, queue_url, presence }))
}
