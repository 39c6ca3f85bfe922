//! What invoked the function, decided from the raw event before `lambda_http` sees it.
//!
//! - A **scheduled job** of the stack's: an object that is exactly `{"now-playing-job": NAME}`.
//!   No HTTP front (REST API, HTTP API, function URL) can produce it: every event those send
//!   carries a method, a path and a request context. A job that fails is a function error,
//!   so Lambda's Errors metric moves, its retries apply and its on-failure destination hears.
//! - An **HTTP event**, served by `App::handle`. Its `Host`, `X-Forwarded-Proto`, domain
//!   name and path are checked first: `lambda_http` builds the request's URL from them and
//!   panics on one it cannot parse, which with `panic = "abort"` would end the process. Such
//!   an event is answered 400 instead.
//! - The **live runner's ticks**: SQS records (`eventSource` `aws:sqs`) whose body is exactly
//!   `{"now-playing-tick": ID}`, the message the runner left for itself. A record of any
//!   other shape makes the whole event unknown. A tick never fails the invocation: a retried
//!   tick would start a second chain of ticks; a lost one ends the runner, and the next
//!   page's `/v1/live` starts another.
//! - Anything else is refused as an invocation error naming what was expected.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::lambda_runtime::Diagnostic;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{Adapter, Context, LambdaEvent, Request, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::warn;

use crate::http::App;

/// The stack's scheduled work. The names are the schedules' inputs in `infra/lib/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Job {
    /// Refreshes the shared access token before it lapses.
    KeepFresh,
    /// E-mails the owner how many suggestions wait, once a day.
    DailyDigest,
    /// Reads the credentials afresh and publishes the authorization's days left.
    HealthCheck,
}

/// The event a schedule sends: this one key and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobEvent {
    #[serde(rename = "now-playing-job")]
    job: Job,
}

/// A tick's message body: this one key and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TickBody {
    #[serde(rename = "now-playing-tick")]
    runner: String,
}

/// What an event asks for.
#[derive(Debug)]
pub enum Invocation {
    Job(Job),
    /// The live runner's ticks, by runner id.
    Ticks(Vec<String>),
    Http(Box<LambdaRequest>),
    /// An HTTP event whose address cannot be read: answered 400 with this reason.
    Malformed(&'static str),
    /// Neither a job nor an HTTP event.
    Unknown,
}

impl Invocation {
    pub fn of(event: Value) -> Invocation {
        if event.get("now-playing-job").is_some() {
            return match serde_json::from_value::<JobEvent>(event) {
                Ok(e) => Invocation::Job(e.job),
                Err(_) => Invocation::Unknown,
            };
        }
        // Exactly `Records` and nothing else: no HTTP event's shape.
        let only_records = event.as_object().is_some_and(|o| o.len() == 1);
        if let Some(records) = event.get("Records").and_then(Value::as_array).filter(|_| only_records) {
            let ticks: Option<Vec<String>> = records
                .iter()
                .map(|r| {
                    if r.get("eventSource").and_then(Value::as_str) != Some("aws:sqs") {
                        return None;
                    }
                    let body: TickBody = serde_json::from_str(r.get("body")?.as_str()?).ok()?;
                    (!body.runner.is_empty() && body.runner.len() <= 200).then_some(body.runner)
                })
                .collect();
            return match ticks {
                Some(ticks) if !ticks.is_empty() => Invocation::Ticks(ticks),
                _ => Invocation::Unknown,
            };
        }
        if !is_http_event(&event) {
            return Invocation::Unknown;
        }
        if let Err(reason) = check_address(&event) {
            return Invocation::Malformed(reason);
        }
        match serde_json::from_value::<LambdaRequest>(event) {
            Ok(request) => Invocation::Http(Box::new(request)),
            Err(_) => Invocation::Unknown,
        }
    }
}

/// A REST (v1) or HTTP API (v2) / function URL event: a method and a request context.
fn is_http_event(event: &Value) -> bool {
    let context = event.get("requestContext").is_some_and(Value::is_object);
    let method = event.get("httpMethod").is_some_and(Value::is_string)
        || event.pointer("/requestContext/http/method").is_some_and(Value::is_string);
    context && method
}

/// Every value of header `name` in the event, whatever its case, from either map.
fn header<'a>(event: &'a Value, name: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    if let Some(map) = event.get("headers").and_then(Value::as_object) {
        found.extend(map.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).filter_map(|(_, v)| v.as_str()));
    }
    if let Some(map) = event.get("multiValueHeaders").and_then(Value::as_object) {
        for (_, values) in map.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)) {
            found.extend(values.as_array().into_iter().flatten().filter_map(Value::as_str));
        }
    }
    found
}

