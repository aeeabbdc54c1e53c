//! Circuit breaking, both halves as in Envoy: limits per service (fail fast on overflow) and
//! outlier detection per endpoint (eject what keeps failing, probe before it returns).

pub mod limits;
pub mod outlier;
