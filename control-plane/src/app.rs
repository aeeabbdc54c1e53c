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
use convoy_config::ConfigError;
use convoy_runtime::{Signals, StartupError};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
pub struct BoundAddrs {
    /// The sidecar API.
    pub listen: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
}

/// Runs the control plane until SIGTERM or SIGINT.
pub async fn run(args: ServeArgs) -> Result<(), AppError> {
    // Installed before anything is bound: a signal as soon as we look ready must close cleanly.
    let signals = Signals::install().map_err(StartupError::Signals)?;
    let dir = args.config_dir.clone();
    let loaded_at = watcher::fingerprint(&dir);
    let source = convoy_config::load_mesh_dir(&dir).map_err(Box::new)?;
    let files = source.files.len();
    let (ca, generated) = Ca::open(&CaSettings {
        dir: args.ca_dir.clone(),
        cert: args.ca_cert.clone(),
        key: args.ca_key.clone(),
        trust_domain: args.trust_domain.clone(),
        cert_ttl: args.cert_ttl,
    })?;
    let ca = Arc::new(ca);
    warn_if_no_tokens(&ca);

    let api_listener = convoy_runtime::bind("sidecar API", args.listen).await?;
    let admin_listener = convoy_runtime::bind("admin", args.admin_addr).await?;
    let bound = BoundAddrs {
        listen: api_listener.local_addr().unwrap_or(args.listen),
        admin: admin_listener.local_addr().unwrap_or(args.admin_addr),
    };

    let api_certificate =
        ApiCertificate::new(&ca, api_tls::api_names(bound.listen, &args.api_sans))?;
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

    let drain = Drain::default();
    let admin_drain = Drain::default();
    let ready = Arc::new(AtomicBool::new(false));
    let admin_state = AdminState {
        ready: ready.clone(),
        metrics,
    };
    tokio::spawn(server::serve(
        admin_listener,
        "admin",
        None,
        move |request| admin::handle(admin_state.clone(), request),
        admin_drain.clone(),
    ));
    let api = Api {
        hub: hub.clone(),
        ca: ca.clone(),
        drain: drain.clone(),
    };
    tokio::spawn(server::serve(
        api_listener,
        "sidecar API",
        Some(tls),
        move |request| api::handle(api.clone(), request),
        drain.clone(),
    ));
    tokio::spawn(hub.clone().run_endpoint_publisher(drain.signal.clone()));
    tokio::spawn(ca::watch::run(
        ca.clone(),
        hub.clone(),
        drain.signal.clone(),
    ));
    tokio::spawn(api_certificate.run_renewal(ca.clone(), drain.signal.clone()));
    tokio::spawn(
        DirWatcher::new(dir.clone(), hub.clone(), args.debounce, loaded_at)
            .run(drain.signal.clone()),
    );
    if let Some(path) = &args.bound_addrs_file {
        convoy_runtime::write_json_atomically(path, &bound)?;
    }
    ready.store(true, Ordering::Release);
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
    tracing::info!("closing: streams end, sidecars keep their last snapshot and reconnect");
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
    Ok(())
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
