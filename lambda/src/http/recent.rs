//! `/v1/recent`: what was played recently, as JSON.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

use super::App;
use super::caching::Shared;
use super::current::service_error;
use super::respond::{error_body, json_body, validated};
use crate::domain::MAX_RECENT;

/// How many plays `/v1/recent` lists without `?limit=`.
pub const DEFAULT_RECENT: usize = 10;

impl App {
    pub(super) async fn recent(&self, req: &Request) -> Response<Body> {
        let limit = req.query_string_parameters_ref().and_then(|q| q.first("limit").map(str::to_owned));
        let limit = match limit.as_deref().map(str::parse::<usize>) {
            None => DEFAULT_RECENT,
            Some(Ok(n)) if (1..=MAX_RECENT).contains(&n) => n,
            Some(_) => {
                return error_body(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &format!("limit must be a whole number from 1 to {MAX_RECENT}, such as 5"),
                );
            }
        };
        match self.service.recent().await {
            Ok(list) => validated(req, json_body(StatusCode::OK, &list.public(limit)), &self.shared(Shared::Recent)),
            Err(e) => service_error(&e),
        }
    }
}
