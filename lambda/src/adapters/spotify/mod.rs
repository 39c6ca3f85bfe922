//! Spotify's accounts service and Web API over reqwest: `wire` reads their payloads, and
//! `owner` holds the calls only the owner's tools make (`make bootstrap`).

pub mod owner;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::adapters::body::{BodyError, read_capped};
use crate::domain::ports::{Catalog, Playlists, Spotify, SpotifyError, TokenGrant};
use crate::domain::suggestions::TrackId;
use crate::domain::{AccessToken, Credentials, ImageHosts, Item, Playback, Played};
use wire::{accounts_error_code, parse_search_from, parse_track_from, web_api_message, web_api_reason};
pub use wire::{
    parse_currently_playing, parse_currently_playing_from, parse_recently_played, parse_recently_played_from,
    parse_token_grant,
};

/// Used when a 429 carries no readable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Used when a `QUOTA_EXCEEDED` refusal carries none: the quota's window is a day.
const QUOTA_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The most a Web API answer may be: a currently-playing answer is a few kilobytes.
pub(super) const MAX_API_BODY: usize = 512 * 1024;
/// The most an accounts-service answer may be: a token answer is a few hundred bytes.
const MAX_ACCOUNTS_BODY: usize = 64 * 1024;

pub struct SpotifyHttp {
    pub(super) client: Client,
    pub(super) api_url: String,
    pub(super) accounts_url: String,
    /// Where item images may come from; others are dropped from the answer.
    hosts: ImageHosts,
}

impl SpotifyHttp {
    /// `api_url` and `accounts_url` are base URLs without a trailing slash.
    pub fn new(client: Client, api_url: &str, accounts_url: &str) -> Self {
        SpotifyHttp {
            client,
            api_url: api_url.trim_end_matches('/').to_owned(),
            accounts_url: accounts_url.trim_end_matches('/').to_owned(),
            hosts: ImageHosts::default(),
        }
    }

    /// Also passes on item images from these hosts (`ART_HOSTS`), besides Spotify's CDNs.
    pub fn with_image_hosts(mut self, hosts: ImageHosts) -> Self {
        self.hosts = hosts;
        self
    }

    /// The HTTP client with per-call timeouts that fit the request deadline. It follows no
    /// redirect: Spotify's API and accounts service never redirect, a redirected token POST
    /// would carry the refresh token to another host, and a redirected image would come
    /// from a host nobody checked.
    pub fn default_client() -> Result<Client, reqwest::Error> {
        crate::adapters::tls::install_crypto();
        Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(1500))
            .timeout(Duration::from_secs(3))
            .user_agent(concat!("now-playing/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// A Web API `GET`; 200 and 204 pass, every other status becomes its error.
    pub(super) async fn get(&self, path: &str, token: &SecretString) -> Result<Response, SpotifyError> {
        let response = self
            .client
            .get(format!("{}{path}", self.api_url))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(transport)?;
        checked(response).await
    }
}

/// A Web API answer: 200, 201 and 204 pass, every other status becomes its error.
pub(super) async fn checked(response: Response) -> Result<Response, SpotifyError> {
    match response.status() {
        StatusCode::OK | StatusCode::CREATED | StatusCode::NO_CONTENT => Ok(response),
        StatusCode::UNAUTHORIZED => {
            let body = read_capped(response, 16 * 1024).await.unwrap_or_default();
            // A token without the scope a call needs: a new token would not help.
            match web_api_message(&body) {
                Some(m) if m.contains("Permissions missing") => Err(SpotifyError::Forbidden(m)),
                _ => Err(SpotifyError::Unauthorized),
            }
        }
        StatusCode::FORBIDDEN => {
            let body = read_capped(response, 16 * 1024).await.unwrap_or_default();
            Err(SpotifyError::Forbidden(web_api_message(&body).unwrap_or_else(|| "no reason given".into())))
        }
        StatusCode::TOO_MANY_REQUESTS => Err(too_many_requests(response).await),
        other => Err(SpotifyError::Upstream(other.as_u16())),
    }
}

/// The accounts service's answer to either grant.
pub(super) async fn token_answer(response: Response) -> Result<TokenGrant, SpotifyError> {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(rate_limited(&response));
    }
    let body = capped(response, MAX_ACCOUNTS_BODY).await?;
    if status.is_success() {
        return parse_token_grant(&body);
    }
    Err(match accounts_error_code(&body).as_deref() {
        Some("invalid_grant") => SpotifyError::InvalidGrant,
        Some("invalid_client") => SpotifyError::InvalidClient,
        _ => SpotifyError::Upstream(status.as_u16()),
    })
}

#[async_trait]
impl Spotify for SpotifyHttp {
    async fn refresh(&self, credentials: &Credentials) -> Result<TokenGrant, SpotifyError> {
        let response = self
            .client
            .post(format!("{}/api/token", self.accounts_url))
            .basic_auth(&credentials.client_id, Some(credentials.client_secret.expose_secret()))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", credentials.refresh_token.expose_secret())])
            .send()
            .await
            .map_err(transport)?;
        token_answer(response).await
    }

