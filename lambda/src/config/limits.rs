//! The settings that limit what may be spent: Spotify's budget and its shares, and the
//! visitors' suggestion limits.

use super::ConfigError;
use crate::domain::quota::Budget;
use crate::domain::suggestions::{Limits, Mode, Settings};

/// The most calls a day the budget may name: far above any quota Spotify is known to grant.
pub const MAX_CALLS_PER_DAY: u32 = 1_000_000;
/// The fewest: below it the answer's share checks less than once every few minutes.
pub const MIN_CALLS_PER_DAY: u32 = 100;

/// The budget as `lookup` gives its variables (the owner's tools read the environment).
pub fn budget_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Budget, ConfigError> {
    budget(&|name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// `SPOTIFY_CALLS_PER_DAY` and the shares of visitors and of the recent list, in percent;
/// together the two shares leave the answer at least half.
pub(super) fn budget(get: &impl Fn(&str) -> Option<String>) -> Result<Budget, ConfigError> {
    let defaults = Budget::default();
    let calls_per_day = match get("SPOTIFY_CALLS_PER_DAY") {
        None => defaults.calls_per_day,
        Some(v) => {
            v.parse::<u32>().ok().filter(|n| (MIN_CALLS_PER_DAY..=MAX_CALLS_PER_DAY).contains(n)).ok_or_else(|| {
                ConfigError::Invalid {
                    name: "SPOTIFY_CALLS_PER_DAY",
                    reason: format!(
                        "expected a whole number of Web API calls per 24 hours from {MIN_CALLS_PER_DAY} to \
                     {MAX_CALLS_PER_DAY}, such as 1000 (Spotify refuses development-mode apps after about 1,100), \
                     got {v:?}"
                    ),
                }
            })?
        }
    };
    let percent = |name: &'static str, default: u8| -> Result<u8, ConfigError> {
        match get(name) {
            None => Ok(default),
            Some(v) => v.parse::<u8>().ok().filter(|p| *p <= 50).ok_or_else(|| ConfigError::Invalid {
                name,
                reason: format!("expected a whole percent of SPOTIFY_CALLS_PER_DAY from 0 to 50, got {v:?}"),
            }),
        }
    };
    let visitor_percent = percent("SPOTIFY_VISITOR_SHARE", defaults.visitor_percent)?;
    let recent_percent = percent("SPOTIFY_RECENT_SHARE", defaults.recent_percent)?;
    if visitor_percent + recent_percent > 50 {
        return Err(ConfigError::Invalid {
            name: "SPOTIFY_VISITOR_SHARE",
            reason: format!(
                "with SPOTIFY_RECENT_SHARE it takes {}% of the budget; together they may take at most 50%, \
                 so that /v1/current keeps at least half",
                visitor_percent + recent_percent
            ),
        });
    }
    Ok(Budget { calls_per_day, visitor_percent, recent_percent })
}

/// `SUGGESTIONS`, `SUGGESTIONS_PROOF_OF_WORK` and the limits.
pub(super) fn suggestion_settings(get: &impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let defaults = Limits::default();
    let mode = match get("SUGGESTIONS") {
        None => Mode::Off,
        Some(v) => v.parse::<Mode>().map_err(|reason| ConfigError::Invalid { name: "SUGGESTIONS", reason })?,
    };
    let proof_of_work = match get("SUGGESTIONS_PROOF_OF_WORK").as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "SUGGESTIONS_PROOF_OF_WORK",
                reason: format!("expected on or off, got {other:?}"),
            });
        }
    };
    let count = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
        match get(name) {
            None => Ok(default),
            Some(v) => v.parse::<u32>().ok().filter(|n| (1..=100_000).contains(n)).ok_or_else(|| {
                ConfigError::Invalid { name, reason: format!("expected a whole number from 1 to 100000, got {v:?}") }
            }),
        }
    };
    let limits = Limits {
        suggestions_per_visitor_per_hour: count(
            "SUGGESTIONS_PER_VISITOR_PER_HOUR",
            defaults.suggestions_per_visitor_per_hour,
        )?,
        suggestions_per_day: count("SUGGESTIONS_PER_DAY", defaults.suggestions_per_day)?,
        searches_per_visitor_per_minute: count(
            "SEARCHES_PER_VISITOR_PER_MINUTE",
            defaults.searches_per_visitor_per_minute,
        )?,
        refusals_per_visitor_per_hour: count("REFUSALS_PER_VISITOR_PER_HOUR", defaults.refusals_per_visitor_per_hour)?,
        refusals_per_day: count("REFUSALS_PER_DAY", defaults.refusals_per_day)?,
        ..defaults
    };
    Ok(Settings { mode, proof_of_work, limits })
}
