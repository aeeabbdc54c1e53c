//! Waiting for something a child does (bind, answer, converge), failing early when a child
//! exits, with a limit.

use std::time::{Duration, Instant};

use crate::child::Child;
use crate::error::WaitError;

/// How often waits poll by default.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Tries `ready` every `interval` until it gives a value, for up to `limit`, failing early
/// when one of `watched` exits; `what` and the last reason `ready` gave name the wait in the
/// timeout error.
pub async fn wait_until<T>(
    what: &str,
    watched: &mut [&mut Child],
    limit: Duration,
    interval: Duration,
    mut ready: impl AsyncFnMut() -> Result<T, String>,
) -> Result<T, WaitError> {
    let deadline = Instant::now() + limit;
    loop {
        for child in watched.iter_mut() {
            child.check()?;
        }
        let last = match ready().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() > deadline {
            return Err(WaitError::TimedOut {
                what: what.to_owned(),
                waited: limit,
                last,
            });
        }
        tokio::time::sleep(interval).await;
    }
}
