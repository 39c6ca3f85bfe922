//! `make privacy`: the owner decides what the world sees. Reads the rules document from its
//! SSM String parameter, changes it, checks the result as the function will read it, and
//! writes it back.

mod lookup;

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_config::BehaviorVersion;
use aws_sdk_ssm::error::{DisplayErrorContext, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;
use lookup::{Looked, Lookup};
use now_playing::adapters::spotify::owner::Catalog;
use now_playing::domain::PrivacyRules;
use now_playing::domain::privacy::{QuietHours, is_spotify_id};
use now_playing::domain::quota::MAX_ANSWER_AGE;
use now_playing::domain::service::PRIVACY_REREAD;
use now_playing::domain::suggestions::shown_escaped;
use now_playing::http::{STALE_IF_ERROR_ANSWER, STALE_WHILE_REVALIDATE};
use time::OffsetDateTime;

const USAGE: &str = "usage: now-playing-privacy [--parameter NAME] COMMAND

  show                      the rules (the default)
  pause | resume            stop showing anything, or show again; what was heard
                            during a pause stays hidden
  hide KIND ID-OR-LINK      hide an artist, track, album, show or playlist: its id, its
                            open.spotify.com link or its spotify: URI; Spotify is asked
                            for its name first, and an id it does not know is refused
  unhide KIND ID-OR-LINK    show it again
  explicit on|off           hide explicit tracks, or not
  episodes on|off           hide podcast episodes, or not
  quiet HH:MM-HH:MM ZONE    show nothing between these times in this IANA time zone,
                            e.g. quiet 23:00-07:00 Europe/Berlin
  quiet off                 no quiet hours
  --parameter NAME          the SSM String parameter (PRIVACY_PARAMETER, default /now-playing/privacy)
  --table NAME              the state table, for the look-up's token (STATE_TABLE; make privacy
                            reads it from the deployed stack)
  --credentials NAME        the credentials parameter (CREDENTIALS_PARAMETER, default /now-playing/spotify)";

#[derive(Debug, PartialEq)]
enum Command {
    Show,
    Sharing(bool),
    Hide(Kind, String),
    Unhide(Kind, String),
    Explicit(bool),
    Episodes(bool),
    Quiet(Option<(String, String, String)>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Artist,
    Track,
    Album,
    Show,
    Playlist,
}

impl Kind {
    fn parse(word: &str) -> Result<Kind> {
        Ok(match word.trim_end_matches('s') {
            "artist" => Kind::Artist,
            "track" => Kind::Track,
            "album" => Kind::Album,
            "show" => Kind::Show,
            "playlist" => Kind::Playlist,
            _ => bail!("{word:?} is not something to hide: artist, track, album, show or playlist"),
        })
    }

