//! The certificates of the HAProxy and nginx mTLS hops, from the harness's test CA: a CA, a
//! server certificate for `localhost` and a client certificate, as PEM files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use convoy_harness::pki::{dns_san, ExtendedKeyUsagePurpose, KeyAndCert, Leaf, TestCa};

use super::CompareError;

/// The PEM files, in a directory.
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    /// The CA certificate.
    pub(crate) ca: PathBuf,
    /// The server certificate and its key, apart and together (HAProxy's `crt`).
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) server_bundle: PathBuf,
    /// The client certificate and its key, apart and together.
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    pub(crate) client_bundle: PathBuf,
}

/// Makes the CA and the two leaf certificates (ECDSA P-256, as Convoy's) in `dir`, valid for
/// as long as the CA (30 days), however long the comparison runs.
pub(crate) fn generate(dir: &Path) -> Result<Pki, CompareError> {
    let ca = TestCa::new("convoy-bench CA");
    let leaf = |name: &str, usage: ExtendedKeyUsagePurpose| -> KeyAndCert {
        let now = SystemTime::now();
        ca.issue(
            &Leaf::new(name)
                .sans(vec![dns_san("localhost")])
                .usages(vec![usage])
                .valid(
                    now - Duration::from_secs(3600),
                    now + Duration::from_secs(30 * 86400),
                ),
        )
    };
    let server = leaf("server", ExtendedKeyUsagePurpose::ServerAuth);
    let client = leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
    let (server_cert, server_key) = (&server.cert_pem, &server.key_pem);
    let (client_cert, client_key) = (&client.cert_pem, &client.key_pem);

    let pki = Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        server_bundle: dir.join("server-bundle.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        client_bundle: dir.join("client-bundle.pem"),
    };
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| CompareError(format!("write {}: {e}", path.display())))
    };
    write(&pki.ca, ca.pem())?;
    write(&pki.server_cert, server_cert)?;
    write(&pki.server_key, server_key)?;
    write(&pki.server_bundle, &format!("{server_cert}{server_key}"))?;
    write(&pki.client_cert, client_cert)?;
    write(&pki.client_key, client_key)?;
    write(&pki.client_bundle, &format!("{client_cert}{client_key}"))?;
    Ok(pki)
}
