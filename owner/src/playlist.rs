//! `make bootstrap ARGS="--suggestions"`: the playlist visitors' suggestions go to.

use anyhow::{Result, anyhow, bail};
use now_playing::adapters::spotify::SpotifyHttp;
use now_playing::domain::ports::SpotifyError;
use now_playing::domain::suggestions::PLAYLIST_SCOPES;
use secrecy::SecretString;

pub const NAME: &str = "Suggested by visitors";
const DESCRIPTION: &str = "Songs visitors suggested on my site";

/// Where the playlist came from.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The one the stored document names, still in the account.
    Stored,
    /// One of the account's own playlists with the name.
    Named,
    /// Made just now.
    Created,
    /// None yet; `--print-only` makes none.
    WouldCreate,
}

/// The scopes a grant must have for suggestions, checked against what Spotify granted.
pub fn check_scopes(granted: &str) -> Result<()> {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    let missing: Vec<&str> = PLAYLIST_SCOPES.into_iter().filter(|s| !granted.contains(s)).collect();
    if !missing.is_empty() {
        bail!(
            "Spotify did not grant {}: approve every permission on the authorization page and run \
             `make bootstrap ARGS=\"--suggestions\"` again",
            missing.join(" and ")
        );
    }
    Ok(())
}

/// The owner's suggestions playlist: the stored one if it still exists, else an own playlist
/// named "Suggested by visitors", else a new private one (unless `create` is false).
pub async fn find_or_create(
    spotify: &SpotifyHttp,
    token: &SecretString,
    owner: &str,
    stored: Option<&str>,
    create: bool,
) -> Result<(Option<String>, Found)> {
    let own: Vec<_> =
        spotify.my_playlists(token).await.map_err(explain)?.into_iter().filter(|p| p.owner.id == owner).collect();
    if let Some(p) = stored.and_then(|id| own.iter().find(|p| p.id == id)) {
        return Ok((Some(p.id.clone()), Found::Stored));
    }
    if let Some(p) = own.iter().find(|p| p.name == NAME) {
        return Ok((Some(p.id.clone()), Found::Named));
    }
    if !create {
        return Ok((None, Found::WouldCreate));
    }
    let id = spotify.create_playlist(token, NAME, DESCRIPTION, false).await.map_err(explain)?;
    Ok((Some(id), Found::Created))
}

fn explain(e: SpotifyError) -> anyhow::Error {
    match e {
        SpotifyError::Forbidden(reason) => anyhow!(
            "Spotify refused to list or create playlists ({reason}): run `make bootstrap ARGS=\"--suggestions\"` \
             again and approve every permission"
        ),
        SpotifyError::RateLimited { retry_after } => anyhow!(
            "Spotify is rate limiting this app for {} s; run `make bootstrap ARGS=\"--suggestions\"` again after that",
            retry_after.as_secs()
        ),
        other => anyhow!("Spotify failed while setting up the suggestions playlist: {other}; try again in a minute"),
    }
}

#[cfg(test)]
mod tests {
    use super::check_scopes;

    #[test]
    fn a_grant_needs_both_playlist_scopes() {
        let reads = "user-read-currently-playing user-read-recently-played";
        assert!(check_scopes(&format!("{reads} playlist-modify-public playlist-modify-private")).is_ok());
        let only_public = check_scopes(&format!("{reads} playlist-modify-public")).unwrap_err().to_string();
        assert!(only_public.contains("did not grant playlist-modify-private:"), "{only_public}");
        let neither = check_scopes(reads).unwrap_err().to_string();
        assert!(neither.contains("playlist-modify-private and playlist-modify-public"), "{neither}");
        assert!(neither.contains("make bootstrap ARGS=\"--suggestions\""), "{neither}");
    }
}
