//! `convoy-demo`: starts the demo mesh locally (a control plane serving the mesh YAML, and
//! apps and sidecars on loopback, mTLS between every two sidecars), drives traffic into it
//! and shows live per-service stats, while the operator (or a script) stops and restarts the
//! flaky service, changes the rate, toggles flakiness, or edits the mesh YAML. A second,
//! small stream of calls the mesh's authorization refuses shows up in the `denied/s` column.
//! The API gateway `edge` sits in front of web: small, steady streams go through it, to its
//! `web` route set, to its `mobile` one with an API key, and to `mobile` without one (refused
//! 401 at the gateway); it is the table's first row.

mod api;
mod args;
mod binaries;
mod children;
mod control;
mod live;
mod mesh_dir;
mod ready;
mod scrape;
mod table;
mod topology;
mod traffic;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use http::StatusCode;
use tokio::time::Instant;

use api::Api;
pub use args::DemoArgs;
use binaries::Binaries;
use children::{Children, Log};
use mesh_dir::{MeshDir, Overrides};
use ready::Probe;
use scrape::Scraper;
use topology::{
    CaDir, Knobs, Mesh, Node, DENIED_CALLEE, DENIED_CALLER, ENTRY, FLAKY, GATEWAY, MOBILE_KEY,
};
use traffic::{Refused, Served, Target, Traffic};

use crate::client;
use crate::shutdown::Stop;

/// How long apps and sidecars get to answer their health checks.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long requests in flight get to finish once traffic stops.
const DRAIN_GRACE: Duration = Duration::from_secs(3);

/// Requests per second of the call the mesh refuses (web calling payments directly).
const DENIED_RATE: f64 = 1.0;

/// Requests per second through the gateway to each of `/web/` and `/mobile/` (with the key).
const GATEWAY_RATE: f64 = 2.0;

/// Requests per second through the gateway to `/mobile/` without a key (refused with 401).
const KEYLESS_RATE: f64 = 1.0;

/// Runs the demo until Ctrl-C, SIGTERM, `q` or `--duration`. Every child process is
/// killed and reaped before this returns, whether the demo succeeded or not.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let own_dir = binaries::own_dir()?;
    if !args.no_build {
        binaries::build(&own_dir).await?;
    }
    let binaries = binaries::locate(&own_dir)?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| default_work_dir(&own_dir));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let work_dir = work_dir.canonicalize()?;
    let mesh_dir = MeshDir::prepare(
        &args.mesh_dir.clone().unwrap_or_else(mesh_dir::default_dir),
        &work_dir,
        Overrides {
            base_ejection: args.base_ejection,
            rate_limit: args.rate_limit,
        },
    )?;
    if !mesh_dir
        .load()
        .is_some_and(|m| m.gateways.contains_key(GATEWAY))
    {
        bail!(
            "the mesh in {} defines no gateway `{GATEWAY}` (the demo's is in {})",
            mesh_dir.path.display(),
            mesh_dir::file_of(GATEWAY)
        );
    }
    let mesh = Mesh::allocate(Knobs {
        failure_rate: args.failure_rate,
    })
    .context("picking free loopback ports")?;
    let ca = CaDir::in_work_dir(&work_dir);
    let launch = Launch {
        binaries: &binaries,
        mesh: &mesh,
        mesh_dir: &mesh_dir,
        work_dir: &work_dir,
        ca: &ca,
    };

    let mut stop = Stop::listen();
    let mut children = Children::default();
    let outcome = demo(&args, &launch, &mut children, &mut stop).await;
    children.shutdown().await;
    if let Some(summary) = outcome? {
        print!("\n{summary}");
    }
    println!("logs are in {}", work_dir.display());
    Ok(())
}

