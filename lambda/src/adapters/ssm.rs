//! The credentials document in one SSM SecureString parameter.

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::{DisplayErrorContext, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::Credentials;
use crate::domain::ports::{CredentialStore, CredentialsError, PrivacySource};

/// The JSON stored in the parameter; the field names are a contract with `make bootstrap`.
#[derive(Deserialize, Serialize)]
struct CredentialsDocument {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    authorized_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suggestions_playlist_id: Option<String>,
}

pub struct SsmCredentialStore {
    client: Client,
    name: String,
}

impl SsmCredentialStore {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        SsmCredentialStore { client, name: name.into() }
    }

    fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(&self, e: SdkError<E, R>) -> CredentialsError {
        CredentialsError::Unavailable { name: self.name.clone(), reason: DisplayErrorContext(e).to_string() }
    }
}

/// Reads the credentials document; errors name the problem, never a value.
pub fn parse_credentials(name: &str, json: &str) -> Result<Credentials, CredentialsError> {
    let malformed = |reason: String| CredentialsError::Malformed { name: name.to_owned(), reason };
    let doc: CredentialsDocument = serde_json::from_str(json).map_err(|e| {
        let text = e.to_string();
        // serde's "missing field `x`" is safe to repeat; other messages may quote the value.
        malformed(match text.find("missing field") {
            Some(_) => text.split(" at line").next().unwrap_or("missing field").to_owned(),
            None => "expected a JSON object with string fields client_id, client_secret, refresh_token, authorized_at"
                .to_owned(),
        })
    })?;
    for (field, value) in
        [("client_id", &doc.client_id), ("client_secret", &doc.client_secret), ("refresh_token", &doc.refresh_token)]
    {
        if value.trim().is_empty() {
            return Err(malformed(format!("{field} is empty")));
        }
    }
    let authorized_at = OffsetDateTime::parse(&doc.authorized_at, &Rfc3339)
        .map_err(|_| malformed("authorized_at is not an RFC 3339 time such as 2026-11-27T20:00:00Z".into()))?;
    Ok(Credentials {
        client_id: doc.client_id,
        client_secret: SecretString::from(doc.client_secret),
        refresh_token: SecretString::from(doc.refresh_token),
        authorized_at,
        scope: doc.scope,
        suggestions_playlist_id: doc.suggestions_playlist_id,
    })
}

/// The JSON document for `credentials`, as `make bootstrap` writes it.
pub fn credentials_document(credentials: &Credentials) -> SecretString {
    let doc = CredentialsDocument {
        client_id: credentials.client_id.clone(),
        client_secret: credentials.client_secret.expose_secret().to_owned(),
        refresh_token: credentials.refresh_token.expose_secret().to_owned(),
        authorized_at: credentials.authorized_at.format(&Rfc3339).unwrap_or_default(),
        scope: credentials.scope.clone(),
        suggestions_playlist_id: credentials.suggestions_playlist_id.clone(),
    };
    SecretString::from(serde_json::to_string(&doc).unwrap_or_default())
}

#[async_trait]
impl CredentialStore for SsmCredentialStore {
    async fn load(&self) -> Result<Credentials, CredentialsError> {
        let output =
            self.client.get_parameter().name(&self.name).with_decryption(true).send().await.map_err(|e| match &e {
                SdkError::ServiceError(service) if matches!(service.err(), GetParameterError::ParameterNotFound(_)) => {
                    CredentialsError::Missing(self.name.clone())
                }
                _ => self.unavailable(e),
            })?;
        let value = output.parameter.and_then(|p| p.value).unwrap_or_default();
        parse_credentials(&self.name, &value)
    }

    async fn save(&self, credentials: &Credentials) -> Result<(), CredentialsError> {
        self.client
            .put_parameter()
            .name(&self.name)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .value(credentials_document(credentials).expose_secret())
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }
}

/// The owner's privacy rules: one SSM String parameter (`PRIVACY_PARAMETER`), not a secret.
pub struct SsmPrivacySource {
    client: Client,
    name: String,
}

impl SsmPrivacySource {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        SsmPrivacySource { client, name: name.into() }
    }
}

#[async_trait]
impl PrivacySource for SsmPrivacySource {
    async fn load(&self) -> Result<Option<String>, String> {
        match self.client.get_parameter().name(&self.name).send().await {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetParameterError::ParameterNotFound(_)) => Ok(None),
            // The cause goes to the log; the answer says only that it could not be read.
            Err(e) => {
                tracing::warn!(parameter = %self.name, error = %DisplayErrorContext(e), "privacy rules unreadable");
                Err(format!("the privacy parameter {} could not be read; see the function's log", self.name))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrongly_typed_field_is_reported_without_quoting_the_value() {
        let err = parse_credentials("/p", r#"{"client_id":"id","client_secret":"s3cr3t-value","refresh_token":42,"authorized_at":"2026-01-01T00:00:00Z"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/p"), "{err}");
        assert!(!err.contains("42") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err =
            parse_credentials("/p", r#"{"client_id":"id","client_secret":"x","authorized_at":"2026-01-01T00:00:00Z"}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("missing field `refresh_token`"), "{err}");
        assert!(err.contains("make bootstrap"), "{err}");
    }

    #[test]
    fn a_bad_authorized_at_is_named() {
        let err = parse_credentials(
            "/p",
            r#"{"client_id":"id","client_secret":"x","refresh_token":"r","authorized_at":"yesterday"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("authorized_at"), "{err}");
    }

    #[test]
    fn the_document_round_trips() {
        let json =
            r#"{"client_id":"id","client_secret":"cs","refresh_token":"rt","authorized_at":"2026-01-01T00:00:00Z"}"#;
        let creds = parse_credentials("/p", json).unwrap();
        let again = parse_credentials("/p", credentials_document(&creds).expose_secret()).unwrap();
        assert_eq!(again.refresh_token.expose_secret(), "rt");
        assert_eq!(again.authorized_at, creds.authorized_at);
    }
}
