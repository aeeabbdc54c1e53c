//! The messages of the stream (control-plane/PROTOCOL.md): one JSON object per line.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A message from the sidecar to the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Outgoing {
    /// The first message: who this sidecar is and where other sidecars reach it.
    Hello {
        /// Unique per sidecar process (kept across reconnects).
        id: String,
        /// The service it sits beside.
        service: String,
        /// Where its inbound listener is reachable (`IP:PORT` or `HOST:PORT`).
        address: String,
        /// This proxy's version.
        proxy_version: String,
        /// Whether it already serves a snapshot (it is reconnecting): a control plane that
        /// has just started holds such a sidecar's first snapshot until the fleet is back.
        serving: bool,
        /// Whether it runs as a gateway: then its `address` is no endpoint of its service
        /// (nothing calls a gateway through the mesh). Left out when false.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        gateway: bool,
    },
    /// The snapshot of this version is in force.
    Ack {
        /// The version.
        version: u64,
    },
    /// The snapshot of this version was refused; the last good one stays in force.
    Nack {
        /// The version.
        version: u64,
        /// Why, in one line.
        reason: String,
    },
    /// Liveness, every few seconds.
    Ping,
}

impl Outgoing {
    /// The message as one line, `\n` included.
    pub fn to_line(&self) -> Bytes {
        let mut line = serde_json::to_vec(self).expect("messages always serialize");
        line.push(b'\n');
        Bytes::from(line)
    }
}

/// A message from the control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A whole mesh to apply.
    Snapshot {
        /// Its version.
        version: u64,
        /// The mesh in its wire form (JSON), for [`convoy_config::decode_wire_mesh`].
        mesh: Vec<u8>,
        /// What the sidecar trusts (`convoy_config::wire::Trust`), checked when applied.
        trust: Option<serde_json::Value>,
    },
    /// The answer to a ping.
    Pong,
    /// A message of a type this sidecar does not know (ignored, for newer control planes).
    Other {
        /// Its `type`.
        kind: String,
    },
}

/// A line that is not a message this sidecar can act on.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not a JSON object with a string `type`.
    #[error("not a message: {0}")]
    Json(#[source] serde_json::Error),
    /// A snapshot without a numeric `version`: it cannot even be refused.
    #[error("a snapshot without a version")]
    NoVersion,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    mesh: serde_json::Value,
    #[serde(default)]
    trust: Option<serde_json::Value>,
}

impl Incoming {
    /// Reads one line. Fields a message type does not use are ignored; a snapshot's `mesh` is
    /// checked only when it is applied (so a bad one is refused by version, not dropped).
    pub fn parse(line: &[u8]) -> Result<Incoming, MessageError> {
        let envelope: Envelope = serde_json::from_slice(line).map_err(MessageError::Json)?;
        Ok(match envelope.kind.as_str() {
            "snapshot" => Incoming::Snapshot {
                version: envelope.version.ok_or(MessageError::NoVersion)?,
                mesh: serde_json::to_vec(&envelope.mesh).map_err(MessageError::Json)?,
                trust: envelope.trust,
            },
            "pong" => Incoming::Pong,
            _ => Incoming::Other {
                kind: envelope.kind,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_messages_are_the_protocol_s_lines() {
        let hello = Outgoing::Hello {
            id: "orders-host-1-9f2c".into(),
            service: "orders".into(),
            address: "10.0.0.7:4143".into(),
            proxy_version: "0.1.0".into(),
            serving: false,
            gateway: false,
        };
        assert_eq!(
            hello.to_line(),
            "{\"type\":\"hello\",\"id\":\"orders-host-1-9f2c\",\"service\":\"orders\",\"address\":\"10.0.0.7:4143\",\"proxy_version\":\"0.1.0\",\"serving\":false}\n"
        );
        assert_eq!(
            Outgoing::Ack { version: 7 }.to_line(),
            "{\"type\":\"ack\",\"version\":7}\n"
        );
        let nack = Outgoing::Nack {
            version: 7,
            reason: "bad \"x\"".into(),
        };
        assert_eq!(
            nack.to_line(),
            "{\"type\":\"nack\",\"version\":7,\"reason\":\"bad \\\"x\\\"\"}\n"
        );
        assert_eq!(Outgoing::Ping.to_line(), "{\"type\":\"ping\"}\n");
    }

    #[test]
    fn incoming_messages() {
        let snapshot = br#"{"type":"snapshot","version":7,"mesh":{"services":{}},"trust":{"trust_domain":"d","bundle":"b"}}"#;
        assert_eq!(
            Incoming::parse(snapshot).unwrap(),
            Incoming::Snapshot {
                version: 7,
                mesh: br#"{"services":{}}"#.to_vec(),
                trust: Some(serde_json::json!({"trust_domain": "d", "bundle": "b"})),
            }
        );
        assert_eq!(
            Incoming::parse(br#"{"type":"pong"}"#).unwrap(),
            Incoming::Pong
        );
        assert_eq!(
            Incoming::parse(br#"{"type":"cert","pem":"..."}"#).unwrap(),
            Incoming::Other {
                kind: "cert".into()
            }
        );
        // A snapshot without a mesh still has a version to refuse.
        assert!(matches!(
            Incoming::parse(br#"{"type":"snapshot","version":8}"#).unwrap(),
            Incoming::Snapshot { version: 8, .. }
        ));
        for bad in [
            &br#"{"type":"snapshot","mesh":{}}"#[..],
            b"{",
            b"[]",
            br#"{"version":1}"#,
        ] {
            assert!(
                Incoming::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
