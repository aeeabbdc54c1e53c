//! Startup steps both binaries take, and the errors they fail with.

use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;

/// Why a process could not start: the steps the proxy and the control plane share.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({listener}): {source}")]
    Bind {
        /// Which listener.
        listener: String,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bound addresses could not be written.
    #[error("cannot write {path}: {source}")]
    WriteBoundAddrs {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// Binds the listener called `listener` (named in the error) on `addr`.
pub async fn bind(listener: &str, addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind {
            listener: listener.to_owned(),
            addr,
            source,
        })
}

/// Writes `value` as JSON to `path` (`--bound-addrs-file`): written whole to a `.tmp` file
/// beside it, then renamed, so a reader never sees half a file.
pub fn write_json_atomically(path: &Path, value: &impl Serialize) -> Result<(), StartupError> {
    let fail = |source| StartupError::WriteBoundAddrs {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(value).unwrap_or_default()).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_is_whole_json_and_no_tmp_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bound.json");
        write_json_atomically(&path, &serde_json::json!({ "admin": "127.0.0.1:1" })).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, r#"{"admin":"127.0.0.1:1"}"#);
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn an_unwritable_path_names_the_file() {
        let error = write_json_atomically(Path::new("/nonexistent/dir/b.json"), &1).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("cannot write /nonexistent/dir/b.json:"));
    }
}
