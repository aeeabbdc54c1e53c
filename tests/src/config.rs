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
