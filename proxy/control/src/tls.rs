//! TLS to the control plane: its server certificate is verified with WebPKI (chain and host
//! name) against the `--control-plane-ca` anchors and the latest trust bundle it pushed (so a
//! rotated mesh CA keeps being trusted).

use crate::ControlPlaneUrl;
use convoy_identity::{Identity, Reason};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why the `--control-plane-ca` file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlCaError {
    /// It cannot be read.
    #[error("cannot read the control plane CA file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It holds no usable certificate.
    #[error("the control plane CA file {}: {source}", path.display())]
    Certificates {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: convoy_identity::TrustError,
    },
}

/// Why a TLS connection to the control plane failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// No TCP connection.
    #[error("cannot connect: {0}")]
    Tcp(#[source] std::io::Error),
    /// The URL's host cannot be a TLS server name.
    #[error("`{0}` cannot be verified as a TLS server name")]
    ServerName(String),
    /// The TLS configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Config(#[source] rustls::Error),
    /// The handshake failed (say, the server's certificate is not trusted).
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

/// Connects to the control plane over TLS. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ControlTls {
    anchors: Arc<Vec<CertificateDer<'static>>>,
    identity: Identity,
}

impl ControlTls {
    /// Reads the anchors of `ca_file` (PEM); `identity` provides the pushed bundle.
    pub fn load(ca_file: &Path, identity: Identity) -> Result<Self, ControlCaError> {
        let pem = std::fs::read_to_string(ca_file).map_err(|source| ControlCaError::Read {
            path: ca_file.to_owned(),
            source,
        })?;
        let anchors = convoy_identity::parse_certificates(&pem).map_err(|source| {
            ControlCaError::Certificates {
                path: ca_file.to_owned(),
                source,
            }
        })?;
        Ok(ControlTls {
            anchors: Arc::new(anchors),
            identity,
        })
    }

    /// A client config trusting the anchors and the pushed bundle, offering `alpn`.
    fn config(&self, alpn: &[u8]) -> Result<ClientConfig, rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(self.anchors.iter().cloned());
        if let Some(trust) = self.identity.trust() {
            roots.add_parsable_certificates(trust.anchors().iter().cloned());
        }
        let mut config = ClientConfig::builder_with_provider(convoy_identity::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(config)
    }

    /// A TLS connection to `url`'s host, its certificate checked for that host name.
    pub(crate) async fn connect(
        &self,
        url: &ControlPlaneUrl,
        alpn: &[u8],
    ) -> Result<TlsStream<TcpStream>, ConnectError> {
        let name = ServerName::try_from(url.host().to_owned())
            .map_err(|_| ConnectError::ServerName(url.host().to_owned()))?;
        let config = self.config(alpn).map_err(ConnectError::Config)?;
        let tcp = TcpStream::connect((url.host(), url.port()))
            .await
            .map_err(ConnectError::Tcp)?;
        let _ = tcp.set_nodelay(true);
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectError::Handshake(Reason::io_message(&e)))
    }
}
