//! The control plane's sidecar API, which runs over TLS only: a small client for its
//! `GET /v1/status` that verifies the API's server certificate against the mesh CA the
//! control plane keeps in the demo's work dir (`ca/ca.pem`).
//!
//! One connection per request: the demo asks about once a second, on loopback, so pooling
//! would buy nothing and a fresh handshake each time keeps this short.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use convoy_harness::tls;
use http::header::{CONNECTION, HOST};
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::RootCertStore;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::client::error_chain;

/// A client of the control plane's API at one address, trusting the given anchors only.
#[derive(Clone)]
pub(crate) struct Api {
    addr: SocketAddr,
    /// `https://HOST:PORT`, as shown to the user.
    url: String,
    /// The API's address as a name to verify: its certificate carries the listen IP.
    server_name: ServerName<'static>,
    tls: TlsConnector,
}

impl Api {
    /// A client of the API at `addr` that trusts the certificates in `ca_file` (PEM).
    pub(crate) fn new(addr: SocketAddr, ca_file: &Path) -> anyhow::Result<Api> {
        Ok(Self::trusting(addr, tls::roots(ca_file)?))
    }

    /// A client of the API at `addr` that trusts `roots`.
    fn trusting(addr: SocketAddr, roots: RootCertStore) -> Api {
        Api {
            addr,
            url: format!("https://{addr}"),
            server_name: ServerName::IpAddress(addr.ip().into()),
            tls: TlsConnector::from(tls::client_config(roots, &[b"http/1.1"])),
        }
    }

    /// `https://HOST:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// `GET path` and the whole body, within `timeout`. Errors are rendered with their
    /// causes (a certificate the CA did not sign shows as `invalid peer certificate: ...`).
    pub(crate) async fn get(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), String> {
        tokio::time::timeout(timeout, self.exchange(path))
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {timeout:?}")))
    }

    async fn exchange(&self, path: &str) -> Result<(StatusCode, Bytes), String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake: {}", error_chain(&e)))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| error_chain(&e))?;
        // Ends once the response is read and `sender` dropped (`connection: close`).
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::get(path)
            .header(HOST, self.addr.to_string())
            .header(CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| error_chain(&e))?;
        crate::client::read_all(response).await
    }
}

#[cfg(test)]
impl Api {
    /// A client that trusts nothing, for tests that never reach the control plane.
    pub(crate) fn for_tests(addr: SocketAddr) -> Api {
        Api::trusting(addr, RootCertStore::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use convoy_harness::pki::{ip_san, Leaf, TestCa};
    use http_body_util::Full;
    use hyper::service::service_fn;
    use rustls::ServerConfig;
    use std::sync::Arc;
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    /// A CA (path length 0).
    fn ca() -> TestCa {
        TestCa::new("mesh CA")
    }

    /// Serves HTTPS on loopback with a certificate for `127.0.0.1` from `ca`, answering
    /// every request `{"path": ...}`; returns its address.
    async fn serve(ca: &TestCa) -> SocketAddr {
        let leaf = ca.issue(&Leaf::new("127.0.0.1").sans(vec![ip_san([127, 0, 0, 1].into())]));
        let config = ServerConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(leaf.chain(), leaf.key())
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        service_fn(|request: Request<hyper::body::Incoming>| async move {
                            let body = format!("{{\"path\": \"{}\"}}", request.uri().path());
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::from(body),
                            )))
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn gets_over_tls_from_a_server_the_ca_signed() {
        let ca = ca();
        let addr = serve(&ca).await;
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let api = Api::new(addr, &ca_file).unwrap();
        assert_eq!(api.url(), format!("https://{addr}"));
        let (status, body) = api.get("/v1/status", Duration::from_secs(5)).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "{\"path\": \"/v1/status\"}");
    }

    #[tokio::test]
    async fn refuses_a_server_another_ca_signed() {
        let addr = serve(&ca()).await;
        let other = ca();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, other.pem()).unwrap();
        let error = Api::new(addr, &ca_file)
            .unwrap()
            .get("/v1/status", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(error.contains("invalid peer certificate"), "{error}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let missing = Api::new(addr, &dir.path().join("ca.pem")).err().unwrap();
        assert!(
            format!("{missing:#}").contains("reading the mesh CA"),
            "{missing:#}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Api::new(addr, &empty).err().unwrap();
        assert!(
            error.to_string().contains("no usable certificate"),
            "{error:#}"
        );
    }
}
