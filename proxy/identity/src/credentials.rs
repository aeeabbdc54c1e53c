//! The sidecar's certificate as issued: the chain, its key, the identity it names and when it
//! is valid. Checked when it arrives, so a handshake never finds a mismatched pair.

use super::san::{self, SanError};
use super::trust::{parse_certificates, TrustError};
use convoy_config::SpiffeId;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// Why an issued certificate was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The chain is not PEM certificates.
    #[error("{0}")]
    Chain(#[from] TrustError),
    /// The certificate does not go with the key the CSR was signed with.
    #[error("the certificate does not match the key: {0}")]
    Key(#[source] rustls::Error),
    /// It names no identity, or another.
    #[error("the certificate names {found}, not {expected}")]
    Identity {
        /// What it names (or why it names nothing).
        found: String,
        /// What was asked for.
        expected: SpiffeId,
    },
    /// Its validity cannot be read.
    #[error("the certificate's validity cannot be read: {0}")]
    Validity(String),
}

/// An issued certificate with its key.
pub struct Credentials {
    id: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Takes the chain (`chain_pem`, leaf first) issued for `key`, which must name `expected`.
    pub fn new(
        chain_pem: &str,
        key: PrivateKeyDer<'static>,
        expected: &SpiffeId,
    ) -> Result<Self, CredentialError> {
        let chain = parse_certificates(chain_pem)?;
        let certified =
            CertifiedKey::from_der(chain.clone(), key.clone_key(), &super::provider::provider())
                .map_err(CredentialError::Key)?;
        certified.keys_match().map_err(CredentialError::Key)?;
        let leaf = &chain[0];
        let found = san::spiffe_id(leaf).map_err(|e: SanError| CredentialError::Identity {
            found: e.to_string(),
            expected: expected.clone(),
        })?;
        if &found != expected {
            return Err(CredentialError::Identity {
                found: found.to_string(),
                expected: expected.clone(),
            });
        }
        let (not_before, not_after) = validity(leaf)?;
        Ok(Credentials {
            id: found,
            chain,
            key,
            not_before,
            not_after,
        })
    }

    /// The identity the certificate names.
    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// The chain, leaf first.
    pub(crate) fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// A copy of the key, for a rustls config.
    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    /// The start of its validity.
    pub(crate) fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// The end of its validity.
    pub(crate) fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// How long until it expires (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or_default()
    }
}

/// `(not_before, not_after)` of a DER certificate.
fn validity(der: &[u8]) -> Result<(SystemTime, SystemTime), CredentialError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| CredentialError::Validity(e.to_string()))?;
    let at = |seconds: i64| {
        u64::try_from(seconds)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .map_err(|_| CredentialError::Validity(format!("a time before 1970: {seconds}")))
    };
    let validity = cert.validity();
    Ok((
        at(validity.not_before.timestamp())?,
        at(validity.not_after.timestamp())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr;
    use crate::testing::TestCa;
    use convoy_config::{ServiceName, TrustDomain};
    use rcgen::KeyPair;

    fn orders() -> SpiffeId {
        SpiffeId::for_service(
            &TrustDomain::new("demo.convoy").unwrap(),
            &ServiceName::new("orders").unwrap(),
        )
    }

    fn key_pair_of(key: &PrivateKeyDer<'static>) -> KeyPair {
        KeyPair::try_from(key).unwrap()
    }

    #[test]
    fn an_issued_certificate_is_checked_against_the_key_and_the_identity() {
        let ca = TestCa::new();
        let made = csr::generate(&orders()).unwrap();
        let key = key_pair_of(&made.key);
        let pem = ca.leaf_pem_for(
            "spiffe://demo.convoy/service/orders",
            &key,
            Duration::from_secs(600),
        );
        let credentials = Credentials::new(&pem, made.key.clone_key(), &orders()).unwrap();
        assert_eq!(credentials.id(), &orders());
        let remaining = credentials.remaining(SystemTime::now());
        assert!(remaining > Duration::from_secs(590) && remaining <= Duration::from_secs(600));

        let other = ca.leaf_pem_for(
            "spiffe://demo.convoy/service/users",
            &key,
            Duration::from_secs(600),
        );
        let error = Credentials::new(&other, made.key.clone_key(), &orders()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the certificate names spiffe://demo.convoy/service/users, not spiffe://demo.convoy/service/orders"
        );
        let stranger = KeyPair::generate().unwrap();
        let for_another_key = ca.leaf_pem_for(
            "spiffe://demo.convoy/service/orders",
            &stranger,
            Duration::from_secs(600),
        );
        assert!(matches!(
            Credentials::new(&for_another_key, made.key.clone_key(), &orders()),
            Err(CredentialError::Key(_))
        ));
    }
}
