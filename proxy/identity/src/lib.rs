//! `convoy-identity`: workload identity: the sidecar's certificate from the control plane's CA, the mesh's trust
//! anchors, and mutual TLS between sidecars.
//!
//! In control-plane mode the sidecar makes an ECDSA P-256 key in memory ([`csr`]), asks the
//! control plane for a certificate naming `spiffe://<trust domain>/service/<service>`
//! (`convoy_control_client::CertificateClient`) and renews it at about two thirds of its
//! lifetime (`convoy_control_client::renew`). The
//! certificate, the trust bundle (from each snapshot and each certificate answer) and the
//! rustls configs built from them are held in [`Identity`] and swapped atomically: new
//! handshakes use the new ones, connections already made go on.
//!
//! Inbound handshakes require a client certificate that chains to the bundle, is valid, and
//! names exactly one SPIFFE ID of the trust domain (`SpiffeClientVerifier`); outbound ones
//! require the server to be the service called (`SpiffeServerVerifier`). Each is counted in
//! `convoy_tls_handshakes_total{direction, result, reason}` ([`Reason`]).

mod config;
mod credentials;
pub mod csr;
mod metrics;
mod provider;
mod reason;
mod san;
mod state;
#[cfg(test)]
mod testing;
mod trust;
mod verify;

pub use config::{TlsConfigError, ALPN_H2, ALPN_HTTP1};
pub use convoy_proxy_core::peer::{Peer, CLIENT_ID_HEADER};
pub use credentials::{CredentialError, Credentials};
pub use metrics::{Direction, TlsMetrics};
pub use provider::provider;
pub use reason::Reason;
pub use san::{spiffe_id, SanError};
pub use state::{Active, Identity, IdentityView};
pub use trust::{parse_certificates, TrustBundle, TrustError};
