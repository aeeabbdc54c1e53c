//! JWT providers: their keys from JWKS files (re-read when the file changes), and the
//! verification of tokens.

use super::Reason;
use arc_swap::ArcSwap;
use base64::Engine as _;
use convoy_config::JwtProvider;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest JWKS file read.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// One verification key of a JWKS.
struct Key {
    kid: Option<String>,
    /// The one algorithm tokens verified by this key may use (by the key's type).
    alg: Algorithm,
    key: DecodingKey,
}

/// A JWT issuer: its checks and its current keys.
pub(super) struct Provider {
    name: String,
    issuer: String,
    audience: String,
    skew_secs: f64,
    jwks: PathBuf,
    keys: ArcSwap<Vec<Key>>,
    /// The size and modification time of the JWKS file when it was last read.
    seen: Mutex<Option<(u64, Option<SystemTime>)>>,
}

impl Provider {
    /// The provider, with its keys read now (failures are logged; it then has no keys).
    pub(super) fn new(config: &JwtProvider) -> Self {
        let provider = Provider {
            name: config.name.clone(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            skew_secs: config.clock_skew.as_secs_f64(),
            jwks: config.jwks.clone(),
            keys: ArcSwap::from_pointee(Vec::new()),
            seen: Mutex::new(None),
        };
        provider.reload_if_changed();
        provider
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Re-reads the JWKS if its size or modification time changed; whether keys were replaced.
    pub(super) fn reload_if_changed(&self) -> bool {
        let stamp = match std::fs::metadata(&self.jwks) {
            Ok(meta) => (meta.len(), meta.modified().ok()),
            Err(e) => {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.is_some() || self.keys.load().is_empty() {
                    tracing::warn!(
                        provider = %self.name,
                        jwks = %self.jwks.display(),
                        "cannot read the JWKS file: {e}; keeping the current keys"
                    );
                }
                // Logged once; a file that comes back is read again.
                *seen = None;
                return false;
            }
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == Some(stamp) {
            return false;
        }
        *seen = Some(stamp);
        match load_jwks(&self.jwks) {
            Ok(keys) => {
                tracing::info!(
                    provider = %self.name,
                    jwks = %self.jwks.display(),
                    keys = keys.len(),
                    "JWKS loaded"
                );
                self.keys.store(Arc::new(keys));
                true
            }
            Err(e) => {
                tracing::warn!(
                    provider = %self.name,
                    jwks = %self.jwks.display(),
                    "bad JWKS file: {e}; keeping the current keys"
                );
                false
            }
        }
    }

    /// Verifies a token at `now`: its subject, or why it is refused.
    pub(super) fn verify(&self, token: &str, now: SystemTime) -> Result<String, Reason> {
        let header = RawHeader::parse(token)?;
        let alg = supported_alg(&header.alg)?;
        let keys = self.keys.load();
        if keys.is_empty() {
            return Err(Reason::NoKeys(self.name.clone()));
        }
        let key = match &header.kid {
            Some(kid) => {
                let key = keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid))
                    .ok_or(Reason::UnknownKeyId)?;
                if key.alg != alg {
                    return Err(Reason::AlgMismatch {
                        alg: alg_name(alg),
                        key: alg_name(key.alg),
                    });
                }
                key
            }
            None => {
                let mut fitting = keys.iter().filter(|k| k.alg == alg);
                let key = fitting.next().ok_or(Reason::NoKeyForAlg(alg_name(alg)))?;
                if fitting.next().is_some() {
                    return Err(Reason::AmbiguousKey(alg_name(alg)));
                }
                key
            }
        };

        // The signature only: the claims are checked below against `now`, not the system clock.
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Reason::BadSignature,
                ErrorKind::InvalidAlgorithm => Reason::AlgMismatch {
                    alg: alg_name(alg),
                    key: alg_name(key.alg),
                },
                ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_)
                | ErrorKind::InvalidToken => Reason::MalformedToken,
                // A key ring refuses (a broken JWKS entry): the token cannot be verified.
                _ => Reason::BadSignature,
            })?
            .claims;
        self.check(&claims, now)
    }

    fn check(&self, claims: &Claims, now: SystemTime) -> Result<String, Reason> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let exp = numeric(&claims.exp).ok_or(Reason::MissingClaim("exp"))?;
        if now - self.skew_secs >= exp {
            return Err(Reason::Expired);
        }
        if let Some(nbf) = &claims.nbf {
            let nbf = numeric(&Some(nbf.clone())).ok_or(Reason::MalformedToken)?;
            if now + self.skew_secs < nbf {
                return Err(Reason::NotYetValid);
            }
        }
        if claims.iss.as_ref().and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Reason::WrongIssuer);
        }
        let audience_ok = match &claims.aud {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds
                .iter()
                .any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(Reason::WrongAudience);
        }
        let sub = claims
            .sub
            .as_ref()
            .and_then(Value::as_str)
            .ok_or(Reason::MissingClaim("sub"))?;
        // The subject becomes a header value (the consumer header) and a metrics label.
        let printable = |c: char| c.is_ascii_graphic() || c == ' ';
        if sub.is_empty() || sub.len() > 256 || sub.trim() != sub || !sub.chars().all(printable) {
            return Err(Reason::BadSubject);
        }
        Ok(sub.to_owned())
    }
}

