//! A SigV4-signed JSON `POST`, for the AWS calls the function makes without an SDK crate of
//! their own: AppSync Events' publish (the SDK has none) and SQS's `SendMessage` (one call,
//! not worth a crate in the package).

use std::time::SystemTime;

use aws_sdk_dynamodb::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::{Client, Response};

/// Where and as whom a signed request goes.
#[derive(Clone)]
pub struct Signer {
    pub client: Client,
    pub region: String,
    pub credentials: SharedCredentialsProvider,
}

impl Signer {
    /// `POST url` with `body`, signed for `service`; `headers` are signed and sent.
    pub async fn post(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, String> {
        let host = url.split_once("://").map_or(url, |(_, rest)| rest);
        let host = host.split('/').next().unwrap_or(host);
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("no credentials to sign the {service} call with: {e}"))?;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing the {service} call: {e}"))?
            .into();
        let mut all: Vec<(&str, &str)> = vec![("host", host)];
        all.extend_from_slice(headers);
        let signable = SignableRequest::new("POST", url, all.iter().copied(), SignableBody::Bytes(&body))
            .map_err(|e| format!("signing the {service} call: {e}"))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| format!("signing the {service} call: {e}"))?.into_parts();
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        request.send().await.map_err(|e| format!("the {service} endpoint could not be reached: {e}"))
    }
}
