//! HTTP plumbing shared by both listeners: the body type and small responses.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde::Serialize;

/// Any error a body may fail with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the control plane makes.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A response of the control plane.
pub(crate) type Response = http::Response<Body>;

/// A body holding `bytes`.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = http::Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = http::Response::new(full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A response the control plane refuses with: the reason in `x-convoy-error` and as the
/// one-line body.
pub(crate) fn error(status: StatusCode, reason: &str) -> Response {
    let mut response = text(status, format!("{reason}\n"));
    // A reason is one line; anything a header cannot hold is dropped from the header only.
    let header = reason.replace(|c: char| c.is_control(), " ");
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert("x-convoy-error", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_reason_in_a_header() {
        let response = error(StatusCode::BAD_REQUEST, "bad hello: no");
        assert_eq!(response.headers()["x-convoy-error"], "bad hello: no");
    }
}
