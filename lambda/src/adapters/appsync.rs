//! Live push through AWS AppSync Events: the public answer published on the Event API's
//! channel, reaching every page subscribed to it. The Rust SDK has no publish call, so the
//! `POST /event` is signed here with SigV4 (service `appsync`) by the function's role,
//! which alone may publish; pages subscribe with the API's public key.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::Client;

use crate::domain::NowPlaying;
use crate::domain::ports::LivePush;

/// An Event API's channel, published to as the function's role.
pub struct AppSyncEvents {
    client: Client,
    /// `https://ID.appsync-api.REGION.amazonaws.com/event`, or a local stand-in's.
    url: String,
    host: String,
    channel: String,
    region: String,
    credentials: SharedCredentialsProvider,
}

impl AppSyncEvents {
    /// `base` is the API's HTTP endpoint (`https://HOST`), `channel` such as `/now-playing/current`.
    pub fn new(
        client: Client,
        base: &str,
        channel: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
    ) -> Self {
        let base = base.trim_end_matches('/');
        let host = base.split_once("://").map_or(base, |(_, rest)| rest).to_owned();
        AppSyncEvents {
            client,
            url: format!("{base}/event"),
            host,
            channel: channel.to_owned(),
            region: region.to_owned(),
            credentials,
        }
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
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("no credentials to sign the publish with: {e}"))?;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("appsync")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing the publish: {e}"))?
            .into();
        let headers = [("host", self.host.as_str()), ("content-type", "application/json")];
        let signable = SignableRequest::new("POST", &self.url, headers.into_iter(), SignableBody::Bytes(&body))
            .map_err(|e| format!("signing the publish: {e}"))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| format!("signing the publish: {e}"))?.into_parts();
        let mut request = self.client.post(&self.url).header("content-type", "application/json").body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| format!("the Event API could not be reached: {e}"))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("the Event API answered {status}")),
        }
    }
}
