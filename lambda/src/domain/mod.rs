//! The now-playing model and the decisions made on it; no AWS, no HTTP client, no HTTP types.

pub mod art;
pub mod health;
pub mod links;
pub mod millis;
pub mod model;
pub mod palette;
pub mod ports;
pub mod privacy;
pub mod proof;
pub mod quota;
pub mod service;
pub mod suggestions;
pub mod token;

pub use art::{Art, ArtLibrary};
pub use health::Health;
pub use links::{ImageHosts, is_spotify_link};
pub use model::{
    Credentials, Credits, Image, Item, ItemKind, Link, NowPlaying, Playback, Played, RecentPlays, StaleReason, Status,
};
pub use model::{MAX_ARTISTS, MAX_CREDITED, MAX_IMAGES, MAX_NAME_CHARS, MAX_RECENT, after};
pub use palette::{Palette, Rgb};
pub use privacy::{Privacy, PrivacyRules};
pub use service::{NowPlayingService, ServiceError, ServicePorts};
pub use token::{AccessToken, TokenError, TokenManager, TokenPorts};
