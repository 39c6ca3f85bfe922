//! `make suggestions`: the owner lists visitors' suggestions and approves or rejects them.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use aws_config::BehaviorVersion;
use now_playing::adapters::dynamodb::DynamoSuggestions;
use now_playing::adapters::dynamodb::{DynamoSnapshotStore, DynamoTokenStore};
use now_playing::adapters::{clock::SystemClock, spotify::SpotifyHttp, ssm::SsmCredentialStore};
use now_playing::config::{DEFAULT_SPOTIFY_ACCOUNTS_URL, DEFAULT_SPOTIFY_API_URL, base_url};
use now_playing::domain::suggestions::{
    Settings, Status, SuggestError, Suggestion, SuggestionPorts, SuggestionService, TrackId, shown_escaped,
};
use now_playing::domain::{TokenManager, TokenPorts, token::LeaseTiming};

const USAGE: &str =
    "usage: now-playing-suggestions --table NAME [--parameter NAME] [list | approve ID | reject ID | approve --all]

  list           what visitors suggested (the default): track, status, name, message, when
  approve ID     add the suggestion with this track id to the playlist
  reject ID      refuse it; it is removed after a week
  approve --all  approve every pending suggestion
  --table NAME      the DynamoDB table (STATE_TABLE; `make suggestions` reads it from the stack)
  --parameter NAME  the credentials parameter (CREDENTIALS_PARAMETER, default /now-playing/spotify)";

enum Command {
    List,
    Approve(TrackId),
    Reject(TrackId),
    ApproveAll,
}

fn track(id: Option<String>) -> Result<TrackId> {
    let id = id.ok_or_else(|| anyhow!("name the suggestion: its track id, as `list` shows it\n\n{USAGE}"))?;
    TrackId::parse(&id).ok_or_else(|| anyhow!("{id:?} is not a Spotify track id (22 letters and digits)"))
}

fn parse_args() -> Result<Option<(String, String, Command)>> {
    let mut table = std::env::var("STATE_TABLE").unwrap_or_default();
    let mut parameter = std::env::var("CREDENTIALS_PARAMETER").unwrap_or_else(|_| "/now-playing/spotify".into());
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--table" => table = args.next().ok_or_else(|| anyhow!("--table needs a value"))?,
            "--parameter" => parameter = args.next().ok_or_else(|| anyhow!("--parameter needs a value"))?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            _ => words.push(arg),
        }
    }
    let mut words = words.into_iter();
    let command = match (words.next().as_deref(), words.next()) {
        (None | Some("list"), None) => Command::List,
        (Some("approve"), Some(all)) if all == "--all" => Command::ApproveAll,
        (Some("approve"), id) => Command::Approve(track(id)?),
        (Some("reject"), id) => Command::Reject(track(id)?),
        (Some(other), _) => bail!("unknown command {other:?}\n\n{USAGE}"),
        (None, Some(_)) => bail!("{USAGE}"),
    };
    if words.next().is_some() {
        bail!("too many arguments\n\n{USAGE}");
    }
    if table.is_empty() {
        bail!("no table named: pass --table (make suggestions reads it from the deployed stack) or set STATE_TABLE");
    }
    Ok(Some((table, parameter, command)))
}

fn line(s: &Suggestion) -> String {
    // Visitors' words are text: control, invisible and reordering characters reach the
    // owner's terminal only escaped, as `\u{202e}`, so what shows is what was stored.
    let clean = |t: &Option<String>| shown_escaped(t.as_deref().unwrap_or("-"));
    let status = match (s.status, &s.reason) {
        (Status::Pending, Some(reason)) => format!("pending (adding failed: {reason})"),
        (Status::Pending, None) => "pending".into(),
        (Status::Added, _) => "added".into(),
        (Status::Rejected, _) => "rejected".into(),
    };
    format!(
        "{}  {}  {}\n    https://open.spotify.com/track/{}\n    from: {}\n    message: {}",
        s.track,
        s.created_at.date(),
        status,
        s.track,
        clean(&s.name),
        clean(&s.message)
    )
}

fn explain(e: SuggestError) -> anyhow::Error {
    anyhow!("{e}")
}

async fn run() -> Result<()> {
    let Some((table, parameter, command)) = parse_args()? else { return Ok(()) };
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .http_client(now_playing::adapters::tls::aws_http_client())
        .load()
        .await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let api = base_url("SPOTIFY_API_URL", std::env::var("SPOTIFY_API_URL").ok(), DEFAULT_SPOTIFY_API_URL)?;
    let accounts =
        base_url("SPOTIFY_ACCOUNTS_URL", std::env::var("SPOTIFY_ACCOUNTS_URL").ok(), DEFAULT_SPOTIFY_ACCOUNTS_URL)?;
    let spotify = Arc::new(SpotifyHttp::new(SpotifyHttp::default_client()?, &api, &accounts));
    let clock = Arc::new(SystemClock);
    let tokens = Arc::new(TokenManager::new(
        TokenPorts {
            spotify: spotify.clone(),
            store: Arc::new(DynamoTokenStore::new(dynamodb.clone(), &table)),
            credentials: Arc::new(SsmCredentialStore::new(aws_sdk_ssm::Client::new(&aws), &parameter)),
            clock: clock.clone(),
        },
        format!("make-suggestions-{}", std::process::id()),
        LeaseTiming::default(),
    ));
    let store = Arc::new(DynamoSuggestions::new(dynamodb.clone(), &table));
    let service = SuggestionService::new(
        SuggestionPorts {
            catalog: spotify.clone(),
            playlists: spotify,
            store: store.clone(),
            counters: store.clone(),
            cache: store,
            shared: Arc::new(DynamoSnapshotStore::new(dynamodb, &table)),
            tokens,
            clock,
        },
        Settings::default(),
    )
    // The deployment's budget (make suggestions passes the remembered settings): an
    // approval's look-up and addition spend the visitors' share, as a visitor's would.
    .with_budget(now_playing::config::budget_from(|name| std::env::var(name).ok())?);
    match command {
        Command::List => {
            let all = service.list().await.map_err(explain)?;
            if all.is_empty() {
                println!("No suggestions.");
            }
            for s in &all {
                println!("{}\n", line(s));
            }
        }
        Command::Approve(track) => report(service.decide(&track, true).await.map_err(explain)?)?,
        Command::Reject(track) => report(service.decide(&track, false).await.map_err(explain)?)?,
        Command::ApproveAll => {
            let pending: Vec<_> =
                service.list().await.map_err(explain)?.into_iter().filter(|s| s.status == Status::Pending).collect();
            if pending.is_empty() {
                println!("Nothing is pending.");
            }
            let mut failed = 0;
            for s in pending {
                let decided = service.decide(&s.track, true).await.map_err(explain)?;
                failed += usize::from(decided.status != Status::Added);
                println!("{}\n", line(&decided));
            }
            if failed > 0 {
                bail!("{failed} could not be added; they stay pending: run this again later");
            }
        }
    }
    Ok(())
}

fn report(s: Suggestion) -> Result<()> {
    println!("{}", line(&s));
    match (s.status, s.reason) {
        (Status::Pending, Some(reason)) => bail!("not added: {reason}; it stays pending, try again later"),
        _ => Ok(()),
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("make suggestions: {e:#}");
        std::process::exit(1);
    }
}