/// The claims checked; other claims are ignored. Values are read loosely and checked by type.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    iss: Option<Value>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    nbf: Option<Value>,
}

/// A NumericDate: seconds since the epoch, possibly with a fraction.
fn numeric(value: &Option<Value>) -> Option<f64> {
    value.as_ref()?.as_f64().filter(|n| n.is_finite())
}

/// The JOSE header fields the key choice needs, read before anything is verified.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl RawHeader {
    fn parse(token: &str) -> Result<Self, Reason> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reason::MalformedToken);
        };
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| Reason::MalformedToken)?;
        serde_json::from_slice(&json).map_err(|_| Reason::MalformedToken)
    }
}

/// The token's `iss` before verification: only to pick among a route's providers.
pub(super) fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Claims = serde_json::from_slice(&json).ok()?;
    claims.iss?.as_str().map(str::to_owned)
}

/// The algorithms accepted; `none` and every other one are refused by name.
fn supported_alg(alg: &str) -> Result<Algorithm, Reason> {
    match alg {
        "HS256" => Ok(Algorithm::HS256),
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        other => {
            // The value comes from the client: keep it short and harmless in headers.
            let safe: String = other
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .take(16)
                .collect();
            let shown = if safe.eq_ignore_ascii_case("none") {
                "none".to_owned()
            } else if safe.is_empty() {
                "(empty)".to_owned()
            } else {
                safe
            };
            Err(Reason::UnsupportedAlg(shown))
        }
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "other",
    }
}

/// Reads a JWKS file: `{"keys": [...]}`. Keys that are not RSA, EC P-256 or `oct`, that are
/// for encryption, or whose `alg` is not their type's algorithm are skipped (and logged).
fn load_jwks(path: &Path) -> Result<Vec<Key>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_JWKS_BYTES} accepted",
            meta.len()
        ));
    }
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    parse_jwks(&text)
}

fn parse_jwks(text: &[u8]) -> Result<Vec<Key>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for (i, value) in set.keys.into_iter().enumerate() {
        match key_of(value) {
            Ok(key) => keys.push(key),
            Err(why) => tracing::warn!("JWKS key {i} skipped: {why}"),
        }
    }
    Ok(keys)
}

fn key_of(value: Value) -> Result<Key, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("a key for encryption".into());
    }
    let (alg, fitting) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::OctetKey(_) => (Algorithm::HS256, KeyAlgorithm::HS256),
        AlgorithmParameters::EllipticCurve(_) => return Err("an EC key not on P-256".into()),
        AlgorithmParameters::OctetKeyPair(_) => return Err("an OKP key (EdDSA)".into()),
    };
    if let Some(declared) = jwk.common.key_algorithm {
        if declared != fitting {
            return Err(format!(
                "alg {declared} (only {} is accepted for its type)",
                alg_name(alg)
            ));
        }
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    Ok(Key {
        kid: jwk.common.key_id,
        alg,
        key,
    })
}
