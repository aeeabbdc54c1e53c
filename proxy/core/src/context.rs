//! The one typed context a request carries through the layers.

use crate::call::Call;
use crate::peer::Peer;
use convoy_config::ProxyConfig;
use std::net::SocketAddr;
use std::sync::Arc;

/// Request extension: what the proxy knows about a request, in one place. The listener creates
/// it (where the connection came from, who the handshake proved, how many header fields
/// arrived); the trace context layer adds the trace id; routing sets the configuration or the
/// call policies once it has decided. Each layer reads only its slice.
///
/// A request made outside a listener (a unit test, a bench) may have none; every reader
/// treats that as "nothing known" ([`RequestContext::of`] returns `None`).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The address of the client connection the request came on.
    pub client_addr: Option<SocketAddr>,
    /// What the inbound connection's handshake proved about the caller; `None` on the outbound
    /// and gateway listeners (the caller is the local app or an outside client).
    pub peer: Option<Peer>,
    /// How many header fields the request arrived with, before any layer added or removed
    /// one: the header limit counts what the client sent.
    pub received_headers: Option<usize>,
    /// The request's W3C trace id, once the trace context layer has run.
    pub trace_id: Option<TraceId>,
    /// Inbound: the configuration in force when the request arrived (the authorization, rate
    /// limit and fault rules).
    pub config: Option<Arc<ProxyConfig>>,
    /// Outbound and gateway: the policies of the route and the backend's request limits.
    pub call: Option<Call>,
}

impl RequestContext {
    /// The context of `request`, if a listener gave it one.
    pub fn of<B>(request: &http::Request<B>) -> Option<&RequestContext> {
        request.extensions().get::<RequestContext>()
    }

    /// The context of `request`, created empty if it has none yet.
    pub fn of_mut<B>(request: &mut http::Request<B>) -> &mut RequestContext {
        request
            .extensions_mut()
            .get_or_insert_default::<RequestContext>()
    }
}

/// A request's trace id: 32 lowercase hex digits, kept inline (no allocation per request).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceId([u8; 32]);

impl TraceId {
    /// The trace id in `hex`, if it is 32 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<TraceId> {
        let bytes: [u8; 32] = hex.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .then_some(TraceId(bytes))
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("checked to be ASCII hex when made")
    }
}

impl std::fmt::Debug for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TraceId").field(&self.as_str()).finish()
    }
}

impl std::fmt::Display for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_32_lowercase_hex_digits() {
        let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").is_none());
        assert!(TraceId::from_hex("4bf92f3577b34da6").is_none());
    }

    #[test]
    fn a_request_without_context_gets_an_empty_one_on_first_write() {
        let mut request = http::Request::new(());
        assert!(RequestContext::of(&request).is_none());
        RequestContext::of_mut(&mut request).received_headers = Some(3);
        assert_eq!(
            RequestContext::of(&request).unwrap().received_headers,
            Some(3)
        );
    }
}
