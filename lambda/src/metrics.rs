//! CloudWatch metrics as Embedded Metric Format log lines: no API call, no extra permission.

use serde_json::{Value, json};

/// Namespace, metric and dimension the stack's expiry alarm watches.
pub const NAMESPACE: &str = "NowPlaying";
pub const DAYS_REMAINING: &str = "AuthorizationDaysRemaining";
pub const DIMENSION: &str = "CredentialsParameter";
/// The Web API calls of the last 24 hours, and 1 while Spotify refuses with `QUOTA_EXCEEDED`.
pub const SPOTIFY_CALLS: &str = "SpotifyCallsLast24h";
pub const QUOTA_REFUSED: &str = "SpotifyQuotaRefused";

/// One EMF line of `metrics` (name, value; all counts) for the deployment whose credentials
/// are `parameter`, at `at`.
fn line(parameter: &str, metrics: &[(&str, Value)], at: time::OffsetDateTime) -> String {
    let mut line = json!({
        "_aws": {
            // Milliseconds since the epoch, as EMF wants.
            "Timestamp": at.unix_timestamp_nanos() / 1_000_000,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": metrics.iter().map(|(name, _)| json!({ "Name": name, "Unit": "Count" })).collect::<Vec<_>>(),
            }],
        },
        DIMENSION: parameter,
    });
    for (name, value) in metrics {
        line[*name] = value.clone();
    }
    line.to_string()
}

/// One EMF line: the days left of the authorization stored in `parameter`, at `at`.
pub fn days_remaining_line(parameter: &str, days: i64, at: time::OffsetDateTime) -> String {
    line(parameter, &[(DAYS_REMAINING, json!(days))], at)
}

/// One EMF line: the Web API calls of the last 24 hours and whether Spotify refuses the
/// quota, for the deployment whose credentials are `parameter`, at `at`.
pub fn spotify_line(parameter: &str, calls: u32, refused: bool, at: time::OffsetDateTime) -> String {
    line(parameter, &[(SPOTIFY_CALLS, json!(calls)), (QUOTA_REFUSED, json!(u8::from(refused)))], at)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_spotify_line_carries_the_calls_and_the_refusal() {
        let line: serde_json::Value = serde_json::from_str(&super::spotify_line(
            "/now-playing/spotify",
            812,
            true,
            time::macros::datetime!(2026-12-07 12:00 UTC),
        ))
        .unwrap();
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Metrics"][0]["Name"], "SpotifyCallsLast24h");
        assert_eq!(declared["Metrics"][1]["Name"], "SpotifyQuotaRefused");
        assert_eq!((line["SpotifyCallsLast24h"].as_u64(), line["SpotifyQuotaRefused"].as_u64()), (Some(812), Some(1)));
    }

    use super::*;

    #[test]
    fn the_line_declares_the_metric_and_carries_its_value_and_dimension() {
        let line: serde_json::Value = serde_json::from_str(&days_remaining_line(
            "/now-playing/spotify",
            65,
            time::macros::datetime!(2026-11-27 20:00:00.123 UTC),
        ))
        .unwrap();
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "NowPlaying");
        assert_eq!(declared["Dimensions"][0][0], "CredentialsParameter");
        assert_eq!(declared["Metrics"][0]["Name"], "AuthorizationDaysRemaining");
        assert_eq!(line["AuthorizationDaysRemaining"], 65);
        assert_eq!(line["CredentialsParameter"], "/now-playing/spotify");
        assert_eq!(line["_aws"]["Timestamp"], 1_795_809_600_123_i64);
    }
}
