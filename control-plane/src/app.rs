//! Running the control plane: load the directory, bind, publish, watch, serve; close on
//! SIGTERM/SIGINT (sidecars keep serving their last snapshot and reconnect to the next one).

use crate::admin::{self, AdminState};
use crate::api::{self, Api};
use crate::ca::{self, Ca, CaError, CaSettings};
use crate::cli::ServeArgs;
use crate::hub::{Hub, PublishError, Settings};
use crate::metrics::Metrics;
use crate::server::{self, Drain, Tls};
use crate::tls::{self as api_tls, ApiCertificate, TlsError};
use crate::watcher::{self, DirWatcher};
use convoy_config::{ConfigError, MeshSource};
use convoy_runtime::{Signals, StartupError};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long streams and connections get to close after SIGTERM/SIGINT.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the control plane could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The directory does not hold a valid mesh.
    #[error("{0}")]
    Config(#[from] Box<ConfigError>),
    /// The first snapshot could not be built.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The CA directory is not usable.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// TLS for the sidecar API could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A listener, the bound-addresses file or the signal handlers.
    #[error(transparent)]
    Startup(#[from] StartupError),
}

/// The addresses actually bound (they differ from the flags with port 0).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct BoundAddrs {
    /// The sidecar API.
    pub(crate) listen: SocketAddr,
    /// The admin listener.
    pub(crate) admin: SocketAddr,
}

/// Runs the control plane until SIGTERM or SIGINT.
///
/// The steps, in the order they must happen: the signal handlers first (a signal as soon as
/// the control plane looks ready must close it cleanly); the directory read and the CA opened
/// (`open_ca`), so a bad mesh or CA fails before anything is bound; both listeners
/// (`bind_listeners`), since the API's certificate names the address bound; version 1
/// published (`start_hub`); every listener and task served (`serve`); only then the
/// bound-addresses file and ready; on a signal, `close`.
pub async fn run(args: ServeArgs) -> Result<(), AppError> {
    // Installed before anything is bound: a signal as soon as we look ready must close cleanly.
    let signals = Signals::install().map_err(StartupError::Signals)?;
    let dir = args.config_dir.clone();
    let loaded_at = watcher::fingerprint(&dir);
    let source = convoy_config::load_mesh_dir(&dir).map_err(Box::new)?;
    let files = source.files.len();
    let (ca, generated) = open_ca(&args)?;
    let listeners = bind_listeners(&args).await?;
    let bound = listeners.bound;
    let started = start_hub(&args, source, &ca, bound)?;
    let watcher = DirWatcher::new(dir.clone(), started.hub.clone(), args.debounce, loaded_at);
    let running = serve(listeners, started, &ca, watcher);
    if let Some(path) = &args.bound_addrs_file {
        convoy_runtime::write_json_atomically(path, &bound)?;
    }
    running.ready.store(true, Ordering::Release);
    tracing::info!(
        listen = %bound.listen,
        admin = %bound.admin,
        dir = %dir.display(),
        files,
        ca_dir = %args.ca_dir.display(),
        trust_domain = %ca.trust_domain(),
        cert_ttl = %convoy_config::format_duration(args.cert_ttl),
        generated_ca = generated,
        "convoy-control-plane ready"
    );
    signals.received().await;
    close(running).await;
    Ok(())
}

/// Opens the mesh CA (generating it on first start; `true` then) and warns when no sidecar
/// could join it yet.
fn open_ca(args: &ServeArgs) -> Result<(Arc<Ca>, bool), AppError> {
    let (ca, generated) = Ca::open(&CaSettings {
        dir: args.ca_dir.clone(),
        cert: args.ca_cert.clone(),
        key: args.ca_key.clone(),
        trust_domain: args.trust_domain.clone(),
        cert_ttl: args.cert_ttl,
    })?;
    let ca = Arc::new(ca);
    warn_if_no_tokens(&ca);
    Ok((ca, generated))
}

/// The two listeners, bound and not yet served.
struct Listeners {
    api: TcpListener,
    admin: TcpListener,
    /// Where they are (they differ from the flags with port 0).
    bound: BoundAddrs,
}

/// Binds the sidecar API and the admin listener before serving either, so a bad address fails
/// the start cleanly.
async fn bind_listeners(args: &ServeArgs) -> Result<Listeners, AppError> {
    let api = convoy_runtime::bind("sidecar API", args.listen).await?;
    let admin = convoy_runtime::bind("admin", args.admin_addr).await?;
    let bound = BoundAddrs {
        listen: api.local_addr().unwrap_or(args.listen),
        admin: admin.local_addr().unwrap_or(args.admin_addr),
    };
    Ok(Listeners { api, admin, bound })
}

