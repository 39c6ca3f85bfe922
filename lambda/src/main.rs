//! Lambda entry point: configuration, clients and the handler, built once per cold start.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Error, LambdaEvent, lambda_runtime, service_fn, tracing};
use now_playing::adapters::appsync::AppSyncEvents;
use now_playing::adapters::artwork::ArtworkHttp;
use now_playing::adapters::dynamodb::DynamoLiveState;
use now_playing::adapters::dynamodb::DynamoSuggestions;
use now_playing::adapters::dynamodb::{DynamoArtCache, DynamoSnapshotStore, DynamoTokenStore};
use now_playing::adapters::signed::Signer;
use now_playing::adapters::sns::SnsNotifier;
use now_playing::adapters::spotify::with_causes;
use now_playing::adapters::sqs::SqsTicks;
use now_playing::adapters::{clock::SystemClock, spotify::SpotifyHttp, ssm::SsmCredentialStore, ssm::SsmPrivacySource};
use now_playing::config::Config;
use now_playing::domain::service::CacheTiming;
use now_playing::domain::service::Runner;
use now_playing::domain::suggestions::{SuggestionPorts, SuggestionService};
use now_playing::domain::{
    ArtLibrary, ImageHosts, NowPlayingService, ServicePorts, TokenManager, TokenPorts, token::LeaseTiming,
};
use now_playing::http::{App, AppSettings};

fn main() -> Result<(), Error> {
    // Before the runtime's threads exist: it sets an environment variable.
    now_playing::adapters::tls::read_the_system_bundle_only();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(function())
}

async fn function() -> Result<(), Error> {
    now_playing::logging::init();
    let config = Config::from_env().unwrap_or_else(|e| {
        tracing::error!("configuration: {e}");
        std::process::exit(1)
    });
    let aws = now_playing::adapters::aws::sdk_config(|name| std::env::var(name).ok()).unwrap_or_else(|e| {
        tracing::error!("configuration: {e}");
        std::process::exit(1)
    });
    // One HTTP client (one load of the root certificates) for Spotify and album art. Built
    // before the SDK's clients: without any root certificate it is the one that says so
    // (the SDK's debug builds assert instead).
    let http = SpotifyHttp::default_client().unwrap_or_else(|e| {
        tracing::error!(
            "the HTTPS client could not be built ({}); point SSL_CERT_FILE at a PEM bundle of root certificates",
            with_causes(e)
        );
        std::process::exit(1)
    });
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let dynamodb_for_live = dynamodb.clone();
    let image_hosts = ImageHosts::new(config.art_hosts);
    let spotify = Arc::new(
        SpotifyHttp::new(http.clone(), &config.spotify_api_url, &config.spotify_accounts_url)
            .with_image_hosts(image_hosts.clone()),
    );
    let clock = Arc::new(SystemClock);
    let instance =
        format!("{}-{}", std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default(), std::process::id());
    let tokens = Arc::new(TokenManager::new(
        TokenPorts {
            spotify: spotify.clone(),
            store: Arc::new(DynamoTokenStore::new(dynamodb.clone(), &config.state_table)),
            credentials: Arc::new(SsmCredentialStore::new(
                aws_sdk_ssm::Client::new(&aws),
                &config.credentials_parameter,
            )),
            clock: clock.clone(),
        },
        instance.clone(),
        LeaseTiming::default(),
    ));
    // Read while the first request's shared state is: an idle visitor's refresh then needs
    // no SSM round of its own. One SSM read and KMS decryption per cold start.
    tokens.preload_credentials();
    let timing = CacheTiming { window: Duration::from_secs(config.cache_seconds.into()), ..CacheTiming::default() };
    let snapshots = Arc::new(DynamoSnapshotStore::new(dynamodb.clone(), &config.state_table));
    let shared_art = Arc::new(DynamoArtCache::new(dynamodb.clone(), &config.state_table));
    let suggestions_table = Arc::new(DynamoSuggestions::new(dynamodb, &config.state_table));
    let suggestions = SuggestionService::new(
        SuggestionPorts {
            catalog: spotify.clone(),
            playlists: spotify.clone(),
            store: suggestions_table.clone(),
            counters: suggestions_table.clone(),
            cache: suggestions_table,
            shared: snapshots.clone(),
            tokens: tokens.clone(),
            clock: clock.clone(),
        },
        config.suggestions,
    )
    .with_budget(config.budget);
    let digest = config.digest_topic_arn.map(|arn| {
        Arc::new(SnsNotifier::new(aws_sdk_sns::Client::new(&aws), arn)) as Arc<dyn now_playing::domain::ports::Notifier>
    });
    let art = Arc::new(ArtLibrary::new(Arc::new(ArtworkHttp::new(http.clone(), image_hosts.clone())), shared_art));
    let mut service =
        NowPlayingService::new(ServicePorts { spotify, tokens, shared: snapshots, clock }, instance, timing)
            .with_art(art.clone())
            .with_budget(config.budget);
    if let Some(name) = &config.privacy_parameter {
        service = service.with_privacy(Arc::new(SsmPrivacySource::new(aws_sdk_ssm::Client::new(&aws), name)));
    }
    if let (Some(live), Some(credentials), Some(region)) = (&config.live, aws.credentials_provider(), aws.region()) {
        let signer = Signer { client: http, region: region.to_string(), credentials };
        service = service.with_live(Arc::new(AppSyncEvents::new(signer.clone(), &live.url, &live.channel)));
        if let Some(queue_url) = &live.queue_url {
            let endpoint = std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| format!("https://sqs.{region}.amazonaws.com"));
            service = service.with_runner(Runner {
                state: Arc::new(DynamoLiveState::new(dynamodb_for_live.clone(), &config.state_table)),
                queue: Arc::new(SqsTicks::new(signer, &endpoint, queue_url)),
                presence: live.presence,
            });
        }
    }
    let app = Arc::new(
        App::new(
            service,
            art,
            AppSettings {
                allowed_origins: config.allowed_origins,
                cache_seconds: config.cache_seconds,
                credentials_parameter: config.credentials_parameter,
            },
        )
        .with_image_hosts(&image_hosts)
        .with_public_url(config.public_url)
        .with_edge(config.edge_secret)
        .with_live(config.live.as_ref())
        .with_suggestions(Arc::new(suggestions))
        .with_digest(digest),
    );
    // Raw events: `invocation` tells the stack's jobs from HTTP events, and checks an HTTP
    // event before lambda_http builds its request.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        now_playing::invocation::handle(app.clone(), event)
    }))
    .await
}
