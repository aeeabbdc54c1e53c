//! `convoy-protocol`: the sidecar ⇄ control-plane protocol (control-plane/PROTOCOL.md) in one place.
//!
//! - The stream (`POST` [`STREAM_PATH`]): what a sidecar sends ([`SidecarMessage`], its
//!   registration [`Hello`] checked by [`parse_hello`]) and what the control plane sends
//!   ([`ControlMessage`], written by [`snapshot_line`] and [`PONG_LINE`]).
//! - The identity API (`POST` [`CERTIFICATE_PATH`]): [`CertificateRequest`] and
//!   [`CertificateResponse`].
//! - The framing of both stream directions, newline-delimited JSON: one [`LineCodec`] (a
//!   `tokio_util` decoder with a bound on the line length), [`BodyLines`] reading the lines of
//!   an HTTP body with it, and [`ChannelBody`] writing lines as they are queued.
//!
//! The payload of a snapshot stays in `convoy-config`: the mesh's wire form
//! ([`convoy_config::decode_wire_mesh`]) is validated with the rules of a YAML file, and the
//! [`Trust`] it carries is re-exported here.

mod body;
mod codec;
mod control;
mod hello;
mod identity;
mod sidecar;

pub use body::{channel, BodyLines, ChannelBody};
pub use codec::{LineCodec, LineError};
pub use control::{snapshot_line, ControlMessage, MessageError, PONG_LINE};
pub use convoy_config::wire::Trust;
pub use hello::{parse_hello, HelloError};
pub use identity::{
    CertificateRequest, CertificateResponse, CERTIFICATE_PATH, MAX_CERTIFICATE_REQUEST,
};
pub use sidecar::{Hello, SidecarMessage};

/// The path of the stream (`POST`, HTTP/2, `authorization: Bearer <join token>`).
pub const STREAM_PATH: &str = "/v1/stream";

/// The content type of both directions of the stream.
pub const NDJSON: &str = "application/x-ndjson";

/// The longest line a sidecar may send, in bytes (64 KiB; a NACK's reason is the longest
/// message): the limit the control plane reads request bodies with.
pub const MAX_SIDECAR_LINE: usize = 64 * 1024;

/// The longest line the control plane may send, in bytes (16 MiB; a snapshot, the whole mesh,
/// is one line): the limit sidecars read response bodies with.
pub const MAX_CONTROL_PLANE_LINE: usize = 16 * 1024 * 1024;

/// Any error a body may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
