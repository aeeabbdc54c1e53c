//! The demo mesh: which services run (and how many instances of each), how they call each
//! other, on which ports, and the flags each app and sidecar gets. The policies are not here:
//! they are the mesh YAML the control plane serves (`examples/demo/mesh`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One demo service and how it behaves.
#[derive(Debug)]
pub(crate) struct ServiceSpec {
    pub(crate) name: &'static str,
    /// Instances (an app and its sidecar each), all endpoints of the service.
    pub(crate) instances: usize,
    pub(crate) calls: &'static [&'static str],
    pub(crate) latency: &'static str,
    pub(crate) latency_jitter: &'static str,
    /// Whether the app fails `--failure-rate` of its requests while flakiness is on.
    pub(crate) flaky: bool,
    /// Whether the demo mesh has its callers eject its failing endpoints
    /// (`circuit_breaker` in its YAML): the table then has an `ejected` count for it.
    pub(crate) outlier_detection: bool,
}

/// web → orders → payments. payments runs twice, is slow-ish, jittery and flaky; the mesh
/// YAML has orders retry it and eject instances that keep failing, web retry orders within
/// a timeout, and orders limit its inbound rate.
pub(crate) const SERVICES: [ServiceSpec; 3] = [
    ServiceSpec {
        name: "web",
        instances: 1,
        calls: &["orders"],
        latency: "0",
        latency_jitter: "0",
        flaky: false,
        outlier_detection: false,
    },
    ServiceSpec {
        name: "orders",
        instances: 1,
        calls: &["payments"],
        latency: "5ms",
        latency_jitter: "0",
        flaky: false,
        outlier_detection: false,
    },
    ServiceSpec {
        name: "payments",
        instances: 2,
        calls: &[],
        latency: "10ms",
        latency_jitter: "10ms",
        flaky: true,
        outlier_detection: true,
    },
];

/// The service traffic is driven into.
pub(crate) const ENTRY: &str = "web";

/// The service whose apps the controls stop, start and make flaky.
pub(crate) const FLAKY: &str = "payments";

/// The caller of the call the mesh refuses: the demo sends requests for [`DENIED_CALLEE`]
/// into its sidecar's outbound listener, as if its app called that service directly.
pub(crate) const DENIED_CALLER: &str = "web";

/// The callee of the call the mesh refuses: its YAML allows only orders to call it, so its
/// own sidecars answer [`DENIED_CALLER`]'s requests 403.
pub(crate) const DENIED_CALLEE: &str = "payments";

/// The demo's API gateway (`gateways.edge` in `edge.yaml`), in front of [`ENTRY`].
pub(crate) const GATEWAY: &str = "edge";

/// The API key the gateway's `mobile` route set takes (`x-api-key`); `edge.yaml` holds
/// only its SHA-256.
pub(crate) const MOBILE_KEY: &str = "demo-mobile-key";

/// What the demo's flags change in the apps.
#[derive(Debug, Clone)]
pub(crate) struct Knobs {
    /// Fraction of requests a flaky app fails while flakiness is on.
    pub(crate) failure_rate: f64,
}

/// The demo mesh's trust domain: workloads are `spiffe://demo.convoy/service/<name>`.
pub(crate) const TRUST_DOMAIN: &str = "demo.convoy";

/// Loopback addresses of the control plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ControlPlaneAddrs {
    /// The sidecar API (TLS only): streams, certificates, `/v1/status`.
    pub(crate) listen: SocketAddr,
    /// `/live`, `/ready`, `/metrics` (plain HTTP).
    pub(crate) admin: SocketAddr,
}

impl ControlPlaneAddrs {
    /// What sidecars (`--control-plane`) and `convoy-control-plane status --url` are given.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.listen)
    }
}

/// The control plane's CA directory (`--ca-dir`) in the demo's work dir. The control plane
/// generates the mesh CA and the join token there on its first start and reuses them after.
#[derive(Debug, Clone)]
pub(crate) struct CaDir {
    pub(crate) path: PathBuf,
}

impl CaDir {
    /// `<work dir>/ca`.
    pub(crate) fn in_work_dir(work_dir: &Path) -> CaDir {
        CaDir {
            path: work_dir.join("ca"),
        }
    }

    /// The trust anchor (PEM) that sidecars and the launcher verify the API with.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.path.join("ca.pem")
    }

    /// The mesh-wide join token sidecars prove themselves to the control plane with.
    pub(crate) fn join_token_file(&self) -> PathBuf {
        self.path.join("join-token")
    }
}

