//! Validating gateways (`gateways.<name>`): listeners, consumers, route sets and routes.

use super::primitives::*;
use super::{overlaps, policy, security, url_path};
use crate::error::{closest, ConfigError, ErrorKind};
use crate::model::*;
use crate::raw;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Headers a gateway never adds or uses for its own purposes: they describe the connection or
/// the message framing, which the proxy owns.
const RESERVED_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
    "content-length",
];

/// The API key header when a route's `api_key` method names none.
const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

/// The CORS methods allowed when `allow_methods` is absent.
const DEFAULT_CORS_METHODS: [http::Method; 5] = [
    http::Method::GET,
    http::Method::POST,
    http::Method::PUT,
    http::Method::PATCH,
    http::Method::DELETE,
];

/// One gateway; `mesh` holds the validated services its routes send to.
pub(super) fn gateway(
    path: &str,
    name: ServiceName,
    raw: &raw::Gateway,
    mesh: &Mesh,
) -> Result<Gateway> {
    let f = Section(path);
    let listeners = listeners(&f.path("listeners"), &raw.listeners)?;
    let consumer_header = match &raw.consumer_header {
        None => http::HeaderName::from_static(Gateway::DEFAULT_CONSUMER_HEADER),
        Some(text) => {
            let p = f.path("consumer_header");
            let h = header_name(&p, text)?;
            if reserved(&h) || h == http::header::AUTHORIZATION {
                return Err(invalid(
                    &p,
                    format!("`{h}` cannot be the consumer header: the gateway needs it for itself"),
                ));
            }
            h
        }
    };
    let api_keys = api_keys(&f.path("api_keys"), &raw.api_keys)?;
    let jwt_providers = jwt_providers(&f.path("jwt_providers"), &raw.jwt_providers)?;
    let context = Context {
        mesh,
        consumer_header: &consumer_header,
        has_api_keys: !api_keys.is_empty(),
        providers: &jwt_providers,
    };
    let sets_path = f.path("route_sets");
    if raw.route_sets.is_empty() {
        return Err(invalid(
            &sets_path,
            "a gateway needs at least one route set: `route_sets: [{ name: api, routes: [{ service: <name> }] }]`",
        ));
    }
    let mut route_sets: Vec<RouteSet> = Vec::with_capacity(raw.route_sets.len());
    let mut route_names: Vec<(String, String)> = Vec::new();
    for (i, raw_set) in raw.route_sets.iter().enumerate() {
        let p = format!("{sets_path}[{i}]");
        if let Some(j) = route_sets.iter().position(|s| s.name == raw_set.name) {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                format!("{p}.name"),
                format!(
                    "route set `{}` is already defined at {sets_path}[{j}]",
                    raw_set.name
                ),
            ));
        }
        route_sets.push(route_set(&p, raw_set, &context, &mut route_names)?);
    }
    Ok(Gateway {
        name,
        listeners,
        api_keys,
        jwt_providers,
        consumer_header,
        route_sets,
    })
}

/// What routes are checked against.
struct Context<'a> {
    mesh: &'a Mesh,
    consumer_header: &'a http::HeaderName,
    has_api_keys: bool,
    providers: &'a [JwtProvider],
}

fn listeners(path: &str, raw: &[raw::GatewayListener]) -> Result<Vec<GatewayListener>> {
    if raw.is_empty() {
        return Err(invalid(
            path,
            "a gateway needs at least one listener: `listeners: [{ address: 0.0.0.0:8080 }]`",
        ));
    }
    let mut listeners: Vec<GatewayListener> = Vec::with_capacity(raw.len());
    for (i, l) in raw.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let address = socket_addr(&format!("{p}.address"), &l.address)?;
        if let Some(j) = listeners.iter().position(|o| overlaps(address, o.address)) {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                format!("{p}.address"),
                format!("{address} overlaps {path}[{j}] ({})", listeners[j].address),
            ));
        }
        let tls = l
            .tls
            .as_ref()
            .map(|t| -> Result<ServerTls> {
                Ok(ServerTls {
                    certificate: file_path(&format!("{p}.tls.certificate"), &t.certificate)?,
                    key: file_path(&format!("{p}.tls.key"), &t.key)?,
                })
            })
            .transpose()?;
        listeners.push(GatewayListener { address, tls });
    }
    Ok(listeners)
}

