//! The rustls configurations of mutual TLS between sidecars: TLS 1.3 only, the ring provider,
//! no session resumption (every connection proves its certificate afresh).

use super::credentials::Credentials;
use super::provider::provider;
use super::trust::TrustBundle;
use super::verify::{SpiffeClientVerifier, SpiffeServerVerifier};
use rustls::client::Resumption;
use rustls::server::{NoServerSessionStorage, VerifierBuilderError};
use rustls::{ClientConfig, ServerConfig};
use std::sync::Arc;

/// ALPN for HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN for HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// rustls refused the certificate, key or versions.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built from the bundle.
    #[error("{0}")]
    Verifier(#[from] VerifierBuilderError),
}

/// The inbound listener's config: the sidecar's certificate, a client certificate required
/// ([`SpiffeClientVerifier`]), ALPN `h2` and `http/1.1`.
pub(crate) fn server_config(
    credentials: &Credentials,
    trust: &TrustBundle,
) -> Result<ServerConfig, TlsConfigError> {
    let verifier = Arc::new(SpiffeClientVerifier::new(trust)?);
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(credentials.chain().to_vec(), credentials.key())?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    // A resumed session would skip the client verifier (and outlive a rotated bundle).
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The config of connections to meshed services: the sidecar's certificate as the client's,
/// the server verified by [`SpiffeServerVerifier`], ALPN `h2`.
pub(crate) fn client_config(
    credentials: &Credentials,
    trust: &TrustBundle,
) -> Result<ClientConfig, TlsConfigError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SpiffeServerVerifier::new(trust)))
        .with_client_auth_cert(credentials.chain().to_vec(), credentials.key())?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    config.resumption = Resumption::disabled();
    Ok(config)
}
