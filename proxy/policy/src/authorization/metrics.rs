//! `convoy_authorization_total{caller, rule, result}`: the decisions of the authorization policy.

use convoy_config::SpiffeId;
use convoy_proxy_core::peer::Peer;
use prometheus::{IntCounterVec, Opts, Registry};

/// The caller label of requests without a proven identity.
pub(crate) const UNAUTHENTICATED: &str = "unauthenticated";

/// The authorization metric family. Only services with a policy count: a request to a service
/// without one is not a decision.
#[derive(Debug, Clone)]
pub struct AuthorizationMetrics {
    decisions: IntCounterVec,
}

impl AuthorizationMetrics {
    /// Registers the family in `registry`. If a family of that name is registered already (a
    /// second inbound stack on one registry), the counters still count but are not exported.
    pub fn new(registry: &Registry) -> Self {
        let decisions = IntCounterVec::new(
            Opts::new(
                "convoy_authorization_total",
                "Requests decided by the authorization policy of this sidecar's service, by caller (SPIFFE ID or `unauthenticated`), rule (`allow[N]`, or `default-deny`) and result (allow, deny).",
            ),
            &["caller", "rule", "result"],
        )
        .expect("static metric definition");
        if let Err(error) = registry.register(Box::new(decisions.clone())) {
            tracing::warn!(%error, "convoy_authorization_total is not exported");
        }
        AuthorizationMetrics { decisions }
    }

    /// Counts a request of `caller` allowed by rule `index`.
    pub fn allowed(&self, caller: &Peer, index: usize) {
        // The labels of the first rules are written out: no allocation per decision there.
        const FIRST: [&str; 8] = [
            "allow[0]", "allow[1]", "allow[2]", "allow[3]", "allow[4]", "allow[5]", "allow[6]",
            "allow[7]",
        ];
        match FIRST.get(index) {
            Some(rule) => self.count(caller, rule, "allow"),
            None => self.count(caller, &format!("allow[{index}]"), "allow"),
        }
    }

    /// Counts a request of `caller` that no rule allowed.
    pub(crate) fn denied(&self, caller: &Peer) {
        self.count(caller, "default-deny", "deny");
    }

    fn count(&self, caller: &Peer, rule: &str, result: &str) {
        // The caller's label is bounded by the identities the mesh's CA issues.
        let caller = caller.identity().map_or(UNAUTHENTICATED, SpiffeId::as_str);
        self.decisions
            .with_label_values(&[caller, rule, result])
            .inc();
    }

    /// The count of one label set (for tests).
    #[cfg(test)]
    pub(super) fn get(&self, caller: &str, rule: &str, result: &str) -> u64 {
        self.decisions
            .with_label_values(&[caller, rule, result])
            .get()
    }
}
