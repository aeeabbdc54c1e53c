//! The consumer and client id headers a client sent, removed: only the gateway sets them.

use crate::runtime::Selection;
use convoy_identity::CLIENT_ID_HEADER;
use convoy_proxy_core::Request;

/// `request` without the consumer header and the client id header (a request map:
/// `ServiceBuilder::map_request`).
pub(crate) fn strip_consumer(mut request: Request) -> Request {
    if let Some(header) = Selection::of(&request).map(Selection::consumer_header) {
        request.headers_mut().remove(header);
    }
    request.headers_mut().remove(CLIENT_ID_HEADER);
    request
}
