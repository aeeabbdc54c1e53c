//! Open-loop load: requests start on a fixed schedule whether or not earlier ones
//! have finished, so a slow mesh shows up as latency rather than as a lower rate.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use rand::Rng;
use tokio::sync::watch;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::client::{self, HttpClient};

/// Bounds memory if the mesh stops answering; requests over it are skipped and counted.
const MAX_IN_FLIGHT: u32 = 1024;

/// A request that takes longer than this counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the load generator saw, from the client's side.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) sent: AtomicU64,
    pub(crate) ok: AtomicU64,
    pub(crate) client_errors: AtomicU64,
    /// Of `client_errors`, those answered 401 (unauthenticated).
    pub(crate) unauthorized: AtomicU64,
    /// Of `client_errors`, those answered 403 (forbidden).
    pub(crate) forbidden: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) skipped: AtomicU64,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} requests: {} ok, {} 4xx, {} 5xx, {} without response",
            self.sent.load(Relaxed),
            self.ok.load(Relaxed),
            self.client_errors.load(Relaxed),
            self.server_errors.load(Relaxed),
            self.failed.load(Relaxed),
        )?;
        match self.skipped.load(Relaxed) {
            0 => Ok(()),
            n => write!(f, ", {n} not sent ({MAX_IN_FLIGHT} already in flight)"),
        }
    }
}

impl Counts {
    /// How many were answered with `status` (401 and 403 are counted).
    fn refused(&self, status: StatusCode) -> u64 {
        match status {
            StatusCode::UNAUTHORIZED => self.unauthorized.load(Relaxed),
            StatusCode::FORBIDDEN => self.forbidden.load(Relaxed),
            _ => 0,
        }
    }

    /// Answered with any status.
    fn answered(&self) -> u64 {
        self.ok.load(Relaxed) + self.client_errors.load(Relaxed) + self.server_errors.load(Relaxed)
    }
}

/// What a stream that should succeed saw: `20 of 20 ok`, then any other outcome
/// (`, 1 answered otherwise`, `, 1 without response`).
pub(crate) struct Served<'a>(pub(crate) &'a Counts);

impl fmt::Display for Served<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let ok = c.ok.load(Relaxed);
        write!(f, "{ok} of {} ok", c.sent.load(Relaxed))?;
        match c.answered() - ok {
            0 => {}
            n => write!(f, ", {n} answered otherwise")?,
        }
        match c.failed.load(Relaxed) {
            0 => Ok(()),
            n => write!(f, ", {n} without response"),
        }
    }
}

/// What a stream that should be refused with a status (401 or 403) saw: `sent 12
/// requests, 12 refused with 403`, then any other outcome (`, 1 answered otherwise`,
/// `, 1 without response`).
pub(crate) struct Refused<'a>(pub(crate) &'a Counts, pub(crate) StatusCode);

impl fmt::Display for Refused<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Refused(c, status) = *self;
        let refused = c.refused(status);
        write!(
            f,
            "sent {} requests, {refused} refused with {}",
            c.sent.load(Relaxed),
            status.as_u16()
        )?;
        match c.answered() - refused {
            0 => {}
            n => write!(f, ", {n} answered otherwise")?,
        }
        match c.failed.load(Relaxed) {
            0 => Ok(()),
            n => write!(f, ", {n} without response"),
        }
    }
}

/// What a stream asks for: `GET url` with some headers.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) headers: Vec<(&'static str, &'static str)>,
}

impl Target {
    /// `GET url`, with no header but the `traceparent` each request gets.
    pub(crate) fn get(url: String) -> Self {
        Target {
            url,
            headers: Vec::new(),
        }
    }

