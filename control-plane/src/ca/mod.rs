//! The mesh CA: the trust anchor (generated into the CA directory on first start, or the
//! operator's PEM files), the trust bundle, join tokens, and certificates issued from CSRs.
//!
//! The directory (`--ca-dir`, default `convoy-ca`):
//!
//! ```text
//! ca.pem          the signing anchor's certificate        ca.key   its PKCS#8 key (0600)
//! bundle.pem      optional: more anchors to trust (the old one during a rotation)
//! join-token      the mesh-wide join token (0600)          tokens/<service>  per-service tokens
//! ```
//!
//! The files are re-read when they change ([`watch`]): a new valid anchor signs from then on, a
//! changed bundle is published to every sidecar. A change that is not usable (a half-written
//! pair, a broken bundle) changes nothing and is logged.

mod anchor;
mod bundle;
mod csr;
mod encode;
mod error;
mod issue;
mod tokens;
pub(crate) mod watch;

pub(crate) use anchor::Anchor;
pub(crate) use bundle::Bundle;
pub(crate) use csr::CsrError;
pub use error::CaError;
pub(crate) use tokens::{bearer, JoinTokens, TokenError};

use arc_swap::ArcSwap;
use convoy_config::{ServiceName, SpiffeId, TrustDomain};
use convoy_protocol::{CertificateRequest, Trust};
use http::StatusCode;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The longest sidecar id accepted in a certificate request (as in a `hello`).
const MAX_ID_LEN: usize = 256;

/// Where the CA's files are and what it issues.
#[derive(Debug, Clone)]
pub(crate) struct CaSettings {
    /// The CA directory.
    pub(crate) dir: PathBuf,
    /// The anchor's certificate, if not `dir/ca.pem`.
    pub(crate) cert: Option<PathBuf>,
    /// The anchor's key, if not `dir/ca.key`.
    pub(crate) key: Option<PathBuf>,
    /// The mesh's trust domain.
    pub(crate) trust_domain: TrustDomain,
    /// The lifetime of workload certificates.
    pub(crate) cert_ttl: Duration,
}

/// The files of the CA.
#[derive(Debug, Clone)]
pub(crate) struct CaPaths {
    /// The CA directory.
    pub(crate) dir: PathBuf,
    /// The anchor's certificate.
    pub(crate) cert: PathBuf,
    /// The anchor's key.
    pub(crate) key: PathBuf,
    /// More anchors to trust.
    pub(crate) bundle: PathBuf,
    /// Whether the anchor's files were named by flags (then they are never generated).
    pub(crate) overridden: bool,
}

impl CaPaths {
    fn new(settings: &CaSettings) -> Self {
        CaPaths {
            cert: settings
                .cert
                .clone()
                .unwrap_or_else(|| settings.dir.join("ca.pem")),
            key: settings
                .key
                .clone()
                .unwrap_or_else(|| settings.dir.join("ca.key")),
            bundle: settings.dir.join("bundle.pem"),
            overridden: settings.cert.is_some() || settings.key.is_some(),
            dir: settings.dir.clone(),
        }
    }
}

/// A certificate issued to a sidecar.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    /// The service.
    pub(crate) service: ServiceName,
    /// The certificate, PEM.
    pub(crate) certificate: String,
    /// When it expires.
    pub(crate) not_after: SystemTime,
}

/// Why a certificate request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IssueError {
    /// The request is not one (bad service name, bad id).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The join token does not admit the service.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The CSR is refused.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// Signing failed.
    #[error("cannot sign the certificate: {0}")]
    Sign(#[source] rcgen::Error),
}

