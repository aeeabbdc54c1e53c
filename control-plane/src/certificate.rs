//! `POST /v1/certificate`: a sidecar's CSR in, its certificate and the trust bundle out.

use crate::ca::{self, Ca, IssueError, TokenError};
use crate::http::{self, Response};
use crate::hub::Hub;
use crate::server::Request;
use ::http::StatusCode;
use convoy_protocol::{CertificateRequest, CertificateResponse, MAX_CERTIFICATE_REQUEST};
use http_body_util::{BodyExt, Limited};
use std::sync::Arc;

/// Answers one certificate request.
pub(crate) async fn handle(ca: Arc<Ca>, hub: &Hub, request: Request) -> Response {
    let Some(token) = ca::bearer(request.headers()).map(str::to_owned) else {
        // Refused before the body is even read.
        return refuse(hub, &IssueError::Token(TokenError::Missing));
    };
    let body = match Limited::new(request.into_body(), MAX_CERTIFICATE_REQUEST)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            let error = IssueError::BadRequest(format!(
                "cannot read the request (at most {} KiB): {error}",
                MAX_CERTIFICATE_REQUEST / 1024
            ));
            return refuse(hub, &error);
        }
    };
    let request: CertificateRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let error = IssueError::BadRequest(format!(
                "expected {{\"id\": \"ID\", \"service\": \"NAME\", \"csr\": \"PEM\"}}: {error}"
            ));
            return refuse(hub, &error);
        }
    };
    // Token files, a signature check and a signature: blocking work, off the runtime.
    let issuing = ca.clone();
    let id = request.id.clone();
    let issued = tokio::task::spawn_blocking(move || issuing.issue(&request, Some(&token))).await;
    let issued = match issued {
        Ok(Ok(issued)) => issued,
        Ok(Err(error)) => return refuse(hub, &error),
        Err(error) => {
            tracing::error!(%error, "the certificate task failed");
            return http::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot issue a certificate",
            );
        }
    };
    hub.metrics()
        .certificates_issued
        .with_label_values(&[issued.service.as_str()])
        .inc();
    hub.certificate_issued(&id, issued.service.as_str(), issued.not_after);
    tracing::info!(
        %id,
        service = %issued.service,
        expires = %humantime::format_rfc3339_seconds(issued.not_after),
        "certificate issued"
    );
    let trust = ca.trust();
    http::json(
        StatusCode::OK,
        &CertificateResponse {
            certificate: issued.certificate,
            trust_bundle: trust.bundle,
            trust_domain: trust.trust_domain,
        },
    )
}

fn refuse(hub: &Hub, error: &IssueError) -> Response {
    hub.metrics()
        .certificate_refusals
        .with_label_values(&[error.reason()])
        .inc();
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(%error, "certificate request failed");
    } else {
        tracing::warn!(%error, "certificate request refused");
    }
    http::error(status, &error.to_string())
}
