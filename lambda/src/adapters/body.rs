//! Upstream bodies read with a hard cap: streamed, and abandoned as soon as they pass it.

use reqwest::Response;

/// Why a capped read failed.
#[derive(Debug)]
pub enum BodyError {
    /// The body passed `limit` bytes (by its `Content-Length`, or while streaming).
    TooLarge {
        limit: usize,
    },
    Transport(reqwest::Error),
}

/// The whole body, if it is at most `limit` bytes; memory never holds more than that.
pub async fn read_capped(mut response: Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
