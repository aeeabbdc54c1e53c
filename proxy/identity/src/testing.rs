//! Test helpers: a small CA made with rcgen, issuing leaf certificates as the control plane does
//! (or, on purpose, as it does not).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::time::{Duration, SystemTime};

/// A self-signed CA.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert: rcgen::Certificate,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A new self-signed CA (ECDSA P-256).
    pub(crate) fn new() -> Self {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "test ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            cert,
        }
    }

    /// The CA certificate in PEM.
    pub(crate) fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `sans` with serverAuth and clientAuth, valid from now - 1 min for `ttl`;
    /// the chain (leaf only) and its key.
    pub(crate) fn leaf(
        &self,
        sans: Vec<SanType>,
        ttl: Duration,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        params.not_after = (SystemTime::now() + ttl).into();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    /// The PEM of a leaf for the SPIFFE ID `id`.
    pub(crate) fn leaf_pem_for(&self, id: &str, key: &KeyPair, ttl: Duration) -> String {
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        params.not_after = (SystemTime::now() + ttl).into();
        params.signed_by(key, &self.issuer).unwrap().pem()
    }
}

/// A certificate (DER) with these SANs, from a throwaway CA.
pub(crate) fn leaf_with_sans(sans: Vec<SanType>) -> Vec<u8> {
    let (chain, _) = TestCa::new().leaf(sans, Duration::from_secs(3600));
    chain[0].to_vec()
}
