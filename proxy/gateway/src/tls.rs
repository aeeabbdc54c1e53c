//! Gateway listeners with TLS: the server certificate and key from PEM files, re-read when
//! they change (their modification times are polled every second). A new pair that cannot be
//! used is logged and the one in force stays.

use arc_swap::ArcSwap;
use convoy_config::ServerTls;
use convoy_identity::{provider, ALPN_H2, ALPN_HTTP1};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Why a certificate pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The PEM holds no certificate or no usable key.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the pair (the key does not match the certificate, say).
    #[error("{certificate}: {source}")]
    Rustls {
        /// The certificate file.
        certificate: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
}

/// The server config for a certificate and key from files: TLS 1.3 and 1.2, ALPN `h2` and
/// `http/1.1`.
pub fn load(files: &ServerTls) -> Result<ServerConfig, TlsFileError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsFileError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let pem = read(&files.certificate)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsFileError::Pem {
            path: files.certificate.clone(),
            what: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsFileError::Pem {
            path: files.certificate.clone(),
            what: "no certificate in the file".into(),
        });
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsFileError::Pem {
        path: files.key.clone(),
        what: format!("no usable private key: {e}"),
    })?;
    let rustls_error = |source| TlsFileError::Rustls {
        certificate: files.certificate.clone(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rustls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(rustls_error)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(config)
}

/// A TLS listener's certificate in force, reloaded from its files.
#[derive(Debug, Clone)]
pub struct GatewayTls {
    config: Arc<ArcSwap<ServerConfig>>,
}

fn modified(files: &ServerTls) -> Option<(SystemTime, SystemTime, u64, u64)> {
    let cert = std::fs::metadata(&files.certificate).ok()?;
    let key = std::fs::metadata(&files.key).ok()?;
    Some((
        cert.modified().ok()?,
        key.modified().ok()?,
        cert.len(),
        key.len(),
    ))
}

impl GatewayTls {
    /// Loads the pair (failing if it cannot be used) and starts watching the files.
    pub fn start(files: ServerTls) -> Result<Self, TlsFileError> {
        let config = Arc::new(ArcSwap::from_pointee(load(&files)?));
        let tls = GatewayTls { config };
        let watched = Arc::downgrade(&tls.config);
        tokio::spawn(async move {
            let mut seen = modified(&files);
            loop {
                tokio::time::sleep(RELOAD_INTERVAL).await;
                let Some(config) = watched.upgrade() else {
                    return;
                };
                let now = modified(&files);
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&files) {
                    Ok(new) => {
                        config.store(Arc::new(new));
                        tracing::info!(certificate = %files.certificate.display(), "gateway certificate reloaded");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "gateway certificate not reloaded; the one in force stays");
                    }
                }
            }
        });
        Ok(tls)
    }

    /// The TLS handshake with the certificate in force, within `timeout`.
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Option<TlsStream<TcpStream>> {
        let acceptor = TlsAcceptor::from(self.config.load_full());
        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(%error, "gateway TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("gateway TLS handshake timed out");
                None
            }
        }
    }
}
