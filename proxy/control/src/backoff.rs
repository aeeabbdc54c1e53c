//! Reconnect delays: capped exponential backoff with jitter (100 ms doubling to 5 s, each wait
//! uniform in [half, full]).

use rand::Rng;
use std::time::Duration;

/// The first wait's ceiling.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// The largest ceiling.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Capped, jittered exponential backoff: the n-th wait in a row is uniform in
/// `[ceiling / 2, ceiling]`, with `ceiling = min(initial × 2^(n-1), max)`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    ceiling: Duration,
}

impl Default for Backoff {
    /// [`INITIAL_BACKOFF`] doubling to [`MAX_BACKOFF`].
    fn default() -> Self {
        Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF)
    }
}

impl Backoff {
    /// Starting at `initial`, doubling up to `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            ceiling: initial.min(max),
        }
    }

    /// The next wait, jittered at random.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.next_with(rand::rng().random::<f64>())
    }

    /// The next wait for a draw `unit` in `[0, 1]`: `ceiling × (1 + unit) / 2`. The ceiling then
    /// doubles, up to the maximum.
    pub(crate) fn next_with(&mut self, unit: f64) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = ceiling.saturating_mul(2).min(self.max);
        ceiling.mul_f64((1.0 + unit.clamp(0.0, 1.0)) / 2.0)
    }

    /// Back to the first wait (after a connection proved good).
    pub(crate) fn reset(&mut self) {
        self.ceiling = self.initial.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_to_the_cap_within_half_and_full() {
        let mut backoff = Backoff::default();
        let ceilings = [100, 200, 400, 800, 1600, 3200, 5000, 5000];
        for ceiling in ceilings {
            assert_eq!(backoff.clone().next_with(0.0), ms(ceiling / 2));
            assert_eq!(backoff.clone().next_with(1.0), ms(ceiling));
            backoff.next_with(0.5);
        }
        backoff.reset();
        assert_eq!(backoff.next_with(1.0), ms(100));
    }

    #[test]
    fn random_waits_stay_within_bounds() {
        let mut backoff = Backoff::default();
        let mut ceiling = ms(100);
        for _ in 0..20 {
            let wait = backoff.next_delay();
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} for {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(ms(5000));
        }
    }
}
