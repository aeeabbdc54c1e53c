//! A fresh key and a certificate signing request for this sidecar's identity. The key is made
//! in memory for each request and never written anywhere.

use convoy_config::SpiffeId;
use rcgen::{CertificateParams, DnType, KeyPair, SanType, PKCS_ECDSA_P256_SHA256};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A new private key and the CSR (PEM) it signed.
pub struct KeyAndCsr {
    /// The private key (PKCS#8), for rustls once the certificate arrives.
    pub key: PrivateKeyDer<'static>,
    /// The PKCS#10 request, PEM.
    pub csr_pem: String,
}

impl std::fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("KeyAndCsr").finish_non_exhaustive()
    }
}

/// Makes an ECDSA P-256 key and a CSR asking for exactly the URI SAN `id` (subject CN: the
/// service, as the CA writes it anyway).
pub fn generate(id: &SpiffeId) -> Result<KeyAndCsr, rcgen::Error> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(service) = id.service() {
        params
            .distinguished_name
            .push(DnType::CommonName, service.as_str());
    }
    params.subject_alt_names = vec![SanType::URI(id.to_string().try_into()?)];
    let csr_pem = params.serialize_request(&key)?.pem()?;
    Ok(KeyAndCsr {
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        csr_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::{ServiceName, TrustDomain};
    use rcgen::CertificateSigningRequestParams;

    #[test]
    fn the_csr_asks_for_exactly_the_identity() {
        let id = SpiffeId::for_service(
            &TrustDomain::new("demo.convoy").unwrap(),
            &ServiceName::new("orders").unwrap(),
        );
        let made = generate(&id).unwrap();
        let csr = CertificateSigningRequestParams::from_pem(&made.csr_pem).unwrap();
        let uris: Vec<String> = csr
            .params
            .subject_alt_names
            .iter()
            .map(|san| match san {
                SanType::URI(uri) => uri.as_str().to_owned(),
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        assert_eq!(uris, ["spiffe://demo.convoy/service/orders"]);
        assert_eq!(format!("{made:?}"), "KeyAndCsr { .. }");
        // A new key each time.
        assert_ne!(generate(&id).unwrap().csr_pem, made.csr_pem);
    }
}
