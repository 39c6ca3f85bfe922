//! Album art over reqwest, only from Spotify's image hosts, small and fast or not at all.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Url};

use crate::domain::Art;
use crate::ports::{ArtError, Artwork};

/// Larger images are not inlined: a README card must stay small.
const MAX_BYTES: usize = 256 * 1024;
/// Art is optional: the card is drawn without it rather than late.
const TIMEOUT: Duration = Duration::from_millis(1500);

pub struct ArtworkHttp {
    client: Client,
    /// Hosts (with port, if any) allowed besides Spotify's CDNs, e.g. a local stand-in.
    extra_hosts: Vec<String>,
}

impl ArtworkHttp {
    pub fn new(client: Client, extra_hosts: Vec<String>) -> Self {
        ArtworkHttp { client, extra_hosts }
    }

    /// Spotify's CDNs over HTTPS, or a configured extra host: nothing else is fetched.
    pub fn allowed(&self, url: &Url) -> bool {
        let host = url.host_str().unwrap_or_default();
        let with_port = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let spotify = url.scheme() == "https" && (host.ends_with(".scdn.co") || host.ends_with(".spotifycdn.com"));
        spotify || self.extra_hosts.contains(&with_port)
    }
}

#[async_trait]
impl Artwork for ArtworkHttp {
    async fn fetch(&self, url: &str) -> Result<Art, ArtError> {
        let parsed = Url::parse(url).map_err(|_| ArtError("not a URL".into()))?;
        if !self.allowed(&parsed) {
            return Err(ArtError(format!(
                "{} is not an image host this function fetches from",
                parsed.host_str().unwrap_or("?")
            )));
        }
        let response =
            self.client.get(parsed).timeout(TIMEOUT).send().await.map_err(|e| ArtError(e.without_url().to_string()))?;
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
        if response.content_length().is_some_and(|n| n as usize > MAX_BYTES) {
            return Err(ArtError("image too large".into()));
        }
        let bytes = response.bytes().await.map_err(|e| ArtError(e.without_url().to_string()))?;
        if bytes.len() > MAX_BYTES {
            return Err(ArtError("image too large".into()));
        }
        Ok(Art { content_type, bytes: bytes.to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spotify_image_hosts_over_https_and_configured_hosts_are_fetched() {
        let art = ArtworkHttp::new(Client::new(), vec!["127.0.0.1:5060".into()]);
        for (url, ok) in [
            ("https://i.scdn.co/image/ab67616d0000b273", true),
            ("https://image-cdn-ak.spotifycdn.com/image/x", true),
            ("http://i.scdn.co/image/x", false),
            ("https://evil.example/i.scdn.co", false),
            ("https://scdn.co.evil.example/x", false),
            ("http://169.254.169.254/latest/meta-data", false),
            ("http://127.0.0.1:5060/image/x", true),
            ("http://127.0.0.1:9000/v1/current", false),
        ] {
            assert_eq!(art.allowed(&Url::parse(url).unwrap()), ok, "{url}");
        }
    }
}
