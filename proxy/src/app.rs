//! Starting the sidecar: load the config file (or wait for the control plane's first snapshot
//! and a certificate from its CA), bind listeners, serve, drain on SIGTERM/SIGINT.

use crate::admin::{self, AdminState};
use crate::cli::Args;
use crate::server::accept::InboundAccept;
use crate::server::{self, ConnectionAccept, HttpService};
use arc_swap::ArcSwap;
use convoy_config::{
    AppProtocol, ConfigError, Limits, Listen, Mesh, Protocol, ProxyConfig, ServiceName,
};
use convoy_control_client::BoundAddrs;
use convoy_control_client::CertificateClient;
use convoy_control_client::ControlPlaneUrl;
use convoy_control_client::{
    self as control, ControlCaError, ControlPlane, ControlTls, JoinToken, TokenError,
};
use convoy_gateway::{self as gateway, tls::GatewayTls};
use convoy_identity::{Identity, TlsMetrics};
use convoy_runtime::Drain;
use convoy_runtime::{Signals, StartupError};
use convoy_stack::snapshot::{content_version, Snapshot};
use convoy_stack::{inbound, outbound, tcp};
use convoy_telemetry::metrics::Metrics;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::util::BoxCloneService;

/// The version shown before the control plane's first snapshot is in force.
pub(crate) const NO_VERSION: &str = "none";

/// Why the sidecar could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration file was refused.
    #[error("{0}")]
    Config(#[from] Box<ConfigError>),
    /// Neither `--config` nor `--control-plane` (the command line refuses this already).
    #[error("no configuration: pass --config FILE or --control-plane URL")]
    NoSource,
    /// `--control-plane` without `--service`, `--app`, `--control-plane-ca` or
    /// `--join-token-file` (the command line refuses this already).
    #[error(
        "--control-plane needs --service NAME, --control-plane-ca FILE, --join-token-file FILE and --app ADDR (a gateway, --gateway, has no app)"
    )]
    MissingSidecarFlags,
    /// Other sidecars could not be told where the inbound listener is.
    #[error(
        "the inbound listener {inbound} is on every interface, so the control plane cannot tell \
         other sidecars where to reach it: pass --advertise-addr HOST:PORT \
         (CONVOY_ADVERTISE_ADDR), or --inbound-addr with a specific address"
    )]
    NoAdvertiseAddr {
        /// The inbound listener's address.
        inbound: SocketAddr,
    },
    /// A listener, the bound-addresses file or the signal handlers.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The `--control-plane-ca` file was refused.
    #[error("{0}")]
    ControlCa(#[from] ControlCaError),
    /// The join token file cannot be used.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// `--gateway` names a gateway the configuration does not define.
    #[error("--gateway: the configuration defines no gateway `{name}` (gateways.{name})")]
    NoGateway {
        /// The name (`sidecar.service` or `--service`).
        name: String,
    },
    /// A gateway listener's certificate or key cannot be used.
    #[error("gateway listener {addr}: {source}")]
    GatewayTls {
        /// The listener.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: convoy_gateway::tls::TlsFileError,
    },
}

async fn bind(listener: &str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    Ok(convoy_runtime::bind(listener, addr).await?)
}

/// What the sidecar starts with: the first snapshot's configuration, and in control-plane mode
/// where the next ones come from.
struct Start {
    config: ProxyConfig,
    version: String,
    source: String,
    /// The control plane and `--app-protocol`, in control-plane mode.
    control: Option<(ControlPlaneUrl, Option<AppProtocol>)>,
}

/// In control-plane mode: the identity, how the control plane is reached, the join token.
struct Trusted {
    identity: Identity,
    tls: ControlTls,
    token: JoinToken,
}

impl Trusted {
    /// Reads `--control-plane-ca` and checks `--join-token-file` once, so a bad file fails the
    /// start rather than every later request.
    fn from_args(args: &Args, config: &ProxyConfig, metrics: &Metrics) -> Result<Self, AppError> {
        let (Some(ca_file), Some(token_file)) = (&args.control_plane_ca, &args.join_token_file)
        else {
            return Err(AppError::MissingSidecarFlags);
        };
        let registry = metrics.registry();
        let identity = Identity::new(
            config.sidecar.service.clone(),
            TlsMetrics::new(registry),
            registry,
        );
        let tls = ControlTls::load(ca_file, identity.clone())?;
        let token = JoinToken::new(token_file);
        token.header()?;
        Ok(Trusted {
            identity,
            tls,
            token,
        })
    }
}

