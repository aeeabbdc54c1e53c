//! Debouncing file events: an editor's save is several events; reload once they stop.

use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Waits until `events` has been quiet for `quiet` (every event starts the wait again), but no
/// longer than `max` in all, so a directory that never stops changing is still reloaded.
pub(crate) async fn settle(events: &Notify, quiet: Duration, max: Duration) {
    let deadline = Instant::now() + max;
    loop {
        let until = (Instant::now() + quiet).min(deadline);
        tokio::select! {
            () = events.notified() => {
                if Instant::now() >= deadline {
                    return;
                }
            }
            () = tokio::time::sleep_until(until) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn events_at(events: &Arc<Notify>, at_ms: &'static [u64]) {
        let events = events.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            for at in at_ms {
                tokio::time::sleep_until(start + Duration::from_millis(*at)).await;
                events.notify_one();
            }
        });
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_quiet() {
        let events = Arc::new(Notify::new());
        events_at(&events, &[5, 15, 30]);
        let start = Instant::now();
        settle(&events, Duration::from_millis(20), Duration::from_secs(1)).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(50),
            "20 ms after the last event"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_events_returns_after_the_quiet_time() {
        let events = Notify::new();
        let start = Instant::now();
        settle(&events, Duration::from_millis(20), Duration::from_secs(1)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_storm_of_events_is_cut_at_the_maximum() {
        let events = Arc::new(Notify::new());
        let storm: &'static [u64] = Vec::leak((1..1000).map(|i| i * 10).collect());
        events_at(&events, storm);
        let start = Instant::now();
        settle(
            &events,
            Duration::from_millis(20),
            Duration::from_millis(200),
        )
        .await;
        assert!(
            start.elapsed() <= Duration::from_millis(210),
            "{:?}",
            start.elapsed()
        );
    }
}
