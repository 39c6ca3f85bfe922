//! The authorization's health: how old the owner's authorization is and how long it lasts,
//! decided from the credentials alone, without calling Spotify.

use serde::Serialize;
use time::{Date, Month, OffsetDateTime};
use tracing::warn;

use std::collections::BTreeMap;

use crate::domain::ports::{CredentialsError, SharedState};
use crate::domain::quota::{Budget, Share};
use crate::domain::{Credentials, Privacy};

/// How long a refresh token lives after the owner authorized the app.
pub const AUTHORIZATION_LIFE_MONTHS: u8 = 6;

/// `GET /v1/health`: the authorization's age and remaining life, read without calling Spotify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    pub configured: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub authorized_at: Option<OffsetDateTime>,
    pub authorization_age_days: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub authorization_expires_at: Option<OffsetDateTime>,
    pub days_remaining: Option<i64>,
    /// What is wrong and how to fix it, when something is.
    pub problem: Option<String>,
    /// The owner's privacy rules: `none`, `rules`, or `unreadable` (nothing is shown).
    pub privacy: &'static str,
    /// Spotify's quota as this deployment spends it; `None` until it was read.
    pub spotify: Option<SpotifyUse>,
}

/// `spotify` of `/v1/health`: the Web API calls of the last 24 hours against the budget,
/// each share's, the token refreshes apart, and a running `QUOTA_EXCEEDED` refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpotifyUse {
    pub calls_last_24h: u32,
    pub calls_per_day: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub quota_exceeded_until: Option<OffsetDateTime>,
    /// `current`, `recent` and `visitors`: each one's calls and its limit.
    pub shares: BTreeMap<&'static str, ShareUse>,
    /// Calls to the accounts service, which the budget does not count.
    pub token_refreshes_last_24h: u32,
    /// When `/v1/current` next asks Spotify, if somebody asks for it then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub answer_due_at: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShareUse {
    pub calls_last_24h: u32,
    pub limit: u32,
}

impl SpotifyUse {
    /// What `state` says at `now` of the calls spent under `budget`.
    pub fn of(state: &SharedState, budget: &Budget, now: OffsetDateTime) -> Self {
        let shares = Share::ALL
            .iter()
            .map(|s| (s.key(), ShareUse { calls_last_24h: state.calls.spent(*s, now), limit: budget.limit(*s) }))
            .collect();
        SpotifyUse {
            calls_last_24h: state.calls.spent_all(now),
            calls_per_day: budget.calls_per_day,
            quota_exceeded_until: state.quota_until.filter(|until| *until > now),
            shares,
            token_refreshes_last_24h: state.calls.refreshes(now),
            answer_due_at: state.due_at,
        }
    }
}

impl Health {
    /// The health at `now` of the credentials as read, or of their failing to be read.
    pub fn of(credentials: Result<Credentials, CredentialsError>, now: OffsetDateTime) -> Health {
        match credentials {
            Ok(credentials) => {
                let expires_at = add_months(credentials.authorized_at, AUTHORIZATION_LIFE_MONTHS);
                let days_remaining = (expires_at - now).whole_days();
                Health {
                    configured: true,
                    authorized_at: Some(credentials.authorized_at),
                    authorization_age_days: Some((now - credentials.authorized_at).whole_days()),
                    authorization_expires_at: Some(expires_at),
                    days_remaining: Some(days_remaining),
                    problem: (days_remaining <= 0)
                        .then(|| "the refresh token is past its 6-month life; run `make bootstrap`".to_owned()),
                    privacy: "none",
                    spotify: None,
                }
            }
            Err(e) => {
                warn!(error = %e, "health check: credentials unavailable");
                Health {
                    configured: false,
                    authorized_at: None,
                    authorization_age_days: None,
                    authorization_expires_at: None,
                    days_remaining: None,
                    problem: Some(e.public_message()),
                    privacy: "none",
                    spotify: None,
                }
            }
        }
    }

    /// With the state of the privacy rules; unusable rules are a problem (nothing is shown
    /// until they are fixed), named without repeating them.
    pub fn with_privacy(mut self, privacy: &Privacy) -> Self {
        let (state, why) = privacy.state();
        self.privacy = state;
        if let Some(why) = why {
            let fix = format!("privacy rules: {why}; nothing is shown until `make privacy show` reads them");
            self.problem = Some(match self.problem.take() {
                Some(first) => format!("{first}; {fix}"),
                None => fix,
            });
        }
        self
    }

    /// With the Spotify calls spent.
    pub fn with_spotify(mut self, usage: SpotifyUse) -> Self {
        self.spotify = Some(usage);
        self
    }

    /// Configured and the refresh token has not lapsed.
    pub fn is_ok(&self) -> bool {
        self.configured && self.days_remaining.is_some_and(|d| d > 0) && self.privacy != "unreadable"
    }
}

/// Calendar months later, the day clamped to the target month's length.
pub fn add_months(at: OffsetDateTime, months: u8) -> OffsetDateTime {
    let index = at.month() as i32 - 1 + i32::from(months);
    let year = at.year() + index.div_euclid(12);
    let month = Month::try_from((index.rem_euclid(12) + 1) as u8).unwrap_or(Month::December);
    let day = at.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).map(|date| at.replace_date(date)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn six_months_after_august_31_is_the_last_day_of_february() {
        assert_eq!(add_months(datetime!(2026-08-31 10:00 UTC), 6), datetime!(2027-02-28 10:00 UTC));
    }

    #[test]
    fn health_is_ok_only_while_days_remain() {
        let health = |days| Health {
            configured: true,
            authorized_at: None,
            authorization_age_days: None,
            authorization_expires_at: None,
            days_remaining: Some(days),
            problem: None,
            privacy: "none",
            spotify: None,
        };
        assert!(health(1).is_ok());
        assert!(!health(0).is_ok(), "with no whole day left the owner must authorize again");
        assert!(!Health { configured: false, ..health(30) }.is_ok());
    }

    #[test]
    fn six_months_after_may_20_is_november_20() {
        assert_eq!(add_months(datetime!(2026-05-20 10:00 UTC), 6), datetime!(2026-11-20 10:00 UTC));
    }
}
