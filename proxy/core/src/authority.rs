//! Which authority a request is for: absolute-form URI first, then the Host header.

use http::{header, HeaderValue, Uri};

/// The request's authority (`orders`, `orders:8080`), from the absolute URI (as HTTP proxies and
/// HTTP/2 `:authority` give it) or else the `Host` header.
///
/// One exception: an HTTP/2 client that dials the sidecar by address puts that address in
/// `:authority`; when the URI names an IP literal and a `Host` header is present, `Host` says
/// which service is meant.
pub fn of(uri: &Uri, headers: &http::HeaderMap) -> Option<String> {
    let host_header = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (uri.authority(), host_header) {
        (Some(authority), Some(host)) if is_ip_literal(authority.host()) => Some(host.to_owned()),
        (Some(authority), _) => Some(authority.as_str().to_owned()),
        (None, host) => host.map(str::to_owned),
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// The request's authority, from the `Host` header first, else the URI. Used inbound, where the
/// URI names this sidecar's own address and `Host` what the caller asked for.
pub fn of_host_header_first(uri: &Uri, headers: &http::HeaderMap) -> Option<String> {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => Some(host.to_owned()),
        None => uri.authority().map(|a| a.as_str().to_owned()),
    }
}

/// The host part of an authority, lowercased, without port or userinfo.
pub fn host(authority: &str) -> String {
    let without_user = authority.rsplit('@').next().unwrap_or(authority);
    let host = if without_user.starts_with('[') {
        without_user
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        without_user
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// `addr` as a URI authority.
pub fn of_addr(addr: std::net::SocketAddr) -> http::uri::Authority {
    http::uri::Authority::from_maybe_shared(bytes::Bytes::from(addr.to_string()))
        .expect("a socket address is a valid authority")
}

/// Points a request at `addr` (the endpoint's address as an authority, see [`of_addr`]),
/// keeping what the client asked for in the `Host` header.
pub fn retarget(
    request: &mut http::Request<crate::Body>,
    addr: &http::uri::Authority,
    authority: Option<&str>,
) {
    if let Some(authority) = authority {
        if let Ok(value) = HeaderValue::from_str(authority) {
            request.headers_mut().insert(header::HOST, value);
        }
    }
    let path_and_query = match request.uri().path_and_query() {
        // The common case (origin-form, or absolute-form with a path): the parsed path and
        // query are reused as they are, with nothing formatted or parsed again.
        Some(pq) if pq.as_str().starts_with('/') => pq.clone(),
        None => http::uri::PathAndQuery::from_static("/"),
        // Anything else (`*`, an empty path, a bare query): as the URI `http://{addr}{path}` parses, if it does.
        Some(pq) => {
            if let Ok(uri) = format!("http://{addr}{pq}").parse() {
                *request.uri_mut() = uri;
            }
            return;
        }
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(addr.clone());
    parts.path_and_query = Some(path_and_query);
    // A scheme, an authority and a path always make a valid URI.
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_strips_port_user_and_case() {
        assert_eq!(host("Orders:8080"), "orders");
        assert_eq!(host("orders."), "orders");
        assert_eq!(host("u:p@orders:1"), "orders");
        assert_eq!(host("[::1]:80"), "[::1]");
    }

    /// What `retarget` did before it reused the parsed path: format the URI and parse it.
    fn retarget_by_formatting(
        request: &mut http::Request<crate::Body>,
        addr: std::net::SocketAddr,
    ) {
        let path = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        if let Ok(uri) = format!("http://{addr}{path}").parse() {
            *request.uri_mut() = uri;
        }
    }

    #[test]
    fn retarget_points_at_the_address_and_keeps_path_and_query() {
        for addr in ["127.0.0.1:8081", "[::1]:8443", "[fe80::1%2]:80"] {
            let addr: std::net::SocketAddr = addr.parse().unwrap();
            for uri in [
                "/",
                "/a/b?x=1&y=%20",
                "http://orders/x?q",
                "http://orders",
                "http://orders?q",
                "*",
                "orders:443",
            ] {
                let request = || {
                    http::Request::builder()
                        .uri(uri)
                        .body(crate::body::empty())
                        .unwrap()
                };
                let mut expected = request();
                retarget_by_formatting(&mut expected, addr);
                let mut request = request();
                retarget(&mut request, &of_addr(addr), Some("orders"));
                assert_eq!(request.uri(), expected.uri(), "{addr} {uri}");
                assert_eq!(request.uri().to_string(), expected.uri().to_string());
                assert_eq!(request.headers()[header::HOST], "orders");
            }
        }
    }

    #[test]
    fn absolute_uri_wins_over_host_header() {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("web"));
        let uri: Uri = "http://orders/x".parse().unwrap();
        assert_eq!(of(&uri, &headers).as_deref(), Some("orders"));
        let uri: Uri = "/x".parse().unwrap();
        assert_eq!(of(&uri, &headers).as_deref(), Some("web"));
        let uri: Uri = "http://127.0.0.1:4140/x".parse().unwrap();
        assert_eq!(
            of(&uri, &headers).as_deref(),
            Some("web"),
            "an address in :authority defers to Host"
        );
        assert_eq!(
            of(&uri, &http::HeaderMap::new()).as_deref(),
            Some("127.0.0.1:4140")
        );
    }
}
