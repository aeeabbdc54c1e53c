//! What the control plane sends on the stream.

use bytes::{BufMut, Bytes, BytesMut};
use convoy_config::wire::Trust;
use serde::Deserialize;

/// The answer to a ping, as sent.
pub const PONG_LINE: &[u8] = b"{\"type\":\"pong\"}\n";

/// A message from the control plane, as a sidecar reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlMessage {
    /// A whole mesh to apply (`{"type":"snapshot","version":N,"mesh":{…},"trust":{…}}`), sent
    /// right after `hello` and whenever the version changes; written by [`snapshot_line`].
    Snapshot {
        /// Its version; versions only grow.
        version: u64,
        /// The mesh in its wire form (JSON), for [`convoy_config::decode_wire_mesh`]
        /// (`null` when the message has none).
        mesh: Vec<u8>,
        /// What the sidecar trusts ([`Trust`]), checked when applied.
        trust: Option<serde_json::Value>,
    },
    /// The answer to a ping ([`PONG_LINE`]).
    Pong,
    /// A message of a type this sidecar does not know (ignored, for newer control planes).
    Other {
        /// Its `type`.
        kind: String,
    },
}

/// A line that is not a message a sidecar can act on.
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

impl ControlMessage {
    /// Reads one line. Fields a message type does not use are ignored; a snapshot's `mesh` is
    /// checked only when it is applied (so a bad one is refused by version, not dropped).
    pub fn parse(line: &[u8]) -> Result<ControlMessage, MessageError> {
        let envelope: Envelope = serde_json::from_slice(line).map_err(MessageError::Json)?;
        Ok(match envelope.kind.as_str() {
            "snapshot" => ControlMessage::Snapshot {
                version: envelope.version.ok_or(MessageError::NoVersion)?,
                mesh: serde_json::to_vec(&envelope.mesh).map_err(MessageError::Json)?,
                trust: envelope.trust,
            },
            "pong" => ControlMessage::Pong,
            _ => ControlMessage::Other {
                kind: envelope.kind,
            },
        })
    }
}

/// The line announcing snapshot `version` whose mesh is `mesh` (already JSON) and whose trust
/// is `trust`, ended by `\n`. The mesh is copied in as it is, so one serialization serves every
/// sidecar.
pub fn snapshot_line(version: u64, mesh: &[u8], trust: &Trust) -> Bytes {
    let head = format!("{{\"type\":\"snapshot\",\"version\":{version},\"mesh\":");
    let trust = serde_json::to_vec(trust).unwrap_or_default();
    let mut line = BytesMut::with_capacity(head.len() + mesh.len() + trust.len() + 12);
    line.put_slice(head.as_bytes());
    line.put_slice(mesh);
    line.put_slice(b",\"trust\":");
    line.put_slice(&trust);
    line.put_slice(b"}\n");
    line.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_messages() {
        let snapshot = br#"{"type":"snapshot","version":7,"mesh":{"services":{}},"trust":{"trust_domain":"d","bundle":"b"}}"#;
        assert_eq!(
            ControlMessage::parse(snapshot).unwrap(),
            ControlMessage::Snapshot {
                version: 7,
                mesh: br#"{"services":{}}"#.to_vec(),
                trust: Some(serde_json::json!({"trust_domain": "d", "bundle": "b"})),
            }
        );
        assert_eq!(
            ControlMessage::parse(br#"{"type":"pong"}"#).unwrap(),
            ControlMessage::Pong
        );
        assert_eq!(
            ControlMessage::parse(br#"{"type":"cert","pem":"..."}"#).unwrap(),
            ControlMessage::Other {
                kind: "cert".into()
            }
        );
        // A snapshot without a mesh still has a version to refuse.
        assert!(matches!(
            ControlMessage::parse(br#"{"type":"snapshot","version":8}"#).unwrap(),
            ControlMessage::Snapshot { version: 8, .. }
        ));
        for bad in [
            &br#"{"type":"snapshot","mesh":{}}"#[..],
            b"{",
            b"[]",
            br#"{"version":1}"#,
        ] {
            assert!(
                ControlMessage::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn trust(trust_domain: &str, bundle: &str) -> Trust {
        Trust {
            trust_domain: trust_domain.into(),
            bundle: bundle.into(),
        }
    }

    #[test]
    fn the_snapshot_line_is_one_json_object() {
        let trust = trust(
            "convoy.local",
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        );
        let line = snapshot_line(7, br#"{"services":{}}"#, &trust);
        assert!(line.ends_with(b"\n"));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["type"], "snapshot");
        assert_eq!(value["version"], 7);
        assert_eq!(value["mesh"]["services"], serde_json::json!({}));
        let sent: Trust = serde_json::from_value(value["trust"].clone()).unwrap();
        assert_eq!(sent, trust);
        let pong: serde_json::Value = serde_json::from_slice(PONG_LINE).unwrap();
        assert_eq!(pong["type"], "pong");
    }

    #[test]
    fn what_the_control_plane_writes_a_sidecar_reads() {
        let line = snapshot_line(9, br#"{"services":{}}"#, &trust("d", "b"));
        let Ok(ControlMessage::Snapshot {
            version,
            mesh,
            trust: Some(sent),
        }) = ControlMessage::parse(line.strip_suffix(b"\n").unwrap())
        else {
            panic!("a snapshot with its trust");
        };
        assert_eq!((version, &mesh[..]), (9, &br#"{"services":{}}"#[..]));
        assert_eq!(
            sent,
            serde_json::json!({"trust_domain": "d", "bundle": "b"})
        );
        assert_eq!(
            ControlMessage::parse(&PONG_LINE[..PONG_LINE.len() - 1]).unwrap(),
            ControlMessage::Pong
        );
    }
}
