//! The AWS SDK's configuration, from the environment Lambda gives the function: the role's
//! credentials, the region and, when run locally, `AWS_ENDPOINT_URL` of the stand-in. No
//! profile files, instance metadata or STS: the function needs none of them, and leaving
//! `aws-config` out keeps them out of the package.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;

/// A variable the SDK's configuration needs is not set.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error(
    "{0} is not set: Lambda sets it for the function's role; to run the function elsewhere set \
     AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (make dev does)"
)]
pub struct MissingVariable(pub &'static str);

/// The configuration every client of the function shares. AWS calls fail fast enough to
/// leave the request deadline for Spotify: 500 ms to connect, 700 ms an attempt, two attempts.
pub fn sdk_config(env: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, MissingVariable> {
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    let required = |name: &'static str| var(name).ok_or(MissingVariable(name));
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or(MissingVariable("AWS_REGION"))?;
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(super::tls::aws_http_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(700))
                .operation_timeout(Duration::from_millis(1500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret"),
        ("AWS_SESSION_TOKEN", "session-token-value"),
    ];

    #[test]
    fn lambdas_environment_gives_the_region_and_the_roles_credentials() {
        let config = sdk_config(env(LAMBDA)).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert_eq!(config.endpoint_url(), None, "the service's own endpoint");
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(2));
        assert_eq!(config.timeout_config().and_then(|t| t.operation_timeout()), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn a_local_endpoint_and_the_default_region_are_honoured() {
        let local = env(&[
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        let config = sdk_config(local).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn a_missing_variable_is_named_without_any_secret() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let pairs: Vec<_> = LAMBDA.iter().copied().filter(|(k, _)| *k != missing).collect();
            let err = sdk_config(env(&pairs)).unwrap_err();
            assert_eq!(err, MissingVariable(missing));
            let message = err.to_string();
            assert!(message.starts_with(&format!("{missing} is not set")), "{message}");
            for (_, value) in LAMBDA {
                assert!(!message.contains(value), "{message}");
            }
        }
        let empty: Vec<_> =
            LAMBDA.iter().map(|&(k, v)| if k == "AWS_SECRET_ACCESS_KEY" { (k, "") } else { (k, v) }).collect();
        assert_eq!(sdk_config(env(&empty)).unwrap_err(), MissingVariable("AWS_SECRET_ACCESS_KEY"), "empty is unset");
    }
}
