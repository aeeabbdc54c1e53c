//! The part of a snapshot's wire form that is not the mesh: what a sidecar trusts. The mesh's
//! own wire form is [`crate::decode_wire_mesh`]'s input; the messages that carry both, and the
//! identity API's, are `convoy-protocol`'s.

use serde::{Deserialize, Serialize};

/// What a sidecar trusts, sent with every snapshot (`"trust"`): a change of the bundle (a CA
/// rotation) is a new version like any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// The mesh's trust domain.
    pub trust_domain: String,
    /// The trust anchors, in PEM.
    pub bundle: String,
}