impl Start {
    fn from_args(args: &Args) -> Result<Start, AppError> {
        match (&args.config, &args.control_plane) {
            (Some(path), _) => {
                let mut config = convoy_config::load_proxy_config(path).map_err(Box::new)?;
                let listen = &mut config.sidecar.listen;
                listen.outbound = args.outbound_addr.unwrap_or(listen.outbound);
                listen.inbound = args.inbound_addr.unwrap_or(listen.inbound);
                listen.admin = args.admin_addr.unwrap_or(listen.admin);
                Ok(Start {
                    config,
                    version: content_version(&std::fs::read(path).unwrap_or_default()),
                    source: path.display().to_string(),
                    control: None,
                })
            }
            (None, Some(url)) => {
                let sidecar = args.sidecar().ok_or(AppError::MissingSidecarFlags)?;
                let inbound = sidecar.listen.inbound;
                // A gateway registers no endpoint: nothing calls it through the mesh.
                if !args.gateway && args.advertise_addr.is_none() && inbound.ip().is_unspecified() {
                    return Err(AppError::NoAdvertiseAddr { inbound });
                }
                Ok(Start {
                    // No services until the first snapshot: requests get the usual errors.
                    config: ProxyConfig {
                        sidecar,
                        mesh: Mesh::default(),
                    },
                    version: NO_VERSION.to_owned(),
                    source: format!("control plane {url} (no snapshot yet)"),
                    control: Some((url.clone(), args.app_protocol.map(AppProtocol::from))),
                })
            }
            (None, None) => Err(AppError::NoSource),
        }
    }
}

/// Binds a gateway's listeners and loads their certificates.
async fn bind_gateway(
    gateway: &convoy_config::Gateway,
    first_addr: Option<SocketAddr>,
) -> Result<Vec<(TcpListener, Option<GatewayTls>)>, AppError> {
    let mut bound = Vec::new();
    for (index, listener) in gateway.listeners.iter().enumerate() {
        // `--gateway-addr` moves the first listener.
        let addr = match first_addr {
            Some(addr) if index == 0 => addr,
            _ => listener.address,
        };
        let tls = match &listener.tls {
            Some(files) => Some(
                GatewayTls::start(files.clone())
                    .map_err(|source| AppError::GatewayTls { addr, source })?,
            ),
            None => None,
        };
        bound.push((bind(&format!("gateway {}", gateway.name), addr).await?, tls));
    }
    Ok(bound)
}

/// What serving a gateway's listeners needs.
struct GatewayServing {
    service: HttpService,
    limits: Limits,
    drain: Drain,
    metrics: Metrics,
}

impl GatewayServing {
    fn serve(&self, bound: Vec<(TcpListener, Option<GatewayTls>)>) {
        for (listener, tls) in bound {
            tracing::info!(
                addr = ?listener.local_addr().ok(),
                tls = tls.is_some(),
                "gateway listening"
            );
            tokio::spawn(server::serve_http(
                listener,
                "gateway",
                self.service.clone(),
                self.limits.clone(),
                self.drain.clone(),
                self.metrics.connections("gateway"),
                tls.map(ConnectionAccept::GatewayTls),
            ));
        }
    }
}