fn api_keys(path: &str, raw: &[raw::ApiKey]) -> Result<Vec<ApiKeyConsumer>> {
    let mut consumers: Vec<ApiKeyConsumer> = Vec::with_capacity(raw.len());
    for (i, k) in raw.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let name = label(&format!("{p}.name"), &k.name)?;
        if let Some(j) = consumers.iter().position(|c| c.name == name) {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                format!("{p}.name"),
                format!("consumer `{name}` is already defined at {path}[{j}]"),
            ));
        }
        let key_sha256 = sha256_hex(&format!("{p}.key_sha256"), &k.key_sha256)?;
        if let Some(other) = consumers.iter().find(|c| c.key_sha256 == key_sha256) {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                format!("{p}.key_sha256"),
                format!(
                    "consumer `{}` has the same key: each consumer needs its own",
                    other.name
                ),
            ));
        }
        consumers.push(ApiKeyConsumer { name, key_sha256 });
    }
    Ok(consumers)
}

fn sha256_hex(path: &str, text: &str) -> Result<[u8; 32]> {
    let bad = || {
        invalid(
            path,
            "must be the key's SHA-256 as 64 hex digits (`printf %s \"$KEY\" | sha256sum` prints it)",
        )
    };
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(bytes)
}

fn jwt_providers(path: &str, raw: &[raw::JwtProvider]) -> Result<Vec<JwtProvider>> {
    let mut providers: Vec<JwtProvider> = Vec::with_capacity(raw.len());
    for (i, j) in raw.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let f = Section(&p);
        let name = label(&f.path("name"), &j.name)?;
        if let Some(k) = providers.iter().position(|o| o.name == name) {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                f.path("name"),
                format!("JWT provider `{name}` is already defined at {path}[{k}]"),
            ));
        }
        let clock_skew = match &j.clock_skew {
            None => JwtProvider::DEFAULT_CLOCK_SKEW,
            Some(text) => {
                let d = duration(&f.path("clock_skew"), text)?;
                if d > Duration::from_secs(3600) {
                    return Err(invalid(&f.path("clock_skew"), "must be at most 1h"));
                }
                d
            }
        };
        providers.push(JwtProvider {
            name,
            jwks: file_path(&f.path("jwks"), &j.jwks)?,
            issuer: non_empty(&f.path("issuer"), &j.issuer)?,
            audience: non_empty(&f.path("audience"), &j.audience)?,
            clock_skew,
        });
    }
    Ok(providers)
}

fn route_set(
    path: &str,
    raw: &raw::RouteSet,
    context: &Context<'_>,
    route_names: &mut Vec<(String, String)>,
) -> Result<RouteSet> {
    let f = Section(path);
    let name = label(&f.path("name"), &raw.name)?;
    let matches = match &raw.matches {
        None => RouteSetMatch::Any,
        Some(m) => match (&m.path_prefix, &m.header) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &f.path("match"),
                    "set `path_prefix` or `header`, not both",
                ))
            }
            (Some(prefix), None) => RouteSetMatch::PathPrefix(security::normal_path(
                &f.path("match.path_prefix"),
                prefix,
            )?),
            (None, Some(h)) => {
                let p = f.path("match.header");
                RouteSetMatch::Header(HeaderMatch {
                    name: header_name(&format!("{p}.name"), &h.name)?,
                    value: header_value(&format!("{p}.value"), &h.value)?,
                })
            }
            (None, None) => RouteSetMatch::Any,
        },
    };
    let cors = raw
        .cors
        .as_ref()
        .map(|c| cors(&f.path("cors"), c))
        .transpose()?;
    let routes_path = f.path("routes");
    if raw.routes.is_empty() {
        return Err(invalid(
            &routes_path,
            "a route set needs at least one route: `routes: [{ service: <name> }]`",
        ));
    }
    let set_prefix = match &matches {
        RouteSetMatch::PathPrefix(p) => Some(p.as_str()),
        _ => None,
    };
    let mut routes = Vec::with_capacity(raw.routes.len());
    for (i, raw_route) in raw.routes.iter().enumerate() {
        let p = format!("{routes_path}[{i}]");
        let default_name = format!("{name}/routes[{i}]");
        let route = route(&p, default_name, raw_route, set_prefix, context)?;
        if let Some((_, first)) = route_names.iter().find(|(n, _)| *n == route.name) {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                format!("{p}.name"),
                format!(
                    "route `{}` is already defined at {first}: route names label metrics and must differ",
                    route.name
                ),
            ));
        }
        route_names.push((route.name.clone(), p));
        routes.push(route);
    }
    Ok(RouteSet {
        name,
        matches,
        cors,
        routes,
    })
}

