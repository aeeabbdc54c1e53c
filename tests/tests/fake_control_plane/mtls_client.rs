//! A mutual-TLS client for a sidecar's inbound listener, as another sidecar would be: a client
//! certificate of the mesh, the server checked against the bundle and for the SPIFFE ID of the
//! service called. One new connection (and handshake) per request.

use convoy_harness::pki::KeyAndCert;
use convoy_harness::tls::provider;
use convoy_tests::client::{empty, Body};
use convoy_tests::{Proto, Reply};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Checks the server's chain and validity against the anchors, and that its certificate
/// carries `expected` as a URI SAN.
#[derive(Debug)]
struct ExpectServer {
    roots: Arc<RootCertStore>,
    expected: String,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ExpectServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        let uris = uri_sans(end_entity);
        if uris == [self.expected.clone()] {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::General(format!(
                "the server is not {}: {uris:?}",
                self.expected
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The URI SANs of a certificate.
pub(crate) fn uri_sans(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        })
        .collect()
}

/// Requests to one sidecar's inbound listener over mutual TLS.
#[derive(Clone)]
pub(crate) struct MtlsClient {
    addr: SocketAddr,
    proto: Proto,
    config: Arc<ClientConfig>,
}

impl MtlsClient {
    /// A client of `addr` presenting `client`, trusting `anchors` (PEM) and expecting the
    /// server to be `server_id`, speaking `proto` (ALPN `http/1.1` or `h2`).
    pub(crate) fn new(
        addr: SocketAddr,
        proto: Proto,
        client: &KeyAndCert,
        anchors: &str,
        server_id: &str,
    ) -> Self {
        let mut roots = RootCertStore::empty();
        for anchor in rustls_pki_types::pem::PemObject::pem_slice_iter(anchors.as_bytes()) {
            roots
                .add(anchor.expect("anchor PEM"))
                .expect("a trust anchor");
        }
        let provider = provider();
        let verifier = ExpectServer {
            roots: Arc::new(roots),
            expected: server_id.to_owned(),
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(client.chain(), client.key())
            .expect("the client certificate");
        config.alpn_protocols = vec![match proto {
            Proto::Http1 => b"http/1.1".to_vec(),
            Proto::Http2 => b"h2".to_vec(),
        }];
        MtlsClient {
            addr,
            proto,
            config: Arc::new(config),
        }
    }

    /// GET `path` with `Host: host` on a new connection.
    pub(crate) async fn get(&self, host: &str, path: &str) -> Result<Reply, String> {
        let request = http::Request::get(format!("http://{host}{path}"))
            .body(empty())
            .expect("a valid request");
        self.send(request).await
    }

    /// Sends `request` on a new connection; the whole reply, or what failed.
    pub(crate) async fn send(&self, mut request: http::Request<Body>) -> Result<Reply, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let tls = TlsConnector::from(self.config.clone())
            .connect(ServerName::try_from("mesh").expect("a name"), tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let io = TokioIo::new(tls);
        let response = match self.proto {
            Proto::Http1 => {
                // Origin form with a Host header, as HTTP/1.1 clients send.
                let host = request.uri().host().unwrap_or("").to_owned();
                request.headers_mut().insert(
                    http::header::HOST,
                    host.parse().map_err(|e| format!("host: {e}"))?,
                );
                let target = request
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                *request.uri_mut() = target.parse().map_err(|e| format!("path: {e}"))?;
                let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
                tokio::spawn(connection);
                sender.send_request(request).await
            }
            Proto::Http2 => {
                let (mut sender, connection) =
                    hyper::client::conn::http2::handshake::<_, _, Body>(TokioExecutor::new(), io)
                        .await
                        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
                tokio::spawn(connection);
                sender.send_request(request).await
            }
        }
        .map_err(|e| format!("request: {e}"))?;
        Reply::collect(response)
            .await
            .map_err(|e| format!("response: {e}"))
    }
}
