//! Turns raw serde shapes into the validated model, naming the field path of every error.

use crate::error::{closest, ConfigError, ErrorKind};
use crate::model::*;
use crate::raw;
use std::collections::BTreeMap;
use std::net::SocketAddr;

mod gateway;
mod policy;
mod primitives;
mod security;

use primitives::*;

/// Validates a whole proxy configuration file.
pub(crate) fn proxy_config(doc: raw::Document) -> Result<ProxyConfig> {
    let mesh = mesh(&doc.services, &doc.gateways)?;
    let raw_sidecar = doc.sidecar.ok_or_else(|| {
        ConfigError::new(
            ErrorKind::MissingField,
            "",
            "missing field `sidecar` (this sidecar's service, app and listeners)",
        )
    })?;
    let sidecar = sidecar(&raw_sidecar, &mesh)?;
    check_listener_conflicts(&sidecar, &mesh)?;
    Ok(ProxyConfig { sidecar, mesh })
}

/// Validates the services and gateways of a mesh as one (routes may refer to any service).
pub(crate) fn mesh(
    raw_services: &BTreeMap<String, raw::Service>,
    raw_gateways: &BTreeMap<String, raw::Gateway>,
) -> Result<Mesh> {
    let mut services = BTreeMap::new();
    for (name, raw) in raw_services {
        let path = format!("services.{name}");
        let name = service_name(&path, name).map_err(ConfigError::at_key)?;
        services.insert(name.clone(), service(&path, name, raw)?);
    }
    // Routes refer to other services, so they are checked once every service is known.
    let mut mesh = Mesh {
        services,
        gateways: BTreeMap::new(),
    };
    let mut routes = Vec::with_capacity(raw_services.len());
    for (name, raw) in raw_services {
        let path = format!("services.{name}");
        let mut service_routes = Vec::with_capacity(raw.routes.len());
        for (i, raw_route) in raw.routes.iter().enumerate() {
            service_routes.push(route(
                &format!("{path}.routes[{i}]"),
                &mesh,
                &name_of(&mesh, name),
                raw_route,
            )?);
        }
        routes.push((name, service_routes));
    }
    for (name, service_routes) in routes {
        if let Some(service) = mesh.services.get_mut(name.as_str()) {
            service.routes = service_routes;
        }
    }
    // Gateway routes send to services: checked once every service is known.
    for (name, raw) in raw_gateways {
        let path = format!("gateways.{name}");
        let name = service_name(&path, name).map_err(ConfigError::at_key)?;
        let gateway = gateway::gateway(&path, name.clone(), raw, &mesh)?;
        mesh.gateways.insert(name, gateway);
    }
    Ok(mesh)
}

fn service(path: &str, name: ServiceName, raw: &raw::Service) -> Result<Service> {
    let protocol = match &raw.protocol {
        None => Protocol::Http,
        Some(p) => one_of(
            &format!("{path}.protocol"),
            p,
            &[
                ("http", Protocol::Http),
                ("grpc", Protocol::Grpc),
                ("tcp", Protocol::Tcp),
            ],
        )?,
    };
    let mut endpoints = Vec::with_capacity(raw.endpoints.len());
    for (i, text) in raw.endpoints.iter().enumerate() {
        let p = format!("{path}.endpoints[{i}]");
        let e = endpoint(&p, text)?;
        if endpoints.contains(&e) {
            return Err(ConfigError::new(
                ErrorKind::Conflict,
                p,
                format!("endpoint `{text}` is listed twice"),
            ));
        }
        endpoints.push(e);
    }
    let listen = match (&raw.listen, protocol) {
        (Some(text), Protocol::Tcp) => Some(socket_addr(&format!("{path}.listen"), text)?),
        (None, Protocol::Tcp) => {
            return Err(ConfigError::new(
                ErrorKind::MissingField,
                path,
                "missing field `listen`: a `protocol: tcp` service needs the local address to accept connections on",
            ))
        }
        (Some(_), _) => {
            return Err(invalid(&format!("{path}.listen"), "only `protocol: tcp` services take `listen`").at_key())
        }
        (None, _) => None,
    };
    if protocol == Protocol::Tcp && !raw.routes.is_empty() {
        return Err(invalid(
            &format!("{path}.routes"),
            "a `protocol: tcp` service cannot have HTTP routes",
        )
        .at_key());
    }
    if protocol == Protocol::Tcp && raw.authorization.is_some() {
        // Its connections are forwarded as bytes; no sidecar could check a request.
        return Err(invalid(
            &format!("{path}.authorization"),
            "a `protocol: tcp` service cannot have an authorization policy",
        )
        .at_key());
    }
    let (rate_limits, fault) = policy::inbound(
        path,
        name.as_str(),
        raw.rate_limit.as_ref(),
        raw.fault.as_ref(),
    )?;
    Ok(Service {
        name: name.clone(),
        protocol,
        endpoints,
        meshed: raw.meshed.unwrap_or(true),
        dns_refresh: positive_duration(
            &format!("{path}.dns_refresh"),
            raw.dns_refresh.as_deref(),
            Service::DEFAULT_DNS_REFRESH,
        )?,
        listen,
        routes: Vec::new(),
        timeouts: policy::timeouts(path, raw)?,
        retry: raw
            .retry
            .as_ref()
            .map(|r| policy::retry(&format!("{path}.retry"), r))
            .transpose()?,
        circuit_breaker: policy::circuit_breaker(
            &format!("{path}.circuit_breaker"),
            raw.circuit_breaker.as_ref(),
        )?,
        rate_limits,
        fault,
        mtls: security::mtls(&format!("{path}.mtls"), raw.mtls.as_deref())?,
        authorization: security::authorization(
            &format!("{path}.authorization"),
            raw.authorization.as_ref(),
        )?,
    })
}

