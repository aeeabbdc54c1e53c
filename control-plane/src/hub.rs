//! The hub: the configuration in force, the registry, and publication.
//!
//! Publication is one writer at a time (an async mutex): it reads what to publish, builds the
//! snapshot line off the runtime (a blocking task serializes the mesh and validates it with the
//! sidecars' own rules), then commits the version under the state lock and hands the line to
//! every session at once through a `watch` channel. Each version is serialized once, whatever
//! the number of sidecars; a session that is busy simply sees only the latest version.
//!
//! Registry changes do not publish inline: they wake the endpoint publisher
//! ([`Hub::run_endpoint_publisher`]), which publishes everything that changed since its last
//! run as one version, so a thousand sidecars registering at once make a few versions, not a
//! thousand.

use crate::history::{History, Kind, LookupError};
use crate::metrics::Metrics;
use crate::registry::{Registry, Session};
use crate::summary::{self, ConfigDiff, Endpoints};
use crate::views::{EventView, HistoryView, RejectedView, SidecarView, StatusView};
use bytes::Bytes;
use convoy_config::{ConfigError, MeshSource};
use convoy_protocol::{snapshot_line, Hello, Trust};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// How long registry changes are gathered before they are published as one version.
pub(crate) const REGISTRY_COALESCE: std::time::Duration = std::time::Duration::from_millis(25);

/// The longest a burst of registry changes is gathered before it is published anyway.
pub(crate) const REGISTRY_COALESCE_MAX: std::time::Duration = std::time::Duration::from_millis(500);

/// The author of versions made by the directory.
pub(crate) const CONFIG_AUTHOR: &str = "config-dir";

/// The author of versions made by the registry.
pub(crate) const REGISTRY_AUTHOR: &str = "registry";

/// The author of versions made by a change of the CA directory's trust bundle.
pub(crate) const CA_AUTHOR: &str = "ca-dir";

/// A published version, as every sidecar receives it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The version.
    pub(crate) version: u64,
    /// The whole `snapshot` message, one line, shared by every session.
    pub(crate) line: Bytes,
    /// The registry generation it includes: a session waits for its own registration.
    pub(crate) generation: u64,
    /// When it was published, for the push→ACK latency.
    pub(crate) published_at: Instant,
}

/// Timings of the registry and the streams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How long a disconnected sidecar keeps its endpoint.
    pub(crate) endpoint_grace: Duration,
    /// A sidecar silent this long is disconnected.
    pub(crate) heartbeat_timeout: Duration,
    /// After a start, how long a reconnecting sidecar's first snapshot is held while the rest
    /// of the fleet comes back.
    pub(crate) warm_up: Duration,
}

/// Why a version could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The snapshot would be refused by sidecars. The inputs were validated, so this is a bug;
    /// it is refused here rather than sent to every sidecar.
    #[error("the snapshot does not validate: {0}")]
    Invalid(#[source] Box<ConfigError>),
    /// The task building the snapshot failed.
    #[error("building the snapshot failed: {0}")]
    Build(#[source] tokio::task::JoinError),
}

/// Why a rollback was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RollbackError {
    /// The version or its configuration is not kept.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// Publishing failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

#[derive(Debug)]
struct State {
    registry: Registry,
    history: History<Arc<MeshSource>>,
    last_rejected: Option<(SystemTime, String)>,
    config: Arc<MeshSource>,
    trust: Arc<Trust>,
    version: u64,
    published_endpoints: Endpoints,
}

/// What every task of the control plane shares.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<State>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    publishing: tokio::sync::Mutex<()>,
    registry_changed: Notify,
    metrics: Metrics,
    settings: Settings,
    started: tokio::time::Instant,
}

/// What a publication is made of.
struct Publication {
    config: Arc<MeshSource>,
    new_config: bool,
    trust: Arc<Trust>,
    endpoints: Endpoints,
    generation: u64,
    kind: Kind,
    author: String,
    summary: String,
}

