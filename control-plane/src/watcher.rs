//! Watching the config directory: notify events (debounced), and a poll every second in case
//! events are missed (network filesystems, a directory replaced, a watch limit reached).
//!
//! A change that validates is published; one that does not is rejected (the status shows it)
//! and the last good version stays in force.

use crate::debounce;
use crate::hub::Hub;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often the directory is compared with what was last loaded.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The files of the directory as last seen: names, modification times and sizes.
pub(crate) type Fingerprint = Option<Vec<(PathBuf, Option<SystemTime>, u64)>>;

/// The fingerprint of `dir` now (`None` if it cannot be read).
pub(crate) fn fingerprint(dir: &Path) -> Fingerprint {
    let files = convoy_config::mesh_files(dir).ok()?;
    Some(
        files
            .into_iter()
            .map(|file| {
                let meta = std::fs::metadata(&file).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let size = meta.map_or(0, |m| m.len());
                (file, modified, size)
            })
            .collect(),
    )
}

/// Follows a directory and publishes what changes in it.
#[derive(Debug)]
pub(crate) struct DirWatcher {
    dir: PathBuf,
    hub: Arc<Hub>,
    debounce: Duration,
    last: Fingerprint,
}

impl DirWatcher {
    /// Follows `dir`, whose contents at `loaded` are the version in force.
    pub(crate) fn new(
        dir: PathBuf,
        hub: Arc<Hub>,
        debounce: Duration,
        loaded: Fingerprint,
    ) -> Self {
        DirWatcher {
            dir,
            hub,
            debounce,
            last: loaded,
        }
    }

    /// Runs until `shutdown`.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let events = Arc::new(Notify::new());
        // Kept alive for as long as this runs; without it, the poll alone finds changes.
        let _watcher = self.watch(events.clone());
        let max_wait = (self.debounce * 10).max(Duration::from_secs(1));
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = events.notified() => {
                    debounce::settle(&events, self.debounce, max_wait).await;
                    self.reload().await;
                }
                _ = poll.tick() => {
                    let dir = self.dir.clone();
                    let now = tokio::task::spawn_blocking(move || fingerprint(&dir)).await.ok().flatten();
                    if now != self.last {
                        tracing::debug!("the poll found a change the events did not report");
                        self.reload().await;
                    }
                }
            }
        }
    }

    fn watch(&self, events: Arc<Notify>) -> Option<RecommendedWatcher> {
        let handler = move |result: notify::Result<Event>| match result {
            Ok(event) if relevant(&event) => events.notify_one(),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "file watch error; reloading to be safe");
                events.notify_one();
            }
        };
        let watched = notify::recommended_watcher(handler).and_then(|mut watcher| {
            watcher.watch(&self.dir, RecursiveMode::NonRecursive)?;
            Ok(watcher)
        });
        match watched {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "cannot watch the directory; polling every second instead");
                None
            }
        }
    }

    async fn reload(&mut self) {
        let dir = self.dir.clone();
        // The fingerprint is taken first: a change made during the load is seen by the next poll.
        let loaded = tokio::task::spawn_blocking(move || {
            (fingerprint(&dir), convoy_config::load_mesh_dir(&dir))
        })
        .await;
        let Ok((fingerprint, loaded)) = loaded else {
            tracing::error!("loading the directory panicked");
            return;
        };
        self.last = fingerprint;
        match loaded {
            Ok(source) => {
                if let Err(error) = self.hub.publish_config(source).await {
                    tracing::error!(%error, "config change not published");
                }
            }
            Err(error) => self.hub.reject(&error),
        }
    }
}

/// Whether a file event may change the mesh: a YAML file (or the directory, or Kubernetes'
/// `..data` link) was written, created, removed or renamed. Reads (our own, too) are not.
fn relevant(event: &Event) -> bool {
    if let EventKind::Access(kind) = event.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return false;
        }
    }
    event.need_rescan()
        || event.paths.is_empty()
        || event.paths.iter().any(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let yaml =
                !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"));
            yaml || name.starts_with("..")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn only_changes_of_yaml_files_count() {
        let write = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let renamed = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        let created = EventKind::Create(CreateKind::File);
        assert!(relevant(&event(write, "/m/orders.yaml")));
        assert!(relevant(&event(renamed, "/m/orders.yml")));
        assert!(relevant(&event(created, "/m/..data")));
        assert!(!relevant(&event(open, "/m/orders.yaml")), "our own reads");
        assert!(!relevant(&event(created, "/m/.orders.yaml.swp")));
        assert!(!relevant(&event(created, "/m/notes.txt")));
    }

    #[test]
    fn the_fingerprint_sees_files_come_go_and_change() {
        let dir = tempfile::tempdir().unwrap();
        let empty = fingerprint(dir.path());
        assert_eq!(empty, Some(vec![]));
        std::fs::write(dir.path().join("a.yaml"), "services: {}\n").unwrap();
        let one = fingerprint(dir.path());
        assert_ne!(one, empty);
        std::fs::write(dir.path().join("a.yaml"), "services:\n  orders: {}\n").unwrap();
        assert_ne!(fingerprint(dir.path()), one, "the size changed");
        assert_eq!(fingerprint(&dir.path().join("missing")), None);
    }
}
