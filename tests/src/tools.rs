//! External tools some tests use (such as `promtool`).

use std::path::PathBuf;

/// Where `name` is on `PATH`, if anywhere.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The path of tool `name` for a test that needs it. When it is missing: under CI (env `CI`
/// set) the test fails, since CI must have every tool; elsewhere this prints why the check is
/// skipped and returns `None`.
pub fn require(name: &str, install_hint: &str) -> Option<PathBuf> {
    if let Some(path) = find_on_path(name) {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("`{name}` is not on PATH and CI is set: install it ({install_hint})");
    }
    eprintln!("SKIPPED: `{name}` is not on PATH ({install_hint}); set CI=1 to make this a failure");
    None
}
