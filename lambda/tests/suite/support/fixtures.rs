//! Spotify's recorded answers and the values the tests share: the clock's now, the
//! credentials, tokens, images.

use std::path::PathBuf;

use now_playing::adapters::spotify::{parse_currently_playing, parse_recently_played};
use now_playing::domain::{AccessToken, Credentials, Playback, Played};
use secrecy::SecretString;
use time::OffsetDateTime;
use time::macros::datetime;

pub const NOW: OffsetDateTime = datetime!(2026-11-27 20:00:00 UTC);
pub const CLIENT_SECRET: &str = "client-secret-7f3a9c";
pub const REFRESH_TOKEN: &str = "refresh-token-2b8e41";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/spotify").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn playback(name: &str) -> Playback {
    parse_currently_playing(&fixture(name)).expect("fixture parses")
}

pub fn last_played() -> Played {
    parse_recently_played(&fixture("recently_played.json"))
        .expect("fixture parses")
        .into_iter()
        .next()
        .expect("one entry")
}

pub fn credentials() -> Credentials {
    Credentials {
        client_id: "client-id".into(),
        client_secret: SecretString::from(CLIENT_SECRET),
        refresh_token: SecretString::from(REFRESH_TOKEN),
        authorized_at: datetime!(2026-08-01 12:00:00 UTC),
        scope: None,
        suggestions_playlist_id: None,
    }
}

pub fn token(value: &str, expires_at: OffsetDateTime) -> AccessToken {
    AccessToken { value: SecretString::from(value), expires_at }
}

/// A baseline JPEG of `width` × `height` pixels coloured by `colour(x, y)`, at quality 90.
pub fn jpeg(width: u16, height: u16, colour: impl Fn(u16, u16) -> [u8; 3]) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&colour(x, y));
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encodable test image");
    out
}

pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49,
    0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0x68, 0x60, 0x60, 0x00, 0x00, 0x02, 0x04, 0x01, 0x01, 0xa9, 0x5b, 0x5e, 0x7b,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
