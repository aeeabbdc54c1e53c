//! A test CA made with rcgen (ECDSA P-256, as Convoy's), and leaf certificates as the mesh
//! issues them or deliberately not (wrong SANs, usages, validity), in memory and as the PEM
//! files curl, openssl, HAProxy and nginx read.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;

/// The rcgen types in this module's API, so callers need no rcgen of their own.
pub use rcgen::ExtendedKeyUsagePurpose;
pub(crate) use rcgen::SanType;

/// The trust domain of the test mesh (a fake control plane's).
pub const TRUST_DOMAIN: &str = "test.convoy";

/// The SPIFFE ID of `service` in [`TRUST_DOMAIN`].
pub fn spiffe_id(service: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/service/{service}")
}

/// A self-signed CA (ECDSA P-256, CA:true, path length 0), valid from an hour ago for 30 days.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    /// A new CA named `name` (its subject CN).
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = (SystemTime::now() - Duration::from_secs(3600)).into();
        params.not_after = (SystemTime::now() + Duration::from_secs(30 * 86400)).into();
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Its certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Signs `leaf` for `public_key`; the certificate, PEM.
    pub fn sign(&self, leaf: &Leaf, public_key: &impl PublicKeyData) -> String {
        leaf.params()
            .signed_by(public_key, &self.issuer)
            .expect("a leaf certificate")
            .pem()
    }

    /// A new key and `leaf` signed for it, with their files.
    pub fn issue(&self, leaf: &Leaf) -> KeyAndCert {
        let key = KeyPair::generate().expect("a leaf key");
        let cert_pem = self.sign(leaf, &key);
        KeyAndCert::new(cert_pem, &key)
    }
}

/// What a leaf certificate says.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Subject CN.
    common_name: String,
    /// Subject alternative names.
    sans: Vec<SanType>,
    /// Extended key usages.
    usages: Vec<ExtendedKeyUsagePurpose>,
    /// Start of validity.
    not_before: SystemTime,
    /// End of validity.
    not_after: SystemTime,
}

impl Leaf {
    /// Subject CN `common_name`, no SANs, serverAuth + clientAuth, valid from a minute ago for
    /// an hour.
    pub fn new(common_name: &str) -> Self {
        Leaf {
            common_name: common_name.to_owned(),
            sans: Vec::new(),
            usages: vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            not_before: SystemTime::now() - Duration::from_secs(60),
            not_after: SystemTime::now() + Duration::from_secs(3600),
        }
    }

    /// As the mesh CA issues for `service`: its SPIFFE ID ([`spiffe_id`]) only, both usages,
    /// valid from a minute ago for an hour.
    pub fn for_service(service: &str) -> Self {
        Leaf::with_uri(&spiffe_id(service)).named(service)
    }

    /// CN `leaf`, one URI SAN, both usages, valid from a minute ago for an hour.
    pub fn with_uri(uri: &str) -> Self {
        Leaf::new("leaf").sans(vec![uri_san(uri)])
    }

    /// With subject CN `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.common_name = name.to_owned();
        self
    }

    /// With these SANs instead.
    pub fn sans(mut self, sans: Vec<SanType>) -> Self {
        self.sans = sans;
        self
    }

    /// With these extended key usages instead.
    pub fn usages(mut self, usages: Vec<ExtendedKeyUsagePurpose>) -> Self {
        self.usages = usages;
        self
    }

    /// Valid from `not_before` to `not_after` instead.
    pub fn valid(mut self, not_before: SystemTime, not_after: SystemTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name.as_str());
        params.subject_alt_names = self.sans.clone();
        params.extended_key_usages = self.usages.clone();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = self.not_before.into();
        params.not_after = self.not_after.into();
        params
    }
}

/// A URI SAN.
pub fn uri_san(uri: &str) -> SanType {
    SanType::URI(uri.try_into().expect("an IA5 string"))
}

/// A DNS SAN.
pub fn dns_san(name: &str) -> SanType {
    SanType::DnsName(name.try_into().expect("an IA5 string"))
}

/// An IP address SAN.
pub fn ip_san(ip: std::net::IpAddr) -> SanType {
    SanType::IpAddress(ip)
}

/// A certificate and its key, in memory and as PEM files (`cert.pem`, `key.pem`) in a
/// temporary directory of their own.
pub struct KeyAndCert {
    dir: TempDir,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The key (PKCS#8), PEM.
    pub key_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl KeyAndCert {
    fn new(cert_pem: String, key: &KeyPair) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key_pem = key.serialize_pem();
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("write the certificate");
        std::fs::write(dir.path().join("key.pem"), &key_pem).expect("write the key");
        let chain = vec![
            rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
                .expect("the certificate PEM"),
        ];
        KeyAndCert {
            dir,
            cert_pem,
            key_pem,
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    /// The certificate file.
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The key file.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// The chain, DER.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    /// The key, DER.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_for_a_service_chains_to_its_ca() {
        let ca = TestCa::new("test CA");
        let leaf = ca.issue(&Leaf::for_service("web"));
        assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        assert_eq!(
            std::fs::read_to_string(leaf.cert_file()).unwrap(),
            leaf.cert_pem
        );
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls_pki_types::pem::PemObject::from_pem_slice(ca.pem().as_bytes()).unwrap())
            .unwrap();
        let chain = leaf.chain();
        let parsed = rustls::server::ParsedCertificate::try_from(&chain[0]).unwrap();
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &roots,
            &[],
            rustls_pki_types::UnixTime::now(),
            crate::tls::provider().signature_verification_algorithms.all,
        )
        .unwrap();
        assert_eq!(spiffe_id("web"), "spiffe://test.convoy/service/web");
    }
}
