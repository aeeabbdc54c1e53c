//! Checking a CSR before anything is signed: well formed, a valid signature, an ECDSA P-256 or
//! Ed25519 key, and exactly the one identity the sidecar may have.

use rcgen::{CertificateSigningRequestParams, SanType};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateSigningRequestDer;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
use x509_parser::prelude::FromDer;

/// Why a CSR is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CsrError {
    /// Not a well-formed, validly signed PKCS#10 request (400).
    #[error("bad CSR: {0}")]
    Malformed(String),
    /// A key type the mesh does not use (400).
    #[error("bad CSR: the key must be ECDSA P-256 or Ed25519, {0}")]
    Key(String),
    /// No subject alternative name at all (400).
    #[error("bad CSR: it asks for no identity; it must ask for the URI SAN {expected}")]
    NoIdentity {
        /// The identity it should ask for.
        expected: String,
    },
    /// It asks for another identity, or for more than the one (403).
    #[error("the CSR asks for {asked}; this sidecar may only have {expected}")]
    OtherIdentity {
        /// The names it asks for.
        asked: String,
        /// The one it may have.
        expected: String,
    },
}

/// Parses `pem` and checks it asks for exactly `expected` (a SPIFFE ID).
pub(crate) fn check(
    pem: &str,
    expected: &str,
) -> Result<CertificateSigningRequestParams, CsrError> {
    let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| CsrError::Malformed("not a PEM block `CERTIFICATE REQUEST`".into()))?;
    check_key(&der)?;
    let csr = CertificateSigningRequestParams::from_der(&der).map_err(|e| match e {
        rcgen::Error::InvalidCertificationRequestSignature => {
            CsrError::Malformed("its signature does not verify".into())
        }
        rcgen::Error::UnsupportedExtension => CsrError::Malformed(
            "it requests an extension the CA does not handle (only subjectAltName, keyUsage, \
             extendedKeyUsage and basicConstraints may be requested)"
                .into(),
        ),
        other => CsrError::Malformed(other.to_string()),
    })?;
    // rcgen writes the certificate's key algorithm from the CSR's *signature* algorithm: it
    // must agree with the key checked above, or the certificate would misname its key.
    let algorithm = csr.public_key.algorithm();
    if algorithm != &rcgen::PKCS_ECDSA_P256_SHA256 && algorithm != &rcgen::PKCS_ED25519 {
        return Err(CsrError::Key(format!(
            "signed with SHA-256 (ECDSA) or Ed25519; got {algorithm:?}"
        )));
    }
    let names = &csr.params.subject_alt_names;
    match names.as_slice() {
        [] => Err(CsrError::NoIdentity {
            expected: expected.to_owned(),
        }),
        [SanType::URI(uri)] if uri.as_str() == expected => Ok(csr),
        _ => Err(CsrError::OtherIdentity {
            asked: names.iter().map(describe).collect::<Vec<_>>().join(", "),
            expected: expected.to_owned(),
        }),
    }
}

fn check_key(der: &CertificateSigningRequestDer<'_>) -> Result<(), CsrError> {
    let (rest, request) =
        x509_parser::certification_request::X509CertificationRequest::from_der(der.as_ref())
            .map_err(|e| CsrError::Malformed(format!("not a PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed(
            "trailing bytes after the request".into(),
        ));
    }
    let algorithm = &request.certification_request_info.subject_pki.algorithm;
    if algorithm.algorithm == OID_SIG_ED25519 {
        return Ok(());
    }
    if algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
        return match curve {
            Some(curve) if curve == OID_EC_P256 => Ok(()),
            Some(curve) => Err(CsrError::Key(format!("got an EC key on curve {curve}"))),
            None => Err(CsrError::Key("got an EC key without a named curve".into())),
        };
    }
    Err(CsrError::Key(format!(
        "got a key of algorithm {}",
        algorithm.algorithm
    )))
}

fn describe(name: &SanType) -> String {
    match name {
        SanType::URI(uri) => format!("URI {}", uri.as_str()),
        SanType::DnsName(dns) => format!("DNS {}", dns.as_str()),
        SanType::IpAddress(ip) => format!("IP {ip}"),
        SanType::Rfc822Name(mail) => format!("email {}", mail.as_str()),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    const ORDERS: &str = "spiffe://convoy.local/service/orders";

    fn csr(sans: Vec<SanType>, key: &KeyPair) -> String {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    fn uri(text: &str) -> SanType {
        SanType::URI(text.try_into().unwrap())
    }

    #[test]
    fn the_expected_identity_passes() {
        for alg in [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ED25519] {
            let key = KeyPair::generate_for(alg).unwrap();
            let checked = check(&csr(vec![uri(ORDERS)], &key), ORDERS).unwrap();
            assert_eq!(checked.public_key.algorithm(), alg);
        }
    }

    #[test]
    fn other_identities_are_forbidden() {
        let key = KeyPair::generate().unwrap();
        let payments = "spiffe://convoy.local/service/payments";
        let error = check(&csr(vec![uri(payments)], &key), ORDERS).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("the CSR asks for URI {payments}; this sidecar may only have {ORDERS}")
        );
        let extra = vec![uri(ORDERS), SanType::DnsName("orders".try_into().unwrap())];
        let error = check(&csr(extra, &key), ORDERS).unwrap_err();
        assert!(matches!(error, CsrError::OtherIdentity { .. }), "{error}");
        assert!(error.to_string().contains("DNS orders"), "{error}");
        let error = check(&csr(vec![], &key), ORDERS).unwrap_err();
        assert!(matches!(error, CsrError::NoIdentity { .. }), "{error}");
    }

    #[test]
    fn other_keys_and_garbage_are_bad_requests() {
        let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let error = check(&csr(vec![uri(ORDERS)], &p384), ORDERS).unwrap_err();
        assert!(matches!(error, CsrError::Key(_)), "{error}");
        assert!(error.to_string().contains("1.3.132.0.34"), "{error}");

        let error = check("hello", ORDERS).unwrap_err();
        assert_eq!(
            error.to_string(),
            "bad CSR: not a PEM block `CERTIFICATE REQUEST`"
        );
        let garbage =
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
        let error = check(garbage, ORDERS).unwrap_err();
        assert!(matches!(error, CsrError::Malformed(_)), "{error}");
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let key = KeyPair::generate().unwrap();
        let text = csr(vec![uri(ORDERS)], &key);
        let mut der = CertificateSigningRequestDer::from_pem_slice(text.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        // The last byte belongs to the signature.
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let tampered = crate::ca::encode::pem("CERTIFICATE REQUEST", &der);
        let error = check(&tampered, ORDERS).unwrap_err();
        assert_eq!(error.to_string(), "bad CSR: its signature does not verify");
    }
}
