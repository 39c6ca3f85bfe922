//! The limits that protect Spotify's quota and the owner: fixed windows, the counters of
//! what is stored, the refusal budgets, and the visitor as a network.

use std::time::Duration;

use time::OffsetDateTime;
use tracing::{info, warn};

use super::model::*;
use super::service::{SuggestionService, unavailable};

pub(super) const HOUR: Duration = Duration::from_secs(3600);
pub(super) const DAY: Duration = Duration::from_secs(86_400);
/// The day's suggestions and refusals, of all visitors.
pub(super) const SUGGESTIONS_ALL: &str = "suggestions#all";
pub(super) const REFUSALS_ALL: &str = "refusals#all";

/// A visitor's counters.
pub(super) struct LimitKeys {
    pub(super) visitor_suggestions: String,
    pub(super) visitor_refusals: String,
}

impl LimitKeys {
    pub(super) fn of(visitor: &Visitor) -> Self {
        LimitKeys {
            visitor_suggestions: format!("visitor#{}#suggest", visitor.0),
            visitor_refusals: format!("visitor#{}#refused", visitor.0),
        }
    }
}

/// What identifies a visitor's network: an IPv4 address as it is, an IPv6 address by its
/// /64 (an IPv4-mapped one as its IPv4 address); anything else as it came.
pub(super) fn visitor_network(source_ip: &str) -> String {
    match source_ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => source_ip.to_owned(),
    }
}

/// The start of the fixed window of `length` that holds `now`, and its end.
pub(super) fn window(now: OffsetDateTime, length: Duration) -> (i64, OffsetDateTime) {
    let secs = length.as_secs().max(1) as i64;
    let index = now.unix_timestamp().div_euclid(secs);
    let end = OffsetDateTime::from_unix_timestamp((index + 1) * secs).unwrap_or(now);
    (index, end)
}

pub(super) fn wait_until(now: OffsetDateTime, end: OffsetDateTime) -> Duration {
    Duration::try_from(end - now).unwrap_or(Duration::from_secs(1)).max(Duration::from_secs(1))
}

impl SuggestionService {
    /// How many uses of `key` the window of `length` that holds now has counted.
    pub(super) async fn used(&self, key: &str, length: Duration) -> Result<(u32, OffsetDateTime), SuggestError> {
        let (index, end) = window(self.clock.now(), length);
        Ok((self.counters.used(&format!("{key}#{index}")).await.map_err(unavailable)?, end))
    }

    /// Gives back a use that `count` took for something that was not stored.
    pub(super) async fn give_back(&self, key: &str, length: Duration) {
        let (index, _) = window(self.clock.now(), length);
        if let Err(e) = self.counters.give_back(&format!("{key}#{index}")).await {
            warn!(error = %e, "could not give back a counted use");
        }
    }

    /// Counts one use of `what` by `key` in a window of `length`; 429 past `limit`.
    pub(super) async fn count(
        &self,
        key: &str,
        what: &'static str,
        limit: u32,
        length: Duration,
    ) -> Result<(), SuggestError> {
        let now = self.clock.now();
        let (index, end) = window(now, length);
        match self.counters.take(&format!("{key}#{index}"), limit, end).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                info!(limit = what, "over a limit");
                Err(SuggestError::RateLimited { what, retry_after: wait_until(now, end) })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// One Spotify look-up from the global budget, unless Spotify asked every instance to
    /// wait: then the visitor waits too, and `/v1/current` keeps the quota.
    pub(super) async fn lookup_allowed(&self) -> Result<(), SuggestError> {
        let now = self.clock.now();
        if let Ok(state) = self.shared.load().await
            && let Some((until, _)) = state.refused_until(now)
        {
            return Err(SuggestError::RateLimited { what: "look-ups", retry_after: wait_until(now, until) });
        }
        let limits = self.settings.limits;
        self.count("budget#lookups", "look-ups", limits.lookups_per_window, limits.lookup_window).await
    }

    /// Counts a refusal in the refusal budgets, then answers it. Other failures (a limit,
    /// an outage) are no refusal of the visitor's suggestion and count nowhere.
    pub(super) async fn refused(&self, keys: &LimitKeys, e: SuggestError) -> SuggestError {
        if matches!(
            e,
            SuggestError::ProofRequired(_) | SuggestError::TrackNotFound(_) | SuggestError::AlreadySuggested(_)
        ) {
            let limits = self.settings.limits;
            // The budgets' own limits only stop the count; the reads before a suggestion
            // decide. A failure to count is logged: the refusal stands either way.
            let (_, _) = tokio::join!(
                self.count(&keys.visitor_refusals, "refused suggestions", limits.refusals_per_visitor_per_hour, HOUR),
                self.count(REFUSALS_ALL, "refused suggestions", limits.refusals_per_day, DAY),
            );
        }
        e
    }

    pub(super) async fn give_back_suggestion(&self, keys: &LimitKeys, mine: bool, all: bool) {
        if mine {
            self.give_back(&keys.visitor_suggestions, HOUR).await;
        }
        if all {
            self.give_back(SUGGESTIONS_ALL, DAY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn windows_are_fixed_and_their_end_is_the_wait() {
        let now = datetime!(2026-11-28 12:00:20 UTC);
        let (index, end) = window(now, Duration::from_secs(60));
        assert_eq!(end, datetime!(2026-11-28 12:01:00 UTC));
        assert_eq!(window(datetime!(2026-11-28 12:00:59 UTC), Duration::from_secs(60)).0, index);
        assert_ne!(window(datetime!(2026-11-28 12:01:00 UTC), Duration::from_secs(60)).0, index);
        assert_eq!(wait_until(now, end), Duration::from_secs(40));
        assert_eq!(wait_until(end, end), Duration::from_secs(1));
    }
}