impl Hub {
    /// Publishes `initial` with `trust` as version 1.
    pub(crate) fn new(
        initial: MeshSource,
        trust: Trust,
        settings: Settings,
        metrics: Metrics,
    ) -> Result<Arc<Hub>, PublishError> {
        let config = Arc::new(initial);
        let trust = Arc::new(trust);
        let line = build_line(1, &config, &Endpoints::new(), &trust)?;
        let mut history = History::default();
        let summary = summary::loaded(&config.mesh);
        history.record(
            1,
            SystemTime::now(),
            CONFIG_AUTHOR,
            Kind::Config,
            summary.clone(),
            Some(config.clone()),
        );
        let (snapshots, _) = watch::channel(Arc::new(Snapshot {
            version: 1,
            line,
            generation: 0,
            published_at: Instant::now(),
        }));
        metrics.versions_published.inc();
        metrics.version.set(1);
        tracing::info!(version = 1, kind = "config", author = CONFIG_AUTHOR, %summary, "published");
        Ok(Arc::new(Hub {
            state: Mutex::new(State {
                registry: Registry::new(),
                history,
                last_rejected: None,
                config,
                trust,
                version: 1,
                published_endpoints: Endpoints::new(),
            }),
            snapshots,
            publishing: tokio::sync::Mutex::new(()),
            registry_changed: Notify::new(),
            metrics,
            settings,
            started: tokio::time::Instant::now(),
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (each update is one step).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The timings.
    pub(crate) fn settings(&self) -> Settings {
        self.settings
    }

    /// Follows the published versions.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.subscribe()
    }

    /// The version in force.
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// Registers a stream; returns its session and the registry generation the sidecar's
    /// first snapshot must include.
    pub(crate) fn register(&self, hello: &Hello) -> (Session, u64) {
        let mut state = self.state();
        let before = state.registry.generation();
        let session = state.registry.hello(hello, SystemTime::now());
        let generation = state.registry.generation();
        self.metrics
            .connected_sidecars
            .set(state.registry.connected() as i64);
        drop(state);
        if generation != before {
            self.registry_changed.notify_one();
        }
        (session, generation)
    }

    /// A stream ended: the sidecar's grace starts, after which its endpoint goes.
    pub(crate) fn disconnect(self: &Arc<Self>, id: &str, session: Session) {
        let mut state = self.state();
        let current = state.registry.disconnect(id, session);
        self.metrics
            .connected_sidecars
            .set(state.registry.connected() as i64);
        drop(state);
        if !current {
            return;
        }
        let hub = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(hub.settings.endpoint_grace).await;
            if hub.state().registry.expire(&id, session) {
                tracing::info!(%id, "sidecar gone for longer than the grace: endpoint removed");
                hub.registry_changed.notify_one();
            }
        });
    }

    /// A sidecar acknowledged `version`.
    pub(crate) fn ack(&self, id: &str, session: Session, version: u64) {
        self.state().registry.ack(id, session, version);
    }

    /// A sidecar refused `version`.
    pub(crate) fn nack(&self, id: &str, session: Session, version: u64, reason: String) {
        self.metrics.nacks.inc();
        self.state().registry.nack(id, session, version, reason);
    }

    /// A change of the directory did not validate: nothing is published, the status shows why.
    pub(crate) fn reject(&self, error: &ConfigError) {
        self.metrics.rejected_changes.inc();
        tracing::warn!(%error, "config change rejected; the last good version stays in force");
        self.state().last_rejected = Some((SystemTime::now(), error.to_string()));
    }

    /// Publishes a configuration read from the directory; `None` if it is the one in force.
    pub(crate) async fn publish_config(
        &self,
        config: MeshSource,
    ) -> Result<Option<u64>, PublishError> {
        let _one_writer = self.publishing.lock().await;
        let (current, endpoints, generation, trust) = self.inputs();
        let config = Arc::new(config);
        let empty = Endpoints::new();
        if current.to_wire(&empty) == config.to_wire(&empty) {
            self.state().last_rejected = None;
            tracing::info!(
                "config directory changed, but not the configuration: nothing to publish"
            );
            return Ok(None);
        }
        let summary = ConfigDiff::between(&current.mesh, &config.mesh).to_string();
        let version = self
            .publish(Publication {
                config,
                new_config: true,
                trust,
                endpoints,
                generation,
                kind: Kind::Config,
                author: CONFIG_AUTHOR.to_owned(),
                summary,
            })
            .await?;
        self.state().last_rejected = None;
        Ok(Some(version))
    }

    /// Publishes the configuration of `version` again, as a new version.
    pub(crate) async fn rollback(&self, version: u64, author: &str) -> Result<u64, RollbackError> {
        let _one_writer = self.publishing.lock().await;
        let config = self.state().history.config_of(version)?;
        let (current, endpoints, generation, trust) = self.inputs();
        let diff = ConfigDiff::between(&current.mesh, &config.mesh);
        let published = self
            .publish(Publication {
                config,
                new_config: true,
                trust,
                endpoints,
                generation,
                kind: Kind::Rollback,
                author: author.to_owned(),
                summary: format!("rollback to version {version}: {diff}"),
            })
            .await?;
        Ok(published)
    }

    /// Publishes the registry's changes since the last publication, if any.
    pub(crate) async fn publish_endpoints(&self) -> Result<Option<u64>, PublishError> {
        let _one_writer = self.publishing.lock().await;
        let (config, endpoints, generation, trust) = self.inputs();
        let current = self.current();
        if generation <= current.generation {
            return Ok(None);
        }
        let previous = self.state().published_endpoints.clone();
        if previous == endpoints {
            // Left and came back: nothing to send, but waiters must see their generation.
            self.snapshots.send_replace(Arc::new(Snapshot {
                version: current.version,
                line: current.line.clone(),
                generation,
                published_at: current.published_at,
            }));
            return Ok(None);
        }
        let summary = summary::endpoints(&previous, &endpoints);
        let version = self
            .publish(Publication {
                config,
                new_config: false,
                trust,
                endpoints,
                generation,
                kind: Kind::Endpoints,
                author: REGISTRY_AUTHOR.to_owned(),
                summary,
            })
            .await?;
        Ok(Some(version))
    }

    /// Publishes a new trust bundle (a CA rotation step) of `anchors` anchors; `None` if it is
    /// the one in force.
    pub(crate) async fn publish_trust(
        &self,
        trust: Trust,
        anchors: usize,
    ) -> Result<Option<u64>, PublishError> {
        let _one_writer = self.publishing.lock().await;
        let (config, endpoints, generation, current) = self.inputs();
        if *current == trust {
            return Ok(None);
        }
        let version = self
            .publish(Publication {
                config,
                new_config: false,
                trust: Arc::new(trust),
                endpoints,
                generation,
                kind: Kind::Trust,
                author: CA_AUTHOR.to_owned(),
                summary: format!(
                    "trust bundle changed: {anchors} {}",
                    if anchors == 1 { "anchor" } else { "anchors" }
                ),
            })
            .await?;
        Ok(Some(version))
    }

    /// A certificate expiring at `not_after` was issued to the sidecar `id` of `service`: the
    /// status shows it (if that sidecar is registered as that service).
    pub(crate) fn certificate_issued(&self, id: &str, service: &str, not_after: SystemTime) {
        self.state()
            .registry
            .certificate_issued(id, service, not_after);
    }

    /// Until when a reconnecting sidecar's first snapshot is held: a control plane that has
    /// just (re)started knows only the sidecars that are back so far, and a sidecar already
    /// serving is better off on its last snapshot than on one missing the others' endpoints.
    pub(crate) fn warm_until(&self) -> tokio::time::Instant {
        self.started + self.settings.warm_up
    }

    /// Publishes registry changes as they come (gathered over [`REGISTRY_COALESCE`]), until
    /// `shutdown`.
    pub(crate) async fn run_endpoint_publisher(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = self.registry_changed.notified() => {}
                () = shutdown.cancelled() => return,
            }
            // A fleet (re)connecting registers in a burst: gather it into one version rather
            // than building and sending a snapshot per sidecar. Quiet for REGISTRY_COALESCE, or
            // REGISTRY_COALESCE_MAX at most, ends the gathering.
            let gathering = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = self.registry_changed.notified() => {
                        if gathering.elapsed() >= REGISTRY_COALESCE_MAX {
                            break;
                        }
                    }
                    () = tokio::time::sleep(REGISTRY_COALESCE) => break,
                    () = shutdown.cancelled() => return,
                }
            }
            if let Err(error) = self.publish_endpoints().await {
                tracing::error!(%error, "registry change not published");
            }
        }
    }

    fn inputs(&self) -> (Arc<MeshSource>, Endpoints, u64, Arc<Trust>) {
        let state = self.state();
        (
            state.config.clone(),
            state.registry.endpoints(),
            state.registry.generation(),
            state.trust.clone(),
        )
    }

    /// Builds and commits a version. Only called by the holder of `publishing`.
    async fn publish(&self, publication: Publication) -> Result<u64, PublishError> {
        let version = self.state().version + 1;
        let line = {
            let config = publication.config.clone();
            let endpoints = publication.endpoints.clone();
            let trust = publication.trust.clone();
            tokio::task::spawn_blocking(move || build_line(version, &config, &endpoints, &trust))
                .await
                .map_err(PublishError::Build)??
        };
        let mut state = self.state();
        state.version = version;
        state.history.record(
            version,
            SystemTime::now(),
            publication.author.clone(),
            publication.kind,
            publication.summary.clone(),
            publication.new_config.then(|| publication.config.clone()),
        );
        state.config = publication.config;
        state.trust = publication.trust;
        state.published_endpoints = publication.endpoints;
        self.snapshots.send_replace(Arc::new(Snapshot {
            version,
            line,
            generation: publication.generation,
            published_at: Instant::now(),
        }));
        drop(state);
        self.metrics.versions_published.inc();
        self.metrics.version.set(version as i64);
        tracing::info!(
            version,
            kind = publication.kind.as_str(),
            author = %publication.author,
            summary = %publication.summary,
            "published"
        );
        Ok(version)
    }

    /// What `GET /v1/status` answers.
    pub(crate) fn status(&self) -> StatusView {
        let state = self.state();
        StatusView {
            version: state.version,
            last_rejected: state
                .last_rejected
                .as_ref()
                .map(|(time, error)| RejectedView {
                    time: crate::views::rfc3339(*time),
                    error: error.clone(),
                }),
            sidecars: state
                .registry
                .iter()
                .map(|(id, entry)| SidecarView::new(id, entry))
                .collect(),
        }
    }

    /// What `GET /v1/history` answers.
    pub(crate) fn history(&self) -> HistoryView {
        HistoryView {
            events: self.state().history.events().map(EventView::from).collect(),
        }
    }
}

