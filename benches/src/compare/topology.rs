//! The topologies: what each one is, and how it is built on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::backend::wait_answering;
use super::pki::Pki;
use convoy_harness::{ControlPlaneAddrs, ProxyAddrs};

use super::procs::{free_addr, Proc};
use super::CompareError;

/// One way from the load generator to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// client → backend.
    Direct,
    /// client → Convoy outbound → backend.
    Convoy1,
    /// client → Convoy outbound → Convoy inbound → backend, plaintext.
    Convoy2,
    /// client → Convoy outbound → Convoy inbound → backend, mTLS from a control plane.
    Convoy2Mtls,
    /// client → HAProxy → backend.
    Haproxy1,
    /// client → HAProxy → HAProxy → backend, mTLS between them.
    Haproxy2Mtls,
    /// client → nginx → backend.
    Nginx1,
    /// client → nginx → nginx → backend, mTLS between them.
    Nginx2Mtls,
}

/// The third-party proxy a topology needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Convoy,
    Haproxy,
    Nginx,
}

impl Kind {
    /// Every topology, in the order of the table.
    pub(crate) const ALL: [Kind; 8] = [
        Kind::Direct,
        Kind::Convoy1,
        Kind::Convoy2,
        Kind::Convoy2Mtls,
        Kind::Haproxy1,
        Kind::Haproxy2Mtls,
        Kind::Nginx1,
        Kind::Nginx2Mtls,
    ];

    /// Its name for `--only` and the results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Convoy1 => "convoy-1",
            Kind::Convoy2 => "convoy-2",
            Kind::Convoy2Mtls => "convoy-2-mtls",
            Kind::Haproxy1 => "haproxy-1",
            Kind::Haproxy2Mtls => "haproxy-2-mtls",
            Kind::Nginx1 => "nginx-1",
            Kind::Nginx2Mtls => "nginx-2-mtls",
        }
    }

    /// What the path is.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Direct => "client → backend",
            Kind::Convoy1 => "client → Convoy sidecar (outbound) → backend",
            Kind::Convoy2 => "client → Convoy outbound → Convoy inbound → backend, plaintext HTTP/2 hop",
            Kind::Convoy2Mtls => {
                "client → Convoy outbound → Convoy inbound → backend, mTLS (TLS 1.3, HTTP/2) hop, identities from the control plane"
            }
            Kind::Haproxy1 => "client → HAProxy → backend",
            Kind::Haproxy2Mtls => "client → HAProxy → HAProxy → backend, mTLS (TLS 1.3, HTTP/1.1) hop",
            Kind::Nginx1 => "client → nginx → backend",
            Kind::Nginx2Mtls => "client → nginx → nginx → backend, mTLS (TLS 1.3, HTTP/1.1) hop",
        }
    }

    /// The proxy program it needs, if any.
    pub(crate) fn tool(self) -> Option<Tool> {
        match self {
            Kind::Direct => None,
            Kind::Convoy1 | Kind::Convoy2 | Kind::Convoy2Mtls => Some(Tool::Convoy),
            Kind::Haproxy1 | Kind::Haproxy2Mtls => Some(Tool::Haproxy),
            Kind::Nginx1 | Kind::Nginx2Mtls => Some(Tool::Nginx),
        }
    }
}

/// What building a topology needs.
#[derive(Debug)]
pub(crate) struct Env {
    pub(crate) proxy_bin: PathBuf,
    pub(crate) control_plane_bin: PathBuf,
    pub(crate) haproxy: PathBuf,
    pub(crate) nginx: PathBuf,
    pub(crate) backend: SocketAddr,
    /// A scratch directory (configs, logs, certificates).
    pub(crate) dir: PathBuf,
    pub(crate) pki: Pki,
    /// The CPU the proxies are pinned to, if pinning.
    pub(crate) cpu: Option<usize>,
}

