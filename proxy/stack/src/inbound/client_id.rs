//! Telling the local app who called: `x-convoy-client-id` from the connection's proven peer.

use convoy_identity::{Peer, CLIENT_ID_HEADER};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::Request;
use http::HeaderValue;

/// Sets [`CLIENT_ID_HEADER`] to the caller's SPIFFE ID when the connection proved one. Runs
/// after [`convoy_proxy_core::layers::Sanitize`], which removed any such header the request came
/// with, so the app only ever sees the identity the sidecar verified (or none).
pub(crate) fn set_client_id(mut request: Request) -> Request {
    let value = RequestContext::of(&request)
        .and_then(|context| context.peer.as_ref())
        .and_then(Peer::identity)
        // A SPIFFE ID is printable ASCII by construction.
        .and_then(|id| HeaderValue::from_str(id.as_str()).ok());
    if let Some(value) = value {
        request.headers_mut().insert(CLIENT_ID_HEADER, value);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::SpiffeId;
    use convoy_proxy_core::body;

    fn with_peer(peer: Option<Peer>) -> Request {
        let mut request = http::Request::new(body::empty());
        if let Some(peer) = peer {
            RequestContext::of_mut(&mut request).peer = Some(peer);
        }
        set_client_id(request)
    }

    #[test]
    fn only_a_proven_identity_is_passed_on() {
        let id = SpiffeId::parse("spiffe://convoy.local/service/web").unwrap();
        let request = with_peer(Some(Peer::Authenticated(id)));
        assert_eq!(
            request.headers()[CLIENT_ID_HEADER],
            "spiffe://convoy.local/service/web"
        );
        assert!(with_peer(Some(Peer::Unauthenticated))
            .headers()
            .get(CLIENT_ID_HEADER)
            .is_none());
        assert!(with_peer(None).headers().get(CLIENT_ID_HEADER).is_none());
    }
}
