//! Watching the CA's files: polled every second (they change rarely, and polling sees renames,
//! editors and mounted secrets alike); a change is reloaded, and a new bundle published.

use super::Ca;
use crate::hub::Hub;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the files are looked at.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// What a file looks like from outside: changes when it is written or replaced.
type Look = Option<(i64, i64, i64, i64, u64, u64)>;

fn look(path: &PathBuf) -> Look {
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.len(),
        m.ino(),
    ))
}

/// Polls the anchor's files and `bundle.pem` until `shutdown`; reloads the CA when one
/// changed and publishes a changed bundle as a new version.
pub(crate) async fn run(ca: Arc<Ca>, hub: Arc<Hub>, shutdown: CancellationToken) {
    let paths = ca.paths().clone();
    let files = [paths.cert, paths.key, paths.bundle];
    let mut seen: Vec<Look> = files.iter().map(look).collect();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now: Vec<Look> = files.iter().map(look).collect();
        if now == seen {
            continue;
        }
        seen = now;
        match ca.reload() {
            Ok(reloaded) if reloaded.bundle => {
                let bundle = ca.bundle();
                hub.metrics()
                    .trust_anchors
                    .set(bundle.anchors().len() as i64);
                if let Err(error) = hub.publish_trust(ca.trust(), bundle.anchors().len()).await {
                    tracing::error!(%error, "the new trust bundle was not published");
                }
            }
            Ok(_) => {}
            Err(error) => {
                hub.metrics().ca_reload_errors.inc();
                tracing::error!(%error, "the CA directory changed but is not usable; the anchor and bundle in force stay");
            }
        }
    }
}
