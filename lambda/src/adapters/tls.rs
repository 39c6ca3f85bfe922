//! TLS for every outbound connection: rustls over ring, for the AWS SDK and for reqwest
//! alike, so the package carries one crypto library, and the smaller one.

use std::ffi::OsString;
use std::path::PathBuf;

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

/// Has both TLS clients read the system's certificate bundle alone, when neither
/// `SSL_CERT_FILE` nor `SSL_CERT_DIR` says otherwise. Left to itself, each client reads the
/// bundle and then every file of the system's certificate directory (on Debian, every
/// root a second time, one file each), which is most of a cold start's own time.
///
/// Call it first thing in `main`, before any other thread exists: it sets an environment
/// variable.
pub fn read_the_system_bundle_only() {
    if let Some(bundle) = bundle_to_read(|name| std::env::var_os(name), || openssl_probe::probe().cert_file) {
        // SAFETY: called before the Tokio runtime or any other thread is started, so no
        // other thread can be reading the environment.
        unsafe { std::env::set_var("SSL_CERT_FILE", bundle) };
    }
}

/// The bundle to point `SSL_CERT_FILE` at: none when the environment already chooses.
fn bundle_to_read(
    env: impl Fn(&str) -> Option<OsString>,
    find_bundle: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    if env("SSL_CERT_FILE").is_some() || env("SSL_CERT_DIR").is_some() {
        return None;
    }
    find_bundle()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(set: &'static str) -> impl Fn(&str) -> Option<OsString> {
        move |name| (name == set).then(|| OsString::from("/chosen"))
    }

    #[test]
    fn the_bundle_found_is_chosen_when_the_environment_says_nothing() {
        let found = bundle_to_read(env(""), || Some(PathBuf::from("/etc/pki/tls/certs/ca-bundle.crt")));
        assert_eq!(found, Some(PathBuf::from("/etc/pki/tls/certs/ca-bundle.crt")));
        assert_eq!(bundle_to_read(env(""), || None), None, "no bundle: the clients look for themselves");
    }

    #[test]
    fn an_owners_choice_of_file_or_directory_stands() {
        for set in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
            assert_eq!(bundle_to_read(env(set), || Some(PathBuf::from("/bundle"))), None, "{set}");
        }
    }
}