fn cors(path: &str, raw: &raw::Cors) -> Result<Cors> {
    let f = Section(path);
    let origins_path = f.path("allow_origins");
    if raw.allow_origins.is_empty() {
        return Err(invalid(
            &origins_path,
            "name at least one origin (`https://app.example.com`), or `*` for any",
        ));
    }
    let any = raw.allow_origins.iter().any(|o| o == "*");
    let mut allow_origins = Vec::with_capacity(raw.allow_origins.len());
    for (i, o) in raw.allow_origins.iter().enumerate() {
        let p = format!("{origins_path}[{i}]");
        if o == "*" {
            if raw.allow_origins.len() > 1 {
                return Err(invalid(
                    &p,
                    "`*` allows every origin: list it alone or not at all",
                ));
            }
        } else {
            origin(&p, o)?;
        }
        allow_origins.push(o.clone());
    }
    let allow_credentials = raw.allow_credentials.unwrap_or(false);
    if any && allow_credentials {
        return Err(invalid(
            &f.path("allow_credentials"),
            "cannot be true with `*` origins (browsers refuse such answers): list the origins",
        ));
    }
    let allow_methods = match &raw.allow_methods {
        None => DEFAULT_CORS_METHODS.to_vec(),
        Some(list) => non_empty_list(&f.path("allow_methods"), list, security::method)?,
    };
    let header_list = |field: &str, list: &Option<Vec<String>>| -> Result<Vec<http::HeaderName>> {
        list.as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, h)| header_name(&format!("{}[{i}]", f.path(field)), h))
            .collect()
    };
    let max_age = match &raw.max_age {
        None => Cors::DEFAULT_MAX_AGE,
        Some(text) => {
            let d = duration(&f.path("max_age"), text)?;
            if d > Duration::from_secs(24 * 3600) {
                return Err(invalid(&f.path("max_age"), "must be at most 24h"));
            }
            d
        }
    };
    Ok(Cors {
        allow_origins,
        allow_methods,
        allow_headers: header_list("allow_headers", &raw.allow_headers)?,
        expose_headers: header_list("expose_headers", &raw.expose_headers)?,
        max_age,
        allow_credentials,
    })
}

/// An origin as browsers send it: `scheme://host[:port]`, lowercase, no path.
fn origin(path: &str, text: &str) -> Result<()> {
    let bad = |why: &str| {
        invalid(
            path,
            format!("`{text}` is not an origin such as https://app.example.com: {why}"),
        )
    };
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(bad("it needs a scheme"));
    };
    if scheme != "https" && scheme != "http" {
        return Err(bad("the scheme must be https or http"));
    }
    if rest.is_empty() || rest.ends_with(':') {
        return Err(bad("it needs a host"));
    }
    if rest.contains(['/', '?', '#']) {
        return Err(bad("an origin has no path"));
    }
    if text.bytes().any(|b| !b.is_ascii_graphic()) || text.to_ascii_lowercase() != text {
        return Err(bad("write it in lowercase ASCII, as browsers send it"));
    }
    Ok(())
}

