//! The first line of a stream: a [`Hello`], checked before the control plane registers it.

use crate::sidecar::{Hello, SidecarMessage};
use convoy_config::ServiceName;

/// The longest sidecar id accepted, in bytes.
pub(crate) const MAX_ID_LEN: usize = 256;

/// Why a `hello` was refused (the `400` answer's one line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The stream ended or stayed silent before a first message.
    #[error("bad hello: no message before {0}")]
    Missing(&'static str),
    /// The first line is not a JSON message of a known type.
    #[error("bad hello: the first message is not a valid hello: {0}")]
    Malformed(String),
    /// The first message is of another type.
    #[error("bad hello: the first message must be a hello, got {0}")]
    NotHello(&'static str),
    /// The id is empty, too long or holds control characters.
    #[error("bad hello: `id` must be 1 to {MAX_ID_LEN} printable characters")]
    Id,
    /// The service name is not a valid service name.
    #[error("bad hello: service: {0}")]
    Service(String),
    /// The address would not be a valid endpoint of the service.
    #[error("bad hello: address: {0}")]
    Address(String),
}

/// Parses and checks the first line of a stream; the address comes back spelt as the model
/// prints it.
pub fn parse_hello(line: &[u8]) -> Result<Hello, HelloError> {
    let message: SidecarMessage =
        serde_json::from_slice(line).map_err(|e| HelloError::Malformed(e.to_string()))?;
    let hello = match message {
        SidecarMessage::Hello(hello) => hello,
        other => return Err(HelloError::NotHello(other.kind())),
    };
    if hello.id.is_empty() || hello.id.len() > MAX_ID_LEN || hello.id.chars().any(char::is_control)
    {
        return Err(HelloError::Id);
    }
    ServiceName::new(&hello.service).map_err(HelloError::Service)?;
    check_address(&hello.service, &hello.address)?;
    let address = canonical_address(&hello.address);
    Ok(Hello { address, ..hello })
}

/// The address as the model prints its endpoint (`10.0.0.7:4143`, `orders.internal:4143`):
/// two spellings of one endpoint become one string, so they are never listed twice.
fn canonical_address(address: &str) -> String {
    if let Ok(addr) = address.parse::<std::net::SocketAddr>() {
        return addr.to_string();
    }
    match address.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => format!("{}:{port}", host.to_ascii_lowercase()),
            Err(_) => address.to_owned(),
        },
        None => address.to_owned(),
    }
}

/// Checks `address` with the very rules sidecars apply to the snapshot, so a registration can
/// never make a snapshot that sidecars refuse.
fn check_address(service: &str, address: &str) -> Result<(), HelloError> {
    let probe = serde_json::json!({ "services": { service: { "endpoints": [address] } } });
    let bytes = serde_json::to_vec(&probe).unwrap_or_default();
    convoy_config::decode_wire_mesh(&bytes)
        .map(drop)
        .map_err(|e| HelloError::Address(e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = r#"{"type":"hello","id":"orders-1","service":"orders","address":"127.0.0.1:4143","proxy_version":"0.1.0"}"#;

    #[test]
    fn hello_is_parsed_and_checked() {
        let hello = parse_hello(HELLO.as_bytes()).unwrap();
        assert_eq!(hello.service, "orders");
        assert_eq!(hello.address, "127.0.0.1:4143");
        let dns = r#"{"type":"hello","id":"a","service":"orders","address":"Orders.Local:04143"}"#;
        let hello = parse_hello(dns.as_bytes()).expect("host:port is an address too");
        assert_eq!(
            hello.address, "orders.local:4143",
            "spelt as the model prints it"
        );
        let v6 = r#"{"type":"hello","id":"a","service":"orders","address":"[::1]:04143"}"#;
        assert_eq!(parse_hello(v6.as_bytes()).unwrap().address, "[::1]:4143");
    }

    #[test]
    fn bad_hellos_say_why() {
        let cases = [
            (r#"{"type":"ping"}"#, "must be a hello, got ping"),
            ("not json", "not a valid hello"),
            (r#"{"type":"hello","id":"a"}"#, "missing field `service`"),
            (
                r#"{"type":"hello","id":"","service":"orders","address":"127.0.0.1:1"}"#,
                "`id` must be",
            ),
            (
                r#"{"type":"hello","id":"a","service":"Orders","address":"127.0.0.1:1"}"#,
                "bad hello: service: `Orders` is not a valid service name",
            ),
            (
                r#"{"type":"hello","id":"a","service":"orders","address":"nowhere"}"#,
                "bad hello: address:",
            ),
        ];
        for (line, expected) in cases {
            let error = parse_hello(line.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }
}
