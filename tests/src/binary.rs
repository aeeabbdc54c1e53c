//! Finding the binaries under test next to the test executable.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::SystemTime;

/// The `convoy-proxy` binary of the same profile as this test (`target/<profile>/convoy-proxy`).
///
/// Test executables live in `target/<profile>/deps/`; binaries one directory up. Panics with
/// instructions when the binary has not been built, and warns (once) when it is older than the
/// proxy's sources: `cargo test -p convoy-tests` alone does not rebuild it.
pub fn proxy() -> PathBuf {
    let path = locate("convoy-proxy");
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| warn_if_stale(&path, "convoy-proxy", &["proxy", "config"]));
    path
}

/// The `convoy-control-plane` binary of the same profile as this test
/// (`target/<profile>/convoy-control-plane`); see [`proxy`].
pub fn control_plane() -> PathBuf {
    let path = locate("convoy-control-plane");
    static CHECKED: Once = Once::new();
    CHECKED
        .call_once(|| warn_if_stale(&path, "convoy-control-plane", &["control-plane", "config"]));
    path
}

/// A workspace binary `name` of the same profile as this test.
pub fn locate(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let deps = exe.parent().expect("the test executable is in a directory");
    let profile_dir = if deps.ends_with("deps") {
        deps.parent().unwrap_or(deps)
    } else {
        deps
    };
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        panic!(
            "{} not found: build the binaries first with `cargo test --workspace` (which builds \
             them for the proxy's and the control plane's integration tests) or \
             `cargo build -p convoy-proxy -p convoy-control-plane --bins`",
            path.display()
        );
    }
    path
}

fn warn_if_stale(binary: &Path, package: &str, crates: &[&str]) {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return;
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
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
