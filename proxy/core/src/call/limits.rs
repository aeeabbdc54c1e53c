//! The live state behind one service's circuit-breaker limits: requests in flight, requests
//! waiting for a slot, retries in flight. The layer that enforces them is
//! `convoy_policy::circuit_breaker::limits`.

use crate::error::ProxyError;
use convoy_config::{CircuitBreaker, ServiceName};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The live counters behind one service's limits.
#[derive(Debug)]
pub struct ServiceLimits {
    service: ServiceName,
    config: CircuitBreaker,
    requests: Arc<Semaphore>,
    waiting: AtomicU32,
    retries: AtomicU32,
}

/// A retry in flight, counted against `max_retries` until dropped.
#[derive(Debug)]
pub struct RetrySlot(Arc<ServiceLimits>);

impl Drop for RetrySlot {
    fn drop(&mut self) {
        self.0.retries.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ServiceLimits {
    /// Limits for `service`.
    pub fn new(service: ServiceName, config: CircuitBreaker) -> Arc<Self> {
        Arc::new(ServiceLimits {
            requests: Arc::new(Semaphore::new(config.max_requests as usize)),
            service,
            config,
            waiting: AtomicU32::new(0),
            retries: AtomicU32::new(0),
        })
    }

    /// Whether these limits enforce `config`'s `max_requests`, `max_pending_requests` and
    /// `max_retries` (the fields they use): a new configuration then keeps them, with the
    /// requests and retries they count.
    pub fn serves(&self, config: &CircuitBreaker) -> bool {
        self.config.max_requests == config.max_requests
            && self.config.max_pending_requests == config.max_pending_requests
            && self.config.max_retries == config.max_retries
    }

    /// Takes a retry slot, if fewer than `max_retries` retries are in flight.
    pub fn try_retry(self: &Arc<Self>) -> Option<RetrySlot> {
        let max = self.config.max_retries;
        self.retries
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| RetrySlot(self.clone()))
    }

    /// Takes a request slot if one is free now.
    pub fn try_acquire(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.requests.clone().try_acquire_owned().ok()
    }

    /// Takes a request slot: at once, after waiting in the bounded queue, or not at all.
    pub async fn acquire(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ProxyError> {
        if let Some(permit) = self.try_acquire() {
            return Ok(permit);
        }
        let max_pending = self.config.max_pending_requests;
        let queued = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max_pending).then_some(n + 1)
            });
        if queued.is_err() {
            let (limit, max) = if max_pending == 0 {
                ("max_requests", self.config.max_requests)
            } else {
                ("max_pending_requests", max_pending)
            };
            return Err(ProxyError::Overflow {
                service: self.service.clone(),
                limit,
                max,
            });
        }
        let permit = self.requests.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|_| ProxyError::Overflow {
            service: self.service.clone(),
            limit: "max_requests",
            max: self.config.max_requests,
        })
    }
}
