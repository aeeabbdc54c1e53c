//! Hop-by-hop header removal (RFC 9110 §7.6.1), in both directions.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, never the message; they are not forwarded.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// `Transfer-Encoding`'s bit in [`present`]'s answer.
const TRANSFER_ENCODING_BIT: u16 = 1 << HOP_BY_HOP.len();

/// The bit of `name` in [`present`]'s answer: `1 << i` for `HOP_BY_HOP[i]`, or
/// [`TRANSFER_ENCODING_BIT`]. A match on the name's text: mostly a length comparison.
fn bit(name: &HeaderName) -> u16 {
    match name.as_str() {
        "connection" => 1,
        "keep-alive" => 1 << 1,
        "proxy-connection" => 1 << 2,
        "proxy-authenticate" => 1 << 3,
        "proxy-authorization" => 1 << 4,
        "te" => 1 << 5,
        "trailer" => 1 << 6,
        "upgrade" => 1 << 7,
        "transfer-encoding" => TRANSFER_ENCODING_BIT,
        _ => 0,
    }
}

/// Which of [`HOP_BY_HOP`] (bit `i`) and `Transfer-Encoding` `headers` carries, in one pass over
/// its names: most messages carry none, and then nothing is hashed or removed.
fn present(headers: &HeaderMap) -> u16 {
    headers.keys().fold(0, |present, name| present | bit(name))
}

/// Removes hop-by-hop headers and any header the `Connection` header names.
///
/// `TE: trailers` is kept (as exactly that) on requests: gRPC needs it end to end, and it is the
/// one TE value HTTP/2 allows. `Transfer-Encoding` is left to hyper, which re-frames every body.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, is_request: bool) {
    let present = present(headers);
    if present == 0 {
        return;
    }
    let wants_trailers = is_request
        && headers
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    // `Connection` is HOP_BY_HOP[0]: only then can other headers be named.
    if present & 1 != 0 {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in &named {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if present & TRANSFER_ENCODING_BIT != 0 {
        headers.remove(header::TRANSFER_ENCODING);
    }
    if wants_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn removes_standard_and_named_hop_by_hop_headers() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("te", "gzip"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn each_hop_by_hop_header_has_its_own_bit() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(bit(name), 1 << i, "{name}");
        }
        assert_eq!(bit(&header::TRANSFER_ENCODING), TRANSFER_ENCODING_BIT);
        assert_eq!(bit(&header::HOST), 0);
    }

    #[test]
    fn headers_without_hop_by_hop_ones_are_left_alone() {
        let pairs = [
            ("host", "orders"),
            ("x-a", "1"),
            ("x-a", "2"),
            ("accept", "*/*"),
        ];
        let mut h = map(&pairs);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h, map(&pairs));
    }

    #[test]
    fn every_hop_by_hop_header_and_transfer_encoding_goes() {
        for name in HOP_BY_HOP.iter().map(HeaderName::as_str).chain([
            "transfer-encoding",
            "Keep-Alive",
            "PROXY-CONNECTION",
        ]) {
            for is_request in [true, false] {
                let mut h = map(&[("x-kept", "yes"), (name, "close"), (name, "again")]);
                strip_hop_by_hop(&mut h, is_request);
                assert_eq!(h, map(&[("x-kept", "yes")]), "{name}");
            }
        }
    }

    #[test]
    fn headers_named_by_connection_go_even_if_otherwise_kept() {
        let mut h = map(&[
            ("connection", "X-One"),
            ("connection", "x-two, te"),
            ("x-one", "1"),
            ("x-two", "2"),
            ("te", "trailers"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h, map(&[("x-kept", "yes"), ("te", "trailers")]));
    }

    #[test]
    fn keeps_te_trailers_on_requests_only() {
        let mut h = map(&[("te", "trailers, deflate")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["te"], "trailers");
        let mut h = map(&[("te", "trailers")]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("te").is_none());
    }
}
