//! Starting the sidecar: load the config file (or wait for the control plane's first snapshot
//! and a certificate from its CA), bind listeners, serve, drain on SIGTERM/SIGINT.

use crate::admin::{self, AdminState};
use crate::cli::Args;
use crate::server::accept::InboundAccept;
use crate::server::{self, ConnectionAccept, HttpService};
use arc_swap::ArcSwap;
use convoy_config::{AppProtocol, ConfigError, Limits, Listen, Mesh, Protocol, ProxyConfig};
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
use tokio::net::TcpListener;
use tower::util::BoxCloneService;

/// The version shown before the control plane's first snapshot is in force.
pub const NO_VERSION: &str = "none";

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
pub async fn run(args: Args) -> Result<(), AppError> {
    // Installed before anything is bound: a SIGTERM as soon as we look ready must drain, not kill.
    let signals = Signals::install().map_err(StartupError::Signals)?;
    let start = Start::from_args(&args)?;
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
    let trusted = match &start.control {
        Some(_) => Some(Trusted::from_args(&args, &start.config, &metrics)?),
        None => {
            tracing::warn!(
                "no identity with --config: inbound accepts plaintext and calls to other services \
                 are plaintext; run with --control-plane for mutual TLS"
            );
            None
        }
    };
    let identity = trusted.as_ref().map(|t| t.identity.clone());
    let control_plane = start.control;
    let version = start.version.clone();
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::build_with_identity(
        start.config,
        start.version,
        start.source,
        &metrics,
        identity.clone(),
    )));

    // Bind everything before serving anything, so a bad address fails the start cleanly.
    let admin_listener = bind("admin", listen.admin).await?;
    let (outbound_listener, inbound_listener) = if gateway_name.is_none() {
        (
            Some(bind("outbound", listen.outbound).await?),
            Some(bind("inbound", listen.inbound).await?),
        )
    } else {
        (None, None)
    };
    // In file mode the gateway's listeners are known now; with a control plane, once its
    // snapshot names them.
    let gateway_listeners = match (&gateway_name, &control_plane) {
        (Some(name), None) => {
            let config = snapshot.load();
            match config.config.mesh.gateways.get(name) {
                Some(gateway) => Some(bind_gateway(gateway, args.gateway_addr).await?),
                None => None,
            }
        }
        _ => None,
    };
    let mut tcp_listeners = Vec::new();
    for (service, addr) in tcp_services {
        tcp_listeners.push((
            bind(&format!("tcp service {service}"), addr).await?,
            service,
        ));
    }
    let mut bound = BoundAddrs {
        outbound: outbound_listener.as_ref().and_then(|l| l.local_addr().ok()),
        inbound: inbound_listener.as_ref().and_then(|l| l.local_addr().ok()),
        gateway: gateway_listeners
            .iter()
            .flatten()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect(),
        admin: admin_listener.local_addr().ok(),
        ..BoundAddrs::default()
    };
    for (listener, service) in &tcp_listeners {
        if let Ok(addr) = listener.local_addr() {
            bound.tcp.insert(service.clone(), addr);
        }
    }
    if let Some(path) = &args.bound_addrs_file {
        convoy_runtime::write_json_atomically(path, &bound)?;
    }
    let listeners = Arc::new(ArcSwap::from_pointee(bound.clone()));

    let drain = Drain::default();
    let admin_drain = Drain::default();
    let ready = Arc::new(AtomicBool::new(false));
    let gateway_bound = gateway_name
        .as_ref()
        .map(|_| Arc::new(AtomicBool::new(gateway_listeners.is_some())));
    let admin_state = AdminState {
        ready: ready.clone(),
        gateway_bound: gateway_bound.clone(),
        identity: identity.clone(),
        snapshot: snapshot.clone(),
        metrics: metrics.clone(),
        listeners: listeners.clone(),
    };
    let admin_service: HttpService = BoxCloneService::new(tower::service_fn(move |request| {
        admin::handle(admin_state.clone(), request)
    }));
    tokio::spawn(server::serve_http(
        admin_listener,
        "admin",
        admin_service,
        Limits::default(),
        admin_drain.clone(),
        metrics.connections("admin"),
        None,
    ));
    if let Some(outbound_listener) = outbound_listener {
        tokio::spawn(server::serve_http(
            outbound_listener,
            "outbound",
            outbound::stack(snapshot.clone(), &limits, &metrics),
            limits.clone(),
            drain.clone(),
            metrics.connections("outbound"),
            None,
        ));
    }
    if let Some(inbound_listener) = inbound_listener {
        tokio::spawn(server::serve_http(
            inbound_listener,
            "inbound",
            inbound::stack(snapshot.clone(), &limits, &metrics),
            limits.clone(),
            drain.clone(),
            metrics.connections("inbound"),
            Some(InboundAccept::new(identity.clone(), snapshot.clone()).into()),
        ));
    }
    if let (Some(name), Some(bound_flag)) = (gateway_name, gateway_bound) {
        let state = Arc::new(gateway::GatewayState::new(
            name.clone(),
            snapshot.clone(),
            metrics.registry(),
        ));
        let service = gateway::stack(
            state.clone(),
            &limits,
            &metrics,
            gateway::observe::GatewayMetrics::new(metrics.registry()),
        );
        let serving = GatewayServing {
            service,
            limits: limits.clone(),
            drain: drain.clone(),
            metrics: metrics.clone(),
        };
        match gateway_listeners {
            Some(bound) => serving.serve(bound),
            None => {
                tokio::spawn(bind_gateway_later(
                    name,
                    args.gateway_addr,
                    snapshot.clone(),
                    serving,
                    bound_flag,
                    listeners.clone(),
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
    for (listener, service) in tcp_listeners {
        tokio::spawn(tcp::serve(
            listener,
            service,
            snapshot.clone(),
            drain.clone(),
            metrics.clone(),
        ));
    }
    let control = match control_plane.zip(trusted) {
        None => {
            ready.store(true, Ordering::Release);
            tracing::info!(
                version = %version,
                outbound = ?bound.outbound,
                inbound = ?bound.inbound,
                admin = ?bound.admin,
                tcp = ?bound.tcp,
                "convoy-proxy ready"
            );
            None
        }
        Some(((url, app_protocol), trusted)) => {
            let mut sidecar = snapshot.load().config.sidecar.clone();
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
                control_plane = %url,
                %advertise,
                outbound = ?bound.outbound,
                inbound = ?bound.inbound,
                admin = ?bound.admin,
                "convoy-proxy listening; not ready until the control plane's first snapshot and a certificate"
            );
            let id = control::sidecar_id(sidecar.service.as_str());
            let certificates = CertificateClient::new(
                url.clone(),
                trusted.tls.clone(),
                trusted.token.clone(),
                id.clone(),
            );
            let renewal =
                convoy_control_client::renew::spawn(trusted.identity.clone(), certificates);
            let control = ControlPlane {
                url,
                tls: trusted.tls,
                token: trusted.token,
                id,
                sidecar,
                app_protocol,
                advertise,
                gateway: args.gateway,
            };
            let stream = control::spawn(
                control,
                control::Handles {
                    snapshot: snapshot.clone(),
                    metrics: metrics.clone(),
                    ready: ready.clone(),
                    drain: drain.clone(),
                    listeners,
                    bound_addrs_file: args.bound_addrs_file.clone(),
                    identity: trusted.identity,
                },
            );
            Some((stream, renewal))
        }
    };

    signals.received().await;
    tracing::info!(grace_period = ?args.grace_period, "draining: no new connections, finishing requests in flight");
    if let Some((stream, renewal)) = control {
        // Closing the stream tells the control plane this sidecar is leaving; once the task is
        // gone, nothing can mark the sidecar ready again. The certificate in force serves the
        // drain.
        renewal.abort();
        stream.abort();
        let _ = stream.await;
    }
    ready.store(false, Ordering::Release);
    drain.signal.cancel();
    drain.tasks.close();
    if tokio::time::timeout(args.grace_period, drain.tasks.wait())
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
    Ok(())
}
