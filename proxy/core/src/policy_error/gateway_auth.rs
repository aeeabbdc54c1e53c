//! The gateway's authentication refusals: 401 with `WWW-Authenticate`, or 403.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use std::fmt;

/// Why a request was refused: answered 401 or 403 by `ProxyError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential, or a credential that does not verify: 401.
    #[error("unauthenticated: {reason}")]
    Unauthenticated {
        /// What was wrong (the `x-convoy-error` text after `unauthenticated: `).
        reason: Reason,
        /// The `WWW-Authenticate` challenges, one header value each.
        challenges: Vec<HeaderValue>,
    },
    /// Authenticated, but the route's `allow` does not list the consumer: 403.
    #[error("forbidden: consumer {consumer} may not use route {route}")]
    Forbidden {
        /// The consumer.
        consumer: String,
        /// The route's name.
        route: String,
    },
}

impl AuthError {
    /// The status the client gets.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            AuthError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
        }
    }

    /// Adds the `WWW-Authenticate` challenges to a 401's headers.
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        if let AuthError::Unauthenticated { challenges, .. } = self {
            for challenge in challenges {
                headers.append(header::WWW_AUTHENTICATE, challenge.clone());
            }
        }
    }

    /// The reason of a 401.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            AuthError::Unauthenticated { reason, .. } => Some(reason),
            AuthError::Forbidden { .. } => None,
        }
    }
}

/// What was wrong with a request's credential. The texts are what clients see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The request carries none of the route's credentials.
    NoCredential,
    /// A header that must appear once appears more than once.
    Duplicate(&'static str),
    /// No API-key consumer has this key.
    UnknownApiKey,
    /// The token is not three base64url parts with a JSON header and claims.
    MalformedToken,
    /// The token's `alg` is not HS256, RS256 or ES256 (sanitized: at most 16 safe characters).
    UnsupportedAlg(String),
    /// The token's `alg` is not the algorithm of the key its `kid` names.
    AlgMismatch {
        /// The token's `alg`.
        alg: &'static str,
        /// The key's algorithm.
        key: &'static str,
    },
    /// The JWKS has no key with the token's `kid`.
    UnknownKeyId,
    /// The token has no `kid` and the JWKS has no key for its `alg`.
    NoKeyForAlg(&'static str),
    /// The token has no `kid` and the JWKS has several keys for its `alg`.
    AmbiguousKey(&'static str),
    /// The provider has no keys (its JWKS could not be read yet).
    NoKeys(String),
    /// The signature does not verify.
    BadSignature,
    /// `exp` is past (beyond the clock skew).
    Expired,
    /// `nbf` is ahead (beyond the clock skew).
    NotYetValid,
    /// `aud` does not name the provider's audience.
    WrongAudience,
    /// `iss` is not the provider's issuer.
    WrongIssuer,
    /// A required claim is missing or not of its type.
    MissingClaim(&'static str),
    /// `sub` cannot be a header value.
    BadSubject,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoCredential => f.write_str("no credential"),
            Reason::Duplicate(what) => write!(f, "more than one {what} header"),
            Reason::UnknownApiKey => f.write_str("unknown API key"),
            Reason::MalformedToken => f.write_str("malformed token"),
            Reason::UnsupportedAlg(alg) => write!(f, "unsupported alg {alg}"),
            Reason::AlgMismatch { alg, key } => {
                write!(f, "alg {alg} does not fit the token's key ({key})")
            }
            Reason::UnknownKeyId => f.write_str("unknown key id"),
            Reason::NoKeyForAlg(alg) => write!(f, "no key for alg {alg}"),
            Reason::AmbiguousKey(alg) => write!(f, "no kid and several keys for alg {alg}"),
            Reason::NoKeys(provider) => write!(f, "no keys loaded for provider {provider}"),
            Reason::BadSignature => f.write_str("bad signature"),
            Reason::Expired => f.write_str("token expired"),
            Reason::NotYetValid => f.write_str("token not yet valid"),
            Reason::WrongAudience => f.write_str("wrong audience"),
            Reason::WrongIssuer => f.write_str("wrong issuer"),
            Reason::MissingClaim(claim) => write!(f, "token has no {claim}"),
            Reason::BadSubject => f.write_str("bad subject"),
        }
    }
}
