//! The identity API: a sidecar's CSR in, its certificate and the trust bundle out.

use serde::{Deserialize, Serialize};

/// `POST` here with a [`CertificateRequest`] (JSON, at most [`MAX_CERTIFICATE_REQUEST`], and
/// `authorization: Bearer <join token>`) to get a [`CertificateResponse`].
pub const CERTIFICATE_PATH: &str = "/v1/certificate";

/// The largest certificate request the control plane reads, in bytes (64 KiB).
pub const MAX_CERTIFICATE_REQUEST: usize = 64 * 1024;

/// A sidecar asks for a certificate for its service's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    /// The sidecar's id (as in its `hello`), so status can show its certificate.
    pub id: String,
    /// The service whose identity it asks for; the join token must allow it.
    pub service: String,
    /// A PKCS#10 CSR in PEM, signed by the sidecar's key, for
    /// `spiffe://<trust domain>/service/<service>`.
    pub csr: String,
}

/// The control plane's answer to a [`CertificateRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateResponse {
    /// The issued certificate chain in PEM, leaf first.
    pub certificate: String,
    /// The trust anchors to verify peers with, in PEM.
    pub trust_bundle: String,
    /// The mesh's trust domain.
    pub trust_domain: String,
}
