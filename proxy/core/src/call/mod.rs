//! What routing decided for one outbound call, as the outbound policies read it: the policies of
//! the route it matched, and the request limits of the backend service it goes to. The state
//! these carry (the route's retry budget, the backend's request slots) lives here with them;
//! the layers that act on it live in `convoy-policy`.

pub mod budget;
pub mod limits;

use budget::Budget;
use convoy_config::{RetryPolicy, Route, Service, ServiceName};
use limits::ServiceLimits;
use std::sync::Arc;
use std::time::Duration;

/// The policies that apply to calls through one route (or to a service's calls that match no
/// route), resolved once per snapshot.
#[derive(Debug)]
pub struct CallPolicy {
    /// The service the client called (labels policy metrics).
    pub service: ServiceName,
    /// Request timeout, retries included.
    pub timeout: Option<Duration>,
    /// The retry policy, if retries are on.
    pub retry: Option<RetryPolicy>,
    /// The retry budget's live state (with `retry`).
    pub budget: Option<Budget>,
}

impl CallPolicy {
    /// The policies of calls to `service` matching `route` (none: the service's own).
    pub fn new(service: &Service, route: Option<&Route>) -> Self {
        let route_policy = route.map(|r| &r.policy);
        let retry = route_policy
            .and_then(|p| p.retry.clone())
            .or_else(|| service.retry.clone());
        CallPolicy {
            service: service.name.clone(),
            timeout: route_policy
                .and_then(|p| p.timeout)
                .or(service.timeouts.request),
            budget: retry.as_ref().map(|r| Budget::new(&r.budget)),
            retry,
        }
    }

    /// Whether `other` applies the same policies (service, timeout, retry policy and budget
    /// settings): a new configuration then keeps this one, and its budget's history.
    pub fn same_as(&self, other: &CallPolicy) -> bool {
        self.service == other.service && self.timeout == other.timeout && self.retry == other.retry
    }
}

/// Request extension, set once where routing decides (the outbound resolver, the gateway):
/// the policies in force for this call. The request timeout, retries, the per-try timeout and
/// the circuit breaker's request limits read it; nothing else about the route or the backend.
#[derive(Debug, Clone)]
pub struct Call {
    /// Timeouts and retries of the route.
    pub policy: Arc<CallPolicy>,
    /// The backend service's request limits (requests, pending requests and retries in flight).
    pub limits: Arc<ServiceLimits>,
}