/// A topology, built and answering.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) kind: Kind,
    /// Where the load generator sends requests.
    pub(crate) front: SocketAddr,
    /// The Host header to send (the service a Convoy sidecar routes to).
    pub(crate) host: &'static str,
    /// The proxies measured (CPU, RSS), first hop first.
    pub(crate) proxies: Vec<Proc>,
    /// Helpers not measured: the control plane.
    pub(crate) helpers: Vec<Proc>,
}

/// Builds `kind` and waits until a request goes through it.
pub(crate) async fn start(kind: Kind, env: &Env) -> Result<Running, CompareError> {
    let dir = env.dir.join(kind.name());
    std::fs::create_dir_all(&dir).map_err(|e| CompareError(format!("{}: {e}", dir.display())))?;
    let mut running = match kind {
        Kind::Direct => Running {
            kind,
            front: env.backend,
            host: "orders",
            proxies: Vec::new(),
            helpers: Vec::new(),
        },
        Kind::Convoy1 => {
            let yaml = sidecar_yaml(
                "web",
                "127.0.0.1:1",
                &format!(
                    "  orders:\n    meshed: false\n    endpoints: [\"{}\"]\n",
                    env.backend
                ),
            );
            let (a, addrs) = convoy_file(env, &dir, "A", &yaml).await?;
            running(kind, outbound(&addrs)?, vec![a])
        }
        Kind::Convoy2 => {
            let yaml_b = sidecar_yaml("orders", &env.backend.to_string(), "");
            let (b, addrs_b) = convoy_file(env, &dir, "B", &yaml_b).await?;
            let inbound = addrs_b
                .inbound
                .ok_or_else(|| CompareError(format!("no `inbound` address in {addrs_b:?}")))?;
            let yaml_a = sidecar_yaml(
                "web",
                "127.0.0.1:1",
                &format!("  orders:\n    endpoints: [\"{inbound}\"]\n"),
            );
            let (a, addrs_a) = convoy_file(env, &dir, "A", &yaml_a).await?;
            running(kind, outbound(&addrs_a)?, vec![a, b])
        }
        Kind::Convoy2Mtls => convoy_mtls(env, &dir).await?,
        Kind::Haproxy1 => {
            let front = free_addr()?;
            let a = haproxy(env, &dir, "A", &haproxy_conf(front, "", env.backend, ""))?;
            running(kind, front, vec![a])
        }
        Kind::Haproxy2Mtls => {
            let (front, hop) = (free_addr()?, free_addr()?);
            let p = &env.pki;
            let bind_tls = format!(
                " ssl crt {} ca-file {} verify required ssl-min-ver TLSv1.3",
                p.server_bundle.display(),
                p.ca.display()
            );
            let server_tls = format!(
                " ssl verify required ca-file {} crt {} verifyhost localhost sni str(localhost) ssl-min-ver TLSv1.3",
                p.ca.display(),
                p.client_bundle.display()
            );
            let b = haproxy(
                env,
                &dir,
                "B",
                &haproxy_conf(hop, &bind_tls, env.backend, ""),
            )?;
            let a = haproxy(env, &dir, "A", &haproxy_conf(front, "", hop, &server_tls))?;
            running(kind, front, vec![a, b])
        }
        Kind::Nginx1 => {
            let front = free_addr()?;
            let a = nginx(env, &dir, "A", front, false, env.backend, false)?;
            running(kind, front, vec![a])
        }
        Kind::Nginx2Mtls => {
            let (front, hop) = (free_addr()?, free_addr()?);
            let b = nginx(env, &dir, "B", hop, true, env.backend, false)?;
            let a = nginx(env, &dir, "A", front, false, hop, true)?;
            running(kind, front, vec![a, b])
        }
    };
    let mut all: Vec<Proc> = Vec::new();
    std::mem::swap(&mut all, &mut running.proxies);
    let result = wait_answering(running.front, running.host, &mut all).await;
    running.proxies = all;
    result?;
    Ok(running)
}

fn running(kind: Kind, front: SocketAddr, proxies: Vec<Proc>) -> Running {
    Running {
        kind,
        front,
        host: "orders",
        proxies,
        helpers: Vec::new(),
    }
}

