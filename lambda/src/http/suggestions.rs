//! Visitors' suggestions: `/v1/search`, `/v1/suggestions/challenge` and `POST /v1/suggestions`.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use super::App;
use super::caching::{PRIVATE, SEARCH};
use super::edge::visitor_address;
use super::respond::{error_body, json_body, printable, with_retry_after};
use crate::domain::Item;
use crate::domain::ports::SpotifyError;
use crate::domain::suggestions::{Status, Submission, SuggestError, SuggestionService};

/// The largest suggestion body accepted; a full one is well under 1 KB.
pub const MAX_BODY_BYTES: usize = 2048;

/// `POST /v1/suggestions`' body. Unknown fields are refused, so that a typo is not
/// silently dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuggestionBody {
    track: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
    /// The solved proof of work: base64 JSON in ALTCHA's format.
    #[serde(default)]
    altcha: Option<String>,
    /// The honeypot: hidden from people, filled in by form-filling bots.
    #[serde(default)]
    website: Option<String>,
}

impl App {
    /// Whether visitors may suggest songs here (the preview page then offers it).
    pub(super) fn suggestions_open(&self) -> bool {
        self.suggestions.as_deref().is_some_and(|s| s.open().is_ok())
    }

    /// The service, unless suggestions are off.
    fn open_service(&self) -> Result<&SuggestionService, Refusal> {
        let service = self.suggestions.as_deref().ok_or(SuggestError::Closed)?;
        service.open()?;
        Ok(service)
    }

    pub(super) async fn search(&self, req: &Request) -> Response<Body> {
        let q = req.query_string_parameters_ref().and_then(|q| q.first("q")).unwrap_or_default().to_owned();
        let result = async {
            let service = self.open_service()?;
            let visitor = service.visitor(&visitor_address(req, self.edge.as_ref())).await?;
            Ok::<_, Refusal>(service.search(&visitor, &q).await?)
        }
        .await;
        match result {
            Ok(tracks) => {
                let mut r = json_body(
                    StatusCode::OK,
                    &json!({ "tracks": tracks.iter().map(Item::public).collect::<Vec<_>>() }),
                );
                r.headers_mut().insert(header::CACHE_CONTROL, SEARCH);
                r
            }
            Err(e) => e.response(),
        }
    }

    pub(super) async fn challenge(&self) -> Response<Body> {
        let result = async { Ok::<_, Refusal>(self.open_service()?.challenge().await?) }.await;
        let mut r = match result {
            Ok(Some(challenge)) => json_body(StatusCode::OK, &challenge),
            // Proofs are off: the widget sends no `altcha` field.
            Ok(None) => json_body(StatusCode::OK, &json!({ "algorithm": null })),
            Err(e) => e.response(),
        };
        r.headers_mut().insert(header::CACHE_CONTROL, PRIVATE);
        r
    }

    pub(super) async fn suggest(&self, req: &Request) -> Response<Body> {
        let result = async {
            let service = self.open_service()?;
            let body = read_body(req)?;
            let visitor = service.visitor(&visitor_address(req, self.edge.as_ref())).await?;
            Ok::<_, Refusal>(service.suggest(&visitor, body).await?)
        }
        .await;
        let mut r = match result {
            Ok((suggestion, item)) => {
                let status = match suggestion.status {
                    Status::Added => "added",
                    _ => "pending",
                };
                let doc = json!({ "suggestion": { "id": suggestion.track, "status": status, "track": item.public() } });
                json_body(StatusCode::ACCEPTED, &doc)
            }
            Err(e) => e.response(),
        };
        r.headers_mut().insert(header::CACHE_CONTROL, PRIVATE);
        r
    }
}

/// Why a request was refused: by the domain, or here for its form.
enum Refusal {
    Domain(SuggestError),
    MediaType,
    TooLarge,
}

impl From<SuggestError> for Refusal {
    fn from(e: SuggestError) -> Self {
        Refusal::Domain(e)
    }
}

impl Refusal {
    fn response(&self) -> Response<Body> {
        match self {
            Refusal::Domain(e) => suggest_error(e),
            Refusal::MediaType => error_body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the suggestion as Content-Type: application/json",
            ),
            Refusal::TooLarge => error_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("a suggestion is at most {MAX_BODY_BYTES} bytes"),
            ),
        }
    }
}

/// The body as a submission; its shape, size and media type checked here, its meaning
/// by the domain.
fn read_body(req: &Request) -> Result<Submission, Refusal> {
    let json_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(Refusal::MediaType);
    }
    let bytes: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Refusal::TooLarge);
    }
    let body: SuggestionBody = serde_json::from_slice(bytes).map_err(|e| {
        let reason = printable(&e.to_string());
        SuggestError::BadRequest(format!("the body must be a JSON object with a string track: {reason}"))
    })?;
    if body.website.as_deref().is_some_and(|w| !w.is_empty()) {
        info!(honeypot = true, "suggestion refused");
        // Answered as a refusal that names no field, so a bot learns nothing of the trap.
        return Err(SuggestError::BadRequest("this suggestion was refused".into()).into());
    }
    Ok(Submission { track: body.track, name: body.name, message: body.message, proof: body.altcha })
}

/// The one place where a suggestion's failure becomes a status and a stable code.
fn suggest_error(e: &SuggestError) -> Response<Body> {
    let message = e.to_string();
    match e {
        SuggestError::BadRequest(_) => error_body(StatusCode::BAD_REQUEST, "bad_request", &message),
        SuggestError::Closed => error_body(StatusCode::FORBIDDEN, "suggestions_closed", &message),
        SuggestError::NotAuthorized(_) => {
            error_body(StatusCode::SERVICE_UNAVAILABLE, "suggestions_not_authorized", &message)
        }
        SuggestError::ProofRequired(_) => error_body(StatusCode::BAD_REQUEST, "proof_required", &message),
        SuggestError::TrackNotFound(_) => error_body(StatusCode::NOT_FOUND, "track_not_found", &message),
        SuggestError::AlreadySuggested(existing) => {
            let state = match existing.status {
                Status::Added => "is already in the playlist",
                _ => "is already waiting for the owner",
            };
            error_body(StatusCode::CONFLICT, "already_suggested", &format!("this track {state}"))
        }
        SuggestError::RateLimited { what, retry_after } => {
            let minutes = retry_after.as_secs().div_ceil(60);
            let wait = match retry_after.as_secs() {
                0..=1 => "1 second".to_owned(),
                s @ 2..60 => format!("{s} seconds"),
                _ if minutes == 1 => "1 minute".to_owned(),
                _ => format!("{minutes} minutes"),
            };
            let r = error_body(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!("too many {what}; try again in {wait}"),
            );
            with_retry_after(r, *retry_after)
        }
        SuggestError::Reauthorize(reason) => error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "reauthorization_required",
            &format!("{reason}. The owner must run `make bootstrap` to authorize again."),
        ),
        SuggestError::Upstream(cause) => {
            warn!(error = %cause, "suggestion failed upstream");
            let status =
                if *cause == SpotifyError::Timeout { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
            error_body(status, "upstream_unavailable", &message)
        }
        SuggestError::Unavailable(_) => error_body(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &message),
        SuggestError::NoSuchSuggestion(_) => error_body(StatusCode::NOT_FOUND, "not_found", &message),
    }
}