    async fn currently_playing(&self, token: &AccessToken) -> Result<Playback, SpotifyError> {
        let response = self.get("/v1/me/player/currently-playing?additional_types=track,episode", &token.value).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Playback::Nothing);
        }
        let body = capped(response, MAX_API_BODY).await?;
        parse_currently_playing_from(&body, &self.hosts)
    }

    async fn recently_played(&self, token: &AccessToken, limit: u8) -> Result<Vec<Played>, SpotifyError> {
        let limit = limit.clamp(1, 50);
        let response = self.get(&format!("/v1/me/player/recently-played?limit={limit}"), &token.value).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        let body = capped(response, MAX_API_BODY).await?;
        parse_recently_played_from(&body, &self.hosts)
    }
}

#[async_trait]
impl Catalog for SpotifyHttp {
    async fn search_tracks(&self, token: &AccessToken, query: &str, limit: u8) -> Result<Vec<Item>, SpotifyError> {
        let response = self
            .client
            .get(format!("{}/v1/search", self.api_url))
            .query(&[("q", query), ("type", "track"), ("limit", &limit.to_string())])
            .bearer_auth(token.value.expose_secret())
            .send()
            .await
            .map_err(transport)?;
        let body = capped(checked(response).await?, MAX_API_BODY).await?;
        parse_search_from(&body, &self.hosts)
    }

    async fn track(&self, token: &AccessToken, id: &TrackId) -> Result<Option<Item>, SpotifyError> {
        match self.get(&format!("/v1/tracks/{id}"), &token.value).await {
            // 400 is Spotify's answer to an id of the right shape that names nothing.
            Err(SpotifyError::Upstream(400 | 404)) => Ok(None),
            Err(e) => Err(e),
            Ok(response) => parse_track_from(&capped(response, MAX_API_BODY).await?, &self.hosts),
        }
    }
}

#[async_trait]
impl Playlists for SpotifyHttp {
    async fn add_track(&self, token: &AccessToken, playlist: &str, track: &TrackId) -> Result<(), SpotifyError> {
        // The playlist id comes from the owner's own credentials document, but is still
        // kept to a path segment.
        let playlist: String = playlist.chars().filter(char::is_ascii_alphanumeric).collect();
        let response = self
            .client
            .post(format!("{}/v1/playlists/{playlist}/items", self.api_url))
            .bearer_auth(token.value.expose_secret())
            .json(&serde_json::json!({ "uris": [track.uri()] }))
            .send()
            .await
            .map_err(transport)?;
        checked(response).await.map(|_| ())
    }
}

/// The body, read with a cap so that an endless or huge answer cannot grow the process.
pub(super) async fn capped(response: Response, limit: usize) -> Result<Vec<u8>, SpotifyError> {
    read_capped(response, limit).await.map_err(|e| match e {
        BodyError::TooLarge { limit } => SpotifyError::Malformed(format!("the answer is larger than {limit} bytes")),
        BodyError::Transport(e) => transport(e),
    })
}

pub(super) fn transport(e: reqwest::Error) -> SpotifyError {
    if e.is_timeout() {
        SpotifyError::Timeout
    } else if e.is_decode() || e.is_body() {
        SpotifyError::Malformed("the body was cut off".into())
    } else {
        SpotifyError::Network(with_causes(e))
    }
}

/// The error with each of its causes, so that the log says why ("...: invalid peer
/// certificate: UnknownIssuer"), not only "error sending request". Without the URL: it is
/// configuration, but keep log lines short and uniform.
pub fn with_causes(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// A Web API 429: the daily quota's refusal when its body says `QUOTA_EXCEEDED` (an hour
/// when it names no `Retry-After`), else the rate limit's.
async fn too_many_requests(response: Response) -> SpotifyError {
    let retry_after = retry_after_header(&response);
    let body = read_capped(response, 16 * 1024).await.unwrap_or_default();
    if web_api_reason(&body).as_deref() == Some("QUOTA_EXCEEDED") {
        return SpotifyError::QuotaExceeded { retry_after: retry_after.unwrap_or(QUOTA_RETRY_AFTER) };
    }
    SpotifyError::RateLimited { retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER) }
}

fn retry_after_header(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn rate_limited(response: &Response) -> SpotifyError {
    SpotifyError::RateLimited { retry_after: retry_after_header(response).unwrap_or(DEFAULT_RETRY_AFTER) }
}
