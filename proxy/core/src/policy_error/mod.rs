//! Each policy's refusal, as a type of its own that `ProxyError` (in `error`) wraps: the
//! policies live above this crate, their answers here, so the one mapping from error to
//! response sees them all.

pub(crate) mod authorization;
pub mod gateway_auth;
pub(crate) mod rate_limit;

pub use authorization::Forbidden;
pub(crate) use gateway_auth::AuthError;
pub use rate_limit::RateLimited;
