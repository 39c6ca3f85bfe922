//! The only modules that know reqwest and the AWS SDK.

pub mod artwork;
pub mod aws;
pub mod body;
pub mod clock;
pub mod dynamodb;
pub mod dynamodb_suggestions;
pub mod sns;
pub mod spotify;
pub mod spotify_owner;
mod spotify_wire;
pub mod ssm;
pub mod tls;