    fn catalog(self) -> Catalog {
        match self {
            Kind::Artist => Catalog::Artist,
            Kind::Track => Catalog::Track,
            Kind::Album => Catalog::Album,
            Kind::Show => Catalog::Show,
            Kind::Playlist => Catalog::Playlist,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Artist => "artist",
            Kind::Track => "track",
            Kind::Album => "album",
            Kind::Show => "show",
            Kind::Playlist => "playlist",
        }
    }
}

/// The id in `ID`, `https://open.spotify.com/KIND/ID?si=…` or `spotify:KIND:ID`.
fn spotify_id(kind: Kind, given: &str) -> Result<String> {
    let given = given.trim();
    let id = if let Some(rest) = given.strip_prefix("spotify:") {
        rest.strip_prefix(kind.name()).and_then(|r| r.strip_prefix(':')).unwrap_or("")
    } else if given.starts_with("https://") {
        now_playing::domain::privacy::id_in_link(given, kind.name()).unwrap_or("")
    } else {
        given
    };
    if !is_spotify_id(id) {
        bail!(
            "{given:?} is not a {} id, open.spotify.com/{}/… link or spotify:{}:… URI",
            kind.name(),
            kind.name(),
            kind.name()
        );
    }
    Ok(id.to_owned())
}

fn on_off(word: Option<String>, what: &str) -> Result<bool> {
    match word.as_deref() {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        _ => bail!("{what} takes on or off\n\n{USAGE}"),
    }
}

fn parse_command(words: Vec<String>) -> Result<Command> {
    let mut words = words.into_iter();
    let command = match words.next().as_deref() {
        None | Some("show") => Command::Show,
        Some("pause") => Command::Sharing(false),
        Some("resume") => Command::Sharing(true),
        Some(verb @ ("hide" | "unhide")) => {
            let kind = Kind::parse(&words.next().ok_or_else(|| anyhow!("{verb} what?\n\n{USAGE}"))?)?;
            let id = spotify_id(kind, &words.next().ok_or_else(|| anyhow!("{verb} which {}?", kind.name()))?)?;
            if verb == "hide" { Command::Hide(kind, id) } else { Command::Unhide(kind, id) }
        }
        Some("explicit") => Command::Explicit(on_off(words.next(), "explicit")?),
        Some("episodes") => Command::Episodes(on_off(words.next(), "episodes")?),
        Some("quiet") => match words.next().as_deref() {
            Some("off") => Command::Quiet(None),
            Some(span) => {
                let (from, to) = span.split_once('-').ok_or_else(|| anyhow!("quiet takes HH:MM-HH:MM ZONE"))?;
                let zone = words.next().ok_or_else(|| anyhow!("quiet needs a time zone, e.g. Europe/Berlin"))?;
                QuietHours::new(from, to, &zone).map_err(|e| anyhow!(e))?;
                Command::Quiet(Some((from.to_owned(), to.to_owned(), zone)))
            }
            None => bail!("quiet takes HH:MM-HH:MM ZONE, or off\n\n{USAGE}"),
        },
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    };
    if words.next().is_some() {
        bail!("too many arguments\n\n{USAGE}");
    }
    Ok(command)
}

/// The rules after `command` at `now`; `None` for `show`.
fn apply(mut rules: PrivacyRules, command: Command, now: OffsetDateTime) -> Result<Option<PrivacyRules>> {
    fn set(rules: &mut PrivacyRules, kind: Kind) -> &mut std::collections::BTreeSet<String> {
        match kind {
            Kind::Artist => &mut rules.hide.artists,
            Kind::Track => &mut rules.hide.tracks,
            Kind::Album => &mut rules.hide.albums,
            Kind::Show => &mut rules.hide.shows,
            Kind::Playlist => &mut rules.hide.playlists,
        }
    }
    match command {
        Command::Show => return Ok(None),
        // A pause's span is kept once it is over: what was heard in it stays hidden.
        Command::Sharing(true) => rules.resume(now),
        Command::Sharing(false) => rules.pause(now),
        Command::Hide(kind, id) => {
            set(&mut rules, kind).insert(id);
        }
        Command::Unhide(kind, id) => {
            if !set(&mut rules, kind).remove(&id) {
                bail!("that {} is not hidden; nothing changed", kind.name());
            }
        }
        Command::Explicit(on) => rules.hide_explicit = on,
        Command::Episodes(on) => rules.hide_episodes = on,
        Command::Quiet(None) => rules.quiet_hours = None,
        Command::Quiet(Some((from, to, zone))) => {
            rules.quiet_hours = Some(QuietHours::new(&from, &to, &zone).map_err(|e| anyhow!(e))?)
        }
    }
    // Written only as the function will read it.
    let text = rules.to_document().to_string();
    PrivacyRules::parse(&text).map_err(|e| anyhow!("the changed rules would not be read: {e}"))?;
    Ok(Some(rules))
}

async fn run() -> Result<()> {
    let mut parameter = std::env::var("PRIVACY_PARAMETER").unwrap_or_else(|_| "/now-playing/privacy".into());
    let mut table = std::env::var("STATE_TABLE").ok().filter(|t| !t.is_empty());
    let mut credentials = std::env::var("CREDENTIALS_PARAMETER").unwrap_or_else(|_| "/now-playing/spotify".into());
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--parameter" => parameter = args.next().ok_or_else(|| anyhow!("--parameter needs a value"))?,
            "--table" => {
                table = Some(args.next().ok_or_else(|| anyhow!("--table needs a value"))?).filter(|t| !t.is_empty())
            }
            "--credentials" => credentials = args.next().ok_or_else(|| anyhow!("--credentials needs a value"))?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => words.push(arg),
        }
    }
    let command = parse_command(words)?;
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .http_client(now_playing::adapters::tls::aws_http_client())
        .load()
        .await;
    if let Command::Hide(kind, id) = &command {
        check_exists(&aws, table.as_deref(), &credentials, *kind, id).await?;
    }
    let ssm = aws_sdk_ssm::Client::new(&aws);
    let stored = match ssm.get_parameter().name(&parameter).send().await {
        Ok(out) => out.parameter.and_then(|p| p.value),
        Err(SdkError::ServiceError(e)) if matches!(e.err(), GetParameterError::ParameterNotFound(_)) => None,
        Err(e) => bail!("could not read {parameter}: {}", DisplayErrorContext(e)),
    };
    let rules = match &stored {
        Some(text) => PrivacyRules::parse(text).map_err(|e| {
            anyhow!("{parameter} holds rules the function cannot read, so it shows nothing: {e}; fix or delete it")
        })?,
        None => PrivacyRules::default(),
    };
    let Some(changed) = apply(rules.clone(), command, OffsetDateTime::now_utc())? else {
        if stored.is_none() {
            println!("{parameter} does not exist: everything is shown.");
        }
        println!("{}", serde_json::to_string_pretty(&rules.to_document())?);
        return Ok(());
    };
    let text = serde_json::to_string_pretty(&changed.to_document())?;
    ssm.put_parameter()
        .name(&parameter)
        .r#type(ParameterType::String)
        .value(&text)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("could not write {parameter}"))?;
    println!("{text}");
    let worst = PRIVACY_REREAD + MAX_ANSWER_AGE + Duration::from_secs(STALE_WHILE_REVALIDATE.into());
    println!(
        "Written to {parameter}. The function reads it at most {} s apart; an answer is then kept up to {} s at \
         the edge and served {} s past that while it is refreshed, so visitors see the change within {} s (a \
         browser or an image proxy that keeps its own copy adds its own time). If the function fails in that \
         time, the edge serves its copy from before the change for up to {} s, and a card for a day. To clear \
         the edge at once, add --purge to ARGS (the invalidation needs the stack's DistributionId output).",
        PRIVACY_REREAD.as_secs(),
        MAX_ANSWER_AGE.as_secs(),
        STALE_WHILE_REVALIDATE,
        worst.as_secs(),
        STALE_IF_ERROR_ANSWER,
    );
    Ok(())
}

