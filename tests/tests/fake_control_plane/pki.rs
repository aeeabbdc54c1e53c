//! Certificates for tests, made with rcgen: a test CA (the fake control plane's mesh CA, or a
//! stranger), leaf certificates as the mesh issues them or deliberately not (wrong SANs, usages,
//! validity), and the files curl and openssl read.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tempfile::TempDir;

/// The trust domain of the fake control plane's mesh.
pub(crate) const TRUST_DOMAIN: &str = "test.convoy";

/// The SPIFFE ID of `service` in [`TRUST_DOMAIN`].
pub(crate) fn spiffe_id(service: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/service/{service}")
}

/// The ring provider, as the proxy uses.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed CA (ECDSA P-256, CA:true, path length 0).
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl TestCa {
    /// A new CA named `name`.
    pub(crate) fn new(name: &str) -> Self {
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
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Its certificate, PEM.
    pub(crate) fn pem(&self) -> &str {
        &self.pem
    }

    /// Its certificate, DER.
    pub(crate) fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Signs `leaf` for `public_key`; the certificate, PEM.
    pub(crate) fn sign(&self, leaf: &Leaf, public_key: &impl PublicKeyData) -> String {
        leaf.params()
            .signed_by(public_key, &self.issuer)
            .expect("a leaf certificate")
            .pem()
    }

    /// A new key and `leaf` signed for it, with their files.
    pub(crate) fn issue(&self, leaf: &Leaf) -> KeyAndCert {
        let key = KeyPair::generate().expect("a leaf key");
        let cert_pem = self.sign(leaf, &key);
        KeyAndCert::new(cert_pem, &key)
    }
}

/// What a leaf certificate says.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    /// Subject CN.
    pub(crate) common_name: String,
    /// Subject alternative names.
    pub(crate) sans: Vec<SanType>,
    /// Extended key usages.
    pub(crate) usages: Vec<ExtendedKeyUsagePurpose>,
    /// Start of validity.
    pub(crate) not_before: SystemTime,
    /// End of validity.
    pub(crate) not_after: SystemTime,
}

impl Leaf {
    /// As the mesh CA issues for `service`: its SPIFFE ID only, serverAuth + clientAuth, valid
    /// from a minute ago for an hour.
    pub(crate) fn for_service(service: &str) -> Self {
        Leaf::with_uri(&spiffe_id(service)).named(service)
    }

    /// One URI SAN, both usages, valid from a minute ago for an hour.
    pub(crate) fn with_uri(uri: &str) -> Self {
        Leaf {
            common_name: "leaf".to_owned(),
            sans: vec![uri_san(uri)],
            usages: vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            not_before: SystemTime::now() - Duration::from_secs(60),
            not_after: SystemTime::now() + Duration::from_secs(3600),
        }
    }

    /// With subject CN `name`.
    pub(crate) fn named(mut self, name: &str) -> Self {
        self.common_name = name.to_owned();
        self
    }

    /// With these SANs instead.
    pub(crate) fn sans(mut self, sans: Vec<SanType>) -> Self {
        self.sans = sans;
        self
    }

    /// With these extended key usages instead.
    pub(crate) fn usages(mut self, usages: Vec<ExtendedKeyUsagePurpose>) -> Self {
        self.usages = usages;
        self
    }

    /// Valid from `not_before` to `not_after` instead.
    pub(crate) fn valid(mut self, not_before: SystemTime, not_after: SystemTime) -> Self {
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
pub(crate) fn uri_san(uri: &str) -> SanType {
    SanType::URI(uri.try_into().expect("an IA5 string"))
}

/// A DNS SAN.
pub(crate) fn dns_san(name: &str) -> SanType {
    SanType::DnsName(name.try_into().expect("an IA5 string"))
}

/// A certificate and its key, in memory and as PEM files (for curl and openssl).
pub(crate) struct KeyAndCert {
    dir: TempDir,
    /// The certificate, PEM.
    pub(crate) cert_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl KeyAndCert {
    fn new(cert_pem: String, key: &KeyPair) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("write the certificate");
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).expect("write the key");
        let chain = vec![
            rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
                .expect("the certificate PEM"),
        ];
        KeyAndCert {
            dir,
            cert_pem,
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    /// The certificate file.
    pub(crate) fn cert_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The key file.
    pub(crate) fn key_file(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// The chain, DER.
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    /// The key, DER.
    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

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
                SanType::IpAddress("127.0.0.1".parse().expect("an IP")),
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