impl IssueError {
    /// The status answered.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            IssueError::Token(_) => StatusCode::UNAUTHORIZED,
            IssueError::Csr(CsrError::OtherIdentity { .. }) => StatusCode::FORBIDDEN,
            IssueError::BadRequest(_) | IssueError::Csr(_) => StatusCode::BAD_REQUEST,
            IssueError::Sign(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The reason label of `convoy_cp_certificate_requests_refused_total`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            IssueError::BadRequest(_) => "bad_request",
            IssueError::Token(e) => e.reason(),
            IssueError::Csr(CsrError::OtherIdentity { .. }) => "wrong_identity",
            IssueError::Csr(_) => "bad_csr",
            IssueError::Sign(_) => "internal",
        }
    }
}

/// The control plane API's server certificate and key.
#[derive(Debug)]
pub(crate) struct ServerCertificate {
    /// The chain, leaf first.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// Its key.
    pub(crate) key: PrivateKeyDer<'static>,
}

/// What a reload changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reloaded {
    /// A new signing anchor.
    pub(crate) anchor: bool,
    /// A new trust bundle (to publish).
    pub(crate) bundle: bool,
}

/// The mesh CA. Shared by the API (issuing), the TLS listener (its certificate) and the
/// directory watcher (reloads).
#[derive(Debug)]
pub(crate) struct Ca {
    paths: CaPaths,
    trust_domain: TrustDomain,
    cert_ttl: Duration,
    tokens: JoinTokens,
    anchor: ArcSwap<Anchor>,
    bundle: ArcSwap<Bundle>,
    anchor_changes: tokio::sync::watch::Sender<u64>,
}

