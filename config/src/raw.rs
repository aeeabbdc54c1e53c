//! Raw serde shapes, exactly as written in YAML. Only [`crate::validate`] reads them.
//!
//! Every struct refuses unknown fields; optional fields are `Option` so that defaults live
//! in one place (the validated model), not scattered over serde attributes.

use serde::{de, Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// A whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    pub(crate) sidecar: Option<Sidecar>,
    #[serde(default)]
    pub(crate) services: BTreeMap<String, Service>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sidecar {
    pub(crate) service: String,
    pub(crate) app: String,
    pub(crate) app_protocol: Option<String>,
    pub(crate) listen: Option<Listen>,
    pub(crate) limits: Option<Limits>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Listen {
    pub(crate) outbound: Option<String>,
    pub(crate) inbound: Option<String>,
    pub(crate) admin: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Option<String>,
    pub(crate) max_header_count: Option<u64>,
    pub(crate) max_header_bytes: Option<ByteSize>,
    pub(crate) idle_timeout: Option<String>,
    pub(crate) max_concurrent_streams: Option<u64>,
    pub(crate) max_connections: Option<u64>,
}

/// A size in bytes: a number, or a string with a binary unit (`64KiB`, `1MiB`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum ByteSize {
    Number(u64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    pub(crate) protocol: Option<String>,
    #[serde(default)]
    pub(crate) endpoints: Vec<String>,
    pub(crate) meshed: Option<bool>,
    pub(crate) dns_refresh: Option<String>,
    pub(crate) listen: Option<String>,
    #[serde(default)]
    pub(crate) routes: Vec<Route>,
    pub(crate) timeout: Option<String>,
    pub(crate) connect_timeout: Option<String>,
    pub(crate) idle_timeout: Option<String>,
    pub(crate) retry: Option<Retry>,
    pub(crate) circuit_breaker: Option<CircuitBreaker>,
    pub(crate) rate_limit: Option<OneOrMany<RateLimit>>,
    pub(crate) fault: Option<Fault>,
    pub(crate) mtls: Option<String>,
    pub(crate) authorization: Option<Authorization>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    #[serde(rename = "match")]
    pub(crate) matches: Option<RouteMatch>,
    pub(crate) backends: Option<Vec<Backend>>,
    pub(crate) timeout: Option<String>,
    pub(crate) retry: Option<Retry>,
    pub(crate) rate_limit: Option<OneOrMany<RateLimit>>,
    pub(crate) fault: Option<Fault>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteMatch {
    pub(crate) path_prefix: Option<String>,
    pub(crate) path_exact: Option<String>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backend {
    pub(crate) service: String,
    pub(crate) weight: Option<u64>,
}

/// One value or a list of them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(one) => std::slice::from_ref(one),
            OneOrMany::Many(many) => many,
        }
    }
}

/// A word or a number (`5xx`, `503`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum WordOrNumber {
    Number(u64),
    Word(String),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Retry {
    pub(crate) attempts: Option<u64>,
    pub(crate) per_try_timeout: Option<String>,
    pub(crate) on: Option<Vec<WordOrNumber>>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) retry_after_max: Option<String>,
    pub(crate) non_idempotent: Option<bool>,
    pub(crate) budget: Option<Budget>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backoff {
    pub(crate) base: Option<String>,
    pub(crate) max: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Budget {
    pub(crate) ratio: Option<f64>,
    pub(crate) min_per_second: Option<u64>,
    pub(crate) window: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CircuitBreaker {
    pub(crate) max_connections: Option<u64>,
    pub(crate) max_pending_requests: Option<u64>,
    pub(crate) max_requests: Option<u64>,
    pub(crate) max_retries: Option<u64>,
    pub(crate) consecutive_failures: Option<u64>,
    pub(crate) base_ejection: Option<String>,
    pub(crate) max_ejection: Option<String>,
    pub(crate) max_ejection_percent: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimit {
    pub(crate) requests_per_second: u64,
    pub(crate) burst: Option<u64>,
    pub(crate) per: Option<String>,
    pub(crate) caller_header: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fault {
    pub(crate) delay: Option<FaultDelay>,
    pub(crate) abort: Option<FaultAbort>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultDelay {
    pub(crate) duration: String,
    pub(crate) percent: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultAbort {
    pub(crate) status: u64,
    pub(crate) percent: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Authorization {
    pub(crate) allow: Vec<AllowEntry>,
}

/// An allow entry: a caller's name (shorthand for `{from: [name]}`) or a whole rule.
///
/// Deserialized by hand rather than `untagged`, so that a rule's errors (an unknown field, a
/// wrong type) are reported as they are, at their field, not as "did not match any variant".
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum AllowEntry {
    Caller(String),
    Rule(AllowRule),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllowRule {
    pub(crate) from: Vec<String>,
    pub(crate) methods: Option<Vec<String>>,
    pub(crate) path_prefix: Option<String>,
    pub(crate) path_exact: Option<String>,
}

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> de::Visitor<'de> for Entry {
            type Value = AllowEntry;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a service name, \"*\", or a rule such as { from: [web], methods: [GET], path_prefix: /api/ }")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<AllowEntry, E> {
                Ok(AllowEntry::Caller(name.to_owned()))
            }

            fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<AllowEntry, M::Error> {
                AllowRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(AllowEntry::Rule)
            }
        }
        deserializer.deserialize_any(Entry)
    }
}
