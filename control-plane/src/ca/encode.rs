//! Base64url and PEM encoding (decoding is `rustls-pki-types`' job): the trust bundle is
//! written back from DER in one canonical form, and join tokens are base64url.

use base64::Engine as _;

/// Base64url without padding (RFC 4648 §5), as join tokens are written.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// One PEM block of `label` (`CERTIFICATE`) holding `der`, lines of 64 characters ended by
/// `\n`.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding() {
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn pem_round_trips_through_pki_types() {
        use rustls_pki_types::pem::PemObject;
        let der: Vec<u8> = (0..=255).collect();
        let text = pem("CERTIFICATE", &der);
        assert!(text.lines().all(|l| l.len() <= 64));
        assert!(text.ends_with("-----END CERTIFICATE-----\n"), "{text}");
        let parsed = rustls_pki_types::CertificateDer::from_pem_slice(text.as_bytes()).unwrap();
        assert_eq!(parsed.as_ref(), der.as_slice());
    }
}
