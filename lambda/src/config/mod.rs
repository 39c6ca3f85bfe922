//! `Config::from_env()`: every setting the function reads, validated at cold start.

mod limits;
mod live;

pub use limits::{MAX_CALLS_PER_DAY, MIN_CALLS_PER_DAY, budget_from};
use limits::{budget, suggestion_settings};
use live::live;
pub use live::{DEFAULT_LIVE_CHANNEL, Live};

use crate::domain::quota::Budget;
use crate::domain::suggestions::Settings;
use crate::http::EdgeSecret;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set; {1}")]
    Missing(&'static str, &'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Which page origins may read the answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    pub fn allow(&self, origin: Option<&str>) -> Option<String> {
        match self {
            AllowedOrigins::Any => Some("*".to_owned()),
            AllowedOrigins::List(list) => origin.filter(|o| list.iter().any(|a| a == o)).map(str::to_owned),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub state_table: String,
    pub credentials_parameter: String,
    pub spotify_api_url: String,
    pub spotify_accounts_url: String,
    pub allowed_origins: AllowedOrigins,
    pub cache_seconds: u32,
    /// Image hosts allowed besides Spotify's CDNs (`host` or `host:port`), e.g. a local stand-in.
    pub art_hosts: Vec<String>,
    /// Where the deployment is reachable, for the preview page's snippets, when the request
    /// context cannot say (`cargo lambda watch` names no port).
    pub public_url: Option<String>,
    /// Visitors' suggestions: `SUGGESTIONS` and its limits.
    pub suggestions: Settings,
    /// The SNS topic for the daily digest of waiting suggestions (`DIGEST_TOPIC_ARN`), if any.
    pub digest_topic_arn: Option<String>,
    /// What the stack's CDN sends to prove a request came through it (`EDGE_SECRET`).
    pub edge_secret: Option<EdgeSecret>,
    /// Where a changed answer is pushed to open pages (`LIVE_URL`, `LIVE_CHANNEL`).
    pub live: Option<Live>,
    /// The SSM String parameter of the owner's privacy rules (`PRIVACY_PARAMETER`), if any.
    pub privacy_parameter: Option<String>,
    /// Spotify's Web API calls per rolling 24 hours and their shares
    /// (`SPOTIFY_CALLS_PER_DAY`, `SPOTIFY_VISITOR_SHARE`, `SPOTIFY_RECENT_SHARE`).
    pub budget: Budget,
}

pub const DEFAULT_SPOTIFY_API_URL: &str = "https://api.spotify.com";
pub const DEFAULT_SPOTIFY_ACCOUNTS_URL: &str = "https://accounts.spotify.com";
pub const DEFAULT_CACHE_SECONDS: u32 = 5;
const MAX_CACHE_SECONDS: u32 = 3600;

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let state_table = get("STATE_TABLE").ok_or(ConfigError::Missing(
            "STATE_TABLE",
            "set it to the DynamoDB table of the function's state (the stack's TableName output)",
        ))?;
        if state_table.len() < 3
            || state_table.len() > 255
            || !state_table.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: "STATE_TABLE",
                reason: "a DynamoDB table name has 3 to 255 letters, digits, '_', '.' or '-'".into(),
            });
        }
        let credentials_parameter = get("CREDENTIALS_PARAMETER").ok_or(ConfigError::Missing(
            "CREDENTIALS_PARAMETER",
            "set it to the name of the SSM SecureString written by `make bootstrap`",
        ))?;
        if !credentials_parameter.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) {
            return Err(ConfigError::Invalid {
                name: "CREDENTIALS_PARAMETER",
                reason: "an SSM parameter name has letters, digits, '_', '.', '-' and '/'".into(),
            });
        }
        let spotify_api_url = base_url("SPOTIFY_API_URL", get("SPOTIFY_API_URL"), DEFAULT_SPOTIFY_API_URL)?;
        let spotify_accounts_url =
            base_url("SPOTIFY_ACCOUNTS_URL", get("SPOTIFY_ACCOUNTS_URL"), DEFAULT_SPOTIFY_ACCOUNTS_URL)?;
        let allowed_origins = match get("ALLOWED_ORIGINS").as_deref() {
            None | Some("*") => AllowedOrigins::Any,
            Some(list) => {
                let origins: Vec<String> =
                    list.split(',').map(str::trim).filter(|o| !o.is_empty()).map(origin).collect::<Result<_, _>>()?;
                if origins.is_empty() {
                    return Err(ConfigError::Invalid {
                        name: "ALLOWED_ORIGINS",
                        reason: format!(
                            "{list:?} lists no origin, which would let no page read the answers; use '*' or a \
                             comma-separated list such as https://example.com"
                        ),
                    });
                }
                AllowedOrigins::List(origins)
            }
        };
        let cache_seconds = match get("CACHE_SECONDS") {
            None => DEFAULT_CACHE_SECONDS,
            Some(v) => {
                v.parse::<u32>().ok().filter(|s| *s <= MAX_CACHE_SECONDS).ok_or_else(|| ConfigError::Invalid {
                    name: "CACHE_SECONDS",
                    reason: format!("expected whole seconds from 0 to {MAX_CACHE_SECONDS}, got {v:?}"),
                })?
            }
        };
        let art_hosts: Vec<String> = get("ART_HOSTS")
            .map(|v| v.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        // Each host goes into the preview page's Content-Security-Policy: only `host` or `host:port`.
        if let Some(bad) = art_hosts.iter().find(|h| !h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c)))
        {
            return Err(ConfigError::Invalid {
                name: "ART_HOSTS",
                reason: format!("{bad:?} is not a host or host:port such as 127.0.0.1:5060"),
            });
        }
        let public_url = match get("PUBLIC_URL") {
            Some(url) => Some(base_url("PUBLIC_URL", Some(url), "https://np.example.com")?),
            None => None,
        };
        let suggestions = suggestion_settings(&get)?;
        let digest_topic_arn = get("DIGEST_TOPIC_ARN");
        if let Some(arn) = &digest_topic_arn {
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                return Err(ConfigError::Invalid {
                    name: "DIGEST_TOPIC_ARN",
                    reason: format!(
                        "expected an SNS topic ARN such as arn:aws:sns:eu-west-1:123456789012:alarms, got {arn:?}"
                    ),
                });
            }
        }
        let edge_secret = match get("EDGE_SECRET") {
            Some(value) => {
                Some(EdgeSecret::new(&value).map_err(|reason| ConfigError::Invalid { name: "EDGE_SECRET", reason })?)
            }
            None => None,
        };
        let privacy_parameter = get("PRIVACY_PARAMETER");
        if let Some(name) = &privacy_parameter
            && !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: "PRIVACY_PARAMETER",
                reason: "an SSM parameter name has letters, digits, '_', '.', '-' and '/'".into(),
            });
        }
        let budget = budget(&get)?;
        let live = live(&get)?;
        Ok(Config {
            live,
            budget,
            privacy_parameter,
            edge_secret,
            digest_topic_arn,
            suggestions,
            public_url,
            state_table,
            credentials_parameter,
            spotify_api_url,
            spotify_accounts_url,
            allowed_origins,
            cache_seconds,
            art_hosts,
        })
    }
}

