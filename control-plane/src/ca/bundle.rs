//! The trust bundle sent to sidecars: the signing anchor, then every certificate of
//! `bundle.pem` (the old anchor during a rotation), each once, written in one canonical PEM
//! form so that only a real change of the anchors is a new version.

use super::encode;
use super::error::CaError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::Path;

/// The anchors sidecars trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bundle {
    anchors: Vec<CertificateDer<'static>>,
    pem: String,
}

impl Bundle {
    /// `signing` first, then the certificates of `extra` (the text of `path`, `bundle.pem`),
    /// without repeats.
    pub(crate) fn new(
        signing: &CertificateDer<'static>,
        extra: Option<&[u8]>,
        path: &Path,
    ) -> Result<Bundle, CaError> {
        let mut anchors = vec![signing.clone()];
        if let Some(extra) = extra {
            let error = |reason: String| CaError::Bundle {
                path: path.to_owned(),
                reason,
            };
            for (i, cert) in CertificateDer::pem_slice_iter(extra).enumerate() {
                let cert =
                    cert.map_err(|e| error(format!("certificate {}: not PEM: {e}", i + 1)))?;
                x509_parser::parse_x509_certificate(&cert).map_err(|e| {
                    error(format!(
                        "certificate {} is not a valid X.509 certificate: {e}",
                        i + 1
                    ))
                })?;
                if !anchors.contains(&cert) {
                    anchors.push(cert);
                }
            }
            let text = String::from_utf8_lossy(extra);
            if anchors.len() == 1
                && !text.trim().is_empty()
                && !text.contains("-----BEGIN CERTIFICATE-----")
            {
                return Err(error("holds no PEM CERTIFICATE block".into()));
            }
        }
        let pem = anchors
            .iter()
            .map(|der| encode::pem("CERTIFICATE", der))
            .collect();
        Ok(Bundle { anchors, pem })
    }

    /// The anchors, the signing one first.
    pub(crate) fn anchors(&self) -> &[CertificateDer<'static>] {
        &self.anchors
    }

    /// The bundle in PEM, as sent.
    pub(crate) fn pem(&self) -> &str {
        &self.pem
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::anchor::Anchor;
    use std::time::SystemTime;

    #[test]
    fn the_bundle_is_the_anchor_then_the_extra_ones_once() {
        let now = SystemTime::now();
        let a = Anchor::generate("convoy.local", now).unwrap();
        let b = Anchor::generate("convoy.local", now).unwrap();
        let path = Path::new("ca/bundle.pem");
        let alone = Bundle::new(a.anchor.cert_der(), None, path).unwrap();
        assert_eq!(alone.anchors().len(), 1);
        assert_eq!(alone.pem().matches("BEGIN CERTIFICATE").count(), 1);
        assert_eq!(
            Bundle::new(a.anchor.cert_der(), Some(b""), path).unwrap(),
            alone
        );

        // The signing anchor repeated in bundle.pem, and some comments: no change but b.
        let extra = format!("# old anchor\n{}\n{}", b.cert_pem, a.cert_pem);
        let both = Bundle::new(a.anchor.cert_der(), Some(extra.as_bytes()), path).unwrap();
        assert_eq!(
            both.anchors(),
            [a.anchor.cert_der().clone(), b.anchor.cert_der().clone()]
        );
        let crlf = extra.replace('\n', "\r\n");
        let same = Bundle::new(a.anchor.cert_der(), Some(crlf.as_bytes()), path).unwrap();
        assert_eq!(same.pem(), both.pem(), "one canonical form");

        let error = Bundle::new(a.anchor.cert_der(), Some(b"not pem"), path).unwrap_err();
        assert_eq!(
            error.to_string(),
            "ca/bundle.pem: holds no PEM CERTIFICATE block"
        );
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = Bundle::new(a.anchor.cert_der(), Some(broken.as_bytes()), path).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("certificate 1 is not a valid X.509"),
            "{error}"
        );
    }
}