/// The outbound listener of a sidecar.
fn outbound(addrs: &ProxyAddrs) -> Result<SocketAddr, CompareError> {
    addrs
        .outbound
        .ok_or_else(|| CompareError(format!("no `outbound` address in {addrs:?}")))
}

/// A file-mode sidecar configuration; `services` is the YAML under `services:`.
fn sidecar_yaml(service: &str, app: &str, services: &str) -> String {
    let mut yaml = format!(
        "sidecar:\n  service: {service}\n  app: {app}\n  listen: {{ outbound: 127.0.0.1:0, inbound: 127.0.0.1:0, admin: 127.0.0.1:0 }}\n"
    );
    if !services.is_empty() {
        yaml.push_str("services:\n");
        yaml.push_str(services);
    }
    yaml
}

fn write(path: &Path, text: &str) -> Result<(), CompareError> {
    std::fs::write(path, text).map_err(|e| CompareError(format!("write {}: {e}", path.display())))
}

/// Starts `convoy-proxy --config` (one worker thread, the default) and reads its addresses.
async fn convoy_file(
    env: &Env,
    dir: &Path,
    which: &str,
    yaml: &str,
) -> Result<(Proc, ProxyAddrs), CompareError> {
    let config = dir.join(format!("convoy-{which}.yaml"));
    write(&config, yaml)?;
    let addrs = dir.join(format!("bound-{which}.json"));
    let args = vec![
        "--config".to_owned(),
        config.display().to_string(),
        "--bound-addrs-file".to_owned(),
        addrs.display().to_string(),
        "--worker-threads".to_owned(),
        "1".to_owned(),
    ];
    let mut proc = Proc::spawn(
        &format!("convoy-proxy {which}"),
        &env.proxy_bin,
        &args,
        dir.join(format!("convoy-{which}.log")),
        env.cpu,
    )?;
    let bound = proc.wait_bound(&addrs, &mut []).await?;
    Ok((proc, bound))
}