/// Starts the control plane and the mesh, waits for them, drives traffic and returns the
/// final summary (`None` if stopped before traffic started).
async fn demo(
    args: &DemoArgs,
    launch: &Launch<'_>,
    children: &mut Children,
    stop: &mut Stop,
) -> anyhow::Result<Option<String>> {
    let mesh = launch.mesh;
    let client = client::http1();
    launch.introduce();
    let control_plane = [launch.start_control_plane(children)?];
    tokio::select! {
        ready = ready::wait(&control_plane, children, READY_TIMEOUT) => ready?,
        () = stop.requested() => return Ok(None),
    }
    // Ready means the CA directory is in place: the anchor to verify the API with, and the
    // join token the sidecars need.
    let api = launch.api()?;
    let probes = launch.start_mesh(children)?;
    println!("waiting for apps and sidecars to be ready (a sidecar is once it runs the mesh)...");
    tokio::select! {
        ready = ready::wait(&probes, children, READY_TIMEOUT) => ready?,
        () = stop.requested() => return Ok(None),
    }
    // Each sidecar runs a mesh, but maybe one from before every other had registered.
    tokio::select! {
        ready = ready::converged(&api, mesh, children, READY_TIMEOUT) => ready?,
        () = stop.requested() => return Ok(None),
    }
    // The gateway last: it then takes a mesh in which web has its endpoint.
    let gateway = [launch.start_gateway(children)?];
    tokio::select! {
        ready = ready::wait(&gateway, children, READY_TIMEOUT) => ready?,
        () = stop.requested() => return Ok(None),
    }

    let scraper = Scraper::new(client.clone(), api, mesh);
    let baseline = scraper.scrape().await.or_zero();
    let entry = mesh
        .node(ENTRY)
        .context("the entry service is part of the mesh")?;
    let caller = mesh
        .node(DENIED_CALLER)
        .context("the caller of the denied call is part of the mesh")?;
    let url = format!("http://{}/", entry.addrs.inbound);
    let denied_url = format!("http://{}/", caller.addrs.outbound);
    println!(
        "ready; sending {} req/s of GET {url} (Host: {ENTRY}) into {ENTRY}'s sidecar,\n  \
         and {DENIED_RATE} req/s of GET {denied_url} (Host: {DENIED_CALLEE}) into {DENIED_CALLER}'s\n  \
         outbound: {DENIED_CALLER} calling {DENIED_CALLEE}, which {} does not allow (`denied/s`)",
        args.rate,
        mesh_dir::file_of(DENIED_CALLEE),
    );
    let edge = mesh.gateway.listen;
    println!(
        "  and through the gateway {GATEWAY} (http://{edge}, the `{GATEWAY}` row):\n  \
         {GATEWAY_RATE} req/s to /web/, {GATEWAY_RATE} req/s to /mobile/ with \
         `x-api-key: {MOBILE_KEY}`,\n  \
         and {KEYLESS_RATE} req/s to /mobile/ without a key, which it refuses \
         (401, `denied/s`)\n"
    );
    let traffic = Traffic::start(
        client.clone(),
        Target::get(url).header("host", ENTRY),
        args.rate,
    );
    let denied = Traffic::start(
        client.clone(),
        Target::get(denied_url).header("host", DENIED_CALLEE),
        DENIED_RATE,
    );
    let through = ThroughGateway::start(&client, edge);
    let started = Instant::now();
    let run = live::Run {
        scraper: &scraper,
        launch,
        traffic: &traffic,
        started,
        until: args.duration.map(|d| started + d),
        entry: ENTRY,
        script: args.script.as_ref().map_or(&[], |s| s.steps()),
    };
    live::show(&run, baseline.clone(), children, stop).await?;

    tokio::join!(
        traffic.stop(DRAIN_GRACE),
        denied.stop(DRAIN_GRACE),
        through.stop(DRAIN_GRACE)
    );
    let last = scraper.scrape().await;
    let title = format!(
        "summary after {:.1}s: {}\n\
         {DENIED_CALLER} → {DENIED_CALLEE} (not allowed by {}): {}\n{through}\n{}",
        last.at.duration_since(started).as_secs_f64(),
        traffic.counts,
        mesh_dir::file_of(DENIED_CALLEE),
        Refused(&denied.counts, StatusCode::FORBIDDEN),
        live::mesh_line(launch, &last.control_plane, false),
    );
    Ok(Some(table::render(&title, &scraper.rows(&baseline, &last))))
}

