//! The pooled HTTP client both binaries use to talk to sidecars and services.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How long a pooled connection may sit idle before the client closes it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled plain-HTTP client with buffered request bodies.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Builds an HTTP/1.1 client; connections are reused across requests.
pub(crate) fn http1() -> HttpClient {
    let mut connector = HttpConnector::new();
    // Demo hops are small request/response exchanges; don't let Nagle add latency.
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        // Drop idle connections before the sidecar does (its default idle timeout is
        // 60s), so a request never races the sidecar closing the connection it reuses.
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// `GET url` with extra `headers` and read the whole body, within `timeout`.
/// Errors are rendered with their causes, ready to show to the user.
pub(crate) async fn get(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<(StatusCode, Bytes), String> {
    let mut request = Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::default()).map_err(|e| e.to_string())?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| error_chain(&e))?;
        read_all(response).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {timeout:?}")))
}

/// A response's status and whole body; errors rendered with their causes.
pub(crate) async fn read_all<B>(response: http::Response<B>) -> Result<(StatusCode, Bytes), String>
where
    B: hyper::body::Body,
    B::Error: std::error::Error,
{
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| error_chain(&e))?;
    Ok((status, body.to_bytes()))
}

/// hyper's errors hide the useful part (e.g. "connection refused") in their sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