/// Loopback addresses of the gateway.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GatewayAddrs {
    /// Its first listener (`--gateway-addr`), where clients call it (plain HTTP).
    pub(crate) listen: SocketAddr,
    /// `/live`, `/ready`, `/metrics`.
    pub(crate) admin: SocketAddr,
}

/// Loopback addresses of one instance and its sidecar.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addrs {
    pub(crate) app: SocketAddr,
    pub(crate) outbound: SocketAddr,
    pub(crate) inbound: SocketAddr,
    pub(crate) admin: SocketAddr,
}

/// One instance of a service (an app and its sidecar) with the addresses it was given.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) spec: &'static ServiceSpec,
    /// 1-based among the service's instances.
    pub(crate) instance: usize,
    pub(crate) addrs: Addrs,
}

impl Node {
    /// `payments-2` for one of several instances, else the service's name.
    pub(crate) fn label(&self) -> String {
        if self.spec.instances > 1 {
            format!("{}-{}", self.spec.name, self.instance)
        } else {
            self.spec.name.to_owned()
        }
    }
}

/// Every instance of every service of the demo, with free loopback ports.
#[derive(Debug)]
pub(crate) struct Mesh {
    pub(crate) control_plane: ControlPlaneAddrs,
    pub(crate) nodes: Vec<Node>,
    pub(crate) gateway: GatewayAddrs,
    pub(crate) knobs: Knobs,
}

impl Mesh {
    /// Gives the control plane, every app and sidecar listener and the gateway's listener
    /// and admin their own free port.
    pub(crate) fn allocate(knobs: Knobs) -> std::io::Result<Self> {
        let count: usize = SERVICES.iter().map(|s| s.instances).sum();
        let mut ports = convoy_harness::ports::free_ports(2 + count * 4 + 2)?.into_iter();
        let mut next = || ports.next().expect("one port per listener");
        let control_plane = ControlPlaneAddrs {
            listen: next(),
            admin: next(),
        };
        let mut nodes = Vec::with_capacity(count);
        for spec in &SERVICES {
            for instance in 1..=spec.instances {
                nodes.push(Node {
                    spec,
                    instance,
                    addrs: Addrs {
                        app: next(),
                        outbound: next(),
                        inbound: next(),
                        admin: next(),
                    },
                });
            }
        }
        let gateway = GatewayAddrs {
            listen: next(),
            admin: next(),
        };
        Ok(Self {
            control_plane,
            nodes,
            gateway,
            knobs,
        })
    }

    /// The first instance of `name`.
    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.spec.name == name)
    }

    /// Every instance of `name`.
    pub(crate) fn instances<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.nodes.iter().filter(move |n| n.spec.name == name)
    }

    /// Arguments for `convoy-proxy` beside `node`'s app, in control-plane mode: it registers
    /// its inbound address as an endpoint of its service, takes the mesh from the control
    /// plane (verified with the mesh CA, joined with the mesh-wide token) and gets its
    /// certificate from it.
    pub(crate) fn sidecar_args(&self, node: &Node, ca: &CaDir) -> Vec<String> {
        let a = node.addrs;
        vec![
            format!("--control-plane={}", self.control_plane.url()),
            format!("--control-plane-ca={}", ca.ca_file().display()),
            format!("--join-token-file={}", ca.join_token_file().display()),
            format!("--service={}", node.spec.name),
            format!("--app={}", a.app),
            format!("--outbound-addr={}", a.outbound),
            format!("--inbound-addr={}", a.inbound),
            format!("--admin-addr={}", a.admin),
        ]
    }

    /// Arguments for `convoy-proxy` as the gateway [`GATEWAY`]: its routes come from the
    /// control plane (`gateways.edge`), its first listener moves to a free port, and it
    /// calls mesh services over mTLS with its own certificate.
    pub(crate) fn gateway_args(&self, ca: &CaDir) -> Vec<String> {
        vec![
            "--gateway".to_owned(),
            format!("--control-plane={}", self.control_plane.url()),
            format!("--control-plane-ca={}", ca.ca_file().display()),
            format!("--join-token-file={}", ca.join_token_file().display()),
            format!("--service={GATEWAY}"),
            format!("--admin-addr={}", self.gateway.admin),
            format!("--gateway-addr={}", self.gateway.listen),
        ]
    }

    /// Arguments for `convoy-control-plane` serving `mesh_dir`, with the mesh CA in `ca`.
    pub(crate) fn control_plane_args(&self, mesh_dir: &Path, ca: &CaDir) -> Vec<String> {
        vec![
            "serve".to_owned(),
            format!("--config-dir={}", mesh_dir.display()),
            format!("--listen={}", self.control_plane.listen),
            format!("--admin-addr={}", self.control_plane.admin),
            format!("--ca-dir={}", ca.path.display()),
            format!("--trust-domain={TRUST_DOMAIN}"),
        ]
    }

    /// Arguments for `convoy-demo-service` running `node`; a flaky service fails
    /// `--failure-rate` of its requests only while `flaky` is on.
    pub(crate) fn service_args(&self, node: &Node, flaky: bool) -> Vec<String> {
        let spec = node.spec;
        let failure_rate = if spec.flaky && flaky {
            self.knobs.failure_rate
        } else {
            0.0
        };
        let mut args = vec![
            format!("--name={}", spec.name),
            format!("--listen={}", node.addrs.app),
            format!("--outbound={}", node.addrs.outbound),
            format!("--latency={}", spec.latency),
            format!("--latency-jitter={}", spec.latency_jitter),
            format!("--failure-rate={failure_rate}"),
        ];
        args.extend(spec.calls.iter().map(|callee| format!("--call={callee}")));
        args
    }
}