fn route(
    path: &str,
    default_name: String,
    raw: &raw::GatewayRoute,
    set_prefix: Option<&str>,
    context: &Context<'_>,
) -> Result<GatewayRoute> {
    let f = Section(path);
    let name = match &raw.name {
        None => default_name,
        Some(n) => label(&f.path("name"), n)?,
    };
    let (host, path_match, methods, headers) = match &raw.matches {
        None => (None, GatewayPath::Any, Vec::new(), Vec::new()),
        Some(m) => route_match(&f.path("match"), m)?,
    };
    let service_path = f.path("service");
    let target = context
        .mesh
        .services
        .get(raw.service.as_str())
        .ok_or_else(|| {
            ConfigError::new(
                ErrorKind::UnknownReference,
                service_path.clone(),
                format!("unknown service `{}`", raw.service),
            )
            .with_hint(closest(
                &raw.service,
                context.mesh.services.keys().map(ServiceName::as_str),
            ))
        })?;
    if target.protocol == Protocol::Tcp {
        return Err(invalid(
            &service_path,
            format!(
                "`{}` is a tcp service; gateway routes cannot send to it",
                raw.service
            ),
        ));
    }
    let known_prefix = match &path_match {
        GatewayPath::Prefix(p) | GatewayPath::Exact(p) => Some(p.as_str()),
        _ => set_prefix,
    };
    let rewrite = raw
        .rewrite
        .as_ref()
        .map(|r| rewrite(&f.path("rewrite"), r, known_prefix))
        .transpose()?;
    let request_headers = header_edits(
        &f.path("request_headers"),
        raw.request_headers.as_ref(),
        Some(context.consumer_header),
    )?;
    let response_headers = header_edits(
        &f.path("response_headers"),
        raw.response_headers.as_ref(),
        None,
    )?;
    let max_body_bytes = match &raw.max_body {
        None => Gateway::DEFAULT_MAX_BODY_BYTES,
        Some(size) => {
            let p = f.path("max_body");
            in_range(&p, Some(byte_size(&p, size)?), 0..=1 << 30, 0)?
        }
    };
    Ok(GatewayRoute {
        name,
        host,
        path: path_match,
        methods,
        headers,
        service: target.name.clone(),
        rewrite,
        request_headers,
        response_headers,
        max_body_bytes,
        timeout: policy::request_timeout(&f.path("timeout"), raw.timeout.as_deref())?,
        retry: raw
            .retry
            .as_ref()
            .map(|r| policy::retry(&f.path("retry"), r))
            .transpose()?,
        auth: raw
            .auth
            .as_ref()
            .map(|a| auth(&f.path("auth"), a, context))
            .transpose()?,
        rate_limit: raw
            .rate_limit
            .as_ref()
            .map(|r| rate_limit(&f.path("rate_limit"), r))
            .transpose()?,
    })
}

type RouteMatchParts = (
    Option<String>,
    GatewayPath,
    Vec<http::Method>,
    Vec<HeaderMatch>,
);

fn route_match(path: &str, m: &raw::GatewayRouteMatch) -> Result<RouteMatchParts> {
    let f = Section(path);
    let host = m
        .host
        .as_deref()
        .map(|h| host(&f.path("host"), h))
        .transpose()?;
    let given = [&m.path_prefix, &m.path_exact, &m.path_regex]
        .iter()
        .filter(|p| p.is_some())
        .count();
    if given > 1 {
        return Err(invalid(
            path,
            "set one of `path_prefix`, `path_exact` and `path_regex`",
        ));
    }
    let path_match = if let Some(p) = &m.path_prefix {
        GatewayPath::Prefix(security::normal_path(&f.path("path_prefix"), p)?)
    } else if let Some(p) = &m.path_exact {
        GatewayPath::Exact(security::normal_path(&f.path("path_exact"), p)?)
    } else if let Some(r) = &m.path_regex {
        GatewayPath::Regex(path_regex(&f.path("path_regex"), r)?)
    } else {
        GatewayPath::Any
    };
    let methods = match &m.methods {
        None => Vec::new(),
        Some(list) => non_empty_list(&f.path("methods"), list, security::method)?,
    };
    let mut headers = Vec::with_capacity(m.headers.len());
    for (name, value) in &m.headers {
        let p = f.path(&format!("headers.{name}"));
        headers.push(HeaderMatch {
            name: header_name(&p, name).map_err(ConfigError::at_key)?,
            value: header_value(&p, value)?,
        });
    }
    Ok((host, path_match, methods, headers))
}

/// A regular expression that must match the whole (normalized) path.
fn path_regex(path: &str, text: &str) -> Result<regex::Regex> {
    regex::RegexBuilder::new(&format!("^(?:{text})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let why = e.to_string();
            let why = why
                .lines()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(why.lines().last().unwrap_or(""))
                .to_owned();
            invalid(
                path,
                format!("`{text}` is not a valid regular expression: {why}"),
            )
        })
}

/// A host name or IP address (without port), lowercased.
fn host(path: &str, text: &str) -> Result<String> {
    let lower = text.to_ascii_lowercase();
    let bare = lower
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&lower);
    let valid_name = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid_name || bare.parse::<IpAddr>().is_ok() {
        return Ok(bare.to_owned());
    }
    Err(invalid(
        path,
        format!("`{text}` is not a host name such as api.example.com (without a port: the port is ignored when matching)"),
    ))
}

