//! The fake control plane's PKI, made with the harness's test CA: its mesh CA, the API's
//! server certificate, and the CA file and join token file sidecars are given.

use convoy_harness::pki::{dns_san, ip_san, ExtendedKeyUsagePurpose, Leaf, TestCa, TRUST_DOMAIN};
use convoy_harness::tls::provider;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

/// The fake control plane's PKI: its mesh CA, the API's server certificate (for `localhost`
/// and `127.0.0.1`), the CA file and join token file sidecars are given. Outlives a control
/// plane that is stopped and started again.
pub(crate) struct Pki {
    dir: TempDir,
    /// The mesh CA (signs the API's certificate and, until rotated, the sidecars').
    pub(crate) ca: Arc<TestCa>,
    token: String,
    server: Arc<ServerConfig>,
}

impl Pki {
    /// A new CA, server certificate and join token.
    pub(crate) fn new() -> Arc<Self> {
        let ca = Arc::new(TestCa::new("fake control plane CA"));
        let api = Leaf::with_uri(&format!("spiffe://{TRUST_DOMAIN}/control-plane"))
            .named("control plane")
            .sans(vec![
                dns_san("localhost"),
                ip_san("127.0.0.1".parse().expect("an IP")),
            ])
            .usages(vec![ExtendedKeyUsagePurpose::ServerAuth]);
        let server_cert = ca.issue(&api);
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(server_cert.chain(), server_cert.key())
            .expect("the API's certificate");
        server.alpn_protocols = vec![b"h2".to_vec()];
        let dir = tempfile::tempdir().expect("a temporary directory");
        let token = format!("test-token-{}", std::process::id());
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write the CA file");
        std::fs::write(dir.path().join("join-token"), format!("{token}\n"))
            .expect("write the token file");
        Arc::new(Pki {
            dir,
            ca,
            token,
            server: Arc::new(server),
        })
    }

    /// The CA file sidecars verify the API with.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The join token file sidecars are given.
    pub(crate) fn token_file(&self) -> PathBuf {
        self.dir.path().join("join-token")
    }

    /// The join token.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The directory the files are in (for more files of a test's own).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The API's TLS config.
    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }
}
