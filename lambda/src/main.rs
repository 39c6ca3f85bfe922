//! Lambda entry point: configuration, clients and the handler, built once per cold start.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Error, Request, run, service_fn, tracing};
use now_playing::adapters::{
    clock::SystemClock, dynamodb::DynamoTokenStore, spotify::SpotifyHttp, ssm::SsmCredentialStore,
};
use now_playing::config::Config;
use now_playing::domain::{NowPlayingService, TokenManager, token::LeaseTiming};
use now_playing::http::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env().unwrap_or_else(|e| {
        tracing::error!("configuration: {e}");
        std::process::exit(1)
    });
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let spotify = Arc::new(SpotifyHttp::new(
        SpotifyHttp::default_client()?,
        &config.spotify_api_url,
        &config.spotify_accounts_url,
    ));
    let clock = Arc::new(SystemClock);
    let instance = format!(
        "{}-{}",
        std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default(),
        std::process::id()
    );
    let tokens = TokenManager::new(
        spotify.clone(),
        Arc::new(DynamoTokenStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &config.token_table,
        )),
        Arc::new(SsmCredentialStore::new(
            aws_sdk_ssm::Client::new(&aws),
            &config.credentials_parameter,
        )),
        clock.clone(),
        instance,
        LeaseTiming::default(),
    );
    let app = Arc::new(App {
        service: NowPlayingService::new(spotify, tokens, clock),
        allowed_origins: config.allowed_origins,
        cache_seconds: config.cache_seconds,
        credentials_parameter: config.credentials_parameter,
    });
    run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    }))
    .await
}
