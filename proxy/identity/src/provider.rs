//! The one crypto provider every TLS config of the proxy uses.

use rustls::crypto::CryptoProvider;
use std::sync::{Arc, OnceLock};

/// The crypto provider of every TLS config of the proxy (ring), chosen explicitly rather than
/// through a process-wide default.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}