    /// This, with the header `name: value` too (`host`, `x-api-key`).
    pub(crate) fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// A running load generator.
pub(crate) struct Traffic {
    ticker: JoinHandle<()>,
    in_flight: Arc<Semaphore>,
    rate: watch::Sender<f64>,
    pub(crate) counts: Arc<Counts>,
}

/// Ticks `rate` times a second, the first tick one period from now.
fn schedule(rate: f64) -> Interval {
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut interval = tokio::time::interval_at(Instant::now() + period, period);
    // Catch up after a stall: the schedule, not the mesh, sets the rate.
    interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
    interval
}

impl Traffic {
    /// Starts sending `rate` requests per second to `target`.
    pub(crate) fn start(client: HttpClient, target: Target, rate: f64) -> Self {
        let counts = Arc::new(Counts::default());
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize));
        let (rate_tx, mut rate_rx) = watch::channel(rate);
        let ticker = tokio::spawn({
            let (counts, in_flight) = (counts.clone(), in_flight.clone());
            async move {
                let mut interval = schedule(rate);
                loop {
                    tokio::select! {
                        _ = interval.tick() => {}
                        changed = rate_rx.changed() => {
                            if changed.is_err() {
                                return; // The Traffic is gone.
                            }
                            interval = schedule(*rate_rx.borrow_and_update());
                            continue;
                        }
                    }
                    let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                        counts.skipped.fetch_add(1, Relaxed);
                        continue;
                    };
                    counts.sent.fetch_add(1, Relaxed);
                    let (client, target, counts) = (client.clone(), target.clone(), counts.clone());
                    tokio::spawn(async move {
                        let trace = traceparent();
                        let mut headers: Vec<(&str, &str)> = target.headers.clone();
                        headers.push(("traceparent", trace.as_str()));
                        let outcome =
                            client::get(&client, &target.url, &headers, REQUEST_TIMEOUT).await;
                        let counter = match outcome {
                            Ok((status, _)) if status.is_server_error() => &counts.server_errors,
                            Ok((status, _)) if status.is_client_error() => {
                                match status {
                                    StatusCode::UNAUTHORIZED => {
                                        counts.unauthorized.fetch_add(1, Relaxed);
                                    }
                                    StatusCode::FORBIDDEN => {
                                        counts.forbidden.fetch_add(1, Relaxed);
                                    }
                                    _ => {}
                                }
                                &counts.client_errors
                            }
                            Ok(_) => &counts.ok,
                            Err(_) => &counts.failed,
                        };
                        counter.fetch_add(1, Relaxed);
                        drop(permit);
                    });
                }
            }
        });
        Self {
            ticker,
            in_flight,
            rate: rate_tx,
            counts,
        }
    }

    /// The rate requests are sent at now.
    pub(crate) fn rate(&self) -> f64 {
        *self.rate.borrow()
    }

    /// Sends `rate` requests per second from now on.
    pub(crate) fn set_rate(&self, rate: f64) {
        self.rate.send_replace(rate);
    }

    /// Stops starting requests and waits (up to `grace`) for those in flight.
    pub(crate) async fn stop(&self, grace: Duration) {
        self.ticker.abort();
        let _ = tokio::time::timeout(grace, self.in_flight.acquire_many(MAX_IN_FLIGHT)).await;
    }
}

impl Drop for Traffic {
    /// On error paths, stop sending at once instead of hammering dying children.
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

/// A fresh W3C `traceparent`, so each demo request is its own sampled trace.
fn traceparent() -> String {
    let mut rng = rand::rng();
    format!(
        "00-{:032x}-{:016x}-01",
        rng.random::<u128>() | 1,
        rng.random::<u64>() | 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successes_name_what_else_happened() {
        let counts = Counts::default();
        counts.sent.store(5, Relaxed);
        counts.ok.store(5, Relaxed);
        assert_eq!(Served(&counts).to_string(), "5 of 5 ok");
        counts.sent.store(7, Relaxed);
        counts.server_errors.store(1, Relaxed);
        counts.failed.store(1, Relaxed);
        assert_eq!(
            Served(&counts).to_string(),
            "5 of 7 ok, 1 answered otherwise, 1 without response"
        );
    }

    #[test]
    fn refusals_name_what_else_happened() {
        let counts = Counts::default();
        counts.sent.store(7, Relaxed);
        counts.client_errors.store(4, Relaxed);
        counts.forbidden.store(4, Relaxed);
        assert_eq!(
            Refused(&counts, StatusCode::FORBIDDEN).to_string(),
            "sent 7 requests, 4 refused with 403"
        );
        counts.ok.store(1, Relaxed);
        counts.failed.store(2, Relaxed);
        assert_eq!(
            Refused(&counts, StatusCode::FORBIDDEN).to_string(),
            "sent 7 requests, 4 refused with 403, 1 answered otherwise, 2 without response"
        );
        assert_eq!(
            Refused(&counts, StatusCode::UNAUTHORIZED).to_string(),
            "sent 7 requests, 0 refused with 401, 5 answered otherwise, 2 without response"
        );
    }
}
