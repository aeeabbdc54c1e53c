//! A tiny HTTPS client for the command-line commands (`status`, `history`, `rollback`): one
//! request per connection, the server's certificate verified against `--ca-file` with the
//! usual hostname rules.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;

/// How long a command waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Any error a connection may fail with.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a command got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an `https://HOST:PORT` URL.
    #[error("bad URL `{url}`: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The CA file cannot be used.
    #[error("cannot use the CA file {path} (--ca-file): {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The connection or the request failed (refused, TLS, the certificate not trusted …).
    #[error("cannot reach the control plane at {url}: {source}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// No answer in time.
    #[error("no answer from {url} within {TIMEOUT:?}")]
    Timeout {
        /// The URL.
        url: String,
    },
    /// The answer's body broke off.
    #[error("cannot read the answer of {url}: {source}")]
    Body {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: hyper::Error,
    },
    /// The control plane refused.
    #[error("{url}: {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: ::http::StatusCode,
        /// The control plane's reason.
        message: String,
    },
    /// The answer is not the JSON expected.
    #[error("unexpected answer from {url}: {source}")]
    Json {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// A client of one control plane's API.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    base: String,
    host: String,
    port: u16,
    authority: String,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
}

/// An answer: parsed, and as received (for `--json`).
#[derive(Debug)]
pub(crate) struct Answer<T> {
    /// The parsed answer.
    pub(crate) value: T,
    /// The body as received.
    pub(crate) raw: Bytes,
}

impl Client {
    /// A client of the API at `base` (`https://127.0.0.1:4200`), trusting the anchors of
    /// `ca_file`.
    pub(crate) fn new(base: &str, ca_file: &Path) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        let bad = |reason: &str| ClientError::Url {
            url: base.clone(),
            reason: reason.to_owned(),
        };
        let uri: ::http::Uri = base
            .parse()
            .map_err(|e: ::http::uri::InvalidUri| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") => {
                return Err(bad(
                    "the control plane's API runs over TLS: use https://HOST:PORT (and --ca-file)",
                ))
            }
            _ => return Err(bad("expected https://HOST:PORT")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| bad("the host is neither a DNS name nor an IP address"))?;
        let roots = load_roots(ca_file)?;
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::CaFile {
            path: ca_file.to_owned(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            port: authority.port_u16().unwrap_or(443),
            authority: authority.to_string(),
            host,
            server_name,
            tls: Arc::new(config),
            base,
        })
    }

    /// `GET path`, expecting JSON.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Answer<T>, ClientError> {
        self.call(::http::Method::GET, path, Bytes::new()).await
    }

    /// `POST path` with a JSON body, expecting JSON.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer<T>, ClientError> {
        let body = serde_json::to_vec(body).unwrap_or_default();
        self.call(::http::Method::POST, path, body.into()).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: ::http::Method,
        path: &str,
        body: Bytes,
    ) -> Result<Answer<T>, ClientError> {
        let url = format!("{}{path}", self.base);
        let request = ::http::Request::builder()
            .method(method)
            .uri(path)
            .header(::http::header::HOST, &self.authority)
            .header(::http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| ClientError::Url {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let failed = |source: BoxError| ClientError::Request {
            url: url.clone(),
            source,
        };
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| failed(e.into()))?;
            let tls = TlsConnector::from(self.tls.clone())
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| failed(e.into()))?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| failed(e.into()))?;
            tokio::spawn(connection);
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| failed(e.into()))?;
            let (parts, body) = response.into_parts();
            let raw = body
                .collect()
                .await
                .map_err(|source| ClientError::Body {
                    url: url.clone(),
                    source,
                })?
                .to_bytes();
            Ok::<_, ClientError>((parts, raw))
        };
        let (parts, raw) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| ClientError::Timeout { url: url.clone() })??;
        if !parts.status.is_success() {
            let message = parts
                .headers
                .get("x-convoy-error")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&raw).trim().to_owned());
            return Err(ClientError::Status {
                url,
                status: parts.status,
                message,
            });
        }
        let value =
            serde_json::from_slice(&raw).map_err(|source| ClientError::Json { url, source })?;
        Ok(Answer { value, raw })
    }
}

/// The anchors of a PEM file.
fn load_roots(path: &Path) -> Result<rustls::RootCertStore, ClientError> {
    let fail = |reason: String| ClientError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| fail(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("not a usable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no PEM CERTIFICATE".into()));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let error = Client::new("http://127.0.0.1:4200", &ca)
            .unwrap_err()
            .to_string();
        assert!(error.contains("runs over TLS: use https://"), "{error}");
        let error = Client::new("https://127.0.0.1:4200", &ca)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("cannot use the CA file {}", ca.display())),
            "{error}"
        );
        std::fs::write(&ca, "nothing").unwrap();
        let error = Client::new("https://127.0.0.1:4200", &ca)
            .unwrap_err()
            .to_string();
        assert!(error.contains("holds no PEM CERTIFICATE"), "{error}");
    }
}