fn route(path: &str, mesh: &Mesh, owner: &ServiceName, raw: &raw::Route) -> Result<Route> {
    let (path_match, headers) = match &raw.matches {
        None => (PathMatch::Any, Vec::new()),
        Some(m) => {
            let path_match = match (&m.path_prefix, &m.path_exact) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &format!("{path}.match"),
                        "set `path_prefix` or `path_exact`, not both",
                    ))
                }
                // Routes match the normalized path, as authorization does.
                (Some(p), None) => PathMatch::Prefix(security::normal_path(
                    &format!("{path}.match.path_prefix"),
                    p,
                )?),
                (None, Some(p)) => PathMatch::Exact(security::normal_path(
                    &format!("{path}.match.path_exact"),
                    p,
                )?),
                (None, None) => PathMatch::Any,
            };
            let mut headers = Vec::with_capacity(m.headers.len());
            for (name, value) in &m.headers {
                let p = format!("{path}.match.headers.{name}");
                let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    invalid(&p, format!("`{name}` is not a valid header name")).at_key()
                })?;
                if http::HeaderValue::from_str(value).is_err() {
                    return Err(invalid(
                        &p,
                        format!("`{value}` is not a valid header value"),
                    ));
                }
                headers.push(HeaderMatch {
                    name: header_name,
                    value: value.clone(),
                });
            }
            (path_match, headers)
        }
    };
    let default_backend = [raw::Backend {
        service: owner.to_string(),
        weight: None,
    }];
    let raw_backends: &[raw::Backend] = match &raw.backends {
        None => &default_backend,
        Some(list) if list.is_empty() => return Err(invalid(
            &format!("{path}.backends"),
            "a route needs at least one backend (leave `backends` out to mean the service itself)",
        )),
        Some(list) => list,
    };
    let mut backends = Vec::with_capacity(raw_backends.len());
    for (i, b) in raw_backends.iter().enumerate() {
        let p = format!("{path}.backends[{i}]");
        let target = mesh.services.get(b.service.as_str()).ok_or_else(|| {
            ConfigError::new(
                ErrorKind::UnknownReference,
                format!("{p}.service"),
                format!("unknown service `{}`", b.service),
            )
            .with_hint(closest(
                &b.service,
                mesh.services.keys().map(ServiceName::as_str),
            ))
        })?;
        if target.protocol == Protocol::Tcp {
            return Err(invalid(
                &format!("{p}.service"),
                format!(
                    "`{}` is a tcp service; HTTP routes cannot send to it",
                    b.service
                ),
            ));
        }
        let weight = in_range(
            &format!("{p}.weight"),
            b.weight,
            0..=u64::from(Backend::MAX_WEIGHT),
            1,
        )? as u32;
        backends.push(Backend {
            service: target.name.clone(),
            weight,
        });
    }
    if backends.iter().all(|b| b.weight == 0) {
        return Err(invalid(
            &format!("{path}.backends"),
            "the weights of a route's backends must not all be 0",
        ));
    }
    let rule_name = format!("{owner}/{}", path.rsplit('.').next().unwrap_or(path));
    let (rate_limits, fault) = policy::inbound(
        path,
        &rule_name,
        raw.rate_limit.as_ref(),
        raw.fault.as_ref(),
    )?;
    let policy = RoutePolicy {
        timeout: policy::request_timeout(&format!("{path}.timeout"), raw.timeout.as_deref())?,
        retry: raw
            .retry
            .as_ref()
            .map(|r| policy::retry(&format!("{path}.retry"), r))
            .transpose()?,
        rate_limits,
        fault,
    };
    Ok(Route {
        path: path_match,
        headers,
        backends,
        policy,
    })
}

/// The validated name of the service whose raw key is `key` (validated in the first pass).
fn name_of(mesh: &Mesh, key: &str) -> ServiceName {
    mesh.services
        .get(key)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| ServiceName::new("invalid").expect("a valid literal"))
}

fn url_path(path: &str, text: &str) -> Result<String> {
    if !text.starts_with('/')
        || text.contains(['?', '#'])
        || text.bytes().any(|b| b.is_ascii_control() || b == b' ')
    {
        return Err(invalid(path, format!("`{text}` is not a path: it must start with `/` and hold no query, fragment or spaces")));
    }
    Ok(text.to_owned())
}

