//! The calls only the owner's commands make (`make bootstrap`, `make privacy`): the
//! authorization-code flow, the account's playlists and the names of what the privacy rules
//! hide. The function never makes them.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::wire::malformed;
use super::{MAX_API_BODY, SpotifyHttp, capped, checked, token_answer, transport};
use crate::adapters::body::read_capped;
use crate::domain::ports::{SpotifyError, TokenGrant};

/// How many pages of the owner's playlists are read at most (50 each).
const MAX_PLAYLIST_PAGES: u32 = 40;

/// One of the account's playlists, as `GET /v1/me/playlists` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct PlaylistSummary {
    pub id: String,
    pub name: String,
    pub owner: PlaylistOwner,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlaylistOwner {
    pub id: String,
}

#[derive(Deserialize)]
struct PlaylistPage {
    /// Spotify may list an entry it can no longer describe as `null`.
    #[serde(default)]
    items: Vec<Option<serde_json::Value>>,
    #[serde(default)]
    total: u32,
}

#[derive(Deserialize)]
struct CreatedPlaylist {
    id: String,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

/// What the privacy rules hide, as the Web API's paths name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Catalog {
    Artist,
    Track,
    Album,
    Show,
    Playlist,
}

impl Catalog {
    fn path(self) -> &'static str {
        match self {
            Catalog::Artist => "artists",
            Catalog::Track => "tracks",
            Catalog::Album => "albums",
            Catalog::Show => "shows",
            Catalog::Playlist => "playlists",
        }
    }
}

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

    /// The playlists in the account's library, its own and those it follows.
    pub async fn my_playlists(&self, token: &SecretString) -> Result<Vec<PlaylistSummary>, SpotifyError> {
        let mut playlists = Vec::new();
        for page in 0..MAX_PLAYLIST_PAGES {
            let offset = page * 50;
            let response = self.get(&format!("/v1/me/playlists?limit=50&offset={offset}"), token).await?;
            let body = capped(response, MAX_API_BODY).await?;
            let page: PlaylistPage = serde_json::from_slice(&body).map_err(|e| malformed("playlists", &e))?;
            let listed = page.items.len() as u32;
            // An entry in another shape is skipped, not a reason to fail the whole list.
            playlists.extend(page.items.into_iter().flatten().filter_map(|v| serde_json::from_value(v).ok()));
            if listed == 0 || offset + listed >= page.total {
                break;
            }
        }
        Ok(playlists)
    }

    /// The name Spotify gives the `kind` with `id` (22 letters and digits), or `None` when it
    /// knows no such thing (404, or 400 for an id it cannot read). With the owner's token, a
    /// show is looked up in the owner's market and a private playlist of theirs is found.
    pub async fn name_of(&self, token: &SecretString, kind: Catalog, id: &str) -> Result<Option<String>, SpotifyError> {
        if !crate::domain::privacy::is_spotify_id(id) {
            return Ok(None);
        }
        let fields = if kind == Catalog::Playlist { "?fields=name" } else { "" };
        let response = match self.get(&format!("/v1/{}/{id}{fields}", kind.path()), token).await {
            Err(SpotifyError::Upstream(400 | 404)) => return Ok(None),
            other => other?,
        };
        let body = capped(response, MAX_API_BODY).await?;
        let named: Named = serde_json::from_slice(&body).map_err(|e| malformed(kind.path(), &e))?;
        Ok(Some(named.name))
    }

    /// Creates a playlist in the account (`POST /v1/me/playlists`) and answers its id.
    pub async fn create_playlist(
        &self,
        token: &SecretString,
        name: &str,
        description: &str,
        public: bool,
    ) -> Result<String, SpotifyError> {
        let response = self
            .client
            .post(format!("{}/v1/me/playlists", self.api_url))
            .bearer_auth(token.expose_secret())
            .json(&serde_json::json!({ "name": name, "description": description, "public": public }))
            .send()
            .await
            .map_err(transport)?;
        let body = capped(checked(response).await?, MAX_API_BODY).await?;
        let created: CreatedPlaylist = serde_json::from_slice(&body).map_err(|e| malformed("new playlist", &e))?;
        Ok(created.id)
    }
}
