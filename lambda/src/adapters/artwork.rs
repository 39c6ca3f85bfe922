//! Album art over reqwest, only from the allowed image hosts, small and fast or not at all.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Url};

use crate::adapters::body::{BodyError, read_capped};
use crate::domain::ports::{ArtError, Artwork};
use crate::domain::{Art, ImageHosts};

/// Larger images are not inlined: a README card must stay small.
const MAX_BYTES: usize = 256 * 1024;
/// Art is optional: the card is drawn without it rather than late.
const TIMEOUT: Duration = Duration::from_millis(1500);

pub struct ArtworkHttp {
    client: Client,
    hosts: ImageHosts,
}

impl ArtworkHttp {
    pub fn new(client: Client, hosts: ImageHosts) -> Self {
        ArtworkHttp { client, hosts }
    }
}

#[async_trait]
impl Artwork for ArtworkHttp {
    async fn fetch(&self, url: &str) -> Result<Art, ArtError> {
        // The client follows no redirect (SpotifyHttp::default_client), so the host checked
        // here is the only host asked.
        let parsed = Url::parse(url).map_err(|_| ArtError("not a URL".into()))?;
        if !self.hosts.allows(parsed.as_str()) {
            return Err(ArtError(format!(
                "{} is not an image host this function fetches from",
                parsed.host_str().unwrap_or("?")
            )));
        }
        let response = self
            .client
            .get(parsed)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| ArtError(super::spotify::with_causes(e)))?;
        if !response.status().is_success() {
            return Err(ArtError(format!("HTTP {}", response.status().as_u16())));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !matches!(content_type.as_str(), "image/jpeg" | "image/png" | "image/webp" | "image/gif") {
            return Err(ArtError(format!("not an image ({content_type:?})")));
        }
        let bytes = read_capped(response, MAX_BYTES).await.map_err(|e| match e {
            BodyError::TooLarge { limit } => ArtError(format!("image too large (over {limit} bytes)")),
            BodyError::Transport(e) => ArtError(e.without_url().to_string()),
        })?;
        Ok(Art::new(content_type, bytes))
    }
}
