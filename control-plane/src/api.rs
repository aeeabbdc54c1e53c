//! The sidecar API (over TLS): `POST /v1/stream`, `POST /v1/certificate`, `GET /v1/status`,
//! `GET /v1/history`, `POST /v1/rollback`.

use crate::ca::{self, Ca, TokenError};
use crate::certificate;
use crate::http::{self, Response};
use crate::hub::{Hub, RollbackError};
use crate::server::{Drain, Request};
use crate::session;
use crate::views::{RollbackRequest, RollbackResponse};
use ::http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use std::sync::Arc;

/// The largest rollback request read.
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// What the sidecar API answers from.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    /// The hub.
    pub(crate) hub: Arc<Hub>,
    /// The mesh CA (join tokens, certificates).
    pub(crate) ca: Arc<Ca>,
    /// The listener's drain: streams end when it is signalled.
    pub(crate) drain: Drain,
}

/// Answers one request of the sidecar API.
pub(crate) async fn handle(api: Api, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match (&method, path.as_str()) {
        (&Method::POST, convoy_protocol::STREAM_PATH) => stream(&api, request).await,
        (&Method::POST, convoy_protocol::CERTIFICATE_PATH) => {
            certificate::handle(api.ca.clone(), &api.hub, request).await
        }
        (&Method::GET | &Method::HEAD, "/v1/status") => {
            http::json(StatusCode::OK, &api.hub.status())
        }
        (&Method::GET | &Method::HEAD, "/v1/history") => {
            http::json(StatusCode::OK, &api.hub.history())
        }
        (&Method::POST, "/v1/rollback") => rollback(&api.hub, request).await,
        (_, convoy_protocol::STREAM_PATH | "/v1/rollback" | convoy_protocol::CERTIFICATE_PATH) => {
            http::error(StatusCode::METHOD_NOT_ALLOWED, "only POST")
        }
        (_, "/v1/status" | "/v1/history") => {
            http::error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD")
        }
        _ => http::error(
            StatusCode::NOT_FOUND,
            "not found: try POST /v1/stream, POST /v1/certificate, GET /v1/status, GET /v1/history or POST /v1/rollback",
        ),
    }
}

/// A stream needs a join token that admits the service its `hello` names.
async fn stream(api: &Api, request: Request) -> Response {
    let Some(token) = ca::bearer(request.headers()).map(str::to_owned) else {
        // Refused before the hello is even read.
        let error = TokenError::Missing;
        tracing::warn!(%error, "stream refused");
        api.hub
            .metrics()
            .stream_refusals
            .with_label_values(&[error.reason()])
            .inc();
        return http::error(StatusCode::UNAUTHORIZED, &error.to_string());
    };
    let tokens = api.ca.tokens().clone();
    let admit = move |hello: &convoy_protocol::Hello| {
        let service = convoy_config::ServiceName::new(&hello.service)
            .map_err(|_| TokenError::Refused(hello.service.clone()))?;
        tokens.check(&service, Some(&token))
    };
    session::open(
        &api.hub,
        request.into_body(),
        admit,
        &api.drain.signal,
        &api.drain.tasks,
    )
    .await
}

async fn rollback(hub: &Hub, request: Request) -> Response {
    let body = match Limited::new(request.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            return http::error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the request: {error}"),
            )
        }
    };
    let request: RollbackRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return http::error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"version\": N, \"author\": \"name\"}}: {error}"),
            )
        }
    };
    let author = request
        .author
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    match hub.rollback(request.version, &author).await {
        Ok(version) => http::json(StatusCode::OK, &RollbackResponse { version }),
        Err(RollbackError::Lookup(error)) => http::error(StatusCode::NOT_FOUND, &error.to_string()),
        Err(error) => {
            tracing::error!(%error, "rollback failed");
            http::error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string())
        }
    }
}