/// A host and optional port as a URL's authority may hold them: a DNS name or IPv4 address,
/// or a bracketed IPv6 address.
fn is_authority(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && (name.starts_with('[') == name.ends_with(']')) => {
            (name, Some(port))
        }
        _ => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    let name_ok = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    port_ok && name_ok
}

/// Refuses what `lambda_http` would build a URL from and fail on.
fn check_address(event: &Value) -> Result<(), &'static str> {
    if !header(event, "host").into_iter().all(is_authority) {
        return Err("the Host header is not a host name");
    }
    let scheme = |p: &str| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http");
    if !header(event, "x-forwarded-proto").into_iter().all(scheme) {
        return Err("X-Forwarded-Proto must be http or https");
    }
    let domain = event.pointer("/requestContext/domainName").and_then(Value::as_str);
    if !domain.is_none_or(is_authority) {
        return Err("the request's domain name is not a host name");
    }
    // The stage is put before the path in the request's URL.
    let stage = event.pointer("/requestContext/stage").and_then(Value::as_str).unwrap_or_default();
    if !stage.chars().all(|c| c.is_ascii_alphanumeric() || "$-_".contains(c)) {
        return Err("the stage is not a stage name");
    }
    let path = event.get("rawPath").or_else(|| event.get("path")).and_then(Value::as_str).unwrap_or("/");
    if !path.starts_with('/') || path.chars().any(|c| c.is_control() || c == ' ' || c == '#' || c == '\\') {
        return Err("the path is not a URL path");
    }
    Ok(())
}

/// Why a job failed, as the invocation error Lambda records: a public message, no secret.
#[derive(Debug)]
pub struct JobFailed {
    pub job: Job,
    pub message: String,
}

impl From<JobFailed> for Diagnostic {
    fn from(e: JobFailed) -> Self {
        Diagnostic { error_type: "JobFailed".into(), error_message: format!("{:?}: {}", e.job, e.message) }
    }
}

/// A bare response in the shape every HTTP front reads (REST, HTTP API, function URL).
fn bad_request(reason: &str) -> Value {
    let body = json!({ "error": { "code": "bad_request", "message": reason } }).to_string();
    json!({
        "statusCode": 400,
        "headers": { "content-type": "application/json", "cache-control": "no-store" },
        "body": body,
        "isBase64Encoded": false,
    })
}

/// Answers one invocation: a job's outcome, an HTTP response, or an invocation error.
pub async fn handle(app: Arc<App>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let LambdaEvent { payload, context } = event;
    match Invocation::of(payload) {
        Invocation::Job(job) => app.run(job).await.map_err(|message| {
            warn!(job = ?job, error = %message, "scheduled job failed");
            Diagnostic::from(JobFailed { job, message })
        }),
        Invocation::Ticks(ticks) => {
            for runner in &ticks {
                if let Err(e) = app.tick(runner).await {
                    warn!(runner = %runner, error = %e, "live tick failed; the runner ends");
                }
            }
            Ok(json!({ "ticks": ticks.len() }))
        }
        Invocation::Http(request) => Ok(serve(app, *request, context).await),
        Invocation::Malformed(reason) => {
            warn!(reason, "HTTP event refused");
            Ok(bad_request(reason))
        }
        Invocation::Unknown => Err(Diagnostic {
            error_type: "UnknownEvent".into(),
            error_message:
                "expected an API Gateway or function URL event, one of the stack's schedules, or a live tick".into(),
        }),
    }
}

async fn serve(app: Arc<App>, request: LambdaRequest, context: Context) -> Value {
    let handler = service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    });
    let mut adapter = Adapter::from(handler);
    let response = match adapter.ready().await {
        Ok(ready) => ready.call(LambdaEvent::new(request, context)).await,
        Err(never) => match never {},
    };
    match response.map(serde_json::to_value) {
        Ok(Ok(value)) => value,
        Ok(Err(_)) | Err(_) => bad_request("the response could not be written"),
    }
}
