//! `make bootstrap`: authorizes the app once in the browser and stores the credentials
//! document in the SSM SecureString the function reads.

mod callback;
mod playlist;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ssm::config::ProvideCredentials;
use now_playing::adapters::spotify::SpotifyHttp;
use now_playing::adapters::spotify::owner::AuthorizeProblem;
use now_playing::adapters::ssm::SsmCredentialStore;
use now_playing::config::{DEFAULT_SPOTIFY_ACCOUNTS_URL, DEFAULT_SPOTIFY_API_URL, base_url};
use now_playing::domain::Credentials;
use now_playing::domain::health::{AUTHORIZATION_LIFE_MONTHS, add_months};
use now_playing::domain::ports::{CredentialStore, CredentialsError, SpotifyError};
use now_playing::domain::suggestions::PLAYLIST_SCOPES;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SCOPES: &str = "user-read-currently-playing user-read-recently-played";
const DEFAULT_PARAMETER: &str = "/now-playing/spotify";
const USAGE: &str = "usage: now-playing-authorize [--port N] [--parameter NAME] [--timeout SECONDS] [--print-only]
                             [--no-browser] [--suggestions | --no-suggestions]

Authorizes your Spotify app once and stores client id, client secret, refresh token and
the time of authorization in the SSM SecureString the function reads.

  --port N          loopback port for the redirect (BOOTSTRAP_PORT, default 8888)
  --parameter NAME  SSM parameter (CREDENTIALS_PARAMETER, default /now-playing/spotify)
  --timeout S       how long to wait for the browser (default 300)
  --print-only      show what would be stored, secrets masked, and store nothing
  --no-browser      only print the link, do not open a browser
  --suggestions     also let visitors suggest songs: asks for the playlist scopes and
                    creates (or reuses) the playlist \"Suggested by visitors\"
  --no-suggestions  drop suggestions from a stored authorization that had them

A re-run keeps suggestions on when the stored authorization has them.

The client id and secret come from SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET, or are
asked for. AWS_PROFILE, AWS_REGION and AWS_ENDPOINT_URL are honoured.";

struct Args {
    port: u16,
    parameter: String,
    timeout: Duration,
    print_only: bool,
    open_browser: bool,
    /// `--suggestions` or `--no-suggestions`; unset keeps what the stored document has.
    suggestions: Option<bool>,
}

fn parse_args() -> Result<Option<Args>> {
    let env_port = std::env::var("BOOTSTRAP_PORT").ok().filter(|v| !v.is_empty());
    let mut args = Args {
        port: parse_port(env_port.as_deref().unwrap_or("8888"), "BOOTSTRAP_PORT")?,
        parameter: std::env::var("CREDENTIALS_PARAMETER")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_PARAMETER.into()),
        timeout: Duration::from_secs(300),
        print_only: false,
        open_browser: true,
        suggestions: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value\n\n{USAGE}"));
        match arg.as_str() {
            "--port" => args.port = parse_port(&value("--port")?, "--port")?,
            "--parameter" => args.parameter = value("--parameter")?,
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| anyhow!("--timeout takes whole seconds, got {v:?}"))?;
                args.timeout = Duration::from_secs(secs);
            }
            "--print-only" => args.print_only = true,
            "--no-browser" => args.open_browser = false,
            "--suggestions" => args.suggestions = Some(true),
            "--no-suggestions" => args.suggestions = Some(false),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    if args.parameter.is_empty() || !args.parameter.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) {
        bail!("the parameter name {:?} has characters SSM does not allow (letters, digits, _ . - /)", args.parameter);
    }
    Ok(Some(args))
}

fn parse_port(value: &str, name: &str) -> Result<u16> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| anyhow!("{name} must be a port from 1 to 65535, got {value:?}"))
}

/// From the environment, else asked at the terminal (the secret without echo).
fn client_credentials() -> Result<(String, SecretString)> {
    let id = match std::env::var("SPOTIFY_CLIENT_ID").ok().filter(|v| !v.trim().is_empty()) {
        Some(id) => id.trim().to_owned(),
        None => prompt("Spotify client id: ")?,
    };
    let secret = match std::env::var("SPOTIFY_CLIENT_SECRET").ok().filter(|v| !v.trim().is_empty()) {
        Some(secret) => secret.trim().to_owned(),
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password("Spotify client secret (not shown): ").context("reading the client secret")?
        }
        None => bail!("SPOTIFY_CLIENT_SECRET is not set and there is no terminal to ask for it"),
    };
    if id.is_empty() || secret.trim().is_empty() {
        bail!("the client id and secret must not be empty: copy them from your app on developer.spotify.com");
    }
    Ok((id, SecretString::from(secret.trim().to_owned())))
}

