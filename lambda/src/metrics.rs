//! CloudWatch metrics as Embedded Metric Format log lines: no API call, no extra permission.

use serde_json::json;

/// Namespace, metric and dimension the stack's expiry alarm watches.
pub const NAMESPACE: &str = "NowPlaying";
pub const DAYS_REMAINING: &str = "AuthorizationDaysRemaining";
pub const DIMENSION: &str = "CredentialsParameter";

/// One EMF line: the days left of the authorization stored in `parameter`, at `at`.
pub fn days_remaining_line(parameter: &str, days: i64, at: time::OffsetDateTime) -> String {
    json!({
        "_aws": {
            // Milliseconds since the epoch, as EMF wants.
            "Timestamp": at.unix_timestamp_nanos() / 1_000_000,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": [{ "Name": DAYS_REMAINING, "Unit": "Count" }],
            }],
        },
        DIMENSION: parameter,
        DAYS_REMAINING: days,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
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