/// Asks Spotify whether the `kind` with `id` exists: an unknown one is refused (a rule for
/// it could never match); when Spotify cannot be asked, the rule is written unchecked, as
/// hiding something matters more than the check.
async fn check_exists(
    aws: &aws_config::SdkConfig,
    table: Option<&str>,
    credentials: &str,
    kind: Kind,
    id: &str,
) -> Result<()> {
    let looked = match table {
        None => Looked::Unasked(
            "no state table is named, so there is no token: make privacy reads it from the deployed stack \
             (with the AWS CLI); else pass --table"
                .into(),
        ),
        Some(table) => match Lookup::new(aws, table, credentials) {
            Ok(lookup) => lookup.name(kind.catalog(), id).await,
            Err(why) => Looked::Unasked(why),
        },
    };
    match looked {
        Looked::Known(name) => {
            println!("Hiding the {} {} ({id}).", kind.name(), shown_escaped(&name));
            Ok(())
        }
        Looked::Unknown => bail!(
            "Spotify knows no {} with the id {id}, so a rule for it would never match; nothing changed. Ids are \
             case-sensitive: copy the link from Spotify's Share menu",
            kind.name()
        ),
        Looked::Unasked(why) => {
            eprintln!(
                "make privacy: could not ask Spotify whether that {} exists ({why}); hiding it unchecked.",
                kind.name()
            );
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("make privacy: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTIST: &str = "0gxyHStUsqpMadRV0Di1Qt";

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn ids_links_and_uris_are_read_for_their_kind_only() {
        for given in [
            ARTIST.to_owned(),
            format!("https://open.spotify.com/artist/{ARTIST}?si=abc"),
            format!("spotify:artist:{ARTIST}"),
        ] {
            assert_eq!(spotify_id(Kind::Artist, &given).unwrap(), ARTIST, "{given}");
        }
        assert!(spotify_id(Kind::Album, &format!("https://open.spotify.com/artist/{ARTIST}")).is_err());
        assert!(spotify_id(Kind::Artist, "rick-astley").is_err());
    }

    #[test]
    fn commands_change_the_rules_and_bad_ones_are_refused() {
        let hide = parse_command(words(&format!("hide artist {ARTIST}"))).unwrap();
        let now = time::macros::datetime!(2026-12-08 10:00 UTC);
        let rules = apply(PrivacyRules::default(), hide, now).unwrap().unwrap();
        assert!(rules.hide.artists.contains(ARTIST));
        let rules =
            apply(rules, parse_command(words(&format!("unhide artists {ARTIST}"))).unwrap(), now).unwrap().unwrap();
        assert!(rules.hide.artists.is_empty());
        assert!(apply(rules.clone(), parse_command(words(&format!("unhide artist {ARTIST}"))).unwrap(), now).is_err());
        let quiet = parse_command(words("quiet 23:00-07:00 Europe/Berlin")).unwrap();
        let rules = apply(rules, quiet, now).unwrap().unwrap();
        assert_eq!(rules.to_document()["quiet_hours"]["time_zone"], "Europe/Berlin");
        let paused = apply(rules, Command::Sharing(false), now).unwrap().unwrap();
        assert!(!paused.sharing);
        let later = now + time::Duration::hours(2);
        let resumed = apply(paused, Command::Sharing(true), later).unwrap().unwrap();
        let spans = &resumed.to_document()["paused_spans"];
        assert_eq!(spans, &serde_json::json!([{"from": "2026-12-08T10:00:00Z", "to": "2026-12-08T12:00:00Z"}]));
        for bad in [
            "quiet 25:00-07:00 Europe/Berlin",
            "quiet 23:00-07:00 Mars/Base",
            "explicit maybe",
            "hide band x",
            "pause now",
        ] {
            assert!(parse_command(words(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse_command(vec![]).unwrap(), Command::Show);
    }
}
