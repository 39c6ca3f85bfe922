//! Answers "what is playing" and "is this deployment healthy" from the ports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use time::{Date, Month, OffsetDateTime};
use tracing::{info, warn};

use crate::domain::{NowPlaying, Playback, TokenError, TokenManager};
use crate::ports::{Clock, CredentialsError, Spotify, SpotifyError};

/// How long a refresh token lives after the owner authorized the app.
pub const AUTHORIZATION_LIFE_MONTHS: u8 = 6;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ServiceError {
    #[error("reauthorization required: {0}")]
    ReauthorizationRequired(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Spotify failed and there is no earlier good answer to fall back on.
    #[error("Spotify is unavailable: {cause}")]
    UpstreamUnavailable {
        cause: SpotifyError,
        retry_after: Option<Duration>,
    },
}

impl From<TokenError> for ServiceError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Reauthorize(reason) => ServiceError::ReauthorizationRequired(reason),
            TokenError::Credentials(e) => ServiceError::Credentials(e),
            TokenError::Spotify(cause) => ServiceError::UpstreamUnavailable {
                retry_after: retry_after(&cause),
                cause,
            },
        }
    }
}

fn retry_after(cause: &SpotifyError) -> Option<Duration> {
    match cause {
        SpotifyError::RateLimited { retry_after } => Some(*retry_after),
        _ => None,
    }
}

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
}

impl Health {
    /// Configured and the refresh token has not lapsed.
    pub fn is_ok(&self) -> bool {
        self.configured && self.days_remaining.is_some_and(|d| d > 0)
    }
}

pub struct NowPlayingService {
    spotify: Arc<dyn Spotify>,
    tokens: TokenManager,
    clock: Arc<dyn Clock>,
    last_good: Mutex<Option<NowPlaying>>,
    backoff_until: Mutex<Option<OffsetDateTime>>,
}

impl NowPlayingService {
    pub fn new(spotify: Arc<dyn Spotify>, tokens: TokenManager, clock: Arc<dyn Clock>) -> Self {
        NowPlayingService {
            spotify,
            tokens,
            clock,
            last_good: Mutex::new(None),
            backoff_until: Mutex::new(None),
        }
    }

    /// The now-playing document; the last good one, marked stale, when Spotify fails.
    pub async fn current(&self) -> Result<NowPlaying, ServiceError> {
        let now = self.clock.now();
        let backoff = *lock(&self.backoff_until);
        if let Some(until) = backoff.filter(|until| *until > now) {
            let retry_after = Duration::try_from(until - now).unwrap_or_default();
            info!(
                spotify_call = "skipped",
                backoff_seconds = retry_after.as_secs(),
                "rate limited; not calling Spotify"
            );
            return self.fall_back(ServiceError::UpstreamUnavailable {
                cause: SpotifyError::RateLimited { retry_after },
                retry_after: Some(retry_after),
            });
        }
        match self.fetch().await {
            Ok(doc) => {
                info!(status = ?doc.status, "now playing answered");
                *lock(&self.last_good) = Some(doc.clone());
                Ok(doc)
            }
            Err(ServiceError::UpstreamUnavailable { cause, retry_after }) => {
                warn!(error = %cause, "Spotify call failed");
                if let Some(wait) = retry_after {
                    *lock(&self.backoff_until) = Some(now + wait);
                }
                self.fall_back(ServiceError::UpstreamUnavailable { cause, retry_after })
            }
            Err(other) => Err(other),
        }
    }

    fn fall_back(&self, error: ServiceError) -> Result<NowPlaying, ServiceError> {
        match lock(&self.last_good).clone() {
            Some(doc) => {
                info!(stale = true, "serving the last good answer");
                Ok(NowPlaying { stale: true, ..doc })
            }
            None => Err(error),
        }
    }

    async fn fetch(&self) -> Result<NowPlaying, ServiceError> {
        let mut token = self.tokens.token().await?;
        let playback = match self.spotify.currently_playing(&token).await {
            Err(SpotifyError::Unauthorized) => {
                info!(
                    spotify_status = 401,
                    "access token rejected; refreshing once"
                );
                token = self.tokens.token_after_rejection(&token).await?;
                self.spotify
                    .currently_playing(&token)
                    .await
                    .map_err(after_retry)?
            }
            other => other.map_err(after_retry)?,
        };
        let recent = match playback {
            Playback::Nothing => self
                .spotify
                .recently_played(&token)
                .await
                .map_err(after_retry)?,
            Playback::Item { .. } => None,
        };
        Ok(NowPlaying::from_spotify(playback, recent, self.clock.now()))
    }

    /// The authorization's state, without calling Spotify.
    pub async fn health(&self) -> Health {
        match self.tokens.credentials().await {
            Ok(credentials) => {
                let now = self.clock.now();
                let expires_at = add_months(credentials.authorized_at, AUTHORIZATION_LIFE_MONTHS);
                let days_remaining = (expires_at - now).whole_days();
                Health {
                    configured: true,
                    authorized_at: Some(credentials.authorized_at),
                    authorization_age_days: Some((now - credentials.authorized_at).whole_days()),
                    authorization_expires_at: Some(expires_at),
                    days_remaining: Some(days_remaining),
                    problem: (days_remaining <= 0).then(|| {
                        "the refresh token is past its 6-month life; run `make bootstrap`"
                            .to_owned()
                    }),
                }
            }
            Err(e) => Health {
                configured: false,
                authorized_at: None,
                authorization_age_days: None,
                authorization_expires_at: None,
                days_remaining: None,
                problem: Some(e.to_string()),
            },
        }
    }
}

/// A 401 after a fresh token means the authorization lacks a scope: only a new one helps.
fn after_retry(e: SpotifyError) -> ServiceError {
    match e {
        SpotifyError::Unauthorized => ServiceError::ReauthorizationRequired(
            "Spotify rejected a fresh access token; the authorization lacks a scope".into(),
        ),
        cause => ServiceError::UpstreamUnavailable {
            retry_after: retry_after(&cause),
            cause,
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Calendar months later, the day clamped to the target month's length.
pub fn add_months(at: OffsetDateTime, months: u8) -> OffsetDateTime {
    let index = at.month() as i32 - 1 + i32::from(months);
    let year = at.year() + index.div_euclid(12);
    let month = Month::try_from((index.rem_euclid(12) + 1) as u8).unwrap_or(Month::December);
    let day = at.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day)
        .map(|date| at.replace_date(date))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn six_months_after_august_31_is_the_last_day_of_february() {
        assert_eq!(
            add_months(datetime!(2026-08-31 10:00 UTC), 6),
            datetime!(2027-02-28 10:00 UTC)
        );
    }

    #[test]
    fn six_months_after_may_20_is_november_20() {
        assert_eq!(
            add_months(datetime!(2026-05-20 10:00 UTC), 6),
            datetime!(2026-11-20 10:00 UTC)
        );
    }
}
