//! Linkerd's retry budget: retries allowed = ratio × requests in the window + a floor per
//! second, over a sliding window. Lock-free: the window is a ring of per-slot counters.

use convoy_config::RetryBudget;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// Slots the window is cut into; a slot's counts expire together.
const SLOTS: u64 = 10;

/// A ring of counters, each tagged with the slot number it counts for.
#[derive(Debug)]
struct Ring {
    /// High 32 bits: slot number (mod 2^32); low 32 bits: count.
    slots: [AtomicU64; SLOTS as usize],
}

impl Ring {
    fn new() -> Self {
        Ring {
            slots: Default::default(),
        }
    }

    fn add(&self, slot: u64) {
        let cell = &self.slots[(slot % SLOTS) as usize];
        let tag = (slot & 0xffff_ffff) << 32;
        let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            Some(if v & 0xffff_ffff_0000_0000 == tag {
                v.saturating_add(1)
            } else {
                tag | 1
            })
        });
    }

    /// The sum over the last `SLOTS` slots up to `slot`.
    fn sum(&self, slot: u64) -> u64 {
        self.slots
            .iter()
            .map(|cell| cell.load(Ordering::Acquire))
            .filter(|v| {
                // Slot numbers compare modulo 2^32, as they are tagged.
                let age = (slot & 0xffff_ffff).wrapping_sub(v >> 32) & 0xffff_ffff;
                age < SLOTS
            })
            .map(|v| v & 0xffff_ffff)
            .sum()
    }
}

/// The live budget of one retry policy.
#[derive(Debug)]
pub struct Budget {
    ratio: f64,
    floor: f64,
    slot_width_ns: u64,
    start: Instant,
    requests: Ring,
    retries: Ring,
}

impl Budget {
    /// A budget as configured.
    pub fn new(config: &RetryBudget) -> Self {
        Budget {
            ratio: config.ratio,
            floor: f64::from(config.min_per_second) * config.window.as_secs_f64(),
            slot_width_ns: (config.window.as_nanos() as u64 / SLOTS).max(1),
            start: Instant::now(),
            requests: Ring::new(),
            retries: Ring::new(),
        }
    }

    fn slot(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 / self.slot_width_ns
    }

    /// Counts an original request.
    pub fn deposit(&self) {
        self.requests.add(self.slot());
    }

    /// Takes one retry from the budget, if there is one left.
    pub fn withdraw(&self) -> bool {
        let slot = self.slot();
        let allowed = self.ratio * self.requests.sum(slot) as f64 + self.floor;
        if (self.retries.sum(slot) as f64) + 1.0 > allowed {
            return false;
        }
        self.retries.add(slot);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(ratio: f64, min_per_second: u32) -> Budget {
        Budget::new(&RetryBudget {
            ratio,
            min_per_second,
            window: Duration::from_secs(10),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_share_of_requests_plus_the_floor() {
        let b = budget(0.2, 1);
        for _ in 0..100 {
            b.deposit();
        }
        // 0.2 × 100 + 1/s × 10 s = 30.
        let granted = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 30);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_forgets_old_requests_and_retries() {
        let b = budget(0.5, 0);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!((0..10).filter(|_| b.withdraw()).count(), 5);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!b.withdraw(), "the old requests no longer count");
        for _ in 0..4 {
            b.deposit();
        }
        assert_eq!(
            (0..10).filter(|_| b.withdraw()).count(),
            2,
            "the old retries no longer count either"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_alone_allows_min_per_second_over_the_window() {
        let b = budget(0.0, 2);
        assert_eq!((0..100).filter(|_| b.withdraw()).count(), 20);
    }
}
