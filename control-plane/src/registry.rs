//! The registry: which sidecar runs where, and the endpoints that makes.
//!
//! Every stream is a session of its sidecar's id. Only the newest session of an id counts: a
//! sidecar that reconnects before its old stream was noticed gone takes over, and the old
//! stream's end changes nothing. A disconnected sidecar keeps its endpoint until
//! [`Registry::expire`] is called for that very session (after the grace).

use crate::summary::Endpoints;
use convoy_protocol::Hello;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// One stream of a sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Session(u64);

/// A snapshot the sidecar refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nack {
    /// The version refused.
    pub(crate) version: u64,
    /// The sidecar's reason.
    pub(crate) reason: String,
}

/// One registered sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its service.
    pub(crate) service: String,
    /// Where its inbound listener is reachable: an endpoint of `service` (unless a gateway).
    pub(crate) address: String,
    /// A gateway: registered for status, but no endpoint.
    pub(crate) gateway: bool,
    /// The sidecar's own version.
    pub(crate) proxy_version: String,
    /// Its current stream.
    pub(crate) session: Session,
    /// Whether that stream is open.
    pub(crate) connected: bool,
    /// When that stream opened.
    pub(crate) connected_since: SystemTime,
    /// The last version it acknowledged (kept across reconnects: it still runs it).
    pub(crate) acked_version: Option<u64>,
    /// The last snapshot it refused.
    pub(crate) last_nack: Option<Nack>,
    /// When the last certificate issued to it expires (kept across reconnects).
    pub(crate) certificate_expires: Option<SystemTime>,
}

