//! Budgeted retries on the outbound side: full-jitter exponential backoff, `Retry-After`
//! honoured up to a cap, request bodies replayed up to 64 KiB, non-idempotent requests retried
//! only when they provably never reached the app (or the route opts in).

pub(crate) mod decide;
mod layer;
mod peek;
pub(crate) mod replay;

pub use layer::{Retry, RetryLayer};