fn sidecar(raw: &raw::Sidecar, mesh: &Mesh) -> Result<Sidecar> {
    let service = service_name("sidecar.service", &raw.service)?;
    let app = match &raw.app {
        Some(text) => socket_addr("sidecar.app", text)?,
        // A proxy run as a gateway has no app.
        None if mesh.gateways.contains_key(service.as_str()) => Sidecar::NO_APP,
        None => {
            return Err(ConfigError::new(
                ErrorKind::MissingField,
                "sidecar",
                "missing field `app` (the local app's address; only a gateway's own file, whose `sidecar.service` names one of its `gateways`, may leave it out)",
            ))
        }
    };
    let default_protocol = match mesh.services.get(service.as_str()).map(|s| s.protocol) {
        Some(Protocol::Grpc) => AppProtocol::Http2,
        _ => AppProtocol::Http1,
    };
    let app_protocol = match &raw.app_protocol {
        None => default_protocol,
        Some(p) => one_of(
            "sidecar.app_protocol",
            p,
            &[("http1", AppProtocol::Http1), ("http2", AppProtocol::Http2)],
        )?,
    };
    let defaults = Listen::default();
    let listen = match &raw.listen {
        None => defaults,
        Some(l) => Listen {
            outbound: l.outbound.as_deref().map_or(Ok(defaults.outbound), |t| {
                socket_addr("sidecar.listen.outbound", t)
            })?,
            inbound: l.inbound.as_deref().map_or(Ok(defaults.inbound), |t| {
                socket_addr("sidecar.listen.inbound", t)
            })?,
            admin: l.admin.as_deref().map_or(Ok(defaults.admin), |t| {
                socket_addr("sidecar.listen.admin", t)
            })?,
        },
    };
    let limits = match &raw.limits {
        None => Limits::default(),
        Some(l) => limits(l)?,
    };
    Ok(Sidecar {
        service,
        app,
        app_protocol,
        listen,
        limits,
    })
}

fn limits(raw: &raw::Limits) -> Result<Limits> {
    let d = Limits::default();
    let f = Section("sidecar.limits");
    let max_header_bytes = match &raw.max_header_bytes {
        None => d.max_header_bytes as u64,
        Some(size) => byte_size(&f.path("max_header_bytes"), size)?,
    };
    Ok(Limits {
        header_read_timeout: f.duration(
            "header_read_timeout",
            raw.header_read_timeout.as_deref(),
            d.header_read_timeout,
        )?,
        max_header_count: f.number(
            "max_header_count",
            raw.max_header_count,
            1..=10_000,
            d.max_header_count as u64,
        )? as usize,
        // HTTP/1 needs at least 8 KiB of read buffer; 16 MiB bounds memory per connection.
        max_header_bytes: f.number(
            "max_header_bytes",
            Some(max_header_bytes),
            8192..=16 * 1024 * 1024,
            0,
        )? as usize,
        idle_timeout: f.duration("idle_timeout", raw.idle_timeout.as_deref(), d.idle_timeout)?,
        max_concurrent_streams: f.number(
            "max_concurrent_streams",
            raw.max_concurrent_streams,
            1..=65_536,
            u64::from(d.max_concurrent_streams),
        )? as u32,
        max_connections: f.number(
            "max_connections",
            raw.max_connections,
            1..=1_000_000,
            d.max_connections as u64,
        )? as usize,
    })
}

/// Refuses overlapping listeners: the sidecar's own and the TCP services'.
pub(crate) fn check_listener_conflicts(sidecar: &Sidecar, mesh: &Mesh) -> Result<()> {
    let mut bound: Vec<(String, SocketAddr)> = vec![
        ("sidecar.listen.outbound".into(), sidecar.listen.outbound),
        ("sidecar.listen.inbound".into(), sidecar.listen.inbound),
        ("sidecar.listen.admin".into(), sidecar.listen.admin),
    ];
    bound.extend(
        mesh.services
            .values()
            .filter_map(|s| s.listen.map(|a| (format!("services.{}.listen", s.name), a))),
    );
    for (i, (path, addr)) in bound.iter().enumerate() {
        for (other_path, other) in &bound[..i] {
            if overlaps(*addr, *other) {
                return Err(ConfigError::new(
                    ErrorKind::Conflict,
                    path.clone(),
                    format!("{addr} overlaps {other_path} ({other})"),
                ));
            }
        }
    }
    // A proxy run as a gateway binds the gateway's listeners and its admin listener (not the
    // inbound and outbound ones).
    if let Some(gateway) = mesh.gateways.get(sidecar.service.as_str()) {
        let admin = sidecar.listen.admin;
        for (i, listener) in gateway.listeners.iter().enumerate() {
            if overlaps(listener.address, admin) {
                return Err(ConfigError::new(
                    ErrorKind::Conflict,
                    format!("gateways.{}.listeners[{i}].address", gateway.name),
                    format!(
                        "{} overlaps sidecar.listen.admin ({admin})",
                        listener.address
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Whether two listeners would bind the same port on a common address (port 0 never does).
fn overlaps(addr: SocketAddr, other: SocketAddr) -> bool {
    addr.port() == other.port()
        && addr.port() != 0
        && (addr.ip() == other.ip() || addr.ip().is_unspecified() || other.ip().is_unspecified())
}
