//! The SPIFFE certificate verifiers: rustls's WebPKI checks (chain to the bundle, validity, key
//! usage), then the identity rules of the mesh.
//!
//! - Inbound ([`SpiffeClientVerifier`]): the client's end-entity certificate must carry exactly
//!   one URI SAN, a SPIFFE ID in the mesh's trust domain.
//! - Outbound ([`SpiffeServerVerifier`]): the server's must be exactly
//!   `spiffe://<trust domain>/service/<service>`, the service being the server name the
//!   connection was made for.

use super::san::{self, SanError};
use super::trust::TrustBundle;
use convoy_config::{ServiceName, SpiffeId, TrustDomain};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, VerifierBuilderError, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
};
use rustls::{Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// A certificate that chains and is valid, but names the wrong identity.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerIdentityError {
    /// Inbound: the client's certificate breaks the SAN rules.
    #[error("client certificate refused: {0}")]
    Client(#[source] SanError),
    /// Outbound: the server is another workload than the one meant.
    #[error("server identity {found} is not the expected {expected}")]
    WrongServer {
        /// Whom the server's certificate names.
        found: SpiffeId,
        /// Whom the sidecar meant to call.
        expected: SpiffeId,
    },
    /// Outbound: the server's certificate breaks the SAN rules.
    #[error("server certificate names no acceptable identity ({problem}); expected {expected}")]
    BadServer {
        /// What is wrong with it.
        #[source]
        problem: SanError,
        /// Whom the sidecar meant to call.
        expected: SpiffeId,
    },
    /// Outbound: the connection was made for a name that is not a service.
    #[error("`{0}` is not a service name")]
    NotAService(String),
}

impl From<PeerIdentityError> for Error {
    fn from(error: PeerIdentityError) -> Self {
        Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(error))))
    }
}

/// Inbound: WebPKI client verification against the bundle (which requires a certificate and
/// checks the clientAuth usage), then the SAN rules.
#[derive(Debug)]
pub(crate) struct SpiffeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    trust_domain: TrustDomain,
}

impl SpiffeClientVerifier {
    /// Verifies against `trust`.
    pub(crate) fn new(trust: &TrustBundle) -> Result<Self, VerifierBuilderError> {
        let inner =
            WebPkiClientVerifier::builder_with_provider(trust.roots(), super::provider::provider())
                .build()?;
        Ok(SpiffeClientVerifier {
            inner,
            trust_domain: trust.trust_domain().clone(),
        })
    }
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        san::spiffe_id_in(end_entity, &self.trust_domain).map_err(PeerIdentityError::Client)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Outbound: the chain to the bundle and validity (WebPKI, serverAuth usage), then the server's
/// single URI SAN must be the identity of the service named by the server name.
#[derive(Debug)]
pub(crate) struct SpiffeServerVerifier {
    roots: Arc<RootCertStore>,
    trust_domain: TrustDomain,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpiffeServerVerifier {
    /// Verifies against `trust`.
    pub(crate) fn new(trust: &TrustBundle) -> Self {
        SpiffeServerVerifier {
            roots: trust.roots(),
            trust_domain: trust.trust_domain().clone(),
            algorithms: super::provider::provider().signature_verification_algorithms,
        }
    }

    /// The identity a connection made for `server_name` must find.
    fn expected(&self, server_name: &ServerName<'_>) -> Result<SpiffeId, PeerIdentityError> {
        let name = match server_name {
            ServerName::DnsName(name) => name.as_ref(),
            other => return Err(PeerIdentityError::NotAService(other.to_str().into_owned())),
        };
        let service =
            ServiceName::new(name).map_err(|_| PeerIdentityError::NotAService(name.to_owned()))?;
        Ok(SpiffeId::for_service(&self.trust_domain, &service))
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        let expected = self.expected(server_name)?;
        let found = san::spiffe_id_in(end_entity, &self.trust_domain).map_err(|problem| {
            PeerIdentityError::BadServer {
                problem,
                expected: expected.clone(),
            }
        })?;
        if found != expected {
            return Err(PeerIdentityError::WrongServer { found, expected }.into());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;
    use crate::testing::TestCa;
    use rcgen::SanType;
    use std::time::Duration;

    fn uri(text: &str) -> SanType {
        SanType::URI(text.try_into().unwrap())
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    #[test]
    fn inbound_needs_one_spiffe_id_of_the_trust_domain_from_the_bundle() {
        let ca = TestCa::new();
        let trust = TrustBundle::new("demo.convoy", &ca.pem()).unwrap();
        let verifier = SpiffeClientVerifier::new(&trust).unwrap();
        let hour = Duration::from_secs(3600);
        let check = |sans: Vec<SanType>| {
            let (chain, _) = ca.leaf(sans, hour);
            verifier
                .verify_client_cert(&chain[0], &[], now())
                .map(|_| ())
                .map_err(|e| Reason::of_tls(&e))
        };
        assert_eq!(check(vec![uri("spiffe://demo.convoy/service/web")]), Ok(()));
        assert_eq!(
            check(vec![uri("spiffe://other.mesh/service/web")]),
            Err(Reason::BadIdentity)
        );
        assert_eq!(
            check(vec![SanType::DnsName("web".try_into().unwrap())]),
            Err(Reason::BadIdentity)
        );
        assert_eq!(
            check(vec![
                uri("spiffe://demo.convoy/service/web"),
                uri("spiffe://demo.convoy/service/admin")
            ]),
            Err(Reason::BadIdentity)
        );
        let (foreign, _) = TestCa::new().leaf(vec![uri("spiffe://demo.convoy/service/web")], hour);
        assert_eq!(
            verifier
                .verify_client_cert(&foreign[0], &[], now())
                .map_err(|e| Reason::of_tls(&e))
                .map(|_| ()),
            Err(Reason::UnknownCa)
        );
    }

    #[test]
    fn outbound_needs_the_identity_of_the_service_called() {
        let ca = TestCa::new();
        let trust = TrustBundle::new("demo.convoy", &ca.pem()).unwrap();
        let verifier = SpiffeServerVerifier::new(&trust);
        let (chain, _) = ca.leaf(
            vec![uri("spiffe://demo.convoy/service/users")],
            Duration::from_secs(3600),
        );
        let name = |n: &str| ServerName::try_from(n.to_owned()).unwrap();
        assert!(verifier
            .verify_server_cert(&chain[0], &[], &name("users"), &[], now())
            .is_ok());
        let error = verifier
            .verify_server_cert(&chain[0], &[], &name("orders"), &[], now())
            .unwrap_err();
        assert_eq!(Reason::of_tls(&error), Reason::WrongIdentity);
        assert_eq!(
            Reason::message(&error),
            "server identity spiffe://demo.convoy/service/users is not the expected spiffe://demo.convoy/service/orders"
        );
    }
}