/// An http(s) base URL from `value`, or `default`; trailing slashes removed.
pub fn base_url(name: &'static str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| default.to_owned());
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(url.trim_end_matches('/').to_owned()),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("expected an http(s) base URL such as {default}, got {url:?}"),
        }),
    }
}

/// One origin of `ALLOWED_ORIGINS`, in the form a browser sends it: the scheme and host in
/// lower case (`https://Example.com` would never match), a port only from 1 to 65535.
fn origin(value: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::Invalid {
        name: "ALLOWED_ORIGINS",
        reason: format!(
            "{value:?} is not an origin ({why}); use '*' or a comma-separated list such as \
             https://example.com,https://www.example.com"
        ),
    };
    let lower = value.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let Some(host) = rest.filter(|h| !h.is_empty() && !h.contains(['/', '?', '#', ' ', '*'])) else {
        return Err(bad("a scheme and a host, no path"));
    };
    let port = match host.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map(|(_, port)| port),
        None => host.rsplit_once(':').map(|(_, port)| port),
    };
    if let Some(port) = port
        && port.parse::<u16>().ok().filter(|p| *p > 0).is_none()
    {
        return Err(bad("a port is a number from 1 to 65535"));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::suggestions::{Limits, Mode};
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] =
        [("STATE_TABLE", "now-playing-state"), ("CREDENTIALS_PARAMETER", "/now-playing/spotify")];

    #[test]
    fn the_budget_is_1000_calls_a_day_with_a_fifth_for_visitors_unless_set() {
        assert_eq!(
            config(&BASE).unwrap().budget,
            Budget { calls_per_day: 1000, visitor_percent: 20, recent_percent: 10 }
        );
        let mut set = BASE.to_vec();
        set.extend([("SPOTIFY_CALLS_PER_DAY", "2000"), ("SPOTIFY_VISITOR_SHARE", "0"), ("SPOTIFY_RECENT_SHARE", "5")]);
        assert_eq!(config(&set).unwrap().budget, Budget { calls_per_day: 2000, visitor_percent: 0, recent_percent: 5 });
        for (name, value) in [
            ("SPOTIFY_CALLS_PER_DAY", "99"),
            ("SPOTIFY_CALLS_PER_DAY", "1,000"),
            ("SPOTIFY_VISITOR_SHARE", "51"),
            ("SPOTIFY_RECENT_SHARE", "-1"),
        ] {
            let mut set = BASE.to_vec();
            set.push((name, value));
            match config(&set) {
                Err(ConfigError::Invalid { name: named, .. }) => assert_eq!(named, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        let mut set = BASE.to_vec();
        set.extend([("SPOTIFY_VISITOR_SHARE", "40"), ("SPOTIFY_RECENT_SHARE", "20")]);
        let error = config(&set).unwrap_err().to_string();
        assert!(error.contains("at most 50%") && error.contains("60%"), "{error}");
    }

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_given() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.spotify_api_url, DEFAULT_SPOTIFY_API_URL);
        assert_eq!(c.spotify_accounts_url, DEFAULT_SPOTIFY_ACCOUNTS_URL);
        assert_eq!(c.allowed_origins, AllowedOrigins::Any);
        assert_eq!(c.cache_seconds, 5);
        assert_eq!(c.digest_topic_arn, None);
        let mut set = BASE.to_vec();
        set.push(("DIGEST_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:now-playing-alarms"));
        assert_eq!(config(&set).unwrap().digest_topic_arn.as_deref(), Some(set[set.len() - 1].1));
    }

    #[test]
    fn suggestions_are_off_with_proofs_and_default_limits_unless_set() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.suggestions, Settings { mode: Mode::Off, proof_of_work: true, limits: Limits::default() });
        let mut set = BASE.to_vec();
        set.extend([
            ("SUGGESTIONS", "review"),
            ("SUGGESTIONS_PROOF_OF_WORK", "off"),
            ("SUGGESTIONS_PER_VISITOR_PER_HOUR", "5"),
            ("SUGGESTIONS_PER_DAY", "7"),
            ("SEARCHES_PER_VISITOR_PER_MINUTE", "9"),
        ]);
        let s = config(&set).unwrap().suggestions;
        assert_eq!((s.mode, s.proof_of_work), (Mode::Review, false));
        assert_eq!(
            (
                s.limits.suggestions_per_visitor_per_hour,
                s.limits.suggestions_per_day,
                s.limits.searches_per_visitor_per_minute
            ),
            (5, 7, 9)
        );
    }

    #[test]
    fn each_bad_suggestion_setting_is_named() {
        for (name, value) in [
            ("SUGGESTIONS", "yes"),
            ("SUGGESTIONS_PROOF_OF_WORK", "true"),
            ("SUGGESTIONS_PER_VISITOR_PER_HOUR", "0"),
            ("SUGGESTIONS_PER_DAY", "-1"),
            ("SEARCHES_PER_VISITOR_PER_MINUTE", "many"),
        ] {
            let mut set = BASE.to_vec();
            set.push((name, value));
            let err = config(&set).unwrap_err();
            assert!(err.to_string().starts_with(&format!("{name} is invalid")), "{err}");
        }
    }

    #[test]
    fn a_missing_table_is_named() {
        let err = config(&[("CREDENTIALS_PARAMETER", "/p")]).unwrap_err();
        assert!(err.to_string().starts_with("STATE_TABLE is not set"), "{err}");
    }

    #[test]
    fn a_missing_parameter_is_named() {
        let err = config(&[("STATE_TABLE", "tokens")]).unwrap_err();
        assert!(err.to_string().starts_with("CREDENTIALS_PARAMETER is not set"), "{err}");
    }

    #[test]
    fn malformed_values_are_named() {
        for (name, value) in [
            ("CACHE_SECONDS", "soon"),
            ("CACHE_SECONDS", "99999"),
            ("SPOTIFY_API_URL", "api.spotify.com"),
            ("SPOTIFY_ACCOUNTS_URL", "ftp://x"),
            ("ALLOWED_ORIGINS", "example.com"),
            ("ALLOWED_ORIGINS", "https://example.com/page"),
            ("ALLOWED_ORIGINS", ","),
            ("ALLOWED_ORIGINS", "https://example.com:70000"),
            ("ALLOWED_ORIGINS", "https://example.com:0"),
            ("ALLOWED_ORIGINS", "https://example.com:https"),
            ("STATE_TABLE", "a b"),
            ("PUBLIC_URL", "np.example.com"),
            ("ART_HOSTS", "cdn.example; script-src *"),
            ("DIGEST_TOPIC_ARN", "alarms"),
            ("DIGEST_TOPIC_ARN", "arn:aws:sqs:eu-west-1:123456789012:alarms"),
            ("EDGE_SECRET", "too-short-to-guard-anything"),
            ("PRIVACY_PARAMETER", "/now playing/privacy"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            let err = config(&pairs).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name} is invalid")), "{name}={value}: {err}");
        }
    }

    #[test]
    fn a_bad_edge_secret_is_named_but_never_shown() {
        let mut pairs = BASE.to_vec();
        pairs.push(("EDGE_SECRET", "sekrit value with spaces in it, long enough"));
        let err = config(&pairs).unwrap_err().to_string();
        assert!(err.starts_with("EDGE_SECRET is invalid") && !err.contains("sekrit"), "{err}");
    }

    #[test]
    fn live_push_and_subscription_are_read_together_and_bad_values_named() {
        assert_eq!(config(&BASE).unwrap().live, None, "off without LIVE_URL");
        let mut pairs = BASE.to_vec();
        pairs.push(("LIVE_URL", "https://abc.appsync-api.eu-west-1.amazonaws.com"));
        let live = config(&pairs).unwrap().live.unwrap();
        assert_eq!((live.channel.as_str(), live.realtime_url, live.api_key), (DEFAULT_LIVE_CHANNEL, None, None));
        pairs.push(("LIVE_REALTIME_URL", "wss://abc.appsync-realtime-api.eu-west-1.amazonaws.com/event/realtime"));
        let err = config(&pairs).unwrap_err().to_string();
        assert!(err.starts_with("LIVE_API_KEY is invalid") && err.contains("set both"), "{err}");
        pairs.push(("LIVE_API_KEY", "da2-abcdef"));
        assert_eq!(config(&pairs).unwrap().live.unwrap().api_key.as_deref(), Some("da2-abcdef"));
        for (name, bad) in [
            ("LIVE_CHANNEL", "now-playing"),
            ("LIVE_CHANNEL", "/a/b/c/d/e/f"),
            ("LIVE_CHANNEL", "/now playing"),
            ("LIVE_REALTIME_URL", "https://abc.example/event/realtime"),
            ("LIVE_API_KEY", "da2-\"><script>"),
            ("LIVE_API_KEY_EXPIRES", "next <script> year"),
        ] {
            let mut with = pairs.clone();
            with.retain(|(k, _)| *k != name);
            with.push((name, bad));
            let err = config(&with).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name} is invalid")), "{name}={bad}: {err}");
            assert!(!err.contains("<script>"), "{err}");
        }
    }

    #[test]
    fn an_origin_list_allows_only_its_members() {
        let mut pairs = BASE.to_vec();
        pairs.push(("ALLOWED_ORIGINS", "https://a.example, https://B.Example:8443, http://[::1]:9000"));
        let c = config(&pairs).unwrap();
        assert_eq!(c.allowed_origins.allow(Some("https://a.example")).as_deref(), Some("https://a.example"));
        assert_eq!(
            c.allowed_origins.allow(Some("https://b.example:8443")).as_deref(),
            Some("https://b.example:8443"),
            "as a browser sends it: in lower case"
        );
        assert_eq!(c.allowed_origins.allow(Some("http://[::1]:9000")).as_deref(), Some("http://[::1]:9000"));
        assert_eq!(c.allowed_origins.allow(Some("https://evil.example")), None);
        assert_eq!(c.allowed_origins.allow(None), None);
    }
}
