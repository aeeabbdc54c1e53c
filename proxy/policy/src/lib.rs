//! `convoy-policy`: resilience and access policies, one folder each: a tower layer, its small error type, its tests.
//!
//! Success and failure are decided in one place, `convoy_proxy_core::classify`, for retries,
//! outlier detection and metrics alike. Errors become responses in one place too:
//! `convoy_proxy_core::error`.

pub mod authorization;
pub mod circuit_breaker;
pub mod fault;
pub mod rate_limit;
pub mod retry;
pub mod timeout;
