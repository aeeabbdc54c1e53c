//! Who is calling: what the inbound connection's TLS handshake proved about the peer.

use convoy_config::SpiffeId;

/// The header through which the local app learns the caller's identity (a SPIFFE ID). The
/// sidecar removes any such header a request arrives with, and sets it only from a verified
/// client certificate, so an app can trust it.
pub const CLIENT_ID_HEADER: http::HeaderName = http::HeaderName::from_static("x-convoy-client-id");

/// The peer of the connection an inbound request came on (the request context's `peer`;
/// absent on outbound requests, whose caller is the local app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Mutual TLS with a certificate that chains to the mesh's trust anchors and names
    /// exactly this identity.
    Authenticated(SpiffeId),
    /// Plaintext (accepted only where the service's mTLS mode is `permissive`, or when the
    /// sidecar runs without identities): nobody is proven.
    Unauthenticated,
}

impl Peer {
    /// The identity, if proven.
    pub fn identity(&self) -> Option<&SpiffeId> {
        match self {
            Peer::Authenticated(id) => Some(id),
            Peer::Unauthenticated => None,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Authenticated(id) => write!(f, "{id}"),
            Peer::Unauthenticated => f.write_str("unauthenticated (plaintext)"),
        }
    }
}
