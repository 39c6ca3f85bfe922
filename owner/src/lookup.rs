//! `make privacy`'s look-up of what it is asked to hide: the name Spotify gives an id, with
//! the token the function keeps (the state table's, refreshed and rotated as the function
//! does), each call counted in the visitors' share of the deployment's budget, as an
//! approval of `make suggestions` is.

use std::sync::Arc;

use now_playing::adapters::dynamodb::{DynamoSnapshotStore, DynamoTokenStore};
use now_playing::adapters::spotify::SpotifyHttp;
use now_playing::adapters::spotify::owner::Catalog;
use now_playing::adapters::{clock::SystemClock, ssm::SsmCredentialStore};
use now_playing::config::{DEFAULT_SPOTIFY_ACCOUNTS_URL, DEFAULT_SPOTIFY_API_URL, base_url};
use now_playing::domain::ports::{Clock, SnapshotStore, SpotifyError};
use now_playing::domain::quota::{Budget, Share, spend};
use now_playing::domain::{TokenManager, TokenPorts, token::LeaseTiming};

/// What Spotify said of an id.
#[derive(Debug, PartialEq, Eq)]
pub enum Looked {
    /// It exists, with this name.
    Known(String),
    /// Spotify knows no such thing: a rule for it could never match.
    Unknown,
    /// Spotify could not be asked, and why.
    Unasked(String),
}

pub struct Lookup {
    spotify: SpotifyHttp,
    tokens: TokenManager,
    shared: DynamoSnapshotStore,
    clock: Arc<dyn Clock>,
    budget: Budget,
}

impl Lookup {
    /// With the deployment's table and credentials parameter; Spotify's URLs from
    /// `SPOTIFY_API_URL` and `SPOTIFY_ACCOUNTS_URL` when set (the local stand-in).
    pub fn new(aws: &aws_config::SdkConfig, table: &str, parameter: &str) -> Result<Lookup, String> {
        let env = |name: &str| std::env::var(name).ok();
        let api =
            base_url("SPOTIFY_API_URL", env("SPOTIFY_API_URL"), DEFAULT_SPOTIFY_API_URL).map_err(|e| e.to_string())?;
        let accounts = base_url("SPOTIFY_ACCOUNTS_URL", env("SPOTIFY_ACCOUNTS_URL"), DEFAULT_SPOTIFY_ACCOUNTS_URL)
            .map_err(|e| e.to_string())?;
        let client = SpotifyHttp::default_client().map_err(|e| format!("no HTTP client: {e}"))?;
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tokens = TokenManager::new(
            TokenPorts {
                spotify: Arc::new(SpotifyHttp::new(client.clone(), &api, &accounts)),
                store: Arc::new(DynamoTokenStore::new(dynamodb.clone(), table)),
                credentials: Arc::new(SsmCredentialStore::new(aws_sdk_ssm::Client::new(aws), parameter)),
                clock: clock.clone(),
            },
            format!("make-privacy-{}", std::process::id()),
            LeaseTiming::default(),
        );
        let budget = now_playing::config::budget_from(env).map_err(|e| e.to_string())?;
        Ok(Lookup {
            spotify: SpotifyHttp::new(client, &api, &accounts),
            tokens,
            shared: DynamoSnapshotStore::new(dynamodb, table),
            clock,
            budget,
        })
    }

    /// The name of `id`, once more with a new token after a 401.
    pub async fn name(&self, kind: Catalog, id: &str) -> Looked {
        let outcome = async {
            let token = self.tokens.token().await.map_err(|e| e.to_string())?;
            self.spend().await?;
            match self.spotify.name_of(&token.value, kind, id).await {
                Err(SpotifyError::Unauthorized) => {
                    let token = self.tokens.token_after_rejection(&token).await.map_err(|e| e.to_string())?;
                    self.spend().await?;
                    self.spotify.name_of(&token.value, kind, id).await.map_err(|e| e.to_string())
                }
                other => other.map_err(|e| e.to_string()),
            }
        }
        .await;
        // A token refreshed on the way is stored for the function before this ends.
        self.tokens.settle().await;
        match outcome {
            Ok(Some(name)) => Looked::Known(name),
            Ok(None) => Looked::Unknown,
            Err(why) => Looked::Unasked(why),
        }
    }

    async fn spend(&self) -> Result<(), String> {
        let shared: &dyn SnapshotStore = &self.shared;
        match spend(shared, self.clock.as_ref(), &self.budget, Share::Visitors).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the visitors' share of this deployment's Spotify calls is spent for this hour".into()),
            Err(e) => Err(format!("the call ledger could not be reached: {e}")),
        }
    }
}