/// A control plane with a fresh CA, and two sidecars (web → orders) taking their
/// configuration and identities from it.
async fn convoy_mtls(env: &Env, dir: &Path) -> Result<Running, CompareError> {
    let mesh = dir.join("mesh");
    let ca_dir = dir.join("ca");
    std::fs::create_dir_all(&mesh).map_err(|e| CompareError(e.to_string()))?;
    write(
        &mesh.join("orders.yaml"),
        "services:\n  orders:\n    timeout: 10s\n",
    )?;
    let cp_addrs = dir.join("bound-cp.json");
    let args: Vec<String> = [
        "serve",
        "--config-dir",
        &mesh.display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--bound-addrs-file",
        &cp_addrs.display().to_string(),
        "--ca-dir",
        &ca_dir.display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut cp = Proc::spawn(
        "convoy-control-plane",
        &env.control_plane_bin,
        &args,
        dir.join("control-plane.log"),
        env.cpu,
    )?;
    let api = cp
        .wait_bound::<ControlPlaneAddrs>(&cp_addrs, &mut [])
        .await?
        .listen;
    let sidecar = |service: &str, app: String, which: &str| -> Vec<String> {
        [
            "--control-plane",
            &format!("https://{api}"),
            "--control-plane-ca",
            &ca_dir.join("ca.pem").display().to_string(),
            "--join-token-file",
            &ca_dir.join("join-token").display().to_string(),
            "--service",
            service,
            "--app",
            &app,
            "--outbound-addr",
            "127.0.0.1:0",
            "--inbound-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--worker-threads",
            "1",
            "--bound-addrs-file",
            &dir.join(format!("bound-{which}.json"))
                .display()
                .to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let mut b = Proc::spawn(
        "convoy-proxy B",
        &env.proxy_bin,
        &sidecar("orders", env.backend.to_string(), "B"),
        dir.join("convoy-B.log"),
        env.cpu,
    )?;
    b.wait_bound::<ProxyAddrs>(&dir.join("bound-B.json"), &mut [&mut cp])
        .await?;
    let mut a = Proc::spawn(
        "convoy-proxy A",
        &env.proxy_bin,
        &sidecar("web", "127.0.0.1:1".to_owned(), "A"),
        dir.join("convoy-A.log"),
        env.cpu,
    )?;
    let addrs_a: ProxyAddrs = a
        .wait_bound(&dir.join("bound-A.json"), &mut [&mut cp])
        .await?;
    Ok(Running {
        kind: Kind::Convoy2Mtls,
        front: outbound(&addrs_a)?,
        host: "orders",
        proxies: vec![a, b],
        helpers: vec![cp],
    })
}

/// An HAProxy configuration: one thread, HTTP mode, `bind listen<bind_opts>` to
/// `server next<server_opts>`, connections kept alive and reused on both sides.
fn haproxy_conf(
    listen: SocketAddr,
    bind_opts: &str,
    next: SocketAddr,
    server_opts: &str,
) -> String {
    format!(
        "global
    nbthread 1
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend front
    bind {listen}{bind_opts}
    default_backend next
backend next
    http-reuse always
    server next {next}{server_opts}
"
    )
}

/// Starts `haproxy -db` (foreground) with `conf`.
fn haproxy(env: &Env, dir: &Path, which: &str, conf: &str) -> Result<Proc, CompareError> {
    let path = dir.join(format!("haproxy-{which}.cfg"));
    write(&path, conf)?;
    Proc::spawn(
        &format!("haproxy {which}"),
        &env.haproxy,
        &[
            "-db".to_owned(),
            "-f".to_owned(),
            path.display().to_string(),
        ],
        dir.join(format!("haproxy-{which}.log")),
        env.cpu,
    )
}

/// Starts nginx (a master and one worker, in the foreground) listening on `listen` (TLS
/// with client certificates required when `tls_in`) and proxying to `next` (over TLS with
/// the client certificate when `tls_out`), connections kept alive on both sides.
fn nginx(
    env: &Env,
    dir: &Path,
    which: &str,
    listen: SocketAddr,
    tls_in: bool,
    next: SocketAddr,
    tls_out: bool,
) -> Result<Proc, CompareError> {
    let prefix = dir.join(format!("nginx-{which}"));
    std::fs::create_dir_all(prefix.join("tmp")).map_err(|e| CompareError(e.to_string()))?;
    let p = &env.pki;
    let tmp = prefix.join("tmp").display().to_string();
    let listen_tls = if tls_in {
        format!(
            " ssl;
        ssl_certificate {};
        ssl_certificate_key {};
        ssl_client_certificate {};
        ssl_verify_client on;
        ssl_protocols TLSv1.3",
            p.server_cert.display(),
            p.server_key.display(),
            p.ca.display()
        )
    } else {
        String::new()
    };
    let (scheme, out_tls) = if tls_out {
        (
            "https",
            format!(
                "proxy_ssl_certificate {};
            proxy_ssl_certificate_key {};
            proxy_ssl_trusted_certificate {};
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_ssl_protocols TLSv1.3;
            proxy_ssl_session_reuse on;",
                p.client_cert.display(),
                p.client_key.display(),
                p.ca.display()
            ),
        )
    } else {
        ("http", String::new())
    };
    let conf = format!(
        "daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream next {{
        server {next};
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }}
    server {{
        listen {listen}{listen_tls};
        keepalive_requests 1000000;
        keepalive_timeout 60s;
        location / {{
            proxy_pass {scheme}://next;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            {out_tls}
        }}
    }}
}}
",
        prefix = prefix.display()
    );
    let path = prefix.join("nginx.conf");
    write(&path, &conf)?;
    Proc::spawn(
        &format!("nginx {which}"),
        &env.nginx,
        &[
            "-e".to_owned(),
            "stderr".to_owned(),
            "-p".to_owned(),
            prefix.display().to_string(),
            "-c".to_owned(),
            path.display().to_string(),
        ],
        prefix.join("nginx.log"),
        env.cpu,
    )
}