fn rewrite(path: &str, raw: &raw::Rewrite, known_prefix: Option<&str>) -> Result<Rewrite> {
    let f = Section(path);
    let (from_path, from, rewrite) = match (&raw.strip_prefix, &raw.replace_prefix) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                path,
                "set `strip_prefix` or `replace_prefix`, not both",
            ))
        }
        (None, None) => {
            return Err(invalid(
                path,
                "set `strip_prefix` or `replace_prefix` (or leave `rewrite` out)",
            ))
        }
        (Some(prefix), None) => {
            let p = f.path("strip_prefix");
            let prefix = security::normal_path(&p, prefix)?;
            (p, prefix.clone(), Rewrite::StripPrefix(prefix))
        }
        (None, Some(r)) => {
            let p = f.path("replace_prefix.from");
            let from = security::normal_path(&p, &r.from)?;
            let to = url_path(&f.path("replace_prefix.to"), &r.to)?;
            (p, from.clone(), Rewrite::ReplacePrefix { from, to })
        }
    };
    if let Some(known) = known_prefix {
        if !known.starts_with(&from) && !from.starts_with(known) {
            return Err(invalid(
                &from_path,
                format!("the rewrite would never apply: every path this route takes starts with `{known}`"),
            ));
        }
    }
    Ok(rewrite)
}

fn header_edits(
    path: &str,
    raw: Option<&raw::HeaderEdits>,
    consumer_header: Option<&http::HeaderName>,
) -> Result<HeaderEdits> {
    let Some(raw) = raw else {
        return Ok(HeaderEdits::default());
    };
    let mut edits = HeaderEdits::default();
    for (name, value) in &raw.add {
        let p = format!("{path}.add.{name}");
        let h = header_name(&p, name).map_err(ConfigError::at_key)?;
        if reserved(&h) {
            return Err(invalid(
                &p,
                format!("`{h}` describes the connection or the message framing; the proxy sets it"),
            )
            .at_key());
        }
        if Some(&h) == consumer_header {
            return Err(invalid(
                &p,
                format!("`{h}` is the consumer header: only the gateway sets it, from the verified consumer"),
            )
            .at_key());
        }
        let value = http::HeaderValue::from_str(value)
            .map_err(|_| invalid(&p, format!("`{value}` is not a valid header value")))?;
        edits.add.push((h, value));
    }
    for (i, name) in raw.remove.iter().enumerate() {
        let p = format!("{path}.remove[{i}]");
        let h = header_name(&p, name)?;
        if edits.add.iter().any(|(a, _)| *a == h) {
            return Err(invalid(&p, format!("`{h}` is both added and removed")));
        }
        edits.remove.push(h);
    }
    Ok(edits)
}

fn auth(path: &str, raw: &raw::RouteAuth, context: &Context<'_>) -> Result<RouteAuth> {
    let methods_path = format!("{path}.methods");
    if raw.methods.is_empty() {
        return Err(invalid(
            &methods_path,
            "name at least one method: api_key, or { jwt: <provider> } (leave `auth` out to let anyone in)",
        ));
    }
    let mut methods: Vec<AuthMethod> = Vec::with_capacity(raw.methods.len());
    for (i, m) in raw.methods.iter().enumerate() {
        let p = format!("{methods_path}[{i}]");
        let method = auth_method(&p, m, context)?;
        let same_credential = methods.iter().any(|o| match (o, &method) {
            (AuthMethod::Jwt { .. }, AuthMethod::Jwt { .. }) => true,
            (AuthMethod::ApiKey { header: a }, AuthMethod::ApiKey { header: b }) => a == b,
            _ => false,
        });
        if same_credential {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                p,
                "an earlier method reads the same credential (the first present credential decides); list one",
            ));
        }
        methods.push(method);
    }
    let allow = match &raw.allow {
        None => None,
        Some(list) => Some(non_empty_list(&format!("{path}.allow"), list, label)?),
    };
    Ok(RouteAuth { methods, allow })
}

