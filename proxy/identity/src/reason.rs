//! Why a TLS handshake ended the way it did: the `reason` label of
//! `convoy_tls_handshakes_total`, read from the rustls error.

use super::verify::PeerIdentityError;
use rustls::{AlertDescription, CertificateError, Error};

/// The outcome of one handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// It succeeded.
    Ok,
    /// The client sent no certificate.
    NoClientCertificate,
    /// The certificate does not chain to the trust bundle.
    UnknownCa,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// The certificate's key usage does not allow this use (say, serverAuth only as a client).
    BadUsage,
    /// The certificate's SANs break the identity rules (not exactly one SPIFFE ID in the trust
    /// domain).
    BadIdentity,
    /// Outbound: the server is another service than the one meant.
    WrongIdentity,
    /// Plaintext on a port that requires mutual TLS.
    Plaintext,
    /// This sidecar has no certificate yet.
    NoIdentity,
    /// The handshake took longer than allowed.
    Timeout,
    /// The peer broke the protocol, or offered nothing in common.
    Protocol,
    /// Anything else (the peer closed the connection, an I/O error).
    Other,
}

impl Reason {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::NoClientCertificate => "no_client_certificate",
            Reason::UnknownCa => "unknown_ca",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::BadUsage => "bad_usage",
            Reason::BadIdentity => "bad_identity",
            Reason::WrongIdentity => "wrong_identity",
            Reason::Plaintext => "plaintext",
            Reason::NoIdentity => "no_identity",
            Reason::Timeout => "timeout",
            Reason::Protocol => "protocol",
            Reason::Other => "other",
        }
    }

    /// The reason of a rustls error (ours, or an alert the peer sent about our certificate).
    pub(crate) fn of_tls(error: &Error) -> Reason {
        match error {
            Error::NoCertificatesPresented => Reason::NoClientCertificate,
            Error::InvalidCertificate(certificate) => Reason::of_certificate(certificate),
            Error::AlertReceived(alert) => Reason::of_alert(*alert),
            Error::InappropriateMessage { .. }
            | Error::InappropriateHandshakeMessage { .. }
            | Error::InvalidMessage(_)
            | Error::PeerIncompatible(_)
            | Error::PeerMisbehaved(_)
            | Error::NoApplicationProtocol
            | Error::PeerSentOversizedRecord
            | Error::DecryptError => Reason::Protocol,
            _ => Reason::Other,
        }
    }

    fn of_certificate(error: &CertificateError) -> Reason {
        match error {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => Reason::UnknownCa,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Reason::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Reason::NotYetValid
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                Reason::BadUsage
            }
            CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. }
            | CertificateError::ApplicationVerificationFailure => Reason::BadIdentity,
            CertificateError::Other(other) => match other.0.downcast_ref::<PeerIdentityError>() {
                Some(PeerIdentityError::WrongServer { .. }) => Reason::WrongIdentity,
                Some(PeerIdentityError::NotAService(_)) => Reason::Other,
                Some(_) => Reason::BadIdentity,
                None => Reason::Other,
            },
            _ => Reason::Other,
        }
    }

    fn of_alert(alert: AlertDescription) -> Reason {
        match alert {
            AlertDescription::CertificateRequired => Reason::NoClientCertificate,
            AlertDescription::UnknownCA => Reason::UnknownCa,
            AlertDescription::CertificateExpired => Reason::Expired,
            AlertDescription::BadCertificate | AlertDescription::UnsupportedCertificate => {
                Reason::BadIdentity
            }
            _ => Reason::Protocol,
        }
    }

    /// The reason of a failed handshake as tokio-rustls reports it (an I/O error wrapping the
    /// rustls error, if there is one).
    pub fn of_io(error: &std::io::Error) -> Reason {
        match tls_error(error) {
            Some(tls) => Reason::of_tls(tls),
            None if error.kind() == std::io::ErrorKind::TimedOut => Reason::Timeout,
            None => Reason::Other,
        }
    }

    /// A one-line explanation of a rustls error: ours as written, others as rustls says.
    pub(crate) fn message(error: &Error) -> String {
        if let Error::InvalidCertificate(CertificateError::Other(other)) = error {
            if let Some(ours) = other.0.downcast_ref::<PeerIdentityError>() {
                return ours.to_string();
            }
        }
        error.to_string()
    }

    /// `Reason::message` of the rustls error inside an I/O error, else the I/O error's text.
    pub fn io_message(error: &std::io::Error) -> String {
        match tls_error(error) {
            Some(tls) => Reason::message(tls),
            None => error.to_string(),
        }
    }
}

fn tls_error(error: &std::io::Error) -> Option<&Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_carry_their_rustls_reason() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            Error::NoCertificatesPresented,
        );
        assert_eq!(Reason::of_io(&io), Reason::NoClientCertificate);
        let expired = Error::InvalidCertificate(CertificateError::Expired);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, expired);
        assert_eq!(Reason::of_io(&io).label(), "expired");
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(Reason::of_io(&timeout), Reason::Timeout);
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert_eq!(Reason::of_io(&eof), Reason::Other);
        assert_eq!(
            Reason::of_tls(&Error::AlertReceived(AlertDescription::UnknownCA)),
            Reason::UnknownCa
        );
    }
}
