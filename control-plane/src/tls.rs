//! TLS on the sidecar API: rustls (TLS 1.3 and 1.2, ALPN `h2` and `http/1.1`) with a server
//! certificate the mesh CA issues itself, swapped atomically when the anchor changes and every
//! [`RENEW_EVERY`], so handshakes always get a current one and open connections go on.

use crate::ca::Ca;
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The lifetime of the API's server certificate.
pub(crate) const SERVER_CERT_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the API's server certificate is issued again (well within its lifetime).
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(10 * 24 * 3600);

/// How long to wait before trying again when issuing failed.
const RETRY: Duration = Duration::from_secs(60);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate could not be issued.
    #[error("cannot issue the API's server certificate: {0}")]
    Issue(#[source] rcgen::Error),
    /// rustls refused the configuration or the key.
    #[error("cannot set up TLS for the API: {0}")]
    Rustls(#[source] rustls::Error),
}

/// The names the API's certificate carries: `localhost`, `127.0.0.1`, `::1`, the listen IP
/// when it is not unspecified, and every `--api-san`.
pub(crate) fn api_names(listen: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    names.extend(extra.iter().cloned());
    let mut unique = Vec::with_capacity(names.len());
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}

/// The API's current certificate; what every handshake presents.
#[derive(Debug)]
pub(crate) struct ApiCertificate {
    current: ArcSwap<CertifiedKey>,
    names: Vec<String>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ApiCertificate {
    /// Issues the first certificate for `names`.
    pub(crate) fn new(ca: &Ca, names: Vec<String>) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let first = issue(ca, &names, &provider)?;
        Ok(Arc::new(ApiCertificate {
            current: ArcSwap::from_pointee(first),
            names,
            provider,
        }))
    }

    /// The acceptor of the API listener.
    pub(crate) fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Issues a new certificate and swaps it in.
    pub(crate) fn renew(&self, ca: &Ca) -> Result<(), TlsError> {
        let next = issue(ca, &self.names, &self.provider)?;
        self.current.store(Arc::new(next));
        Ok(())
    }

    /// Renews when the CA's anchor changes and every [`RENEW_EVERY`], until `shutdown`.
    pub(crate) async fn run_renewal(self: Arc<Self>, ca: Arc<Ca>, shutdown: CancellationToken) {
        let mut changes = ca.anchor_changes();
        let mut wait = RENEW_EVERY;
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
            wait = match self.renew(&ca) {
                Ok(()) => {
                    tracing::info!("the API's server certificate was issued again");
                    RENEW_EVERY
                }
                Err(error) => {
                    tracing::error!(%error, retry = ?RETRY, "the API keeps its current server certificate");
                    RETRY
                }
            };
        }
    }
}

impl ResolvesServerCert for ApiCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn issue(
    ca: &Ca,
    names: &[String],
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let issued = ca
        .server_certificate(names, SERVER_CERT_LIFETIME)
        .map_err(TlsError::Issue)?;
    CertifiedKey::from_der(issued.chain, issued.key, provider).map_err(TlsError::Rustls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_include_loopback_and_the_listen_ip() {
        let extra = ["cp.example".to_owned(), "localhost".to_owned()];
        assert_eq!(
            api_names("10.0.0.5:4200".parse().unwrap(), &extra),
            ["localhost", "127.0.0.1", "::1", "10.0.0.5", "cp.example"]
        );
        assert_eq!(
            api_names("0.0.0.0:4200".parse().unwrap(), &[]),
            ["localhost", "127.0.0.1", "::1"]
        );
    }
}