/// The streams through the gateway: browsers on `/web/`, the mobile app on `/mobile/` with
/// its key, and a client without a key, which the gateway refuses.
struct ThroughGateway {
    web: Traffic,
    mobile: Traffic,
    keyless: Traffic,
}

impl ThroughGateway {
    /// Starts the three streams into the gateway listening at `addr`.
    fn start(client: &client::HttpClient, addr: std::net::SocketAddr) -> ThroughGateway {
        let get = |path: &str| Target::get(format!("http://{addr}{path}"));
        ThroughGateway {
            web: Traffic::start(client.clone(), get("/web/"), GATEWAY_RATE),
            mobile: Traffic::start(
                client.clone(),
                get("/mobile/").header("x-api-key", MOBILE_KEY),
                GATEWAY_RATE,
            ),
            keyless: Traffic::start(client.clone(), get("/mobile/"), KEYLESS_RATE),
        }
    }

    async fn stop(&self, grace: Duration) {
        tokio::join!(
            self.web.stop(grace),
            self.mobile.stop(grace),
            self.keyless.stop(grace)
        );
    }
}

/// `gateway edge: /web 20 of 20 ok; /mobile with a key 20 of 20 ok;` and, on the next line,
/// `  /mobile without a key: sent 10 requests, 10 refused with 401`.
impl std::fmt::Display for ThroughGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gateway {GATEWAY}: /web {}; /mobile with a key {};\n  \
             /mobile without a key: {}",
            Served(&self.web.counts),
            Served(&self.mobile.counts),
            Refused(&self.keyless.counts, StatusCode::UNAUTHORIZED),
        )
    }
}

/// Where the demo's programs are, the mesh they form, the YAML the control plane serves,
/// where logs go and where the control plane keeps the mesh CA.
pub(crate) struct Launch<'a> {
    binaries: &'a Binaries,
    mesh: &'a Mesh,
    mesh_dir: &'a MeshDir,
    work_dir: &'a Path,
    ca: &'a CaDir,
}

