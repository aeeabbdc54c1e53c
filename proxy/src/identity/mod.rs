//! Workload identity: the sidecar's certificate from the control plane's CA, the mesh's trust
//! anchors, and mutual TLS between sidecars.

mod peer;

pub use peer::{Peer, CLIENT_ID_HEADER};
