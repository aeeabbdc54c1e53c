//! Why the mesh CA could not be loaded, generated or reloaded. Every error names the file.

use std::path::PathBuf;

/// Why the CA directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// One file of the anchor is there, the other is not.
    #[error(
        "{present} exists but {missing} does not: provide both files of the trust anchor, or \
         neither to have a new one generated"
    )]
    HalfAnchor {
        /// The file found.
        present: PathBuf,
        /// The file missing.
        missing: PathBuf,
    },
    /// The anchor's certificate is not usable.
    #[error("{path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The anchor's key is not usable.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("{key} is not the private key of {cert}: the trust anchor's two files do not match")]
    Mismatch {
        /// The certificate.
        cert: PathBuf,
        /// The key.
        key: PathBuf,
    },
    /// `bundle.pem` holds something other than certificates.
    #[error("{path}: {reason}")]
    Bundle {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rcgen could not make a key or certificate.
    #[error("cannot generate the trust anchor: {0}")]
    Generate(#[source] rcgen::Error),
}
