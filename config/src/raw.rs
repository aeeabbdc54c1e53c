//! Raw serde shapes, exactly as written in YAML. Only the `validate` module reads them.
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
    #[serde(default)]
    pub(crate) gateways: BTreeMap<String, Gateway>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sidecar {
    pub(crate) service: String,
    /// Required, except in the own file of a gateway (a proxy run as one has no app).
    pub(crate) app: Option<String>,
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

/// A gateway (`gateways.<name>`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Gateway {
    #[serde(default)]
    pub(crate) listeners: Vec<GatewayListener>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) consumer_header: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) api_keys: Vec<ApiKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) jwt_providers: Vec<JwtProvider>,
    #[serde(default)]
    pub(crate) route_sets: Vec<RouteSet>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayListener {
    pub(crate) address: String,
    pub(crate) tls: Option<ServerTls>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerTls {
    pub(crate) certificate: String,
    pub(crate) key: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKey {
    pub(crate) name: String,
    pub(crate) key_sha256: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JwtProvider {
    pub(crate) name: String,
    pub(crate) jwks: String,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) clock_skew: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSet {
    pub(crate) name: String,
    #[serde(rename = "match")]
    pub(crate) matches: Option<RouteSetMatch>,
    pub(crate) cors: Option<Cors>,
    #[serde(default)]
    pub(crate) routes: Vec<GatewayRoute>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSetMatch {
    pub(crate) path_prefix: Option<String>,
    pub(crate) header: Option<NameValue>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameValue {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cors {
    pub(crate) allow_origins: Vec<String>,
    pub(crate) allow_methods: Option<Vec<String>>,
    pub(crate) allow_headers: Option<Vec<String>>,
    pub(crate) expose_headers: Option<Vec<String>>,
    pub(crate) max_age: Option<String>,
    pub(crate) allow_credentials: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayRoute {
    pub(crate) name: Option<String>,
    #[serde(rename = "match")]
    pub(crate) matches: Option<GatewayRouteMatch>,
    pub(crate) service: String,
    pub(crate) rewrite: Option<Rewrite>,
    pub(crate) request_headers: Option<HeaderEdits>,
    pub(crate) response_headers: Option<HeaderEdits>,
    pub(crate) max_body: Option<ByteSize>,
    pub(crate) timeout: Option<String>,
    pub(crate) retry: Option<Retry>,
    pub(crate) auth: Option<RouteAuth>,
    pub(crate) rate_limit: Option<ConsumerRateLimit>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayRouteMatch {
    pub(crate) host: Option<String>,
    pub(crate) path_prefix: Option<String>,
    pub(crate) path_exact: Option<String>,
    pub(crate) path_regex: Option<String>,
    pub(crate) methods: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rewrite {
    pub(crate) strip_prefix: Option<String>,
    pub(crate) replace_prefix: Option<ReplacePrefix>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplacePrefix {
    pub(crate) from: String,
    pub(crate) to: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderEdits {
    #[serde(default)]
    pub(crate) add: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) remove: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteAuth {
    pub(crate) methods: Vec<AuthMethod>,
    pub(crate) allow: Option<Vec<String>>,
}

/// A credential kind: the word `api_key` (default header), or `{ api_key: { header: h } }`, or
/// `{ jwt: provider }`.
///
/// Deserialized by hand rather than `untagged`, so that errors inside the map are reported as
/// they are, at their field.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum AuthMethod {
    Word(String),
    Map(AuthMethodMap),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthMethodMap {
    pub(crate) api_key: Option<ApiKeyMethod>,
    pub(crate) jwt: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKeyMethod {
    pub(crate) header: Option<String>,
}

impl<'de> Deserialize<'de> for AuthMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Method;
        impl<'de> de::Visitor<'de> for Method {
            type Value = AuthMethod;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("api_key, { api_key: { header: x-api-key } } or { jwt: <provider> }")
            }

            fn visit_str<E: de::Error>(self, word: &str) -> Result<AuthMethod, E> {
                Ok(AuthMethod::Word(word.to_owned()))
            }

            fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<AuthMethod, M::Error> {
                AuthMethodMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(AuthMethod::Map)
            }
        }
        deserializer.deserialize_any(Method)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsumerRateLimit {
    pub(crate) requests_per_second: u64,
    pub(crate) burst: Option<u64>,
    pub(crate) per: Option<String>,
}
