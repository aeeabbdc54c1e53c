//! HTTP building blocks shared by both directions: body type, errors, headers, upstream client.

pub mod admission;
pub mod authority;
pub mod body;
pub mod client;
pub mod connector;
pub mod error;
pub mod forward;
pub mod headers;
pub mod layers;
pub mod path;

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
