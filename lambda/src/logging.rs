//! The function's log subscriber: the runtime's levels and formats, with the AWS SDK and the
//! HTTP stack never below INFO.

use std::str::FromStr;

use lambda_http::tracing::subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use lambda_http::tracing::subscriber::layer::{Layer, SubscriberExt};
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use lambda_http::tracing::subscriber::{fmt, registry};
use lambda_http::tracing::{Level, Metadata};

/// Crates that print request and response bodies and headers at DEBUG and TRACE: the
/// token table's bodies hold the access token, Spotify's requests its bearer header, and
/// the runtime's raw events a visitor's address and words.
const QUIET: &[&str] = &[
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "aws_runtime",
    "aws_sigv4",
    "hyper",
    "h2",
    "reqwest",
    "rustls",
    "lambda_runtime::layers::api_response",
];

/// Whether an event may be written: anything from the quiet crates only at INFO or above,
/// whatever `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` asks for.
pub fn may_log(metadata: &Metadata<'_>) -> bool {
    *metadata.level() <= Level::INFO || !QUIET.iter().any(|c| metadata.target().starts_with(c))
}

/// As `lambda_http::tracing::init_default_subscriber`: the level from `AWS_LAMBDA_LOG_LEVEL`,
/// else `RUST_LOG`, else INFO; JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON`. Plus `may_log`.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = LevelFilter::from_str(level.as_deref().unwrap_or("INFO")).unwrap_or(LevelFilter::INFO);
    let filter = || EnvFilter::builder().with_default_directive(level.into()).from_env_lossy();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let text = fmt::layer().with_target(false).without_time();
    if json {
        let layer = text.json().with_filter(filter()).with_filter(filter_fn(may_log));
        registry().with(layer).init();
    } else {
        registry().with(text.with_filter(filter()).with_filter(filter_fn(may_log))).init();
    }
}