/// In control-plane mode: binds the gateway's listeners once a snapshot defines the gateway
/// (retrying every second while they cannot be bound), then reports them.
async fn bind_gateway_later(
    name: convoy_config::ServiceName,
    first_addr: Option<SocketAddr>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    serving: GatewayServing,
    bound_flag: Arc<AtomicBool>,
    listeners: Arc<ArcSwap<BoundAddrs>>,
    bound_addrs_file: Option<PathBuf>,
) {
    loop {
        let gateway = snapshot.load().config.mesh.gateways.get(&name).cloned();
        if let Some(gateway) = gateway {
            match bind_gateway(&gateway, first_addr).await {
                Ok(bound) => {
                    let mut addrs = BoundAddrs::clone(&listeners.load());
                    addrs.gateway = bound
                        .iter()
                        .filter_map(|(l, _)| l.local_addr().ok())
                        .collect();
                    if let Some(path) = &bound_addrs_file {
                        if let Err(error) = convoy_runtime::write_json_atomically(path, &addrs) {
                            tracing::warn!(%error, "cannot write the bound addresses");
                        }
                    }
                    listeners.store(Arc::new(addrs));
                    serving.serve(bound);
                    bound_flag.store(true, Ordering::Release);
                    return;
                }
                Err(error) => tracing::warn!(%error, "gateway listeners not bound; retrying"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Runs the sidecar until SIGTERM or SIGINT, then drains within the grace period.
///
/// The steps, in the order they must happen: the signal handlers first (a SIGTERM as soon as
/// the sidecar looks ready must drain, not kill); the configuration and identity
/// (`prepare`), so a bad flag or file fails before anything is bound; every listener bound
/// (`bind_listeners`) before any is served (`serve_listeners`); ready only then, at once with
/// a file (`announce_ready`) or once the control plane's first snapshot and a certificate are
/// in force (`connect_control_plane`); on a signal, `drain`.
pub async fn run(args: Args) -> Result<(), AppError> {
    // Installed before anything is bound: a SIGTERM as soon as we look ready must drain, not kill.
    let signals = Signals::install().map_err(StartupError::Signals)?;
    let mut prepared = prepare(&args)?;
    let listeners = bind_listeners(&args, &prepared).await?;
    let bound = listeners.addrs.clone();
    let running = serve_listeners(&args, &prepared, listeners);
    let control = match prepared.control.take() {
        None => {
            announce_ready(&running, &prepared.version, &bound);
            None
        }
        Some(control) => Some(connect_control_plane(
            &args, control, &prepared, &bound, &running,
        )),
    };
    signals.received().await;
    drain(args.grace_period, control, running).await;
    Ok(())
}

/// What the sidecar knows before anything is bound: its configuration, metrics and identity.
struct Prepared {
    metrics: Metrics,
    limits: Limits,
    /// The listeners' addresses from the configuration and the flags.
    listen: Listen,
    /// Gateway mode: the gateway named like the sidecar's service.
    gateway_name: Option<ServiceName>,
    /// The TCP services with a listener of their own (none in gateway mode).
    tcp_services: Vec<(String, SocketAddr)>,
    /// `None` in file mode: no identity, plaintext.
    identity: Option<Identity>,
    /// In control-plane mode: where the next snapshots come from and how to reach it.
    control: Option<Control>,
    /// The first snapshot's version.
    version: String,
    /// The configuration in force.
    snapshot: Arc<ArcSwap<Snapshot>>,
}

/// In control-plane mode: the control plane, `--app-protocol`, and the trust to reach it.
struct Control {
    url: ControlPlaneUrl,
    app_protocol: Option<AppProtocol>,
    trusted: Trusted,
}

/// Reads the configuration (or prepares for the control plane's), the identity and the first
/// snapshot. Everything that can refuse a flag or a file happens here, before any listener is
/// bound; the identity comes before the snapshot, whose clients use it for mutual TLS.
fn prepare(args: &Args) -> Result<Prepared, AppError> {
    let start = Start::from_args(args)?;
    let metrics = Metrics::new();
    let limits = start.config.sidecar.limits.clone();
    let listen = start.config.sidecar.listen.clone();
    // Gateway mode: the gateway named like the sidecar's service; no app, no inbound or
    // outbound listener, no TCP services.
    let gateway_name = args.gateway.then(|| start.config.sidecar.service.clone());
    if let Some(name) = &gateway_name {
        if start.control.is_none() && !start.config.mesh.gateways.contains_key(name) {
            return Err(AppError::NoGateway {
                name: name.to_string(),
            });
        }
    }
    let tcp_services: Vec<(String, SocketAddr)> = start
        .config
        .mesh
        .services
        .values()
        .filter(|s| s.protocol == Protocol::Tcp && !args.gateway)
        .filter_map(|s| s.listen.map(|addr| (s.name.to_string(), addr)))
        .collect();
    let trusted = trust(args, &start, &metrics)?;
    let identity = trusted.as_ref().map(|t| t.identity.clone());
    let control = start
        .control
        .zip(trusted)
        .map(|((url, app_protocol), trusted)| Control {
            url,
            app_protocol,
            trusted,
        });
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::build_with_identity(
        start.config,
        start.version.clone(),
        start.source,
        &metrics,
        identity.clone(),
    )));
    Ok(Prepared {
        metrics,
        limits,
        listen,
        gateway_name,
        tcp_services,
        identity,
        control,
        version: start.version,
        snapshot,
    })
}

/// The sidecar's trust: in control-plane mode its identity, the control plane's anchors and
/// the join token, checked now; in file mode none, and a warning that says what that means.
fn trust(args: &Args, start: &Start, metrics: &Metrics) -> Result<Option<Trusted>, AppError> {
    match &start.control {
        Some(_) => Ok(Some(Trusted::from_args(args, &start.config, metrics)?)),
        None => {
            tracing::warn!(
                "no identity with --config: inbound accepts plaintext and calls to other services \
                 are plaintext; run with --control-plane for mutual TLS"
            );
            Ok(None)
        }
    }
}

/// The listeners, bound and not yet served, and their addresses.
struct Listeners {
    admin: TcpListener,
    /// `None` in gateway mode, like `inbound`.
    outbound: Option<TcpListener>,
    inbound: Option<TcpListener>,
    /// In file mode, the gateway's; with a control plane they are bound once a snapshot names
    /// them.
    gateway: Option<Vec<(TcpListener, Option<GatewayTls>)>>,
    /// Each TCP service's listener and name.
    tcp: Vec<(TcpListener, String)>,
    /// What was bound (they differ from the configuration with port 0).
    addrs: BoundAddrs,
}

/// Binds every listener before serving any, so a bad address fails the start cleanly, then
/// writes their addresses to `--bound-addrs-file` (whoever reads it can connect at once).
async fn bind_listeners(args: &Args, prepared: &Prepared) -> Result<Listeners, AppError> {
    let listen = &prepared.listen;
    let admin = bind("admin", listen.admin).await?;
    let (outbound, inbound) = if prepared.gateway_name.is_none() {
        (
            Some(bind("outbound", listen.outbound).await?),
            Some(bind("inbound", listen.inbound).await?),
        )
    } else {
        (None, None)
    };
    // In file mode the gateway's listeners are known now; with a control plane, once its
    // snapshot names them.
    let gateway = match (&prepared.gateway_name, &prepared.control) {
        (Some(name), None) => {
            let config = prepared.snapshot.load();
            match config.config.mesh.gateways.get(name) {
                Some(gateway) => Some(bind_gateway(gateway, args.gateway_addr).await?),
                None => None,
            }
        }
        _ => None,
    };
    let mut tcp = Vec::new();
    for (service, addr) in &prepared.tcp_services {
        tcp.push((
            bind(&format!("tcp service {service}"), *addr).await?,
            service.clone(),
        ));
    }
    let mut listeners = Listeners {
        admin,
        outbound,
        inbound,
        gateway,
        tcp,
        addrs: BoundAddrs::default(),
    };
    listeners.addrs = listeners.local_addrs();
    if let Some(path) = &args.bound_addrs_file {
        convoy_runtime::write_json_atomically(path, &listeners.addrs)?;
    }
    Ok(listeners)
}

impl Listeners {
    /// The addresses the listeners are bound to.
    fn local_addrs(&self) -> BoundAddrs {
        let mut bound = BoundAddrs {
            outbound: self.outbound.as_ref().and_then(|l| l.local_addr().ok()),
            inbound: self.inbound.as_ref().and_then(|l| l.local_addr().ok()),
            gateway: self
                .gateway
                .iter()
                .flatten()
                .filter_map(|(l, _)| l.local_addr().ok())
                .collect(),
            admin: self.admin.local_addr().ok(),
            ..BoundAddrs::default()
        };
        for (listener, service) in &self.tcp {
            if let Ok(addr) = listener.local_addr() {
                bound.tcp.insert(service.clone(), addr);
            }
        }
        bound
    }
}

/// What the served listeners share with the control-plane client and the drain.
struct Running {
    /// `/ready`: set once a configuration is in force, cleared when draining.
    ready: Arc<AtomicBool>,
    /// Stops the outbound, inbound, gateway and TCP listeners.
    drain: Drain,
    /// Stops the admin listener, after the others: `/ready` and `/metrics` answer while the
    /// sidecar drains.
    admin_drain: Drain,
    /// The addresses bound (`/config`); listeners bound later are added.
    listeners: Arc<ArcSwap<BoundAddrs>>,
}

/// Serves every bound listener: the admin one first (`/live` answers at once, `/ready` stays
/// false until [`run`] sets it), then outbound, inbound, the gateway's and the TCP services'.
/// Nothing is served before everything is bound, and nothing is ready here.
fn serve_listeners(args: &Args, prepared: &Prepared, listeners: Listeners) -> Running {
    let running = Running {
        ready: Arc::new(AtomicBool::new(false)),
        drain: Drain::default(),
        admin_drain: Drain::default(),
        listeners: Arc::new(ArcSwap::from_pointee(listeners.addrs.clone())),
    };
    let gateway_bound = prepared
        .gateway_name
        .as_ref()
        .map(|_| Arc::new(AtomicBool::new(listeners.gateway.is_some())));
    serve_admin(prepared, listeners.admin, gateway_bound.clone(), &running);
    let (snapshot, limits, metrics) = (&prepared.snapshot, &prepared.limits, &prepared.metrics);
    if let Some(outbound_listener) = listeners.outbound {
        tokio::spawn(server::serve_http(
            outbound_listener,
            "outbound",
            outbound::stack(snapshot.clone(), limits, metrics),
            limits.clone(),
            running.drain.clone(),
            metrics.connections("outbound"),
            None,
        ));
    }
    if let Some(inbound_listener) = listeners.inbound {
        tokio::spawn(server::serve_http(
            inbound_listener,
            "inbound",
            inbound::stack(snapshot.clone(), limits, metrics),
            limits.clone(),
            running.drain.clone(),
            metrics.connections("inbound"),
            Some(InboundAccept::new(prepared.identity.clone(), snapshot.clone()).into()),
        ));
    }
    if let (Some(name), Some(bound_flag)) = (prepared.gateway_name.clone(), gateway_bound) {
        serve_gateway(
            args,
            prepared,
            name,
            listeners.gateway,
            bound_flag,
            &running,
        );
    }
    for (listener, service) in listeners.tcp {
        tokio::spawn(tcp::serve(
            listener,
            service,
            snapshot.clone(),
            running.drain.clone(),
            metrics.clone(),
        ));
    }
    running
}

/// Serves `/live`, `/ready`, `/metrics` and `/config` on the admin listener, with a drain of
/// its own so it outlives the others.
fn serve_admin(
    prepared: &Prepared,
    listener: TcpListener,
    gateway_bound: Option<Arc<AtomicBool>>,
    running: &Running,
) {
    let admin_state = AdminState {
        ready: running.ready.clone(),
        gateway_bound,
        identity: prepared.identity.clone(),
        snapshot: prepared.snapshot.clone(),
        metrics: prepared.metrics.clone(),
        listeners: running.listeners.clone(),
    };
    let admin_service: HttpService = BoxCloneService::new(tower::service_fn(move |request| {
        admin::handle(admin_state.clone(), request)
    }));
    tokio::spawn(server::serve_http(
        listener,
        "admin",
        admin_service,
        Limits::default(),
        running.admin_drain.clone(),
        prepared.metrics.connections("admin"),
        None,
    ));
}

/// Gateway mode: serves the gateway's request path on its listeners (file mode: bound already)
/// or spawns the task that binds them once a snapshot names the gateway (`/ready` waits for
/// `bound_flag`); and evicts idle per-consumer rate limiters.
fn serve_gateway(
    args: &Args,
    prepared: &Prepared,
    name: ServiceName,
    bound: Option<Vec<(TcpListener, Option<GatewayTls>)>>,
    bound_flag: Arc<AtomicBool>,
    running: &Running,
) {
    let metrics = &prepared.metrics;
    let state = Arc::new(gateway::GatewayState::new(
        name.clone(),
        prepared.snapshot.clone(),
        metrics.registry(),
    ));
    let service = gateway::stack(
        state.clone(),
        &prepared.limits,
        metrics,
        gateway::observe::GatewayMetrics::new(metrics.registry()),
    );
    let serving = GatewayServing {
        service,
        limits: prepared.limits.clone(),
        drain: running.drain.clone(),
        metrics: metrics.clone(),
    };
    match bound {
        Some(bound) => serving.serve(bound),
        None => {
            tokio::spawn(bind_gateway_later(
                name,
                args.gateway_addr,
                prepared.snapshot.clone(),
                serving,
                bound_flag,
                running.listeners.clone(),
                args.bound_addrs_file.clone(),
            ));
        }
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(convoy_policy::rate_limit::EVICTION_INTERVAL);
        loop {
            every.tick().await;
            state.evict_idle();
        }
    });
}

/// File mode: ready once every listener is served, since the file's configuration is in
/// force already.
fn announce_ready(running: &Running, version: &str, bound: &BoundAddrs) {
    running.ready.store(true, Ordering::Release);
    tracing::info!(
        version = %version,
        outbound = ?bound.outbound,
        inbound = ?bound.inbound,
        admin = ?bound.admin,
        tcp = ?bound.tcp,
        "convoy-proxy ready"
    );
}

/// The control-plane mode's tasks, stopped first when draining.
struct ControlTasks {
    /// The stream: snapshots in, ACKs out; it marks the sidecar ready.
    stream: JoinHandle<()>,
    /// The certificate's renewal.
    renewal: JoinHandle<()>,
}

/// Control-plane mode: registers with the listeners actually bound (a TCP service overlapping
/// them is refused), starts the certificate's renewal and the stream. The sidecar becomes
/// ready once the first snapshot and a certificate are in force, not before.
fn connect_control_plane(
    args: &Args,
    control: Control,
    prepared: &Prepared,
    bound: &BoundAddrs,
    running: &Running,
) -> ControlTasks {
    let listen = &prepared.listen;
    let mut sidecar = prepared.snapshot.load().config.sidecar.clone();
    // The ports actually bound: a TCP service overlapping them is refused.
    sidecar.listen = Listen {
        outbound: bound.outbound.unwrap_or(listen.outbound),
        inbound: bound.inbound.unwrap_or(listen.inbound),
        admin: bound.admin.unwrap_or(listen.admin),
    };
    let advertise = args
        .advertise_addr
        .clone()
        .unwrap_or_else(|| sidecar.listen.inbound.to_string());
    tracing::info!(
        control_plane = %control.url,
        %advertise,
        outbound = ?bound.outbound,
        inbound = ?bound.inbound,
        admin = ?bound.admin,
        "convoy-proxy listening; not ready until the control plane's first snapshot and a certificate"
    );
    let id = control::sidecar_id(sidecar.service.as_str());
    let trusted = control.trusted;
    let certificates = CertificateClient::new(
        control.url.clone(),
        trusted.tls.clone(),
        trusted.token.clone(),
        id.clone(),
    );
    let renewal = convoy_control_client::renew::spawn(trusted.identity.clone(), certificates);
    let control = ControlPlane {
        url: control.url,
        tls: trusted.tls,
        token: trusted.token,
        id,
        sidecar,
        app_protocol: control.app_protocol,
        advertise,
        gateway: args.gateway,
    };
    let handles = control::Handles {
        snapshot: prepared.snapshot.clone(),
        metrics: prepared.metrics.clone(),
        ready: running.ready.clone(),
        drain: running.drain.clone(),
        listeners: running.listeners.clone(),
        bound_addrs_file: args.bound_addrs_file.clone(),
        identity: trusted.identity,
    };
    let stream = control::spawn(control, handles);
    ControlTasks { stream, renewal }
}

/// Drains after SIGTERM or SIGINT, in this order: the control-plane stream closes (so nothing
/// marks the sidecar ready again), `/ready` turns false, the listeners stop accepting, and the
/// requests in flight get up to `grace_period`; the admin listener stops last, so `/ready`
/// and `/metrics` answer throughout.
async fn drain(grace_period: Duration, control: Option<ControlTasks>, running: Running) {
    tracing::info!(grace_period = ?grace_period, "draining: no new connections, finishing requests in flight");
    if let Some(ControlTasks { stream, renewal }) = control {
        // Closing the stream tells the control plane this sidecar is leaving; once the task is
        // gone, nothing can mark the sidecar ready again. The certificate in force serves the
        // drain.
        renewal.abort();
        stream.abort();
        let _ = stream.await;
    }
    let Running {
        ready,
        drain,
        admin_drain,
        ..
    } = running;
    ready.store(false, Ordering::Release);
    drain.signal.cancel();
    drain.tasks.close();
    if tokio::time::timeout(grace_period, drain.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = drain.tasks.len(),
            "grace period over; closing remaining connections"
        );
    } else {
        tracing::info!("drained");
    }
    admin_drain.signal.cancel();
}