fn prompt(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("SPOTIFY_CLIENT_ID is not set and there is no terminal to ask for it");
    }
    print!("{label}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

fn random_state() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no randomness for the state parameter: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Best effort: the link is always printed too.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

fn explain_spotify(e: SpotifyError, accounts_url: &str, redirect_uri: &str) -> anyhow::Error {
    match e {
        SpotifyError::InvalidClient => anyhow!(
            "Spotify refused the client id or secret (invalid_client): copy both again from your app's settings on developer.spotify.com"
        ),
        SpotifyError::InvalidGrant => anyhow!(
            "Spotify refused the authorization code (invalid_grant): it expired, was used already, or the redirect URI differs from {redirect_uri}; run `make bootstrap` again"
        ),
        SpotifyError::Forbidden(reason) => anyhow!(
            "Spotify refused access (403: {reason}): in development mode, add your account under User Management in the app's settings"
        ),
        SpotifyError::Network(_) | SpotifyError::Timeout => {
            anyhow!("could not reach Spotify at {accounts_url} ({e}); check your connection and try again")
        }
        other => anyhow!("Spotify failed: {other}; try again in a minute"),
    }
}

fn masked(secret: &SecretString) -> String {
    format!("<hidden, {} characters>", secret.expose_secret().chars().count())
}

/// The document stored before, when it can be read: a re-run keeps its suggestions playlist.
async fn stored(aws: &SdkConfig, parameter: &str) -> Option<Credentials> {
    aws.credentials_provider()?.provide_credentials().await.ok()?;
    SsmCredentialStore::new(aws_sdk_ssm::Client::new(aws), parameter).load().await.ok()
}

async fn store(aws: &SdkConfig, credentials: &Credentials, parameter: &str) -> Result<String> {
    let region = aws.region().map(ToString::to_string).ok_or_else(|| {
        anyhow!("no AWS region is set: set AWS_REGION (or a region in your AWS_PROFILE) to where you deploy")
    })?;
    let provider = aws.credentials_provider().ok_or_else(|| anyhow!("no AWS credentials provider is configured"))?;
    provider.provide_credentials().await.map_err(|_| {
        anyhow!(
            "no AWS credentials found: set AWS_PROFILE to a configured profile, or run `aws configure` / `aws sso login` first"
        )
    })?;
    let store = SsmCredentialStore::new(aws_sdk_ssm::Client::new(aws), parameter);
    store.save(credentials).await.map_err(|e| match e {
        CredentialsError::Unavailable { reason, .. } if reason.contains("AccessDenied") => anyhow!(
            "AWS refused to write the parameter {parameter} (AccessDenied): the identity needs ssm:PutParameter on it, and kms:Encrypt on the aws/ssm key"
        ),
        CredentialsError::Unavailable { reason, .. } => {
            anyhow!("could not write the parameter {parameter} in {region}: {reason}")
        }
        other => anyhow!("could not write the parameter {parameter}: {other}"),
    })?;
    Ok(region)
}

async fn run() -> Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let redirect_uri = format!("http://127.0.0.1:{}/callback", args.port);
    println!(
        "Register this redirect URI on your Spotify app (developer.spotify.com → your app → Settings):\n\n    {redirect_uri}\n"
    );
    let accounts_url =
        base_url("SPOTIFY_ACCOUNTS_URL", std::env::var("SPOTIFY_ACCOUNTS_URL").ok(), DEFAULT_SPOTIFY_ACCOUNTS_URL)?;
    let api_url = base_url("SPOTIFY_API_URL", std::env::var("SPOTIFY_API_URL").ok(), DEFAULT_SPOTIFY_API_URL)?;
    let (client_id, client_secret) = client_credentials()?;
    // Loaded once: read here for a stored suggestions playlist, written at the end.
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .http_client(now_playing::adapters::tls::aws_http_client())
        .load()
        .await;
    let previous = match args.suggestions {
        Some(false) => None,
        _ => stored(&aws, &args.parameter).await.and_then(|c| c.suggestions_playlist_id),
    };
    let suggestions = args.suggestions.unwrap_or(previous.is_some());
    if suggestions && args.suggestions.is_none() {
        println!(
            "Suggestions stay on: the stored authorization has a suggestions playlist (--no-suggestions drops it).\n"
        );
    }
    let scopes = if suggestions { format!("{SCOPES} {}", PLAYLIST_SCOPES.join(" ")) } else { SCOPES.to_owned() };
    let listener = callback::bind(args.port).await?;
    let spotify = SpotifyHttp::new(SpotifyHttp::default_client()?, &api_url, &accounts_url);
    let state = random_state()?;
    let url = spotify.authorize_url(&client_id, &redirect_uri, &scopes, &state).map_err(|e| anyhow!(e))?;
    match spotify.authorize_link_problem(&url).await {
        Some(AuthorizeProblem::RedirectUri) => bail!(
            "Spotify does not accept the redirect URI {redirect_uri}: add it under Redirect URIs in your app's \
             settings on developer.spotify.com, save, and run `make bootstrap` again"
        ),
        Some(AuthorizeProblem::ClientId) => bail!(
            "Spotify does not know the client id {client_id}: copy it from your app's settings on \
             developer.spotify.com into SPOTIFY_CLIENT_ID"
        ),
        None => {}
    }
    println!("Open this link, log in and approve (waiting {} s):\n\n    {url}\n", args.timeout.as_secs());
    std::io::stdout().flush()?;
    if args.open_browser {
        open_browser(&url);
    }
    let code = callback::wait_for_code(listener, &state, args.timeout, &redirect_uri).await?;
    let grant = spotify
        .exchange_code(&client_id, &client_secret, &code, &redirect_uri)
        .await
        .map_err(|e| explain_spotify(e, &accounts_url, &redirect_uri))?;
    let refresh_token = grant
        .refresh_token
        .ok_or_else(|| anyhow!("Spotify's answer had no refresh token; run `make bootstrap` again"))?;
    let profile =
        spotify.me(&grant.access_token).await.map_err(|e| explain_spotify(e, &accounts_url, &redirect_uri))?;
    let name = profile.display_name.as_deref().unwrap_or(&profile.id);
    match profile.product.as_deref() {
        Some("premium") => println!("Authorized as {name} (Spotify user {}), a Premium account.", profile.id),
        other => println!(
            "Authorized as {name} (Spotify user {}), a {} account.\nWarning: Spotify serves the Web API to \
             development-mode apps only when the app's owner has Premium; the function will get 403 answers until it does.",
            profile.id,
            other.unwrap_or("non-Premium")
        ),
    }
    // Spotify names the granted scopes; an answer without them is taken as all that was asked.
    let granted = grant.scope.clone().unwrap_or(scopes);
    let playlist_id = if suggestions {
        playlist::check_scopes(&granted)?;
        let (id, found) =
            playlist::find_or_create(&spotify, &grant.access_token, &profile.id, previous.as_deref(), !args.print_only)
                .await?;
        let link = |id: &str| format!("https://open.spotify.com/playlist/{id}");
        match (&id, found) {
            (Some(id), playlist::Found::Created) => {
                println!("Created the private playlist \"{}\" for suggestions: {}", playlist::NAME, link(id))
            }
            (Some(id), _) => println!("Suggestions go to your playlist \"{}\": {}", playlist::NAME, link(id)),
            (None, _) => println!("--print-only: the playlist \"{}\" would be created.", playlist::NAME),
        }
        id
    } else {
        None
    };
    let now = OffsetDateTime::now_utc();
    let authorized_at = now.replace_nanosecond(0).unwrap_or(now);
    let credentials = Credentials {
        client_id,
        client_secret,
        refresh_token,
        authorized_at,
        scope: Some(granted),
        suggestions_playlist_id: playlist_id,
    };
    let lapses = add_months(authorized_at, AUTHORIZATION_LIFE_MONTHS).format(&Rfc3339)?;
    if args.print_only {
        println!(
            "\n--print-only: nothing stored. The SecureString {} would hold:\n\n    {{\"client_id\": \"{}\", \
             \"client_secret\": \"{}\", \"refresh_token\": \"{}\", \"authorized_at\": \"{}\", \"scope\": \"{}\"{}}}\n",
            args.parameter,
            credentials.client_id,
            masked(&credentials.client_secret),
            masked(&credentials.refresh_token),
            authorized_at.format(&Rfc3339)?,
            credentials.scope.as_deref().unwrap_or_default(),
            match &credentials.suggestions_playlist_id {
                Some(id) => format!(", \"suggestions_playlist_id\": \"{id}\""),
                None => String::new(),
            }
        );
        return Ok(());
    }
    let region = store(&aws, &credentials, &args.parameter).await?;
    println!(
        "\nStored in the SSM SecureString {} ({region}).\nThe authorization lapses on {lapses} (6 months); \
         run `make bootstrap` again before then.",
        args.parameter
    );
    if credentials.suggestions_playlist_id.is_some() {
        println!(
            "Visitors' suggestions are ready on Spotify's side; turn them on with\n\n    \
             make deploy CDK_ARGS=\"-c suggestions=review\"    (or suggestions=auto)"
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make bootstrap: {e:#}");
            ExitCode::FAILURE
        }
    }
}
