//! The sidecar's identity at runtime: the trust bundle in force and the certificate with the
//! rustls configs built from both. Swapped atomically: a new handshake loads the configs once
//! and uses them whole; connections already made go on with what they were made with.

use super::config::{self, TlsConfigError};
use super::credentials::Credentials;
use super::metrics::TlsMetrics;
use super::trust::TrustBundle;
use arc_swap::ArcSwapOption;
use convoy_config::{ServiceName, SpiffeId, TrustDomain};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, Registry};
use rustls::{ClientConfig, ServerConfig};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::watch;

/// A certificate in force, with the bundle and the configs made from them.
#[derive(Debug)]
pub struct Active {
    /// The certificate and its key.
    pub credentials: Arc<Credentials>,
    /// For the inbound listener.
    pub server: Arc<ServerConfig>,
    /// For connections to meshed services.
    pub client: Arc<ClientConfig>,
}

impl Active {
    fn build(
        credentials: Arc<Credentials>,
        trust: Arc<TrustBundle>,
    ) -> Result<Self, TlsConfigError> {
        Ok(Active {
            server: Arc::new(config::server_config(&credentials, &trust)?),
            client: Arc::new(config::client_config(&credentials, &trust)?),
            credentials,
        })
    }
}

/// What `/config` shows of the identity.
#[derive(Debug, Serialize)]
pub struct IdentityView {
    /// The SPIFFE ID this sidecar will have (or has).
    pub spiffe_id: Option<String>,
    /// The trust domain in force, once known.
    pub(crate) trust_domain: Option<String>,
    /// How many trust anchors the bundle holds.
    pub(crate) trust_anchors: usize,
    /// The certificate's validity (RFC 3339), once there is one.
    pub(crate) not_before: Option<String>,
    /// The certificate's expiry (RFC 3339), once there is one.
    pub(crate) not_after: Option<String>,
}

/// The identity of this sidecar's service. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: ServiceName,
    trust: ArcSwapOption<TrustBundle>,
    active: Arc<ArcSwapOption<Active>>,
    /// The trust domain in force: the renewal loop waits for it, and renews when it changes.
    trust_domain: watch::Sender<Option<TrustDomain>>,
    /// Updates (a new bundle, a new certificate) one at a time, so none is lost.
    updating: Mutex<()>,
    metrics: TlsMetrics,
}

impl Identity {
    /// The identity of `service`, with no trust and no certificate yet. Registers the expiry
    /// gauge in `registry`.
    pub fn new(service: ServiceName, metrics: TlsMetrics, registry: &Registry) -> Self {
        let active = Arc::new(ArcSwapOption::empty());
        ExpiryCollector::register(registry, active.clone());
        Identity {
            inner: Arc::new(Inner {
                service,
                trust: ArcSwapOption::empty(),
                active,
                trust_domain: watch::channel(None).0,
                updating: Mutex::new(()),
                metrics,
            }),
        }
    }

    /// The service whose identity this is.
    pub fn service(&self) -> &ServiceName {
        &self.inner.service
    }

    /// The handshake and renewal counters.
    pub fn metrics(&self) -> &TlsMetrics {
        &self.inner.metrics
    }

    /// The bundle in force, once the control plane sent one.
    pub fn trust(&self) -> Option<Arc<TrustBundle>> {
        self.inner.trust.load_full()
    }

    /// The certificate and configs in force, once there is a certificate.
    pub fn active(&self) -> Option<Arc<Active>> {
        self.inner.active.load_full()
    }

    /// The SPIFFE ID this sidecar asks for, once the trust domain is known.
    pub fn wanted_id(&self) -> Option<SpiffeId> {
        let trust = self.trust()?;
        Some(SpiffeId::for_service(
            trust.trust_domain(),
            &self.inner.service,
        ))
    }

    /// Whether there is a certificate that has not expired.
    pub fn has_valid_certificate(&self, now: SystemTime) -> bool {
        self.inner
            .active
            .load()
            .as_ref()
            .is_some_and(|active| active.credentials.not_after() > now)
    }

    /// Follows the trust domain in force.
    pub fn subscribe(&self) -> watch::Receiver<Option<TrustDomain>> {
        self.inner.trust_domain.subscribe()
    }

    /// Puts `trust` in force (from a snapshot). New handshakes verify peers with it; the
    /// certificate stays. Returns whether anything changed.
    pub fn set_trust(&self, trust: TrustBundle) -> Result<bool, TlsConfigError> {
        let _updating = self
            .inner
            .updating
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.trust().is_some_and(|current| current.same_as(&trust)) {
            return Ok(false);
        }
        let trust = Arc::new(trust);
        if let Some(active) = self.active() {
            let next = Active::build(active.credentials.clone(), trust.clone())?;
            self.inner.active.store(Some(Arc::new(next)));
        }
        self.store_trust(trust);
        Ok(true)
    }

    /// Puts a new certificate in force with the bundle that came with it.
    pub fn install(
        &self,
        credentials: Credentials,
        trust: TrustBundle,
    ) -> Result<(), TlsConfigError> {
        let _updating = self
            .inner
            .updating
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let trust = match self.trust() {
            Some(current) if current.same_as(&trust) => current,
            _ => Arc::new(trust),
        };
        let next = Active::build(Arc::new(credentials), trust.clone())?;
        self.inner.active.store(Some(Arc::new(next)));
        self.store_trust(trust);
        Ok(())
    }

    fn store_trust(&self, trust: Arc<TrustBundle>) {
        let domain = trust.trust_domain().clone();
        self.inner.trust.store(Some(trust));
        self.inner.trust_domain.send_if_modified(|current| {
            let changed = current.as_ref() != Some(&domain);
            *current = Some(domain);
            changed
        });
    }

    /// What `/config` shows.
    pub fn view(&self) -> IdentityView {
        let trust = self.trust();
        let active = self.active();
        let rfc3339 = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
        IdentityView {
            spiffe_id: active
                .as_ref()
                .map(|a| a.credentials.id().to_string())
                .or_else(|| self.wanted_id().map(|id| id.to_string())),
            trust_domain: trust.as_ref().map(|t| t.trust_domain().to_string()),
            trust_anchors: trust.as_ref().map_or(0, |t| t.anchors().len()),
            not_before: active.as_ref().map(|a| rfc3339(a.credentials.not_before())),
            not_after: active.as_ref().map(|a| rfc3339(a.credentials.not_after())),
        }
    }
}

/// `convoy_identity_certificate_expiry_seconds`, read from the certificate in force at each
/// scrape (absent while there is none).
struct ExpiryCollector {
    gauge: Gauge,
    active: Arc<ArcSwapOption<Active>>,
}

impl ExpiryCollector {
    /// Registers the gauge of `active` in `registry`.
    fn register(registry: &Registry, active: Arc<ArcSwapOption<Active>>) {
        let gauge = Gauge::new(
            "convoy_identity_certificate_expiry_seconds",
            "Seconds until this sidecar's certificate expires (negative once expired).",
        )
        .expect("static metric definition");
        registry
            .register(Box::new(ExpiryCollector { gauge, active }))
            .expect("metric names are unique");
    }
}

impl Collector for ExpiryCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(active) = self.active.load_full() else {
            return Vec::new();
        };
        let not_after = active.credentials.not_after();
        let seconds = match not_after.duration_since(SystemTime::now()) {
            Ok(left) => left.as_secs_f64(),
            Err(past) => -past.duration().as_secs_f64(),
        };
        self.gauge.set(seconds);
        self.gauge.collect()
    }
}
