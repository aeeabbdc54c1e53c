//! Answers one request: drain the body, wait, call downstream services, echo as JSON.

use std::convert::Infallible;
use std::fmt::Display;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::uri::Authority;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::ServiceArgs;
use crate::client::{self, error_chain, HttpClient};

/// Bounds a downstream call so a stuck hop cannot pin a request forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The W3C trace context header, forwarded so a trace spans every hop.
const TRACEPARENT: &str = "traceparent";

/// Set by the sidecar on retries; echoed so demos can show which attempt succeeded.
const ATTEMPT: &str = "x-convoy-attempt";

/// Set by the sidecar in front of the app to the caller's SPIFFE ID (from its client
/// certificate) after removing any such header the request came with.
const CLIENT_ID: &str = "x-convoy-client-id";

/// Per-process state shared by every request.
pub(crate) struct Handler {
    name: String,
    latency: Duration,
    latency_jitter: Duration,
    failure_rate: f64,
    calls: Vec<String>,
    outbound: Authority,
    client: HttpClient,
}

/// What one downstream call produced, as echoed in `calls`.
struct CallOutcome {
    ok: bool,
    /// Answered 429: the callee (or its sidecar's rate limit) asks to slow down.
    limited: bool,
    echo: Value,
}

impl Handler {
    /// Takes what requests need from the flags; the client pool is shared by all.
    pub(crate) fn new(args: &ServiceArgs) -> Self {
        Self {
            name: args.name.clone(),
            latency: args.latency,
            latency_jitter: args.latency_jitter,
            failure_rate: args.failure_rate,
            calls: args.calls.clone(),
            outbound: args.outbound.clone(),
            client: client::http1(),
        }
    }

    /// Answers one request; every outcome, failures included, is a response.
    pub(crate) async fn handle<B>(
        &self,
        req: Request<B>,
    ) -> Result<Response<Full<Bytes>>, Infallible>
    where
        B: Body,
        B::Error: Display,
    {
        let (parts, body) = req.into_parts();
        if parts.method == Method::GET && parts.uri.path() == "/healthz" {
            return Ok(response(StatusCode::OK, "text/plain", "ok\n"));
        }
        if parts.method == Method::GET && parts.uri.path() == "/whoami" {
            return Ok(response(
                StatusCode::OK,
                "text/plain",
                whoami(&parts.headers),
            ));
        }
        let body_bytes = match drain(body).await {
            Ok(n) => n,
            Err(e) => {
                let msg = format!("reading request body: {e}\n");
                return Ok(response(StatusCode::BAD_REQUEST, "text/plain", msg));
            }
        };

        // ThreadRng is not Send, so draw everything before the first await.
        let (delay, fail) = {
            let mut rng = rand::rng();
            let jitter = self.latency_jitter.mul_f64(rng.random::<f64>());
            (
                self.latency + jitter,
                rng.random::<f64>() < self.failure_rate,
            )
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }

        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let traceparent = parts.headers.get(TRACEPARENT);
        let mut calls = Vec::with_capacity(self.calls.len());
        let mut downstream_ok = true;
        let mut downstream_limited = false;
        for service in &self.calls {
            let outcome = self.call(service, path_and_query, traceparent).await;
            downstream_ok &= outcome.ok;
            downstream_limited |= outcome.limited;
            calls.push(outcome.echo);
        }

        // A 429 is passed on, so the client sees (and can back off from) a rate limit
        // anywhere down the chain rather than a 200 for work that was not done.
        let status = if fail {
            StatusCode::INTERNAL_SERVER_ERROR
        } else if !downstream_ok {
            StatusCode::BAD_GATEWAY
        } else if downstream_limited {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::OK
        };
        let echo = json!({
            "service": self.name,
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "headers": headers_json(&parts.headers),
            "body_bytes": body_bytes,
            "calls": calls,
            "attempt": parts.headers.get(ATTEMPT).map(|v| String::from_utf8_lossy(v.as_bytes())),
        });
        Ok(response(status, "application/json", echo.to_string()))
    }

    /// Calls `service` through the local sidecar, which routes on the Host header.
    async fn call(
        &self,
        service: &str,
        path_and_query: &str,
        traceparent: Option<&HeaderValue>,
    ) -> CallOutcome {
        let failed = |error: String| CallOutcome {
            ok: false,
            limited: false,
            echo: json!({ "service": service, "status": null, "error": error }),
        };
        let mut req = match Request::get(format!("http://{}{path_and_query}", self.outbound))
            .header(HOST, service)
            .body(Full::default())
        {
            Ok(req) => req,
            Err(e) => return failed(format!("building request: {e}")),
        };
        if let Some(value) = traceparent {
            req.headers_mut().insert(TRACEPARENT, value.clone());
        }
        let response = match tokio::time::timeout(CALL_TIMEOUT, self.client.request(req)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                return failed(format!(
                    "calling {service} via {}: {}",
                    self.outbound,
                    error_chain(&e)
                ))
            }
            Err(_) => {
                return failed(format!(
                    "calling {service}: timed out after {CALL_TIMEOUT:?}"
                ))
            }
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return failed(format!("reading response of {service}: {e}")),
        };
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        CallOutcome {
            ok: !status.is_server_error(),
            limited: status == StatusCode::TOO_MANY_REQUESTS,
            echo: json!({ "service": service, "status": status.as_u16(), "body": body }),
        }
    }
}

/// Reads the body to the end without buffering it, returning its length.
async fn drain<B: Body>(body: B) -> Result<u64, B::Error> {
    let mut body = std::pin::pin!(body);
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            len += bytes::Buf::remaining(data) as u64;
        }
    }
    Ok(len)
}

/// Who called, as the sidecar in front of this app says: the caller's SPIFFE ID, or that the
/// request carried none (a plaintext caller, or no sidecar in front).
fn whoami(headers: &HeaderMap) -> String {
    match headers.get(CLIENT_ID) {
        Some(id) => format!("{}\n", String::from_utf8_lossy(id.as_bytes())),
        None => format!("unknown caller: the request carried no {CLIENT_ID}\n"),
    }
}

/// Header names are already lowercase in `http`; repeated headers are joined with `, `.
fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        match map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                map.insert(name.as_str().to_owned(), Value::String(value.into_owned()));
            }
        }
    }
    Value::Object(map)
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
