//! TLS clients of a child's HTTPS listener (the control plane's API): the anchors of its CA
//! file, and a rustls client config trusting them, with the ring provider as Convoy uses.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The ring crypto provider, as Convoy uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA file that cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    /// It cannot be read as PEM certificates.
    #[error("reading the mesh CA {}: {error}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: rustls_pki_types::pem::Error,
    },
    /// It holds no certificate rustls can use as an anchor.
    #[error("{} holds no usable certificate", .0.display())]
    Unusable(std::path::PathBuf),
}

/// The trust anchors in the PEM file `ca_file`; an error if it holds none that is usable.
pub fn roots(ca_file: &Path) -> Result<RootCertStore, RootsError> {
    let certificates = CertificateDer::pem_file_iter(ca_file)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| RootsError::Read {
            path: ca_file.to_path_buf(),
            error,
        })?;
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(RootsError::Unusable(ca_file.to_path_buf()));
    }
    Ok(roots)
}

/// A client config trusting `roots`, offering `alpn` (most preferred first), without a client
/// certificate.
pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_gives_its_anchor_and_a_file_without_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, crate::pki::TestCa::new("ca").pem()).unwrap();
        assert_eq!(roots(&file).unwrap().len(), 1);
        let config = client_config(roots(&file).unwrap(), &[b"h2", b"http/1.1"]);
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        std::fs::write(&file, "no PEM here").unwrap();
        assert!(matches!(roots(&file), Err(RootsError::Unusable(_))));
        assert!(matches!(
            roots(&dir.path().join("missing.pem")),
            Err(RootsError::Read { .. })
        ));
    }
}
