//! A tiny HTTP client for the command-line commands (`status`, `history`, `rollback`).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// How long a command waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a command got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL does not parse.
    #[error("bad URL `{url}`: {source}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ::http::Error,
    },
    /// The request failed (connection refused, say).
    #[error("cannot reach the control plane at {url}: {source}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: hyper_util::client::legacy::Error,
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
pub struct Client {
    base: String,
    inner: HyperClient<HttpConnector, Full<Bytes>>,
}

/// An answer: parsed, and as received (for `--json`).
#[derive(Debug)]
pub struct Answer<T> {
    /// The parsed answer.
    pub value: T,
    /// The body as received.
    pub raw: Bytes,
}

impl Client {
    /// A client of the API at `base` (`http://127.0.0.1:4200`).
    pub fn new(base: &str) -> Self {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET path`, expecting JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        self.call(::http::Method::GET, path, Bytes::new()).await
    }

    /// `POST path` with a JSON body, expecting JSON.
    pub async fn post<T: DeserializeOwned>(
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
            .uri(&url)
            .header(::http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|source| ClientError::Url {
                url: url.clone(),
                source,
            })?;
        let exchange = async {
            let response =
                self.inner
                    .request(request)
                    .await
                    .map_err(|source| ClientError::Request {
                        url: url.clone(),
                        source,
                    })?;
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