fn auth_method(path: &str, raw: &raw::AuthMethod, context: &Context<'_>) -> Result<AuthMethod> {
    let (api_key, jwt) = match raw {
        raw::AuthMethod::Word(word) if word == "api_key" => (Some(raw::ApiKeyMethod::default()), None),
        raw::AuthMethod::Word(word) => {
            return Err(invalid(
                path,
                format!("`{word}` is not a method: write api_key, {{ api_key: {{ header: x-api-key }} }} or {{ jwt: <provider> }}"),
            )
            .with_hint(closest(word, ["api_key"])))
        }
        raw::AuthMethod::Map(m) => (m.api_key.clone(), m.jwt.clone()),
    };
    match (api_key, jwt) {
        (Some(_), Some(_)) => Err(invalid(path, "set `api_key` or `jwt`, not both")),
        (None, None) => Err(invalid(path, "set `api_key` or `jwt`")),
        (None, Some(provider)) => {
            if !context.providers.iter().any(|p| p.name == provider) {
                return Err(ConfigError::new(
                    ErrorKind::UnknownReference,
                    format!("{path}.jwt"),
                    format!("unknown JWT provider `{provider}`"),
                )
                .with_hint(closest(
                    &provider,
                    context.providers.iter().map(|p| p.name.as_str()),
                )));
            }
            Ok(AuthMethod::Jwt { provider })
        }
        (Some(key), None) => {
            if !context.has_api_keys {
                return Err(invalid(
                    path,
                    "the gateway has no `api_keys`: no API key could be accepted",
                ));
            }
            let header = match &key.header {
                None => http::HeaderName::from_static(DEFAULT_API_KEY_HEADER),
                Some(text) => {
                    let p = format!("{path}.api_key.header");
                    let h = header_name(&p, text)?;
                    if reserved(&h) || h == *context.consumer_header {
                        return Err(invalid(
                            &p,
                            format!("`{h}` cannot carry API keys: the gateway uses it for itself"),
                        ));
                    }
                    h
                }
            };
            Ok(AuthMethod::ApiKey { header })
        }
    }
}

fn rate_limit(path: &str, raw: &raw::ConsumerRateLimit) -> Result<ConsumerRateLimit> {
    let f = Section(path);
    let requests_per_second = f.number(
        "requests_per_second",
        Some(raw.requests_per_second),
        1..=10_000_000,
        0,
    )? as u32;
    Ok(ConsumerRateLimit {
        requests_per_second,
        burst: f.number(
            "burst",
            raw.burst,
            1..=10_000_000,
            u64::from(requests_per_second),
        )? as u32,
        per: match &raw.per {
            None => ConsumerKey::Consumer,
            Some(per) => one_of(
                &f.path("per"),
                per,
                &[
                    ("consumer", ConsumerKey::Consumer),
                    ("client_ip", ConsumerKey::ClientIp),
                    ("total", ConsumerKey::Total),
                ],
            )?,
        },
    })
}

fn non_empty_list<T>(
    path: &str,
    list: &[String],
    item: impl Fn(&str, &str) -> Result<T>,
) -> Result<Vec<T>> {
    if list.is_empty() {
        let field = path.rsplit('.').next().unwrap_or(path);
        return Err(invalid(
            path,
            format!("name at least one, or leave `{field}` out"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, text)| item(&format!("{path}[{i}]"), text))
        .collect()
}

/// A name that labels metrics and appears in headers: 1 to 128 visible ASCII characters.
fn label(path: &str, text: &str) -> Result<String> {
    if text.is_empty() || text.len() > 128 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            path,
            format!("`{text}` is not a name: use 1 to 128 visible ASCII characters, no spaces"),
        ));
    }
    Ok(text.to_owned())
}

fn non_empty(path: &str, text: &str) -> Result<String> {
    if text.trim().is_empty() {
        return Err(invalid(path, "must not be empty"));
    }
    Ok(text.to_owned())
}

fn file_path(path: &str, text: &str) -> Result<PathBuf> {
    if text.trim().is_empty() || text.contains('\0') {
        return Err(invalid(path, "must be a file path"));
    }
    Ok(PathBuf::from(text))
}

fn header_name(path: &str, text: &str) -> Result<http::HeaderName> {
    http::HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| invalid(path, format!("`{text}` is not a valid header name")))
}

fn header_value(path: &str, text: &str) -> Result<String> {
    if http::HeaderValue::from_str(text).is_err() {
        return Err(invalid(
            path,
            format!("`{text}` is not a valid header value"),
        ));
    }
    Ok(text.to_owned())
}

fn reserved(h: &http::HeaderName) -> bool {
    RESERVED_HEADERS.contains(&h.as_str())
}
