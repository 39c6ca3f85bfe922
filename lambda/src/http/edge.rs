//! Requests through the stack's own CDN: whose address they carry.
//!
//! Behind CloudFront, API Gateway sees an edge server's address, shared by every visitor
//! that edge serves, so the suggestion limits would count a whole city as one visitor.
//! The distribution adds the viewer's own address (`CloudFront-Viewer-Address`) and a
//! secret header that proves the request came through it. Only with the secret is the
//! viewer's address believed: anyone can call the `execute-api` URL directly with any
//! `CloudFront-Viewer-Address`, and would then be a new visitor at every request.

use std::net::IpAddr;

use lambda_http::Request;
use lambda_http::request::RequestContext;
use lambda_http::{RequestExt, http::HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tracing::warn;

/// The header the distribution sends with [`EdgeSecret`]'s value.
pub const EDGE_HEADER: &str = "x-now-playing-edge";
/// Where CloudFront puts the viewer's address and port: `198.51.100.10:46532`,
/// `2001:db8::1:46532`.
pub const VIEWER_ADDRESS: &str = "cloudfront-viewer-address";
/// The shortest secret taken: the stack generates 48 letters and digits.
const MIN_SECRET: usize = 32;

/// What the stack's CDN proves itself with (`EDGE_SECRET`); never logged or compared in
/// variable time.
pub struct EdgeSecret(SecretString);

impl EdgeSecret {
    /// At least 32 visible ASCII characters, as a header value carries them.
    pub fn new(value: &str) -> Result<Self, String> {
        if value.len() < MIN_SECRET || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "expected at least {MIN_SECRET} visible ASCII characters (the stack generates it; unset it without an edge)"
            ));
        }
        Ok(EdgeSecret(SecretString::from(value.to_owned())))
    }

    fn proves(&self, headers: &HeaderMap) -> bool {
        let expected = self.0.expose_secret().as_bytes();
        headers.get_all(EDGE_HEADER).iter().any(|sent| bool::from(sent.as_bytes().ct_eq(expected)))
    }
}

impl std::fmt::Debug for EdgeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeSecret([REDACTED])")
    }
}

impl PartialEq for EdgeSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret().as_bytes().ct_eq(other.0.expose_secret().as_bytes()).into()
    }
}

impl Eq for EdgeSecret {}

impl Clone for EdgeSecret {
    fn clone(&self) -> Self {
        EdgeSecret(self.0.clone())
    }
}

/// The visitor's address: the viewer's, from a request that proves it came through the
/// edge; otherwise the address API Gateway saw. Never a header a client alone can set.
pub(crate) fn visitor_address(req: &Request, edge: Option<&EdgeSecret>) -> String {
    if let Some(secret) = edge
        && secret.proves(req.headers())
    {
        let viewer = req.headers().get(VIEWER_ADDRESS).and_then(|v| v.to_str().ok()).and_then(viewer_ip);
        match viewer {
            Some(ip) => return ip.to_string(),
            None => warn!("a request through the edge carries no viewer address; keyed on the edge's"),
        }
    }
    source_ip(req)
}

/// The address API Gateway saw the request come from.
fn source_ip(req: &Request) -> String {
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    ip.unwrap_or_else(|| "unknown".to_owned())
}

/// The address in `CloudFront-Viewer-Address`, without its port.
fn viewer_ip(value: &str) -> Option<IpAddr> {
    let (address, port) = value.trim().rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    address.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viewer_address_is_read_without_its_port() {
        assert_eq!(viewer_ip("198.51.100.10:46532"), Some("198.51.100.10".parse().unwrap()));
        assert_eq!(viewer_ip("2001:db8::1:46532"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(viewer_ip("[2001:db8::7]:443"), Some("2001:db8::7".parse().unwrap()));
        for bad in ["198.51.100.10", "198.51.100.10:", "evil:80", "198.51.100.10:8x", ""] {
            assert_eq!(viewer_ip(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_secret_is_long_visible_and_never_printed() {
        assert!(EdgeSecret::new("short").is_err());
        assert!(EdgeSecret::new(&format!("{} spaced", "a".repeat(32))).is_err());
        let secret = EdgeSecret::new(&"k".repeat(48)).unwrap();
        assert_eq!(format!("{secret:?}"), "EdgeSecret([REDACTED])");
        assert_eq!(secret, EdgeSecret::new(&"k".repeat(48)).unwrap());
        assert_ne!(secret, EdgeSecret::new(&"k".repeat(49)).unwrap());
    }
}
