//! `convoy-proxy-core`: the per-request contract every part of the data plane shares: the
//! request, response and body types, [`error::ProxyError`] with each policy's refusal and the
//! one place that turns them into responses, the failure classification, the caller's
//! identity, and the layers that every HTTP path starts with.
//!
//! It depends on no other data-plane crate: everything above names these types, never the
//! other way round.

pub mod admission;
pub mod authority;
pub mod body;
pub mod call;
mod cause;
pub mod classify;
pub mod context;
pub mod error;
pub mod headers;
pub mod layers;
pub mod path;
pub mod peer;
pub mod policy_error;
pub mod route;

/// A boxed error that keeps its source chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The body type used inside the proxy: streaming, boxed, and fallible.
pub type Body = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;

/// A request as it moves through the proxy's layers.
pub type Request = http::Request<Body>;

/// A response as it moves through the proxy's layers.
pub type Response = http::Response<Body>;

/// How many header fields hyper's HTTP/1 parser accepts when no limit is set: its arrays for
/// them are on the stack, whereas an explicit limit allocates them for every message head.
pub const HYPER_DEFAULT_MAX_HEADERS: usize = 100;