impl Ca {
    /// Loads the anchor from its files, or generates it (and a mesh-wide join token) when
    /// neither file exists and no flag named them. True if it was generated.
    pub(crate) fn open(settings: &CaSettings) -> Result<(Ca, bool), CaError> {
        let paths = CaPaths::new(settings);
        let tokens = JoinTokens::in_dir(&paths.dir);
        let now = SystemTime::now();
        let (anchor, generated) = match (paths.cert.exists(), paths.key.exists()) {
            (true, true) => (load_anchor(&paths, now)?, false),
            (false, false) if !paths.overridden => {
                let anchor = generate(&paths, &tokens, settings.trust_domain.as_str(), now)?;
                (anchor, true)
            }
            (false, false) => {
                return Err(CaError::Read {
                    path: paths.cert.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "not found (an anchor named by --ca-cert/--ca-key is never generated)",
                    ),
                })
            }
            (true, false) => {
                return Err(CaError::HalfAnchor {
                    present: paths.cert.clone(),
                    missing: paths.key.clone(),
                })
            }
            (false, true) => {
                return Err(CaError::HalfAnchor {
                    present: paths.key.clone(),
                    missing: paths.cert.clone(),
                })
            }
        };
        warn_if_readable(&paths.key);
        let bundle = Bundle::new(
            anchor.cert_der(),
            read_optional(&paths.bundle)?.as_deref(),
            &paths.bundle,
        )?;
        let (anchor_changes, _) = tokio::sync::watch::channel(0);
        Ok((
            Ca {
                paths,
                trust_domain: settings.trust_domain.clone(),
                cert_ttl: settings.cert_ttl,
                tokens,
                anchor: ArcSwap::from_pointee(anchor),
                bundle: ArcSwap::from_pointee(bundle),
                anchor_changes,
            },
            generated,
        ))
    }

    /// The files.
    pub(crate) fn paths(&self) -> &CaPaths {
        &self.paths
    }

    /// The trust domain.
    pub(crate) fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The join tokens.
    pub(crate) fn tokens(&self) -> &JoinTokens {
        &self.tokens
    }

    /// The signing anchor in force.
    pub(crate) fn anchor(&self) -> Arc<Anchor> {
        self.anchor.load_full()
    }

    /// The trust bundle in force.
    pub(crate) fn bundle(&self) -> Arc<Bundle> {
        self.bundle.load_full()
    }

    /// What sidecars trust, as sent in snapshots.
    pub(crate) fn trust(&self) -> Trust {
        Trust {
            trust_domain: self.trust_domain.to_string(),
            bundle: self.bundle().pem().to_owned(),
        }
    }

    /// Changes whenever a new anchor signs (the API's certificate must be issued again).
    pub(crate) fn anchor_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.anchor_changes.subscribe()
    }

    /// Issues a certificate for `request` if `token` admits its service and its CSR asks for
    /// exactly the service's identity.
    pub(crate) fn issue(
        &self,
        request: &CertificateRequest,
        token: Option<&str>,
    ) -> Result<Issued, IssueError> {
        let service = ServiceName::new(&request.service)
            .map_err(|e| IssueError::BadRequest(format!("service: {e}")))?;
        if request.id.is_empty()
            || request.id.len() > MAX_ID_LEN
            || request.id.chars().any(char::is_control)
        {
            return Err(IssueError::BadRequest(format!(
                "`id` must be 1 to {MAX_ID_LEN} printable characters"
            )));
        }
        self.tokens.check(&service, token)?;
        let spiffe_id = SpiffeId::for_service(&self.trust_domain, &service).to_string();
        let csr = csr::check(&request.csr, &spiffe_id)?;
        let anchor = self.anchor();
        let (not_before, not_after) =
            issue::validity(SystemTime::now(), self.cert_ttl, anchor.not_after());
        let params = issue::workload(service.as_str(), &spiffe_id, not_before, not_after)
            .map_err(IssueError::Sign)?;
        let certificate = anchor
            .sign(&params, &csr.public_key)
            .map_err(IssueError::Sign)?;
        Ok(Issued {
            service,
            certificate: certificate.pem(),
            not_after,
        })
    }

    /// A new server certificate for the API, valid for `lifetime`, naming `names` (DNS names
    /// or IP addresses) and `spiffe://<trust domain>/control-plane`; a new P-256 key.
    pub(crate) fn server_certificate(
        &self,
        names: &[String],
        lifetime: Duration,
    ) -> Result<ServerCertificate, rcgen::Error> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let anchor = self.anchor();
        let (not_before, not_after) =
            issue::validity(SystemTime::now(), lifetime, anchor.not_after());
        let spiffe_id = format!("spiffe://{}/control-plane", self.trust_domain);
        let params = issue::api_server(names, &spiffe_id, not_before, not_after)?;
        let cert = anchor.sign(&params, &key)?;
        Ok(ServerCertificate {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// Reads the anchor and the bundle again; applies them only if both are usable.
    pub(crate) fn reload(&self) -> Result<Reloaded, CaError> {
        let anchor = load_anchor(&self.paths, SystemTime::now())?;
        let bundle = Bundle::new(
            anchor.cert_der(),
            read_optional(&self.paths.bundle)?.as_deref(),
            &self.paths.bundle,
        )?;
        let mut reloaded = Reloaded::default();
        if !anchor.same_as(&self.anchor()) {
            tracing::info!(subject = anchor.subject(), cert = %self.paths.cert.display(), "a new trust anchor signs from now on");
            warn_if_readable(&self.paths.key);
            self.anchor.store(Arc::new(anchor));
            self.anchor_changes
                .send_modify(|generation| *generation += 1);
            reloaded.anchor = true;
        }
        if bundle != *self.bundle() {
            tracing::info!(anchors = bundle.anchors().len(), "the trust bundle changed");
            self.bundle.store(Arc::new(bundle));
            reloaded.bundle = true;
        }
        Ok(reloaded)
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, CaError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CaError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CaError> {
    std::fs::read(path).map_err(|source| CaError::Read {
        path: path.to_owned(),
        source,
    })
}

fn load_anchor(paths: &CaPaths, now: SystemTime) -> Result<Anchor, CaError> {
    Anchor::load(
        &read(&paths.cert)?,
        &read(&paths.key)?,
        &paths.cert,
        &paths.key,
        now,
    )
}

fn generate(
    paths: &CaPaths,
    tokens: &JoinTokens,
    trust_domain: &str,
    now: SystemTime,
) -> Result<Anchor, CaError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| CaError::Write { path, source }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.dir)
        .map_err(write_error(&paths.dir))?;
    let generated = Anchor::generate(trust_domain, now)?;
    // The key first: a crash between the two leaves a key alone, which the next start reports
    // rather than silently generating over.
    write_new(&paths.key, generated.key_pem.as_bytes(), 0o600).map_err(write_error(&paths.key))?;
    write_new(&paths.cert, generated.cert_pem.as_bytes(), 0o644)
        .map_err(write_error(&paths.cert))?;
    let token_file = tokens.mesh_wide_file();
    if !token_file.exists() {
        let token = format!("{}\n", tokens::generate());
        write_new(token_file, token.as_bytes(), 0o600).map_err(write_error(token_file))?;
    }
    tracing::info!(
        dir = %paths.dir.display(),
        subject = generated.anchor.subject(),
        "generated a new trust anchor and a mesh-wide join token"
    );
    Ok(generated.anchor)
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn warn_if_readable(key: &Path) {
    if let Ok(metadata) = std::fs::metadata(key) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(file = %key.display(), mode = format!("{mode:o}"), "the trust anchor's key is readable by others: chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SanType};

    fn settings(dir: &Path) -> CaSettings {
        CaSettings {
            dir: dir.to_owned(),
            cert: None,
            key: None,
            trust_domain: TrustDomain::new("demo.convoy").unwrap(),
            cert_ttl: Duration::from_secs(3600),
        }
    }

    fn request(service: &str, spiffe_id: &str) -> CertificateRequest {
        request_with(&KeyPair::generate().unwrap(), service, spiffe_id)
    }

    fn request_with(key: &KeyPair, service: &str, spiffe_id: &str) -> CertificateRequest {
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::URI(spiffe_id.try_into().unwrap())];
        CertificateRequest {
            id: "orders-1".into(),
            service: service.into(),
            csr: params.serialize_request(key).unwrap().pem().unwrap(),
        }
    }

    fn token(ca: &Ca) -> String {
        std::fs::read_to_string(ca.tokens().mesh_wide_file())
            .unwrap()
            .trim()
            .to_owned()
    }

    #[test]
    fn generated_on_first_start_and_reused_after() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let (first, generated) = Ca::open(&settings(&ca_dir)).unwrap();
        assert!(generated);
        let mode = |name: &str| {
            std::fs::metadata(ca_dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("ca.key"), 0o600);
        assert_eq!(mode("join-token"), 0o600);
        assert_eq!(
            std::fs::metadata(&ca_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let (second, generated) = Ca::open(&settings(&ca_dir)).unwrap();
        assert!(!generated);
        assert!(second.anchor().same_as(&first.anchor()));
        assert_eq!(token(&first), token(&second));
        assert_eq!(second.trust().trust_domain, "demo.convoy");
        assert_eq!(second.bundle().anchors().len(), 1);
    }

    #[test]
    fn half_an_anchor_is_an_error_naming_the_files() {
        let dir = tempfile::tempdir().unwrap();
        Ca::open(&settings(dir.path())).unwrap();
        std::fs::remove_file(dir.path().join("ca.pem")).unwrap();
        let error = Ca::open(&settings(dir.path())).unwrap_err().to_string();
        let key = dir.path().join("ca.key").display().to_string();
        let cert = dir.path().join("ca.pem").display().to_string();
        assert!(
            error.starts_with(&format!("{key} exists but {cert} does not")),
            "{error}"
        );

        let mut named = settings(&dir.path().join("elsewhere"));
        named.cert = Some(dir.path().join("mine.pem"));
        named.key = Some(dir.path().join("mine.key"));
        let error = Ca::open(&named).unwrap_err().to_string();
        assert!(error.contains("mine.pem: not found"), "{error}");
    }

    #[test]
    fn issues_what_the_token_allows_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = Ca::open(&settings(dir.path())).unwrap();
        let token = token(&ca);
        let orders = "spiffe://demo.convoy/service/orders";
        let issued = ca.issue(&request("orders", orders), Some(&token)).unwrap();
        let pem = rustls_pki_types::pem::PemObject::from_pem_slice(issued.certificate.as_bytes());
        let der: CertificateDer<'_> = pem.unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let lifetime =
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(
            lifetime,
            3600 + 60,
            "--cert-ttl, plus the minute of backdating"
        );
        assert!(!cert.is_ca());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        assert_eq!(cert.subject().to_string(), "CN=orders");
        assert_eq!(
            cert.issuer(),
            x509_parser::parse_x509_certificate(ca.anchor().cert_der())
                .unwrap()
                .1
                .subject()
        );

        let error = ca
            .issue(&request("orders", orders), Some("wrong"))
            .unwrap_err();
        assert_eq!(
            (error.status(), error.to_string()),
            (
                StatusCode::UNAUTHORIZED,
                "join token refused for service orders".into()
            )
        );
        let error = ca.issue(&request("orders", orders), None).unwrap_err();
        assert_eq!(error.reason(), "no_token");
        let error = ca
            .issue(
                &request("orders", "spiffe://demo.convoy/service/payments"),
                Some(&token),
            )
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        let error = ca
            .issue(&request("Orders", orders), Some(&token))
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn an_ed25519_key_gets_its_own_key_in_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = Ca::open(&settings(dir.path())).unwrap();
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let request = request_with(&key, "orders", "spiffe://demo.convoy/service/orders");
        let issued = ca.issue(&request, Some(&token(&ca))).unwrap();
        let der: CertificateDer<'_> =
            rustls_pki_types::pem::PemObject::from_pem_slice(issued.certificate.as_bytes())
                .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            cert.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_SIG_ED25519
        );
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
    }

    #[test]
    fn a_reload_applies_a_usable_change_only() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = Ca::open(&settings(dir.path())).unwrap();
        let changes = ca.anchor_changes();
        assert_eq!(ca.reload().unwrap(), Reloaded::default());

        let old = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        let new = Anchor::generate("demo.convoy", SystemTime::now()).unwrap();
        std::fs::write(dir.path().join("bundle.pem"), &new.cert_pem).unwrap();
        assert_eq!(
            ca.reload().unwrap(),
            Reloaded {
                anchor: false,
                bundle: true
            }
        );
        assert_eq!(ca.bundle().anchors().len(), 2);

        // Half-way through replacing the pair: nothing changes.
        std::fs::write(dir.path().join("ca.pem"), &new.cert_pem).unwrap();
        assert!(matches!(ca.reload(), Err(CaError::Mismatch { .. })));
        assert!(!changes.has_changed().unwrap());
        std::fs::write(dir.path().join("ca.key"), &new.key_pem).unwrap();
        std::fs::write(dir.path().join("bundle.pem"), &old).unwrap();
        assert_eq!(
            ca.reload().unwrap(),
            Reloaded {
                anchor: true,
                bundle: true
            }
        );
        assert!(changes.has_changed().unwrap());
        assert!(ca.anchor().same_as(&new.anchor));
        assert_eq!(
            ca.bundle().anchors()[0],
            *new.anchor.cert_der(),
            "the signing anchor first"
        );

        std::fs::write(dir.path().join("bundle.pem"), "junk").unwrap();
        assert!(matches!(ca.reload(), Err(CaError::Bundle { .. })));
        assert_eq!(ca.bundle().anchors().len(), 2, "kept");
    }

    #[test]
    fn the_api_certificate_names_the_control_plane() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = Ca::open(&settings(dir.path())).unwrap();
        let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
        let cert = ca
            .server_certificate(&names, Duration::from_secs(30 * 86400))
            .unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(&cert.chain[0]).unwrap();
        let sans = x509.subject_alternative_name().unwrap().unwrap().value;
        let text = format!("{:?}", sans.general_names);
        assert!(
            text.contains("localhost") && text.contains("spiffe://demo.convoy/control-plane"),
            "{text}"
        );
    }
}
