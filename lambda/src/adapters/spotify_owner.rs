//! The calls only the owner's commands make (`make bootstrap`): the authorization-code
//! flow and the account's playlists. The function never makes them.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::body::read_capped;
use super::spotify::{MAX_API_BODY, SpotifyHttp, capped, token_answer, transport};
use super::spotify_wire::malformed;
use crate::ports::{SpotifyError, TokenGrant};

/// What the authorize page refuses in a link.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeProblem {
    RedirectUri,
    ClientId,
}

/// The account that authorized the app (`GET /v1/me`).
#[derive(Debug, Deserialize)]
pub struct Profile {
    pub id: String,
    pub display_name: Option<String>,
    /// `premium`, `free` or `open`; the Web API needs Premium for a development-mode app.
    pub product: Option<String>,
}

/// The authorization-code flow, used once by `make bootstrap`, never by the function.
impl SpotifyHttp {
    /// The `/authorize` URL the owner opens in a browser.
    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scopes: &str,
        state: &str,
    ) -> Result<String, String> {
        let query = [
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", scopes),
            ("state", state),
            ("show_dialog", "true"),
        ];
        let mut url = reqwest::Url::parse(&format!("{}/authorize", self.accounts_url))
            .map_err(|e| format!("the accounts URL {:?} is not a URL: {e}", self.accounts_url))?;
        url.query_pairs_mut().extend_pairs(query);
        Ok(url.into())
    }

    /// What Spotify's authorize page says is wrong with the link before anyone logs in:
    /// an unregistered redirect URI or an unknown client id is shown there, and the browser
    /// then never reaches the callback. `None` when the page names neither.
    pub async fn authorize_link_problem(&self, url: &str) -> Option<AuthorizeProblem> {
        let response = self.client.get(url).send().await.ok()?;
        if response.status().is_redirection() {
            return None;
        }
        let page = read_capped(response, 64 * 1024).await.ok()?;
        let page = String::from_utf8_lossy(&page);
        if page.contains("Invalid redirect URI") {
            Some(AuthorizeProblem::RedirectUri)
        } else if page.contains("INVALID_CLIENT: Invalid client") {
            Some(AuthorizeProblem::ClientId)
        } else {
            None
        }
    }

    /// Exchanges the callback's `code` for tokens (`grant_type=authorization_code`).
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        code: &SecretString,
        redirect_uri: &str,
    ) -> Result<TokenGrant, SpotifyError> {
        let response = self
            .client
            .post(format!("{}/api/token", self.accounts_url))
            .basic_auth(client_id, Some(client_secret.expose_secret()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.expose_secret()),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(transport)?;
        token_answer(response).await
    }

    /// Whose account a token belongs to.
    pub async fn me(&self, token: &SecretString) -> Result<Profile, SpotifyError> {
        let body = capped(self.get("/v1/me", token).await?, MAX_API_BODY).await?;
        serde_json::from_slice(&body).map_err(|e| malformed("profile", &e))
    }
}
