//! CORS for a route set: preflights answered at the gateway, response headers for allowed
//! origins.

use super::runtime::Selection;
use super::step::{Before, Step};
use convoy_config::Cors;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{body, Request, Response};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

/// Answers CORS preflights of route sets with `cors` (204), and adds the CORS headers to other
/// responses to an allowed origin.
#[derive(Debug, Clone)]
pub struct CorsStep;

/// The allowed origin to echo, if the request's `Origin` is allowed.
fn allowed_origin(cors: &Cors, origin: &HeaderValue) -> Option<HeaderValue> {
    let text = origin.to_str().ok()?;
    if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        return Some(HeaderValue::from_static("*"));
    }
    cors.allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    HeaderValue::from_str(&items.collect::<Vec<_>>().join(", ")).ok()
}

/// The preflight answer for an allowed origin, or `None` when the request is not allowed
/// (then the answer carries no CORS headers and the browser refuses).
fn preflight(cors: &Cors, request: &Request, origin: HeaderValue) -> Response {
    let mut response = http::Response::new(body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let method_ok = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .is_some_and(|m| cors.allow_methods.contains(&m));
    let headers_ok = request
        .headers()
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .all(|h| {
            cors.allow_headers
                .iter()
                .any(|a| a.as_str().eq_ignore_ascii_case(h))
        });
    let Some(origin) = allowed_origin(cors, &origin).filter(|_| method_ok && headers_ok) else {
        return response;
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if let Some(v) = join(cors.allow_methods.iter().map(Method::as_str)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !cors.allow_headers.is_empty() {
        if let Some(v) = join(cors.allow_headers.iter().map(|h| h.as_str())) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(cors.max_age.as_secs()),
    );
    if cors.allow_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    response
}

impl Step for CorsStep {
    /// The route set's CORS settings and the allowed origin to answer with.
    type State = Option<(Cors, HeaderValue)>;

    fn before(&self, request: Request) -> Before<Self::State> {
        let cors = request
            .extensions()
            .get::<Selection>()
            .and_then(|s| s.route_set())
            .and_then(|s| s.cors.clone());
        let (Some(cors), Some(origin)) = (cors, request.headers().get(header::ORIGIN).cloned())
        else {
            return Before::Continue(request, None);
        };
        if request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Before::Answer(preflight(&cors, &request, origin));
        }
        let state = allowed_origin(&cors, &origin).map(|o| (cors, o));
        Before::Continue(request, state)
    }

    fn after(
        &self,
        state: Self::State,
        result: Result<Response, ProxyError>,
    ) -> Result<Response, ProxyError> {
        let Some((cors, origin)) = state else {
            return result;
        };
        // The gateway's own answers get the headers too, so scripts can read why.
        let mut response = result.unwrap_or_else(|error| {
            let failure = convoy_proxy_core::classify::error(&error);
            let mut response = error.into_response();
            response.extensions_mut().insert(failure);
            response
        });
        {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
            if cors.allow_credentials {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            if !cors.expose_headers.is_empty() {
                if let Some(v) = join(cors.expose_headers.iter().map(|h| h.as_str())) {
                    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
                }
            }
        }
        Ok(response)
    }
}
