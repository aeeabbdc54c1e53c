//! Writing sidecar configurations for tests: every listener on `127.0.0.1:0`.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// A sidecar configuration under construction; [`ConfigYaml::render`] gives the YAML.
///
/// ```
/// # use convoy_tests::{ConfigYaml, endpoints};
/// let addr = "127.0.0.1:8000".parse().unwrap();
/// let yaml = ConfigYaml::new("web")
///     .service("orders", &format!("meshed: false\n{}", endpoints(&[addr])))
///     .plain_service("users", &[addr])
///     .meshed_service("payments", &[addr])
///     .render();
/// assert!(yaml.contains("  orders:\n    meshed: false\n    endpoints: [\"127.0.0.1:8000\"]\n"));
/// assert!(yaml.contains("  users:\n    meshed: false\n    endpoints: [\"127.0.0.1:8000\"]\n"));
/// assert!(yaml.contains("  payments:\n    endpoints: [\"127.0.0.1:8000\"]\n"));
/// ```
#[derive(Debug, Clone)]
pub struct ConfigYaml {
    service: String,
    app: String,
    app_protocol: Option<String>,
    limits: Vec<(String, String)>,
    services: String,
}

impl ConfigYaml {
    /// A sidecar of service `service` whose app is unreachable (fine for outbound-only tests).
    pub fn new(service: &str) -> Self {
        ConfigYaml {
            service: service.to_owned(),
            app: "127.0.0.1:1".to_owned(),
            app_protocol: None,
            limits: Vec::new(),
            services: String::new(),
        }
    }

    /// The local app the inbound listener forwards to.
    pub fn app(mut self, addr: SocketAddr) -> Self {
        self.app = addr.to_string();
        self
    }

    /// `sidecar.app_protocol` (`http1` or `http2`).
    pub fn app_protocol(mut self, protocol: &str) -> Self {
        self.app_protocol = Some(protocol.to_owned());
        self
    }

    /// One entry of `sidecar.limits`.
    pub fn limit(mut self, name: &str, value: &str) -> Self {
        self.limits.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A service; `body` is its fields as YAML lines at zero indentation.
    pub fn service(mut self, name: &str, body: &str) -> Self {
        let _ = writeln!(self.services, "  {name}:");
        if body.trim().is_empty() {
            self.services.truncate(self.services.len() - 1);
            self.services.push_str(" {}\n");
        }
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(self.services, "    {line}");
        }
        self
    }

    /// A `meshed: false` service: plain servers (not sidecars) at `addrs`.
    pub fn plain_service(self, name: &str, addrs: &[SocketAddr]) -> Self {
        self.service(name, &format!("meshed: false\n{}", endpoints(addrs)))
    }

    /// A meshed service (the default): its endpoints `addrs` are sidecars' inbound listeners.
    pub fn meshed_service(self, name: &str, addrs: &[SocketAddr]) -> Self {
        self.service(name, &endpoints(addrs))
    }

    /// The YAML text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "sidecar:\n  service: {}\n  app: {}\n",
            self.service, self.app
        );
        if let Some(protocol) = &self.app_protocol {
            let _ = writeln!(out, "  app_protocol: {protocol}");
        }
        out.push_str(
            "  listen: { outbound: 127.0.0.1:0, inbound: 127.0.0.1:0, admin: 127.0.0.1:0 }\n",
        );
        if !self.limits.is_empty() {
            out.push_str("  limits:\n");
            for (name, value) in &self.limits {
                let _ = writeln!(out, "    {name}: {value}");
            }
        }
        if !self.services.is_empty() {
            out.push_str("services:\n");
            out.push_str(&self.services);
        }
        out
    }
}

/// An `endpoints: [...]` line for these addresses.
pub fn endpoints(addrs: &[SocketAddr]) -> String {
    let quoted: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    format!("endpoints: [{}]", quoted.join(", "))
}

/// A port on `127.0.0.1` that was free a moment ago, for a listener the test has a proxy bind
/// (clients such as curl then reach it as `localhost`).
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    listener.local_addr().expect("a bound address")
}

/// An address on loopback where nothing listens (a dead endpoint or app): a port just bound
/// and released, on a random
/// loopback address other than `127.0.0.1` (Linux answers on all of 127/8), so that no other
/// test's listener on `127.0.0.1:0` can take the port before it is used (a test's "dead
/// endpoint" would then answer); on `127.0.0.1` where only that address exists.
pub fn closed_port() -> SocketAddr {
    use rand::Rng as _;
    let mut rng = rand::rng();
    let private = std::net::Ipv4Addr::new(
        127,
        rng.random_range(1..=254),
        rng.random_range(0..=255),
        rng.random_range(1..=254),
    );
    let listener = std::net::TcpListener::bind((private, 0))
        .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind a probe port");
    listener.local_addr().expect("a bound address")
}
