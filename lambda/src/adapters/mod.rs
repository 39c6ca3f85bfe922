//! The only modules that know reqwest and the AWS SDK.

pub mod appsync;
pub mod artwork;
pub mod aws;
pub mod body;
pub mod clock;
pub mod dynamodb;
pub mod signed;
pub mod sns;
pub mod spotify;
pub mod sqs;
pub mod ssm;
pub mod tls;
