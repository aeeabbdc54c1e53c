//! Exceptions to an echo server's usual answer: some requests get another status or a delay,
//! chosen by order of arrival (the first N) or at random (a share of them).

use http::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Which requests are treated differently.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Which {
    /// The first `n` matching requests.
    First(u64),
    /// Each matching request independently, with this probability in percent.
    Percent(f64),
}

/// Some requests answered with another status and/or after a delay. The choice counts only
/// requests that match the method filter (if any), from when the behaviour holding this was set.
///
/// ```
/// # use convoy_tests::upstream::{Behaviour, Flaky};
/// # use std::time::Duration;
/// // 30 % of GETs fail with 503; other methods and the other 70 % answer 200.
/// let flaky = Behaviour::default().flaky(Flaky::status(503).percent(30.0).only(http::Method::GET));
/// // The first request waits a second; later ones answer at once.
/// let slow_start = Behaviour::default().flaky(Flaky::delay(Duration::from_secs(1)).first(1));
/// ```
#[derive(Debug, Clone)]
pub struct Flaky {
    status: Option<StatusCode>,
    delay: Duration,
    which: Which,
    method: Option<Method>,
    /// Matching requests so far, shared by the clones the server takes per request.
    seen: Arc<AtomicU64>,
}

/// What a flaky rule says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exception {
    /// The status instead of the usual one, if any.
    pub(crate) status: Option<StatusCode>,
    /// An extra delay.
    pub(crate) delay: Duration,
}

impl Flaky {
    /// Affected requests are answered with `status` (every request, until narrowed).
    pub fn status(status: u16) -> Self {
        Flaky::new(
            Some(StatusCode::from_u16(status).expect("a valid status")),
            Duration::ZERO,
        )
    }

    /// Affected requests wait `delay` more before the answer (every request, until narrowed).
    pub fn delay(delay: Duration) -> Self {
        Flaky::new(None, delay)
    }

    fn new(status: Option<StatusCode>, delay: Duration) -> Self {
        Flaky {
            status,
            delay,
            which: Which::Percent(100.0),
            method: None,
            seen: Arc::default(),
        }
    }

    /// Only the first `n` requests are affected.
    pub fn first(mut self, n: u64) -> Self {
        self.which = Which::First(n);
        self
    }

    /// Each request is affected with probability `percent` / 100, independently of the others
    /// (a fixed pseudo-random sequence over the order of arrival, so runs are comparable).
    pub fn percent(mut self, percent: f64) -> Self {
        assert!((0.0..=100.0).contains(&percent), "a percentage: {percent}");
        self.which = Which::Percent(percent);
        self
    }

    /// Only requests with this method count and are affected.
    pub fn only(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Whether (and how) the request with this method is treated differently.
    pub(crate) fn judge(&self, method: &Method) -> Option<Exception> {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return None;
        }
        let index = self.seen.fetch_add(1, Ordering::SeqCst);
        let affected = match self.which {
            Which::First(n) => index < n,
            Which::Percent(percent) => {
                // Uniform in [0, 1) from the arrival index: SplitMix64's output function.
                let draw = (splitmix64(index) >> 11) as f64 / (1u64 << 53) as f64;
                draw * 100.0 < percent
            }
        };
        affected.then_some(Exception {
            status: self.status,
            delay: self.delay,
        })
    }
}

fn splitmix64(index: u64) -> u64 {
    let mut z = index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_n_then_none() {
        let f = Flaky::status(503).first(2);
        let hits: Vec<bool> = (0..4).map(|_| f.judge(&Method::GET).is_some()).collect();
        assert_eq!(hits, [true, true, false, false]);
    }

    #[test]
    fn a_share_at_random_and_only_the_method_given() {
        let f = Flaky::status(503).percent(30.0).only(Method::GET);
        assert!(f.judge(&Method::POST).is_none());
        let hits = (0..10_000)
            .filter(|_| f.judge(&Method::GET).is_some())
            .count();
        assert!((2_800..=3_200).contains(&hits), "{hits}");
        // Independent draws: about 30 % of the requests after a hit are hits too.
        let f = Flaky::status(503).percent(30.0);
        let draws: Vec<bool> = (0..10_000)
            .map(|_| f.judge(&Method::GET).is_some())
            .collect();
        let after_hit = draws.windows(2).filter(|w| w[0]).count();
        let both = draws.windows(2).filter(|w| w[0] && w[1]).count();
        let share = both as f64 / after_hit as f64;
        assert!((0.26..=0.34).contains(&share), "{share}");
    }
}