/// The snapshot line of `config` with `endpoints` and `trust`, checked with the sidecars' own
/// rules.
fn build_line(
    version: u64,
    config: &MeshSource,
    endpoints: &Endpoints,
    trust: &Trust,
) -> Result<Bytes, PublishError> {
    let wire = config.to_wire(&beyond_yaml(config, endpoints));
    convoy_config::decode_wire_mesh(&wire).map_err(|e| PublishError::Invalid(Box::new(e)))?;
    Ok(snapshot_line(version, &wire, trust))
}

/// The registered endpoints the YAML does not already list (in any spelling: registered
/// addresses are canonical, and so is the model's display of an endpoint).
fn beyond_yaml(config: &MeshSource, endpoints: &Endpoints) -> Endpoints {
    let mut endpoints = endpoints.clone();
    for (service, addrs) in &mut endpoints {
        if let Some(defined) = config.mesh.services.get(service.as_str()) {
            let listed: Vec<String> = defined.endpoints.iter().map(ToString::to_string).collect();
            addrs.retain(|addr| !listed.contains(addr));
        }
    }
    endpoints
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn source(yaml: &str) -> MeshSource {
        convoy_config::parse_mesh_files([(Path::new("m.yaml"), yaml)]).unwrap()
    }

    fn hub() -> Arc<Hub> {
        let settings = Settings {
            endpoint_grace: Duration::from_millis(100),
            heartbeat_timeout: Duration::from_secs(15),
            warm_up: Duration::ZERO,
        };
        Hub::new(
            source("services:\n  orders: {}\n"),
            trust("A"),
            settings,
            Metrics::new(),
        )
        .unwrap()
    }

    fn trust(bundle: &str) -> Trust {
        Trust {
            trust_domain: "convoy.local".into(),
            bundle: bundle.into(),
        }
    }

    fn hello(id: &str, address: &str) -> Hello {
        Hello {
            id: id.into(),
            service: "orders".into(),
            address: address.into(),
            proxy_version: String::new(),
            serving: false,
            gateway: false,
        }
    }

    fn mesh_of(snapshot: &Snapshot) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_slice(&snapshot.line).unwrap();
        value["mesh"].clone()
    }

    #[tokio::test]
    async fn registrations_are_published_together() {
        let hub = hub();
        let mut watcher = hub.subscribe();
        hub.register(&hello("a", "127.0.0.1:1"));
        let (_, generation) = hub.register(&hello("b", "127.0.0.1:2"));
        assert_eq!(hub.publish_endpoints().await.unwrap(), Some(2));
        assert_eq!(hub.publish_endpoints().await.unwrap(), None, "nothing new");
        let snapshot = watcher.borrow_and_update().clone();
        assert!(snapshot.generation >= generation);
        assert_eq!(
            mesh_of(&snapshot)["services"]["orders"]["endpoints"],
            serde_json::json!(["127.0.0.1:1", "127.0.0.1:2"])
        );
        let history = hub.history();
        assert_eq!(history.events.len(), 2);
        assert_eq!(
            history.events[1].summary,
            "joined orders 127.0.0.1:1, orders 127.0.0.1:2"
        );
        assert_eq!(history.events[1].kind, Kind::Endpoints);
    }

    #[tokio::test]
    async fn an_endpoint_the_yaml_lists_is_not_listed_twice() {
        let settings = Settings {
            endpoint_grace: Duration::from_millis(100),
            heartbeat_timeout: Duration::from_secs(15),
            warm_up: Duration::ZERO,
        };
        let yaml =
            "services:\n  orders:\n    endpoints: [\"127.0.0.1:4143\", \"Orders.Local:80\"]\n";
        let hub = Hub::new(source(yaml), trust("A"), settings, Metrics::new()).unwrap();
        hub.register(&hello("a", "127.0.0.1:4143"));
        hub.register(&hello("b", "orders.local:80"));
        hub.register(&hello("c", "127.0.0.1:4144"));
        assert_eq!(hub.publish_endpoints().await.unwrap(), Some(2));
        assert_eq!(
            mesh_of(&hub.current())["services"]["orders"]["endpoints"],
            serde_json::json!(["127.0.0.1:4143", "Orders.Local:80", "127.0.0.1:4144"])
        );
    }

    #[tokio::test]
    async fn config_changes_and_rollbacks_are_versions() {
        let hub = hub();
        assert_eq!(
            hub.publish_config(source("services:\n  orders: {}\n"))
                .await
                .unwrap(),
            None,
            "same configuration"
        );
        let v2 = hub
            .publish_config(source("services:\n  orders: { timeout: 3s }\n"))
            .await
            .unwrap();
        assert_eq!(v2, Some(2));
        assert_eq!(hub.rollback(1, "alice").await.unwrap(), 3);
        let events = hub.history().events;
        assert_eq!(events[1].summary, "changed orders (timeouts)");
        assert_eq!(events[2].kind, Kind::Rollback);
        assert_eq!(events[2].author, "alice");
        assert_eq!(
            events[2].summary,
            "rollback to version 1: changed orders (timeouts)"
        );
        assert!(matches!(
            hub.rollback(42, "bob").await,
            Err(RollbackError::Lookup(LookupError::NotFound(42)))
        ));
        assert_eq!(hub.metrics().version.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_disconnected_sidecar_leaves_after_the_grace() {
        let hub = hub();
        let (session, _) = hub.register(&hello("a", "127.0.0.1:1"));
        hub.publish_endpoints().await.unwrap();
        hub.disconnect("a", session);
        assert_eq!(hub.metrics().connected_sidecars.get(), 0);
        assert_eq!(hub.status().sidecars.len(), 1, "within the grace");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(hub.status().sidecars.is_empty());
        assert_eq!(hub.publish_endpoints().await.unwrap(), Some(3));
        assert_eq!(
            mesh_of(&hub.current())["services"]["orders"]["endpoints"],
            serde_json::json!([])
        );
    }

    #[tokio::test]
    async fn rejections_show_until_a_change_validates() {
        let hub = hub();
        let error = convoy_config::parse_mesh_files([(
            Path::new("m.yaml"),
            "services:\n  orders: { timeout: nope }\n",
        )])
        .unwrap_err();
        hub.reject(&error);
        let rejected = hub.status().last_rejected.unwrap();
        assert!(
            rejected.error.starts_with("m.yaml:2:"),
            "{}",
            rejected.error
        );
        assert_eq!(hub.metrics().rejected_changes.get(), 1);
        hub.publish_config(source("services:\n  orders: {}\n"))
            .await
            .unwrap();
        assert!(hub.status().last_rejected.is_none());
    }

    #[tokio::test]
    async fn a_new_trust_bundle_is_a_version() {
        let hub = hub();
        let line = |hub: &Hub| -> serde_json::Value {
            serde_json::from_slice(&hub.current().line).unwrap()
        };
        assert_eq!(line(&hub)["trust"]["bundle"], "A");
        assert_eq!(hub.publish_trust(trust("A"), 1).await.unwrap(), None);
        assert_eq!(hub.publish_trust(trust("AB"), 2).await.unwrap(), Some(2));
        let snapshot = line(&hub);
        assert_eq!(
            snapshot["trust"],
            serde_json::json!({"trust_domain": "convoy.local", "bundle": "AB"})
        );
        let event = hub.history().events.last().unwrap().clone();
        assert_eq!(event.kind, Kind::Trust);
        assert_eq!(event.author, CA_AUTHOR);
        assert_eq!(event.summary, "trust bundle changed: 2 anchors");
        // A later change keeps the bundle; a rollback does too (it is not configuration).
        hub.publish_config(source("services:\n  orders: { timeout: 3s }\n"))
            .await
            .unwrap();
        hub.rollback(1, "alice").await.unwrap();
        assert_eq!(line(&hub)["trust"]["bundle"], "AB");
    }
}
