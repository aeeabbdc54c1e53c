//! The certificates of the HAProxy and nginx mTLS hops, made with rcgen: a CA, a server
//! certificate for `localhost` and a client certificate, as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

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

fn error(e: rcgen::Error) -> CompareError {
    CompareError(format!("make certificates: {e}"))
}

/// Makes the CA and the two leaf certificates (ECDSA P-256, as Convoy's) in `dir`.
pub(crate) fn generate(dir: &Path) -> Result<Pki, CompareError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "convoy-bench CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(error)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(error)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf =
        |name: &str, usage: ExtendedKeyUsagePurpose| -> Result<(String, String), CompareError> {
            let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(error)?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().map_err(error)?;
            let cert = params.signed_by(&key, &issuer).map_err(error)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
    let (server_cert, server_key) = leaf("server", ExtendedKeyUsagePurpose::ServerAuth)?;
    let (client_cert, client_key) = leaf("client", ExtendedKeyUsagePurpose::ClientAuth)?;

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
    write(&pki.ca, &ca_cert.pem())?;
    write(&pki.server_cert, &server_cert)?;
    write(&pki.server_key, &server_key)?;
    write(&pki.server_bundle, &format!("{server_cert}{server_key}"))?;
    write(&pki.client_cert, &client_cert)?;
    write(&pki.client_key, &client_key)?;
    write(&pki.client_bundle, &format!("{client_cert}{client_key}"))?;
    Ok(pki)
}