/// What serving needs once version 1 is published.
struct Started {
    /// The sidecar API's certificate, renewed while the control plane runs.
    api_certificate: Arc<ApiCertificate>,
    tls: Tls,
    metrics: Metrics,
    hub: Arc<Hub>,
}

/// Issues the sidecar API's certificate for the address bound (and `--api-san`), and publishes
/// the directory's mesh as version 1 in a new hub.
fn start_hub(
    args: &ServeArgs,
    source: MeshSource,
    ca: &Ca,
    bound: BoundAddrs,
) -> Result<Started, AppError> {
    let api_certificate =
        ApiCertificate::new(ca, api_tls::api_names(bound.listen, &args.api_sans))?;
    let acceptor = api_certificate.acceptor()?;

    let metrics = Metrics::new();
    let settings = Settings {
        endpoint_grace: args.endpoint_grace,
        heartbeat_timeout: args.heartbeat_timeout,
        warm_up: args.warm_up,
    };
    metrics
        .trust_anchors
        .set(ca.bundle().anchors().len() as i64);
    let tls = Tls {
        acceptor,
        failures: metrics.tls_handshake_failures.clone(),
    };
    let hub = Hub::new(source, ca.trust(), settings, metrics.clone())?;
    Ok(Started {
        api_certificate,
        tls,
        metrics,
        hub,
    })
}

/// What serving shares with the close.
struct Running {
    /// `/ready`: set once everything is served, cleared when closing.
    ready: Arc<AtomicBool>,
    /// Ends the sidecar API's streams and connections and the background tasks.
    drain: Drain,
    /// Stops the admin listener, after the others.
    admin_drain: Drain,
}

/// Serves the admin listener and the sidecar API, and starts the background tasks: endpoint
/// publishing, the CA's watch, the API certificate's renewal and the directory watcher. All
/// stop with the drain; the admin listener has one of its own, so it outlives the others.
fn serve(listeners: Listeners, started: Started, ca: &Arc<Ca>, watcher: DirWatcher) -> Running {
    let Started {
        api_certificate,
        tls,
        metrics,
        hub,
    } = started;
    let running = Running {
        ready: Arc::new(AtomicBool::new(false)),
        drain: Drain::default(),
        admin_drain: Drain::default(),
    };
    let admin_state = AdminState {
        ready: running.ready.clone(),
        metrics,
    };
    tokio::spawn(server::serve(
        listeners.admin,
        "admin",
        None,
        move |request| admin::handle(admin_state.clone(), request),
        running.admin_drain.clone(),
    ));
    let drain = &running.drain;
    let api = Api {
        hub: hub.clone(),
        ca: ca.clone(),
        drain: drain.clone(),
    };
    tokio::spawn(server::serve(
        listeners.api,
        "sidecar API",
        Some(tls),
        move |request| api::handle(api.clone(), request),
        drain.clone(),
    ));
    tokio::spawn(hub.clone().run_endpoint_publisher(drain.signal.clone()));
    tokio::spawn(ca::watch::run(ca.clone(), hub, drain.signal.clone()));
    tokio::spawn(api_certificate.run_renewal(ca.clone(), drain.signal.clone()));
    tokio::spawn(watcher.run(drain.signal.clone()));
    running
}

/// Closes after SIGTERM or SIGINT: `/ready` turns false, the streams end (sidecars keep their
/// last snapshot and reconnect elsewhere) and connections get [`CLOSE_TIMEOUT`]; the admin
/// listener stops last.
async fn close(running: Running) {
    tracing::info!("closing: streams end, sidecars keep their last snapshot and reconnect");
    let Running {
        ready,
        drain,
        admin_drain,
    } = running;
    ready.store(false, Ordering::Release);
    drain.signal.cancel();
    drain.tasks.close();
    if tokio::time::timeout(CLOSE_TIMEOUT, drain.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = drain.tasks.len(),
            "connections still open; exiting"
        );
    }
    admin_drain.signal.cancel();
}

/// Without any join token no sidecar can join: say where tokens go.
fn warn_if_no_tokens(ca: &Ca) {
    let tokens = ca.tokens();
    let per_service = std::fs::read_dir(tokens.per_service_dir())
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if !tokens.mesh_wide_file().exists() && !per_service {
        tracing::warn!(
            mesh_wide = %tokens.mesh_wide_file().display(),
            per_service = %tokens.per_service_dir().display(),
            "no join tokens: no sidecar can join until one is written there"
        );
    }
}
