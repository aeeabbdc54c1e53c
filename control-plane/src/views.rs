//! The JSON answers of `/v1/status`, `/v1/history` and `/v1/rollback`, shared by the server
//! that makes them and the commands that print them.

use crate::history::{Event, Kind};
use crate::registry::Entry;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// A time as RFC 3339, UTC, to the millisecond.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatusView {
    /// The version in force.
    pub(crate) version: u64,
    /// The last change of the directory that did not validate, until one validates again.
    pub(crate) last_rejected: Option<RejectedView>,
    /// Every sidecar connected or within its grace, by id.
    pub(crate) sidecars: Vec<SidecarView>,
}

/// A change that did not validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RejectedView {
    /// When it was seen.
    pub(crate) time: String,
    /// Why: `file:line:column: field.path: message`.
    pub(crate) error: String,
}

/// One sidecar in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SidecarView {
    /// Its id.
    pub(crate) id: String,
    /// Its service.
    pub(crate) service: String,
    /// Its endpoint.
    pub(crate) address: String,
    /// Whether its stream is open (false: within the grace).
    pub(crate) connected: bool,
    /// When its current (or last) stream opened.
    pub(crate) connected_since: String,
    /// The last version it acknowledged.
    pub(crate) acked_version: Option<u64>,
    /// The last snapshot it refused.
    pub(crate) last_nack: Option<NackView>,
    /// When the last certificate issued to it expires (RFC 3339), if any was.
    #[serde(default)]
    pub(crate) certificate_expires: Option<String>,
}

/// A refused snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NackView {
    /// The version.
    pub(crate) version: u64,
    /// The sidecar's reason.
    pub(crate) reason: String,
}

impl SidecarView {
    /// The view of one registry entry.
    pub(crate) fn new(id: &str, entry: &Entry) -> Self {
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
pub(crate) struct HistoryView {
    /// Published versions, oldest first.
    pub(crate) events: Vec<EventView>,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventView {
    /// The version.
    pub(crate) version: u64,
    /// When it was published.
    pub(crate) time: String,
    /// Who made it.
    pub(crate) author: String,
    /// Why.
    pub(crate) kind: Kind,
    /// What changed.
    pub(crate) summary: String,
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
pub(crate) struct RollbackRequest {
    /// The version whose configuration is published again.
    pub(crate) version: u64,
    /// Who asks (default `unknown`).
    #[serde(default)]
    pub(crate) author: Option<String>,
}

/// The answer to `POST /v1/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RollbackResponse {
    /// The new version.
    pub(crate) version: u64,
}
