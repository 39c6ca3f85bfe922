//! TLS for every outbound connection: rustls over ring, for the AWS SDK and for reqwest
//! alike, so the package carries one crypto library, and the smaller one.

use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Makes ring the process's rustls provider, which reqwest's clients use; call it before
/// building one. Calling it again does nothing.
pub fn install_crypto() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The AWS SDK's HTTPS client over ring, for `aws_config::defaults(..).http_client(..)`.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}
