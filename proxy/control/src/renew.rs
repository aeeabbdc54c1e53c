//! The renewal loop: once the trust domain is known (the first snapshot), ask for a
//! certificate; renew at about two thirds of its lifetime (± 10 % jitter), with a new key each
//! time; retry failures with capped backoff (1 s doubling to 30 s), never waiting past the
//! expiry of the certificate in force; renew at once when the trust domain changes.

use super::identity_client::{CertificateClient, RequestError};
use crate::Backoff;
use convoy_config::SpiffeId;
use convoy_identity::csr;
use convoy_identity::Identity;
use convoy_identity::TlsConfigError;
use convoy_identity::{CredentialError, Credentials};
use convoy_identity::{TrustBundle, TrustError};
use rand::Rng;
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The first retry's ceiling.
pub(crate) const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// The largest retry ceiling.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(30);

/// Why a renewal failed.
#[derive(Debug, thiserror::Error)]
enum RenewError {
    #[error("cannot make a key and CSR: {0}")]
    Csr(#[from] rcgen::Error),
    #[error("{0}")]
    Request(#[from] RequestError),
    #[error("the certificate answer's trust: {0}")]
    Trust(#[from] TrustError),
    #[error("the issued certificate was refused: {0}")]
    Credentials(#[from] CredentialError),
    #[error("the issued certificate cannot be used: {0}")]
    Config(#[from] TlsConfigError),
}

/// Starts the loop; it runs until aborted.
pub fn spawn(identity: Identity, client: CertificateClient) -> JoinHandle<()> {
    tokio::spawn(run(identity, client))
}

async fn run(identity: Identity, client: CertificateClient) {
    let mut domains = identity.subscribe();
    let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
    loop {
        // The CSR names the trust domain, which the first snapshot brings.
        let Some(id) = wait_for_id(&identity, &mut domains).await else {
            return;
        };
        let next = match renew(&identity, &client, &id).await {
            Ok(remaining) => {
                identity.metrics().renewal(true);
                backoff.reset();
                let wait = renew_after(remaining, rand::rng().random());
                tracing::info!(identity = %id, expires_in = ?remaining, renew_in = ?wait, "certificate in force");
                wait
            }
            Err(error) => {
                identity.metrics().renewal(false);
                let remaining = identity
                    .active()
                    .map(|a| a.credentials.remaining(SystemTime::now()))
                    .unwrap_or_default();
                let wait = retry_after(backoff.next_delay(), remaining);
                tracing::warn!(identity = %id, %error, retry_in = ?wait, "certificate request failed");
                wait
            }
        };
        let deadline = Instant::now() + next;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                changed = domains.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // A certificate of another trust domain is useless: renew now.
                    let domain = domains.borrow_and_update().clone();
                    let current = identity.active().map(|a| a.credentials.id().trust_domain().clone());
                    if domain.is_some() && domain != current {
                        tracing::info!(trust_domain = ?domain, "trust domain changed; renewing the certificate now");
                        break;
                    }
                }
            }
        }
    }
}

/// The identity to ask for, once the trust domain is known; `None` when the identity is gone.
async fn wait_for_id(
    identity: &Identity,
    domains: &mut tokio::sync::watch::Receiver<Option<convoy_config::TrustDomain>>,
) -> Option<SpiffeId> {
    loop {
        let known = domains.borrow_and_update().is_some();
        if known {
            if let Some(id) = identity.wanted_id() {
                return Some(id);
            }
        }
        domains.changed().await.ok()?;
    }
}

/// One request: a new key, its CSR, the answer checked and put in force. The remaining
/// lifetime of the new certificate.
async fn renew(
    identity: &Identity,
    client: &CertificateClient,
    id: &SpiffeId,
) -> Result<Duration, RenewError> {
    let made = csr::generate(id)?;
    let answer = client
        .request(identity.service().as_str(), made.csr_pem)
        .await?;
    let trust = TrustBundle::new(&answer.trust_domain, &answer.trust_bundle)?;
    let credentials = Credentials::new(&answer.certificate, made.key, id)?;
    let remaining = credentials.remaining(SystemTime::now());
    identity.install(credentials, trust)?;
    Ok(remaining)
}

/// When to renew a certificate with `remaining` lifetime: at two thirds of it, ± 10 % for a
/// draw `unit` in `[0, 1]` (so a fleet started together does not renew together).
pub(crate) fn renew_after(remaining: Duration, unit: f64) -> Duration {
    let jitter = 1.0 + 0.2 * (unit.clamp(0.0, 1.0) - 0.5);
    remaining.mul_f64(2.0 / 3.0 * jitter)
}

/// The wait before retrying: the backoff, but never past the expiry of the certificate in
/// force (`remaining`; zero when there is none or it has expired).
pub(crate) fn retry_after(backoff: Duration, remaining: Duration) -> Duration {
    if remaining.is_zero() {
        backoff
    } else {
        backoff.min(remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_at_two_thirds_within_ten_percent() {
        let lifetime = Duration::from_secs(300);
        assert_eq!(renew_after(lifetime, 0.5), Duration::from_secs(200));
        assert_eq!(renew_after(lifetime, 0.0), Duration::from_secs(180));
        assert_eq!(renew_after(lifetime, 1.0), Duration::from_secs(220));
        for _ in 0..100 {
            let wait = renew_after(lifetime, rand::rng().random());
            assert!(wait >= Duration::from_secs(180) && wait <= Duration::from_secs(220));
        }
    }

    #[test]
    fn retries_never_wait_past_the_expiry() {
        let s = Duration::from_secs;
        assert_eq!(retry_after(s(30), s(100)), s(30));
        assert_eq!(retry_after(s(30), s(4)), s(4));
        assert_eq!(retry_after(s(8), Duration::ZERO), s(8));
    }
}
