//! The certificate client: `POST /v1/certificate` to the control plane over TLS, with the join
//! token, a CSR in, the certificate and the trust bundle out.

use crate::ControlPlaneUrl;
use crate::{ConnectError, ControlTls, JoinToken, TokenError};
use bytes::Bytes;
use convoy_protocol::{CertificateRequest, CertificateResponse, CERTIFICATE_PATH};
use http::{header, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::time::Duration;

/// How long one certificate request may take, connecting included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a chain and a bundle of a few certificates fit many times).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a certificate request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// The join token could not be read.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// No TLS connection to the control plane.
    #[error("{0}")]
    Connect(#[from] ConnectError),
    /// HTTP/2 failed.
    #[error("HTTP/2 failed: {0}")]
    Http(#[from] hyper::Error),
    /// The control plane refused.
    #[error("the control plane refused the certificate request: {status}: {reason}")]
    Refused {
        /// Its status.
        status: StatusCode,
        /// Its `x-convoy-error`, or the start of its body.
        reason: String,
    },
    /// The answer could not be read.
    #[error("bad answer from the control plane: {0}")]
    Answer(String),
    /// It took longer than [`REQUEST_TIMEOUT`].
    #[error("no answer within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
}

/// Asks the control plane's CA for certificates.
#[derive(Debug, Clone)]
pub struct CertificateClient {
    url: ControlPlaneUrl,
    tls: ControlTls,
    token: JoinToken,
    /// The sidecar's id (as in its hello).
    id: String,
}

impl CertificateClient {
    /// A client for the control plane at `url`, reached with `tls`, the sidecar `id` proving
    /// itself with `token`.
    pub fn new(url: ControlPlaneUrl, tls: ControlTls, token: JoinToken, id: String) -> Self {
        CertificateClient {
            url,
            tls,
            token,
            id,
        }
    }

    /// Sends `csr` (PEM) for `service`.
    pub(crate) async fn request(
        &self,
        service: &str,
        csr: String,
    ) -> Result<CertificateResponse, RequestError> {
        let body = CertificateRequest {
            id: self.id.clone(),
            service: service.to_owned(),
            csr,
        };
        tokio::time::timeout(REQUEST_TIMEOUT, self.send(&body))
            .await
            .map_err(|_| RequestError::Timeout)?
    }

    async fn send(&self, body: &CertificateRequest) -> Result<CertificateResponse, RequestError> {
        let authorization = self.token.header()?;
        let tls = self
            .tls
            .connect(&self.url, convoy_identity::ALPN_H2)
            .await?;
        let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake::<_, Full<Bytes>>(TokioIo::new(tls))
            .await?;
        let driver = tokio::spawn(connection);
        let json = serde_json::to_vec(body).expect("a request always serializes");
        let request = http::Request::post(self.url.endpoint(CERTIFICATE_PATH))
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .header(header::AUTHORIZATION, authorization)
            .body(Full::new(Bytes::from(json)))
            .expect("a valid request");
        let result = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let error_header =
                convoy_proxy_core::error::convoy_error(response.headers()).map(str::to_owned);
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| RequestError::Answer(e.to_string()))?
                .to_bytes();
            if status != StatusCode::OK {
                let reason = error_header.unwrap_or_else(|| {
                    String::from_utf8_lossy(&bytes)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned()
                });
                return Err(RequestError::Refused { status, reason });
            }
            serde_json::from_slice::<CertificateResponse>(&bytes)
                .map_err(|e| RequestError::Answer(e.to_string()))
        }
        .await;
        driver.abort();
        result
    }
}
