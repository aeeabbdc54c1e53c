//! Warning when a Convoy binary is older than its sources: tests of another crate run the
//! binary that is there, and `cargo test -p <that crate>` does not rebuild it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Prints a warning, once per binary name in this process, when `binary` is older than the
/// newest source file of the crates it is built from (`sources`, workspace folders).
pub(crate) fn warn_once(binary: &Path, name: &str, sources: &[&str]) {
    static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let first = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(name.to_owned());
    if first {
        warn_if_stale(binary, name, sources);
    }
}

fn warn_if_stale(binary: &Path, package: &str, crates: &[&str]) {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return;
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let newest = crates
        .iter()
        .filter_map(|c| newest_file(&workspace.join(c).join("src")))
        .max();
    if let Some((modified, file)) = newest {
        if modified > built {
            eprintln!(
                "WARNING: {} is older than {}: these tests run the old binary; \
                 run `cargo build -p {package}` (or `cargo test --workspace`)",
                binary.display(),
                file.display()
            );
        }
    }
}

fn newest_file(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_file(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, path))
        };
        if let Some(candidate) = candidate {
            if newest.as_ref().is_none_or(|(t, _)| candidate.0 > *t) {
                newest = Some(candidate);
            }
        }
    }
    newest
}