/// Every sidecar that is connected or within its grace.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sidecars: BTreeMap<String, Entry>,
    generation: u64,
    next_session: u64,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Registers a new stream of `hello.id`; a sidecar back within its grace keeps what the
    /// registry knew of it.
    pub(crate) fn hello(&mut self, hello: &Hello, now: SystemTime) -> Session {
        self.next_session += 1;
        let session = Session(self.next_session);
        match self.sidecars.get_mut(&hello.id) {
            Some(entry) => {
                if entry.service != hello.service
                    || entry.address != hello.address
                    || entry.gateway != hello.gateway
                {
                    entry.service = hello.service.clone();
                    entry.address = hello.address.clone();
                    entry.gateway = hello.gateway;
                    self.generation += 1;
                }
                entry.proxy_version = hello.proxy_version.clone();
                entry.session = session;
                entry.connected = true;
                entry.connected_since = now;
            }
            None => {
                self.sidecars.insert(
                    hello.id.clone(),
                    Entry {
                        service: hello.service.clone(),
                        address: hello.address.clone(),
                        gateway: hello.gateway,
                        proxy_version: hello.proxy_version.clone(),
                        session,
                        connected: true,
                        connected_since: now,
                        acked_version: None,
                        last_nack: None,
                        certificate_expires: None,
                    },
                );
                self.generation += 1;
            }
        }
        session
    }

    fn current(&mut self, id: &str, session: Session) -> Option<&mut Entry> {
        self.sidecars.get_mut(id).filter(|e| e.session == session)
    }

    /// The stream `session` of `id` ended; true if it was the sidecar's current one (its grace
    /// starts now).
    pub(crate) fn disconnect(&mut self, id: &str, session: Session) -> bool {
        match self.current(id, session) {
            Some(entry) if entry.connected => {
                entry.connected = false;
                true
            }
            _ => false,
        }
    }

    /// The grace of `session` is over: removes the sidecar unless it came back. True if removed.
    pub(crate) fn expire(&mut self, id: &str, session: Session) -> bool {
        let expired = self
            .sidecars
            .get(id)
            .is_some_and(|e| e.session == session && !e.connected);
        if expired {
            self.sidecars.remove(id);
            self.generation += 1;
        }
        expired
    }

    /// Records an ACK on the current stream of `id`.
    pub(crate) fn ack(&mut self, id: &str, session: Session, version: u64) -> bool {
        self.current(id, session)
            .map(|entry| entry.acked_version = Some(version))
            .is_some()
    }

    /// Records a NACK on the current stream of `id`.
    pub(crate) fn nack(
        &mut self,
        id: &str,
        session: Session,
        version: u64,
        reason: String,
    ) -> bool {
        self.current(id, session)
            .map(|entry| entry.last_nack = Some(Nack { version, reason }))
            .is_some()
    }

    /// Records a certificate issued to `id` for `service`; false (nothing recorded) unless
    /// `id` is registered as that service.
    pub(crate) fn certificate_issued(
        &mut self,
        id: &str,
        service: &str,
        not_after: SystemTime,
    ) -> bool {
        match self.sidecars.get_mut(id) {
            Some(entry) if entry.service == service => {
                entry.certificate_expires = Some(not_after);
                true
            }
            _ => false,
        }
    }

    /// The registered endpoints, by service (sidecars within their grace included).
    pub(crate) fn endpoints(&self) -> Endpoints {
        let mut endpoints = Endpoints::new();
        for entry in self.sidecars.values().filter(|e| !e.gateway) {
            let addrs = endpoints.entry(entry.service.clone()).or_default();
            if !addrs.contains(&entry.address) {
                addrs.push(entry.address.clone());
            }
        }
        for addrs in endpoints.values_mut() {
            addrs.sort();
        }
        endpoints
    }

    /// Grows whenever the endpoints may have changed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// How many sidecars have an open stream.
    pub(crate) fn connected(&self) -> usize {
        self.sidecars.values().filter(|e| e.connected).count()
    }

    /// Every sidecar, by id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.sidecars.iter().map(|(id, e)| (id.as_str(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(id: &str, service: &str, address: &str) -> Hello {
        Hello {
            id: id.into(),
            service: service.into(),
            address: address.into(),
            proxy_version: "0.1.0".into(),
            serving: false,
            gateway: false,
        }
    }

    fn addrs(registry: &Registry, service: &str) -> Vec<String> {
        registry
            .endpoints()
            .get(service)
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn hello_adds_an_endpoint_and_expiry_removes_it() {
        let mut registry = Registry::new();
        let a = registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        registry.hello(&hello("b", "orders", "127.0.0.1:2"), SystemTime::now());
        assert_eq!(addrs(&registry, "orders"), ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(registry.connected(), 2);
        let generation = registry.generation();

        assert!(registry.disconnect("a", a));
        assert_eq!(registry.connected(), 1);
        assert_eq!(addrs(&registry, "orders").len(), 2, "kept during the grace");
        assert!(registry.expire("a", a));
        assert_eq!(addrs(&registry, "orders"), ["127.0.0.1:2"]);
        assert!(registry.generation() > generation);
        assert!(!registry.expire("a", a), "only once");
    }

    #[test]
    fn a_sidecar_back_within_the_grace_keeps_its_endpoint() {
        let mut registry = Registry::new();
        let first = registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        assert!(registry.ack("a", first, 3));
        assert!(registry.disconnect("a", first));
        let generation = registry.generation();
        let second = registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        assert_eq!(
            registry.generation(),
            generation,
            "same endpoint: nothing to publish"
        );
        assert!(
            !registry.expire("a", first),
            "the old grace ends in nothing"
        );
        assert_eq!(addrs(&registry, "orders"), ["127.0.0.1:1"]);
        let (_, entry) = registry.iter().next().unwrap();
        assert!(entry.connected);
        assert_eq!(entry.acked_version, Some(3), "it still runs version 3");
        assert_eq!(entry.session, second);
    }

    #[test]
    fn only_the_newest_session_counts() {
        let mut registry = Registry::new();
        let old = registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        // The sidecar reconnected before its old stream was noticed gone.
        let new = registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        assert!(!registry.disconnect("a", old));
        assert!(!registry.ack("a", old, 1));
        assert!(registry.nack("a", new, 2, "no".into()));
        assert_eq!(registry.connected(), 1);
        let (_, entry) = registry.iter().next().unwrap();
        assert_eq!(
            entry.last_nack,
            Some(Nack {
                version: 2,
                reason: "no".into()
            })
        );
    }

    #[test]
    fn a_gateway_is_registered_but_is_no_endpoint() {
        let mut registry = Registry::new();
        let mut edge = hello("g", "edge", "127.0.0.1:4191");
        edge.gateway = true;
        registry.hello(&edge, SystemTime::now());
        registry.hello(&hello("w", "web", "127.0.0.1:4143"), SystemTime::now());
        let endpoints = registry.endpoints();
        assert_eq!(endpoints.get("edge"), None, "{endpoints:?}");
        assert_eq!(addrs(&registry, "web"), ["127.0.0.1:4143"]);
    }

    #[test]
    fn a_new_address_is_a_new_endpoint() {
        let mut registry = Registry::new();
        registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        let generation = registry.generation();
        registry.hello(&hello("a", "orders", "127.0.0.1:9"), SystemTime::now());
        assert!(registry.generation() > generation);
        assert_eq!(addrs(&registry, "orders"), ["127.0.0.1:9"]);
    }

    #[test]
    fn two_sidecars_at_one_address_make_one_endpoint() {
        let mut registry = Registry::new();
        registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        registry.hello(&hello("b", "orders", "127.0.0.1:1"), SystemTime::now());
        assert_eq!(addrs(&registry, "orders"), ["127.0.0.1:1"]);
    }

    #[test]
    fn certificates_show_on_the_sidecar_of_their_service() {
        let mut registry = Registry::new();
        let session = registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        let expires = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        assert!(
            !registry.certificate_issued("a", "web", expires),
            "another service"
        );
        assert!(
            !registry.certificate_issued("b", "orders", expires),
            "unknown id"
        );
        assert!(registry.certificate_issued("a", "orders", expires));
        registry.disconnect("a", session);
        registry.hello(&hello("a", "orders", "127.0.0.1:1"), SystemTime::now());
        let (_, entry) = registry.iter().next().unwrap();
        assert_eq!(
            entry.certificate_expires,
            Some(expires),
            "kept across reconnects"
        );
    }
}
