//! Finding a Convoy binary: in the directory of the running executable (`target/<profile>/`),
//! one level up when that executable is a test or bench in `target/<profile>/deps/`, or in a
//! directory the caller was given (`--bin-dir`).

use std::path::{Path, PathBuf};

/// The sidecar proxy's binary.
pub const PROXY: &str = "convoy-proxy";

/// The control plane's binary.
pub const CONTROL_PLANE: &str = "convoy-control-plane";

/// A binary that is not where it was looked for.
#[derive(Debug, thiserror::Error)]
#[error("{name} not found at {}", path.display())]
pub struct NotFound {
    /// The binary's name.
    pub(crate) name: String,
    /// Where it was looked for.
    pub(crate) path: PathBuf,
}

/// The directory cargo puts the workspace's binaries in for the profile of the running
/// executable: its own directory, or the parent of `deps/` for tests and benches.
pub fn bin_dir() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the running executable has no parent directory",
        )
    })?;
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    Ok(dir.to_path_buf())
}

/// The binary `name` in `dir` (with the platform's executable suffix), if it is a file there.
pub fn find_in(dir: &Path, name: &str) -> Result<PathBuf, NotFound> {
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(NotFound {
            name: name.to_owned(),
            path,
        })
    }
}

/// The workspace binary `name` of the running executable's profile, for tests and benches:
/// panics with how to build it when it is missing, and warns once (on stderr) when a Convoy
/// binary is older than its sources, since `cargo test -p <a test crate>` does not rebuild it.
pub fn require(name: &str) -> PathBuf {
    let dir = bin_dir().expect("the running executable has a path");
    match find_in(&dir, name) {
        Ok(path) => {
            crate::stale::warn_once(&path, name, sources_of(name));
            path
        }
        Err(missing) => {
            let release = if dir.ends_with("release") {
                " --release"
            } else {
                ""
            };
            panic!(
                "{missing}: build the binaries first with `cargo test{release} --workspace` \
                 (which builds them for the proxy's and the control plane's integration tests) \
                 or `cargo build{release} -p convoy-proxy -p convoy-control-plane --bins`"
            )
        }
    }
}

/// The workspace crates (directories) whose sources go into binary `name`.
fn sources_of(name: &str) -> &'static [&'static str] {
    match name {
        PROXY => &["proxy", "config"],
        CONTROL_PLANE => &["control-plane", "config"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_where_it_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_in(dir.path(), "convoy-nothing").unwrap_err();
        assert!(err.path.starts_with(dir.path()));
        assert!(err.to_string().starts_with("convoy-nothing not found at "));
        std::fs::write(err.path, "").unwrap();
        assert!(find_in(dir.path(), "convoy-nothing").is_ok());
    }

    #[test]
    fn the_bin_dir_of_a_test_is_above_deps() {
        let dir = bin_dir().unwrap();
        assert!(!dir.ends_with("deps"), "{}", dir.display());
    }
}
