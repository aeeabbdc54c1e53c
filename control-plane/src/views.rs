//! The JSON answers of `/v1/status`, `/v1/history` and `/v1/rollback`, shared by the server
//! that makes them and the commands that print them.

use crate::history::{Event, Kind};
use crate::registry::Entry;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// A time as RFC 3339, UTC, to the millisecond.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// The version in force.
    pub version: u64,
    /// The last change of the directory that did not validate, until one validates again.
    pub last_rejected: Option<RejectedView>,
    /// Every sidecar connected or within its grace, by id.
    pub sidecars: Vec<SidecarView>,
}

/// A change that did not validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedView {
    /// When it was seen.
    pub time: String,
    /// Why: `file:line:column: field.path: message`.
    pub error: String,
}

/// One sidecar in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarView {
    /// Its id.
    pub id: String,
    /// Its service.
    pub service: String,
    /// Its endpoint.
    pub address: String,
    /// Whether its stream is open (false: within the grace).
    pub connected: bool,
    /// When its current (or last) stream opened.
    pub connected_since: String,
    /// The last version it acknowledged.
    pub acked_version: Option<u64>,
    /// The last snapshot it refused.
    pub last_nack: Option<NackView>,
    /// When the last certificate issued to it expires (RFC 3339), if any was.
    #[serde(default)]
    pub certificate_expires: Option<String>,
}

/// A refused snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NackView {
    /// The version.
    pub version: u64,
    /// The sidecar's reason.
    pub reason: String,
}

impl SidecarView {
    /// The view of one registry entry.
    pub fn new(id: &str, entry: &Entry) -> Self {
        SidecarView {
            id: id.to_owned(),
            service: entry.service.clone(),
            address: entry.address.clone(),
            connected: entry.connected,
            connected_since: rfc3339(entry.connected_since),
            acked_version: entry.acked_version,
            last_nack: entry.last_nack.as_ref().map(|n| NackView {
                version: n.version,
                reason: n.reason.clone(),
            }),
            certificate_expires: entry.certificate_expires.map(rfc3339),
        }
    }
}

/// `GET /v1/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// Published versions, oldest first.
    pub events: Vec<EventView>,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// The version.
    pub version: u64,
    /// When it was published.
    pub time: String,
    /// Who made it.
    pub author: String,
    /// Why.
    pub kind: Kind,
    /// What changed.
    pub summary: String,
}

impl From<&Event> for EventView {
    fn from(event: &Event) -> Self {
        EventView {
            version: event.version,
            time: rfc3339(event.time),
            author: event.author.clone(),
            kind: event.kind,
            summary: event.summary.clone(),
        }
    }
}

/// The body of `POST /v1/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version whose configuration is published again.
    pub version: u64,
    /// Who asks (default `unknown`).
    #[serde(default)]
    pub author: Option<String>,
}

/// The answer to `POST /v1/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackResponse {
    /// The new version.
    pub version: u64,
}
