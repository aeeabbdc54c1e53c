//! What a sidecar sends on the stream.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A message from a sidecar to the control plane, one JSON object a line, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SidecarMessage {
    /// Registration: the first message, once.
    Hello(Hello),
    /// The snapshot `version` is in force.
    Ack {
        /// The version applied.
        version: u64,
    },
    /// The snapshot `version` was refused; the sidecar keeps its last good one.
    Nack {
        /// The version refused.
        version: u64,
        /// Why, in one line: the sidecar's validation error (sidecars cut it to 8 KiB, well
        /// within [`crate::MAX_SIDECAR_LINE`]).
        reason: String,
    },
    /// Liveness, every 5 s (any message counts; the control plane answers `pong`).
    Ping,
}

/// A sidecar's registration (`{"type":"hello",…}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Hello {
    /// Unique per sidecar process and kept across its reconnects: the same id coming back
    /// within the grace keeps its endpoint. 1 to `MAX_ID_LEN` (256) printable characters.
    pub id: String,
    /// The service the sidecar runs beside (a valid service name).
    pub service: String,
    /// Where its inbound listener is reachable (`IP:PORT` or `HOST:PORT`); becomes an endpoint
    /// of `service`.
    pub address: String,
    /// The sidecar's version, for status (default: empty).
    #[serde(default)]
    pub proxy_version: String,
    /// Whether the sidecar already serves a snapshot (it is reconnecting): a control plane
    /// that has just started holds such a sidecar's first snapshot until the fleet is back
    /// (default: `false`).
    #[serde(default)]
    pub serving: bool,
    /// Whether it runs as a gateway: listed in status, but its `address` is no endpoint
    /// (nothing calls a gateway through the mesh). Default `false`, and left out when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gateway: bool,
}

impl SidecarMessage {
    /// The message's `type`, for logs and errors.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SidecarMessage::Hello(_) => "hello",
            SidecarMessage::Ack { .. } => "ack",
            SidecarMessage::Nack { .. } => "nack",
            SidecarMessage::Ping => "ping",
        }
    }

    /// The message as one line, `\n` included.
    pub fn to_line(&self) -> Bytes {
        let mut line = serde_json::to_vec(self).expect("messages always serialize");
        line.push(b'\n');
        Bytes::from(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_messages_are_the_protocol_s_lines() {
        let hello = SidecarMessage::Hello(Hello {
            id: "orders-host-1-9f2c".into(),
            service: "orders".into(),
            address: "10.0.0.7:4143".into(),
            proxy_version: "0.1.0".into(),
            serving: false,
            gateway: false,
        });
        assert_eq!(
            hello.to_line(),
            "{\"type\":\"hello\",\"id\":\"orders-host-1-9f2c\",\"service\":\"orders\",\"address\":\"10.0.0.7:4143\",\"proxy_version\":\"0.1.0\",\"serving\":false}\n"
        );
        assert_eq!(
            SidecarMessage::Ack { version: 7 }.to_line(),
            "{\"type\":\"ack\",\"version\":7}\n"
        );
        let nack = SidecarMessage::Nack {
            version: 7,
            reason: "bad \"x\"".into(),
        };
        assert_eq!(
            nack.to_line(),
            "{\"type\":\"nack\",\"version\":7,\"reason\":\"bad \\\"x\\\"\"}\n"
        );
        assert_eq!(SidecarMessage::Ping.to_line(), "{\"type\":\"ping\"}\n");
    }

    #[test]
    fn messages_round_trip() {
        let ack: SidecarMessage = serde_json::from_str(r#"{"type":"ack","version":7}"#).unwrap();
        assert_eq!(ack, SidecarMessage::Ack { version: 7 });
        let nack: SidecarMessage =
            serde_json::from_str(r#"{"type":"nack","version":7,"reason":"no"}"#).unwrap();
        assert_eq!(nack.kind(), "nack");
        assert!(serde_json::from_str::<SidecarMessage>(r#"{"type":"bogus"}"#).is_err());
    }
}
