//! The stack's scheduled jobs, run by the same `App` as the routes but never over HTTP:
//! `crate::invocation` recognises their events. Each answers a small JSON document, or a
//! public reason it failed, which becomes the invocation's error.

use serde_json::{Value, json};

use super::App;
use crate::domain::token::KEEP_FRESH_AHEAD;
use crate::invocation::Job;
use crate::metrics;

impl App {
    /// One tick of the live runner `id` (an SQS message it left for itself).
    pub async fn tick(&self, id: &str) -> Result<(), String> {
        self.service.tick(id).await
    }

    pub async fn run(&self, job: Job) -> Result<Value, String> {
        match job {
            Job::KeepFresh => match self.service.keep_fresh(KEEP_FRESH_AHEAD).await {
                Ok(refreshed) => Ok(json!({ "refreshed": refreshed })),
                Err(e) => Err(e.to_string()),
            },
            Job::DailyDigest => {
                let notifier =
                    self.digest.as_deref().ok_or("no digest topic is configured (DIGEST_TOPIC_ARN)".to_owned())?;
                let service = self.suggestions.as_deref().ok_or("suggestions are off (SUGGESTIONS)".to_owned())?;
                let digest = service.digest(notifier).await.map_err(|e| e.to_string())?;
                Ok(json!(digest))
            }
            Job::HealthCheck => {
                // Read afresh: a new authorization ends the expiry alarm on the next check,
                // not when warm instances happen to recycle.
                let health = self.service.health_afresh().await;
                let now = time::OffsetDateTime::now_utc();
                if let Some(days) = health.days_remaining {
                    println!("{}", metrics::days_remaining_line(&self.credentials_parameter, days, now));
                }
                if let Some(spotify) = &health.spotify {
                    let refused = spotify.quota_exceeded_until.is_some();
                    let line = metrics::spotify_line(&self.credentials_parameter, spotify.calls_last_24h, refused, now);
                    println!("{line}");
                }
                if health.is_ok() {
                    Ok(json!(health))
                } else {
                    Err(health.problem.unwrap_or_else(|| "the authorization has lapsed: run `make bootstrap`".into()))
                }
            }
        }
    }
}
