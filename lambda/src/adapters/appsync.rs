//! Live push through AWS AppSync Events: the public answer published on the Event API's
//! channel, reaching every page subscribed to it. The Rust SDK has no publish call, so the
//! `POST /event` is signed here with SigV4 (service `appsync`) by the function's role,
//! which alone may publish; pages subscribe with the API's public key.

use async_trait::async_trait;

use super::signed::Signer;
use crate::domain::NowPlaying;
use crate::domain::ports::LivePush;

/// An Event API's channel, published to as the function's role.
pub struct AppSyncEvents {
    signer: Signer,
    /// `https://ID.appsync-api.REGION.amazonaws.com/event`, or a local stand-in's.
    url: String,
    channel: String,
}

impl AppSyncEvents {
    /// `base` is the API's HTTP endpoint (`https://HOST`), `channel` such as `/now-playing/current`.
    pub fn new(signer: Signer, base: &str, channel: &str) -> Self {
        AppSyncEvents { signer, url: format!("{}/event", base.trim_end_matches('/')), channel: channel.to_owned() }
    }

    /// The request's body: the channel and one event, the public document as a string.
    fn body(&self, doc: &NowPlaying) -> Result<Vec<u8>, String> {
        let event = serde_json::to_string(&doc.public()).map_err(|e| format!("serializing the answer: {e}"))?;
        serde_json::to_vec(&serde_json::json!({ "channel": self.channel, "events": [event] }))
            .map_err(|e| format!("serializing the event: {e}"))
    }
}

#[async_trait]
impl LivePush for AppSyncEvents {
    async fn publish(&self, doc: &NowPlaying) -> Result<(), String> {
        let body = self.body(doc)?;
        let response = self.signer.post("appsync", &self.url, &[("content-type", "application/json")], body).await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("the Event API answered {status}")),
        }
    }
}
