//! The listeners of TCP services in control-plane mode, bound when a snapshot first lists them.
//!
//! Each (service, `listen` address) is bound the first time a snapshot lists it, before that
//! snapshot is put in force: an address that cannot be bound refuses the snapshot. Listeners
//! are not closed before the process exits. While its service is missing from the snapshot in
//! force, a listener closes each connection it accepts; when the service comes back, it forwards
//! again. A service whose `listen` changes gets a new listener beside the old one, which keeps
//! forwarding to the service too. A restart frees the ports of services that were removed.

use super::ApplyError;
use crate::BoundAddrs;
use arc_swap::ArcSwap;
use convoy_config::{Protocol, ProxyConfig};
use convoy_runtime::Drain;
use convoy_stack::snapshot::Snapshot;
use convoy_stack::tcp;
use convoy_telemetry::metrics::Metrics;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The TCP service listeners bound so far, and what serving them needs.
#[derive(Debug)]
pub(super) struct TcpServices {
    /// The bound address of each (service, configured address).
    bound: HashMap<(String, SocketAddr), SocketAddr>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    drain: Drain,
    metrics: Metrics,
    listeners: Arc<ArcSwap<BoundAddrs>>,
    bound_addrs_file: Option<PathBuf>,
}

/// Listeners bound for a snapshot that is not in force yet; dropping them unbinds them.
#[derive(Debug, Default)]
pub(super) struct NewListeners(Vec<(String, SocketAddr, TcpListener)>);

impl TcpServices {
    /// No listeners yet.
    pub(super) fn new(handles: &super::Handles) -> Self {
        TcpServices {
            bound: HashMap::new(),
            snapshot: handles.snapshot.clone(),
            drain: handles.drain.clone(),
            metrics: handles.metrics.clone(),
            listeners: handles.listeners.clone(),
            bound_addrs_file: handles.bound_addrs_file.clone(),
        }
    }

    /// Binds the listeners of `config`'s TCP services that are not bound yet.
    pub(super) async fn bind_new(&self, config: &ProxyConfig) -> Result<NewListeners, ApplyError> {
        let mut new = Vec::new();
        for service in config.mesh.services.values() {
            let (Protocol::Tcp, Some(addr)) = (service.protocol, service.listen) else {
                continue;
            };
            let name = service.name.to_string();
            if self.bound.contains_key(&(name.clone(), addr)) {
                continue;
            }
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ApplyError::Bind {
                    service: name.clone(),
                    addr,
                    source,
                })?;
            new.push((name, addr, listener));
        }
        Ok(NewListeners(new))
    }

    /// Serves listeners bound by [`TcpServices::bind_new`] (once their snapshot is in force) and
    /// reports their addresses in `/config` and the bound-addresses file.
    pub(super) fn serve(&mut self, new: NewListeners) {
        if new.0.is_empty() {
            return;
        }
        let mut listeners = BoundAddrs::clone(&self.listeners.load());
        for (service, addr, listener) in new.0 {
            let bound = listener.local_addr().unwrap_or(addr);
            tracing::info!(%service, %bound, "listening for tcp service");
            self.bound.insert((service.clone(), addr), bound);
            listeners.tcp.insert(service.clone(), bound);
            tokio::spawn(tcp::serve(
                listener,
                service,
                self.snapshot.clone(),
                self.drain.clone(),
                self.metrics.clone(),
            ));
        }
        if let Some(path) = &self.bound_addrs_file {
            if let Err(error) = convoy_runtime::write_json_atomically(path, &listeners) {
                tracing::warn!(path = %path.display(), %error, "cannot update the bound addresses file");
            }
        }
        self.listeners.store(Arc::new(listeners));
    }
}