#[cfg(test)]
impl Mesh {
    /// The mesh the unit tests use: free ports, 20 % failures while flaky.
    pub(crate) fn for_tests() -> Mesh {
        Mesh::allocate(Knobs { failure_rate: 0.2 }).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct() {
        let mesh = Mesh::for_tests();
        assert_eq!(mesh.nodes.len(), 4);
        let mut ports: Vec<u16> = mesh
            .nodes
            .iter()
            .flat_map(|n| {
                [
                    n.addrs.app,
                    n.addrs.outbound,
                    n.addrs.inbound,
                    n.addrs.admin,
                ]
            })
            .chain([mesh.control_plane.listen, mesh.control_plane.admin])
            .chain([mesh.gateway.listen, mesh.gateway.admin])
            .map(|a| a.port())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20);
    }

    #[test]
    fn instances_are_labelled() {
        let mesh = Mesh::for_tests();
        let labels: Vec<String> = mesh.nodes.iter().map(Node::label).collect();
        assert_eq!(labels, ["web", "orders", "payments-1", "payments-2"]);
        assert_eq!(mesh.instances("payments").count(), 2);
    }

    #[test]
    fn sidecars_register_with_the_control_plane() {
        let mesh = Mesh::for_tests();
        let ca = CaDir::in_work_dir(Path::new("/w"));
        let two = &mesh.nodes[3];
        let a = two.addrs;
        assert_eq!(
            mesh.sidecar_args(two, &ca),
            [
                format!("--control-plane=https://{}", mesh.control_plane.listen),
                "--control-plane-ca=/w/ca/ca.pem".to_owned(),
                "--join-token-file=/w/ca/join-token".to_owned(),
                "--service=payments".to_owned(),
                format!("--app={}", a.app),
                format!("--outbound-addr={}", a.outbound),
                format!("--inbound-addr={}", a.inbound),
                format!("--admin-addr={}", a.admin),
            ]
        );
        let cp = mesh.control_plane;
        assert_eq!(
            mesh.control_plane_args(Path::new("/m"), &ca),
            [
                "serve".to_owned(),
                "--config-dir=/m".to_owned(),
                format!("--listen={}", cp.listen),
                format!("--admin-addr={}", cp.admin),
                "--ca-dir=/w/ca".to_owned(),
                "--trust-domain=demo.convoy".to_owned(),
            ]
        );
        let gw = mesh.gateway;
        assert_eq!(
            mesh.gateway_args(&ca),
            [
                "--gateway".to_owned(),
                format!("--control-plane=https://{}", cp.listen),
                "--control-plane-ca=/w/ca/ca.pem".to_owned(),
                "--join-token-file=/w/ca/join-token".to_owned(),
                "--service=edge".to_owned(),
                format!("--admin-addr={}", gw.admin),
                format!("--gateway-addr={}", gw.listen),
            ]
        );
    }

    #[test]
    fn service_args_call_through_own_sidecar() {
        let mesh = Mesh::for_tests();
        let web = mesh.node("web").unwrap();
        let args = mesh.service_args(web, true);
        assert!(args.contains(&format!("--outbound={}", web.addrs.outbound)));
        assert!(args.contains(&"--call=orders".to_owned()));
        assert!(args.contains(&"--failure-rate=0".to_owned()));
    }

    #[test]
    fn only_flaky_services_fail_and_only_while_flaky() {
        let mesh = Mesh::for_tests();
        let payments = mesh.node("payments").unwrap();
        assert!(mesh
            .service_args(payments, true)
            .contains(&"--failure-rate=0.2".to_owned()));
        assert!(mesh
            .service_args(payments, false)
            .contains(&"--failure-rate=0".to_owned()));
    }
}