impl Launch<'_> {
    /// The child label of `node`'s app (`payments-1's app`).
    pub(crate) fn app_label(node: &Node) -> String {
        format!("{}'s app", node.label())
    }

    /// Starts `node`'s app, failing requests only if its service is flaky and `flaky` is on.
    pub(crate) fn start_app(
        &self,
        children: &mut Children,
        node: &Node,
        flaky: bool,
        log: Log,
    ) -> anyhow::Result<()> {
        children.spawn(
            &Self::app_label(node),
            &self.binaries.service,
            self.mesh.service_args(node, flaky),
            &self.app_log(node),
            log,
        )
    }

    fn app_log(&self, node: &Node) -> PathBuf {
        self.work_dir.join(format!("{}.app.log", node.label()))
    }

    /// Says where the logs are, which YAML to edit, and how to ask the control plane
    /// which sidecar runs which version.
    fn introduce(&self) {
        println!(
            "convoy-demo: logs (control-plane.log, *.app.log, *.sidecar.log, {GATEWAY}.gateway.log)\n  in {}",
            shown(self.work_dir)
        );
        let dir = shown(&self.mesh_dir.path);
        match &self.mesh_dir.copied_from {
            Some(source) => println!(
                "mesh: the control plane serves {dir}/*.yaml, a copy of {} with the\n  \
                 overrides of --base-ejection/--rate-limit written in",
                shown(source)
            ),
            None => println!("mesh: the control plane serves {dir}/*.yaml"),
        }
        println!(
            "  edit {dir}/{} and watch the table:\n  \
             within a second every sidecar runs the new version (`version` column); an edit\n  \
             that does not validate is refused, shown above the table, and changes nothing",
            mesh_dir::file_of(FLAKY)
        );
        println!(
            "  {} is the gateway's: its routes, API key and rate limit (EDIT ME there too)",
            mesh_dir::file_of(GATEWAY)
        );
        println!(
            "  which sidecar runs which version: {} status --url {} --ca-file {}",
            shown(&self.binaries.control_plane),
            self.mesh.control_plane.url(),
            shown(&self.ca.ca_file())
        );
        println!(
            "mtls: the mesh CA is in {} (trust domain {}):\n  \
             the control plane issues each sidecar its certificate; sidecars talk mTLS",
            shown(&self.ca.path),
            topology::TRUST_DOMAIN
        );
    }

    /// A client of the control plane's API (TLS), trusting the CA it keeps in the work dir.
    fn api(&self) -> anyhow::Result<Api> {
        Api::new(self.mesh.control_plane.listen, &self.ca.ca_file()).with_context(|| {
            format!(
                "the control plane is ready, but its CA in {} is not usable (does this \
                 convoy-control-plane support --ca-dir?); see control-plane.log",
                self.ca.path.display()
            )
        })
    }

    /// Starts the control plane on the mesh directory; returns what to poll before
    /// starting the sidecars.
    fn start_control_plane(&self, children: &mut Children) -> anyhow::Result<Probe> {
        let log = self.work_dir.join("control-plane.log");
        children.spawn(
            "the control plane",
            &self.binaries.control_plane,
            self.mesh.control_plane_args(&self.mesh_dir.path, self.ca),
            &log,
            Log::Fresh,
        )?;
        let cp = self.mesh.control_plane;
        println!(
            "  control plane: sidecar API {}  admin {}",
            cp.listen, cp.admin
        );
        Ok(Probe::new(
            "the control plane".to_owned(),
            cp.admin,
            "/ready",
            log,
        ))
    }

    /// Starts the gateway (in control-plane mode, as the service `edge`); returns what to
    /// poll before sending traffic through it.
    fn start_gateway(&self, children: &mut Children) -> anyhow::Result<Probe> {
        let log = self.work_dir.join(format!("{GATEWAY}.gateway.log"));
        children.spawn(
            &format!("the gateway {GATEWAY}"),
            &self.binaries.proxy,
            self.mesh.gateway_args(self.ca),
            &log,
            Log::Fresh,
        )?;
        let gw = self.mesh.gateway;
        println!(
            "  gateway {GATEWAY}: http://{}/web/… and /mobile/… (x-api-key: {MOBILE_KEY})\n    \
             admin {} (its routes: {})",
            gw.listen,
            gw.admin,
            mesh_dir::file_of(GATEWAY)
        );
        Ok(Probe::new(
            format!("the gateway {GATEWAY}"),
            gw.admin,
            "/ready",
            log,
        ))
    }

    /// Starts every app and its sidecar (in control-plane mode), logging to files in the
    /// work dir; returns what to poll before sending traffic.
    fn start_mesh(&self, children: &mut Children) -> anyhow::Result<Vec<Probe>> {
        let mut probes = Vec::new();
        for node in &self.mesh.nodes {
            let label = node.label();
            let sidecar_log = self.work_dir.join(format!("{label}.sidecar.log"));
            self.start_app(children, node, true, Log::Fresh)?;
            children.spawn(
                &format!("{label}'s sidecar"),
                &self.binaries.proxy,
                self.mesh.sidecar_args(node, self.ca),
                &sidecar_log,
                Log::Fresh,
            )?;
            let a = node.addrs;
            println!(
                "  {label:<11} app {}  sidecar: inbound {}  outbound {}  admin {}",
                a.app, a.inbound, a.outbound, a.admin
            );
            probes.push(Probe::new(
                Self::app_label(node),
                a.app,
                "/healthz",
                self.app_log(node),
            ));
            probes.push(Probe::new(
                format!("{label}'s sidecar"),
                a.admin,
                "/ready",
                sidecar_log,
            ));
        }
        Ok(probes)
    }
}

/// `path` relative to the current directory when it is inside it (`examples/demo/mesh`),
/// else as it is.
pub(crate) fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `target/convoy-demo` when running from `target/<profile>/`.
fn default_work_dir(own_dir: &Path) -> PathBuf {
    own_dir.parent().unwrap_or(own_dir).join("convoy-demo")
}
