//! Endpoint discovery: a configuration's fixed addresses plus DNS names resolved periodically.
//!
//! Each configuration that sets a set's addresses gets a new generation
//! ([`EndpointSet::configure`]); only the refresher of the current generation may change them,
//! so an [`EndpointSet`] kept across configurations never has two refreshers writing to it,
//! even for the moment before the previous snapshot's refresher is aborted.

use crate::EndpointSet;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;

/// A DNS endpoint: host name and port.
type Name = (String, u16);

/// Which configuration may set an [`EndpointSet`]'s addresses, and what its DNS names resolved
/// to last.
#[derive(Debug, Default)]
pub(super) struct Discovery {
    generation: u64,
    resolved: HashMap<Name, Vec<SocketAddr>>,
}

impl Discovery {
    /// The fixed addresses, then the last answer of each name.
    fn addrs(&self, fixed: &[SocketAddr], names: &[Name]) -> Vec<SocketAddr> {
        let resolved = names.iter().filter_map(|n| self.resolved.get(n)).flatten();
        fixed.iter().chain(resolved).copied().collect()
    }
}

impl EndpointSet {
    /// Sets the addresses of a new configuration: `addrs`, plus what those of `names` that were
    /// resolved before resolved to (a DNS name that stays keeps its last answer until the next
    /// lookup, so an unrelated change drops no endpoint). Endpoints that stay keep their state.
    /// Returns the configuration's generation: from now on only a refresher started with it
    /// ([`spawn_refresh`]) changes the addresses; refreshers of earlier generations stop.
    pub fn configure(&self, addrs: &[SocketAddr], names: &[(String, u16)]) -> u64 {
        let mut discovery = self
            .discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        discovery.generation += 1;
        discovery.resolved.retain(|name, _| names.contains(name));
        self.update(discovery.addrs(addrs, names));
        discovery.generation
    }

    /// Folds in one round of lookups of `names` (`None`: that lookup failed and its last answer
    /// stays) if `generation` is still current; `false` when a newer configuration took over.
    fn refreshed(
        &self,
        service: &str,
        generation: u64,
        addrs: &[SocketAddr],
        names: &[Name],
        found: Vec<Option<Vec<SocketAddr>>>,
    ) -> bool {
        let mut discovery = self
            .discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if discovery.generation != generation {
            return false;
        }
        for ((host, port), found) in names.iter().zip(found) {
            let Some(found) = found else { continue };
            let last = discovery.resolved.entry((host.clone(), *port)).or_default();
            if *last != found {
                tracing::info!(%service, %host, addrs = ?found, "DNS endpoints changed");
                *last = found;
            }
        }
        self.update(discovery.addrs(addrs, names));
        true
    }
}

/// Resolves `names` (host, port) now and every `every`, setting `set` to the fixed `addrs` plus
/// whatever the names resolve to. A failed lookup keeps the name's last addresses. The task
/// ends by itself once `generation` (from [`EndpointSet::configure`]) is no longer current.
pub fn spawn_refresh(
    service: String,
    set: Arc<EndpointSet>,
    generation: u64,
    addrs: Vec<SocketAddr>,
    names: Vec<(String, u16)>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let mut found = Vec::with_capacity(names.len());
            for (host, port) in &names {
                match tokio::net::lookup_host((host.as_str(), *port)).await {
                    Ok(addrs) => {
                        let mut addrs: Vec<SocketAddr> = addrs.collect();
                        addrs.sort();
                        addrs.dedup();
                        found.push(Some(addrs));
                    }
                    Err(e) => {
                        tracing::warn!(%service, %host, error = %e, "DNS lookup failed; keeping last addresses");
                        found.push(None);
                    }
                }
            }
            if !set.refreshed(&service, generation, &addrs, &names, found) {
                tracing::debug!(%service, "DNS refresh superseded by a newer configuration");
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn ports(set: &EndpointSet) -> Vec<u16> {
        set.snapshot().iter().map(|e| e.addr().port()).collect()
    }

    #[test]
    fn only_the_current_generation_refreshes_and_answers_survive_a_new_configuration() {
        let set = EndpointSet::new(Vec::new());
        let name = vec![("orders.local".to_owned(), 80)];
        let first = set.configure(&[addr(1)], &name);
        assert!(set.refreshed(
            "orders",
            first,
            &[addr(1)],
            &name,
            vec![Some(vec![addr(7)])]
        ));
        assert_eq!(ports(&set), [1, 7]);
        // A new configuration with the same name keeps the answer until its own lookup.
        let second = set.configure(&[addr(2)], &name);
        assert_eq!(ports(&set), [2, 7]);
        // The old refresher can no longer write.
        assert!(!set.refreshed(
            "orders",
            first,
            &[addr(1)],
            &name,
            vec![Some(vec![addr(9)])]
        ));
        assert_eq!(ports(&set), [2, 7]);
        // A failed lookup keeps the last answer.
        assert!(set.refreshed("orders", second, &[addr(2)], &name, vec![None]));
        assert_eq!(ports(&set), [2, 7]);
        // Without the name, its answer is gone.
        set.configure(&[addr(2)], &[]);
        assert_eq!(ports(&set), [2]);
    }

    #[tokio::test]
    async fn a_superseded_refresher_ends() {
        let set = Arc::new(EndpointSet::new(Vec::new()));
        let names = vec![("localhost".to_owned(), 80)];
        let generation = set.configure(&[], &names);
        let task = spawn_refresh(
            "orders".into(),
            set.clone(),
            generation,
            Vec::new(),
            names.clone(),
            Duration::from_millis(10),
        );
        set.configure(&[], &names);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the refresher ends")
            .expect("it did not panic");
    }
}
