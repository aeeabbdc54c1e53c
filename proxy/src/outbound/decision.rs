//! What the outbound path decided for one request: the backend service, and the policies of
//! the route it matched on the service it called.

use crate::policy::retry::budget::Budget;
use crate::snapshot::ServiceRuntime;
use convoy_config::{RetryPolicy, Route, Service, ServiceName};
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

/// Request extension: the backend chosen and the policies in force.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The service whose endpoints receive the request.
    pub backend: Arc<ServiceRuntime>,
    /// Timeouts and retries.
    pub policy: Arc<CallPolicy>,
}
