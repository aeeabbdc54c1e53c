//! Each policy's refusal, as a type of its own that `ProxyError` (in `error`) wraps: the
//! policies live above this crate, their answers here, so the one mapping from error to
//! response sees them all.

pub mod authorization;
pub mod gateway_auth;
pub mod rate_limit;

pub use authorization::Forbidden;
pub use gateway_auth::{AuthError, Reason};
pub use rate_limit::RateLimited;
