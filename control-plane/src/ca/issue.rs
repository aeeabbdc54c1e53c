//! What the CA writes into the certificates it issues: a workload's (its SPIFFE ID, client and
//! server use) and the control plane API's (its names, server use). Nothing is copied from a
//! CSR but the public key.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType, SerialNumber,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::time::ASN1Time;

/// How far back a certificate's validity starts, for peers whose clock is a little behind.
pub(crate) const BACKDATE: Duration = Duration::from_secs(60);

/// `time` as x509-parser's time, which converts to the `time::OffsetDateTime` rcgen takes
/// (`.to_datetime()`): this spares a direct dependency on the `time` crate.
pub(crate) fn asn1_time(time: SystemTime) -> ASN1Time {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    ASN1Time::from_timestamp(secs).unwrap_or_else(|_| ASN1Time::now())
}

/// A random, positive, 16-byte serial number.
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive (DER integers are signed) and of full length.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

/// The validity of a certificate issued at `now` for `lifetime`: from [`BACKDATE`] before
/// `now`, and never beyond the anchor's own `ca_not_after`; in whole seconds, as a certificate
/// holds them (so what the status shows is what the certificate says).
pub(crate) fn validity(
    now: SystemTime,
    lifetime: Duration,
    ca_not_after: SystemTime,
) -> (SystemTime, SystemTime) {
    let now = whole_seconds(now);
    let not_after = (now + lifetime).min(whole_seconds(ca_not_after));
    (now - BACKDATE, whole_seconds(not_after))
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::from_secs(since.as_secs())
}

fn end_entity(
    common_name: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = asn1_time(not_before).to_datetime();
    params.not_after = asn1_time(not_after).to_datetime();
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    params
}

/// A workload certificate: subject CN = the service, the one URI SAN `spiffe_id`, not a CA,
/// digitalSignature, serverAuth + clientAuth.
pub(crate) fn workload(
    service: &str,
    spiffe_id: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = end_entity(service, not_before, not_after);
    params.subject_alt_names = vec![SanType::URI(spiffe_id.try_into()?)];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

/// The control plane API's server certificate: the DNS names and IP addresses of `names`
/// (each parsed as an IP address first), and the URI SAN `spiffe_id`; serverAuth.
pub(crate) fn api_server(
    names: &[String],
    spiffe_id: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = end_entity("convoy-control-plane", not_before, not_after);
    let mut sans = Vec::with_capacity(names.len() + 1);
    for name in names {
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.as_str().try_into()?),
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    sans.push(SanType::URI(spiffe_id.try_into()?));
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_never_outlives_the_anchor() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let day = Duration::from_secs(86_400);
        assert_eq!(
            validity(now, day, now + 2 * day),
            (now - BACKDATE, now + day)
        );
        assert_eq!(
            validity(now, day, now + day / 2),
            (now - BACKDATE, now + day / 2)
        );
        let second = Duration::from_secs(1);
        assert_eq!(
            validity(now + second / 2, day + second / 2, now + 2 * day),
            (now - BACKDATE, now + day),
            "whole seconds"
        );
    }

    #[test]
    fn serials_are_positive_and_distinct() {
        let a = random_serial().to_bytes();
        let b = random_serial().to_bytes();
        assert_eq!(a.len(), 16);
        assert!(a[0] & 0x80 == 0 && a[0] != 0);
        assert_ne!(a, b);
    }

    #[test]
    fn api_names_are_dns_or_ip() {
        let now = SystemTime::now();
        let names = [
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ];
        let params = api_server(&names, "spiffe://convoy.local/control-plane", now, now).unwrap();
        assert_eq!(
            params.subject_alt_names.len(),
            4,
            "{:?}",
            params.subject_alt_names
        );
        assert!(matches!(params.subject_alt_names[1], SanType::IpAddress(_)));
        assert!(
            api_server(&["bücher".to_owned()], "spiffe://x/y", now, now).is_err(),
            "not IA5"
        );
    }
}
