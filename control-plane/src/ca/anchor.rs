//! The signing trust anchor: its certificate and private key, generated or loaded from PEM,
//! checked to be a CA and to match.

use super::error::CaError;
use super::issue::{asn1_time, random_serial};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a generated anchor is valid: 10 years.
pub(crate) const GENERATED_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The anchor that signs every certificate of the mesh.
pub(crate) struct Anchor {
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
    not_after: SystemTime,
    subject: String,
}

impl fmt::Debug for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Anchor")
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A freshly generated anchor and its two files' contents.
#[derive(Debug)]
pub(crate) struct Generated {
    /// The anchor.
    pub(crate) anchor: Anchor,
    /// `ca.pem`.
    pub(crate) cert_pem: String,
    /// `ca.key` (PKCS#8).
    pub(crate) key_pem: String,
}

impl Anchor {
    /// A new ECDSA P-256 anchor for `trust_domain`: CA, path length 0, valid for
    /// [`GENERATED_LIFETIME`] from `now` (and a minute before, for clocks a little behind).
    pub(crate) fn generate(trust_domain: &str, now: SystemTime) -> Result<Generated, CaError> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CaError::Generate)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "Convoy");
        name.push(DnType::CommonName, format!("Convoy mesh CA {trust_domain}"));
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = asn1_time(now - Duration::from_secs(60)).to_datetime();
        params.not_after = asn1_time(now + GENERATED_LIFETIME).to_datetime();
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key).map_err(CaError::Generate)?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        let anchor = Anchor::load(
            cert_pem.as_bytes(),
            key_pem.as_bytes(),
            Path::new("(generated) ca.pem"),
            Path::new("(generated) ca.key"),
            now,
        )?;
        Ok(Generated {
            anchor,
            cert_pem,
            key_pem,
        })
    }

    /// The anchor whose certificate is `cert_pem` (read from `cert_path`) and key `key_pem`
    /// (from `key_path`): one PEM certificate, a CA, not expired at `now`; a PKCS#8 key that is
    /// the certificate's.
    pub(crate) fn load(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_path: &Path,
        key_path: &Path,
        now: SystemTime,
    ) -> Result<Anchor, CaError> {
        let cert_error = |reason: String| CaError::Certificate {
            path: cert_path.to_owned(),
            reason,
        };
        let mut certs = CertificateDer::pem_slice_iter(cert_pem);
        let cert_der = match certs.next() {
            Some(Ok(der)) => der,
            Some(Err(e)) => return Err(cert_error(format!("not a PEM certificate: {e}"))),
            None => return Err(cert_error("holds no PEM CERTIFICATE block".into())),
        };
        if certs.next().is_some() {
            return Err(cert_error(
                "holds more than one certificate: put only the signing anchor here, and other \
                 anchors to trust in bundle.pem"
                    .into(),
            ));
        }
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| cert_error(format!("not a valid X.509 certificate: {e}")))?;
        if !x509.is_ca() {
            return Err(cert_error(
                "is not a CA certificate (basic constraints CA:true)".into(),
            ));
        }
        if let Ok(Some(usage)) = x509.key_usage() {
            if !usage.value.key_cert_sign() {
                return Err(cert_error(
                    "its key usage does not allow keyCertSign".into(),
                ));
            }
        }
        let not_after = UNIX_EPOCH
            + Duration::from_secs(
                u64::try_from(x509.validity().not_after.timestamp()).unwrap_or(0),
            );
        if not_after <= now {
            return Err(cert_error(format!(
                "expired on {}",
                humantime::format_rfc3339_seconds(not_after)
            )));
        }
        let subject = x509.subject().to_string();

        let key_error = |reason: String| CaError::Key {
            path: key_path.to_owned(),
            reason,
        };
        let key_text = std::str::from_utf8(key_pem)
            .map_err(|_| key_error("not a PEM file (not text)".into()))?;
        let key = KeyPair::from_pem(key_text).map_err(|e| {
            if key_text.contains("-----BEGIN EC PRIVATE KEY-----")
                || key_text.contains("-----BEGIN RSA PRIVATE KEY-----")
            {
                key_error(
                    "is not PKCS#8: convert it with `openssl pkcs8 -topk8 -nocrypt -in ca.key \
                     -out ca.key.p8` (PEM `BEGIN PRIVATE KEY`)"
                        .into(),
                )
            } else {
                key_error(format!("not a PKCS#8 private key in PEM: {e}"))
            }
        })?;
        if key.public_key_raw() != x509.public_key().subject_public_key.data.as_ref() {
            return Err(CaError::Mismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            });
        }
        let key_der = key.serialized_der().to_vec();
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| cert_error(format!("cannot sign with it: {e}")))?;
        Ok(Anchor {
            cert_der: cert_der.into_owned(),
            key_der,
            issuer,
            not_after,
            subject,
        })
    }

    /// The certificate, DER.
    pub(crate) fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// When the anchor expires: nothing it signs outlives it.
    pub(crate) fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The subject, for logs.
    pub(crate) fn subject(&self) -> &str {
        &self.subject
    }

    /// Whether `other` is the same certificate with the same key.
    pub(crate) fn same_as(&self, other: &Anchor) -> bool {
        self.cert_der == other.cert_der && self.key_der == other.key_der
    }

    /// Signs `params` for `public_key`.
    pub(crate) fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl PublicKeyData,
    ) -> Result<rcgen::Certificate, rcgen::Error> {
        params.signed_by(public_key, &self.issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (&'static Path, &'static Path) {
        (Path::new("dir/ca.pem"), Path::new("dir/ca.key"))
    }

    #[test]
    fn a_generated_anchor_loads_again() {
        let now = SystemTime::now();
        let generated = Anchor::generate("convoy.local", now).unwrap();
        let (cert, key) = paths();
        let loaded = Anchor::load(
            generated.cert_pem.as_bytes(),
            generated.key_pem.as_bytes(),
            cert,
            key,
            now,
        )
        .unwrap();
        assert!(loaded.same_as(&generated.anchor));
        assert!(loaded.subject().contains("Convoy mesh CA convoy.local"));
        let years = loaded.not_after().duration_since(now).unwrap().as_secs() / (365 * 86400);
        assert_eq!(years, 9, "just under 10 years (whole seconds)");
        let (_, x509) = x509_parser::parse_x509_certificate(loaded.cert_der()).unwrap();
        let constraints = x509.basic_constraints().unwrap().unwrap().value;
        assert!(constraints.ca);
        assert_eq!(constraints.path_len_constraint, Some(0));
        assert!(generated.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn mismatched_and_broken_files_are_named() {
        let now = SystemTime::now();
        let a = Anchor::generate("convoy.local", now).unwrap();
        let b = Anchor::generate("convoy.local", now).unwrap();
        let (cert, key) = paths();
        let error = Anchor::load(a.cert_pem.as_bytes(), b.key_pem.as_bytes(), cert, key, now)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "dir/ca.key is not the private key of dir/ca.pem: the trust anchor's two files do not match"
        );
        let error = Anchor::load(b"junk", a.key_pem.as_bytes(), cert, key, now)
            .unwrap_err()
            .to_string();
        assert_eq!(error, "dir/ca.pem: holds no PEM CERTIFICATE block");
        let error = Anchor::load(a.cert_pem.as_bytes(), b"junk", cert, key, now)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("dir/ca.key: not a PKCS#8 private key"),
            "{error}"
        );
        let two = format!("{}{}", a.cert_pem, b.cert_pem);
        let error = Anchor::load(two.as_bytes(), a.key_pem.as_bytes(), cert, key, now)
            .unwrap_err()
            .to_string();
        assert!(error.contains("more than one certificate"), "{error}");
    }

    #[test]
    fn an_expired_or_non_ca_certificate_is_refused() {
        let now = SystemTime::now();
        let a = Anchor::generate("convoy.local", now).unwrap();
        let (cert, key) = paths();
        let later = now + GENERATED_LIFETIME + Duration::from_secs(1);
        let error = Anchor::load(
            a.cert_pem.as_bytes(),
            a.key_pem.as_bytes(),
            cert,
            key,
            later,
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("dir/ca.pem: expired on "), "{error}");

        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&leaf_key)
            .unwrap();
        let error = Anchor::load(
            leaf.pem().as_bytes(),
            leaf_key.serialize_pem().as_bytes(),
            cert,
            key,
            now,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("is not a CA certificate"), "{error}");
    }
}
