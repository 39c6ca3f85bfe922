//! Who may keep an answer, and for how long: every answer says so in `Cache-Control`.
//!
//! A shared cache (CloudFront, a corporate proxy, GitHub's image proxy) is driven by these
//! headers alone: the stack's cache policies have a minimum TTL of 0, so `private` and
//! `no-store` are obeyed and the rest decides how long a copy lives. Shared answers say
//! three things:
//!
//! - `max-age`: how long a copy is fresh;
//! - `stale-while-revalidate`: after that, one request refreshes the copy while every other
//!   visitor is served the stale one, so a crowd never waits on the origin together;
//! - `stale-if-error`: how long a stale copy stands in when the origin fails, so an outage
//!   shorter than that never reaches a visitor (nor an image proxy, which would keep a
//!   broken card).

use lambda_http::http::HeaderValue;

/// For answers that depend on who asks or that must not be kept: challenges, suggestions,
/// every error and every 429, the health check.
pub(crate) const PRIVATE: HeaderValue = HeaderValue::from_static("private, no-store");

/// A search's tracks: the same for anyone, but each search counts against the visitor's
/// limits, so only the visitor's own browser may keep it.
pub(crate) const SEARCH: HeaderValue = HeaderValue::from_static("private, max-age=300");

/// A versioned script (`?v=`) never changes.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How long past `max-age` a shared cache may serve a copy while one request refreshes it.
pub const STALE_WHILE_REVALIDATE: u32 = 30;

/// How long a shared cache may serve the last answer (JSON, `/v1/open`, the recent list)
/// while the origin fails.
pub const STALE_IF_ERROR_ANSWER: u32 = 300;
/// The same for the cards: a day of the last card beats the broken image an image proxy
/// would keep.
pub const STALE_IF_ERROR_CARD: u32 = 86_400;

/// The shared answers, by how they change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shared {
    /// What is playing, as JSON or a redirect: fresh for the cache window; through an
    /// origin outage, five minutes of the last answer beat an error.
    Answer,
    /// The SVG card: as fresh as the answer, but a day of the last card beats a broken
    /// image that GitHub's proxy would keep.
    Card,
    /// The preview page: changes only with a deployment.
    Page,
    /// The widget's script at its bare URL (pages that pin no version).
    Script,
    /// The recently-played list: fresh for its own, longer window.
    Recent,
    /// Its card: as the list, with the card's day of stale copy through an outage.
    RecentCard,
    /// `/v1/live`: what a page needs to subscribe, and the answer to start from; a page
    /// asks on load and every few minutes, so a crowd is one origin request per edge
    /// location per `LIVE_MAX_AGE`.
    Live,
}

/// How long a shared cache keeps `/v1/live`.
pub const LIVE_MAX_AGE: u32 = 30;

impl Shared {
    /// The header for an answer whose cache window is `window` seconds.
    pub fn header(self, window: u32) -> String {
        let (max_age, revalidate, if_error) = match self {
            Shared::Answer | Shared::Recent => (window, STALE_WHILE_REVALIDATE, STALE_IF_ERROR_ANSWER),
            Shared::Card | Shared::RecentCard => (window, STALE_WHILE_REVALIDATE, STALE_IF_ERROR_CARD),
            Shared::Page => (300, 3_600, 86_400),
            Shared::Live => (LIVE_MAX_AGE, STALE_WHILE_REVALIDATE, STALE_IF_ERROR_ANSWER),
            Shared::Script => (3_600, 86_400, 604_800),
        };
        format!("public, max-age={max_age}, stale-while-revalidate={revalidate}, stale-if-error={if_error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_answers_outlive_an_origin_outage() {
        assert_eq!(Shared::Answer.header(5), "public, max-age=5, stale-while-revalidate=30, stale-if-error=300");
        assert_eq!(Shared::Card.header(7), "public, max-age=7, stale-while-revalidate=30, stale-if-error=86400");
        assert!(Shared::Page.header(5).starts_with("public, max-age=300,"), "the page ignores the window");
        assert!(Shared::Script.header(5).starts_with("public, max-age=3600,"));
    }
}
