//! Join tokens: how a sidecar proves it may join the mesh as a service.
//!
//! `join-token` admits any service; `tokens/<service>` admits only that one. Each file holds
//! one token per line (more than one line lets an old and a new token overlap while sidecars
//! move to the new one). The files are read on every request, so deleting or replacing one
//! revokes its token at once, and tokens are compared in constant time.

use convoy_config::ServiceName;
use http::HeaderMap;
use std::path::{Path, PathBuf};

/// The longest token read from a request; longer ones are refused without comparing.
const MAX_TOKEN: usize = 1024;

/// Why a token does not admit a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    /// No `authorization: Bearer …` header.
    #[error("join token missing")]
    Missing,
    /// The token admits no service, or not this one.
    #[error("join token refused for service {0}")]
    Refused(String),
}

impl TokenError {
    /// The reason label of the refusal metrics.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            TokenError::Missing => "no_token",
            TokenError::Refused(_) => "bad_token",
        }
    }
}

/// Where the tokens are.
#[derive(Debug, Clone)]
pub(crate) struct JoinTokens {
    mesh_wide: PathBuf,
    per_service: PathBuf,
}

impl JoinTokens {
    /// The tokens of the CA directory `dir`: `dir/join-token` and `dir/tokens/<service>`.
    pub(crate) fn in_dir(dir: &Path) -> Self {
        JoinTokens {
            mesh_wide: dir.join("join-token"),
            per_service: dir.join("tokens"),
        }
    }

    /// The mesh-wide token file.
    pub(crate) fn mesh_wide_file(&self) -> &Path {
        &self.mesh_wide
    }

    /// The per-service token directory.
    pub(crate) fn per_service_dir(&self) -> &Path {
        &self.per_service
    }

    /// Whether `presented` admits `service`.
    pub(crate) fn check(
        &self,
        service: &ServiceName,
        presented: Option<&str>,
    ) -> Result<(), TokenError> {
        let refused = || TokenError::Refused(service.to_string());
        let presented = presented.ok_or(TokenError::Missing)?.trim();
        if presented.is_empty() {
            return Err(TokenError::Missing);
        }
        if presented.len() > MAX_TOKEN {
            return Err(refused());
        }
        // A service name is a DNS label: it cannot leave the tokens directory.
        let service_file = self.per_service.join(service.as_str());
        // Both files are always read and compared, so timing says nothing of which matched.
        let mesh_wide = matches(&self.mesh_wide, presented);
        let own = matches(&service_file, presented);
        if mesh_wide | own {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

/// The token of an `authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// A new random token: 32 bytes, base64url without padding.
pub(crate) fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    super::encode::base64url(&bytes)
}

/// Whether any line of the file at `path` is `presented`. A missing or unreadable file admits
/// nothing.
fn matches(path: &Path, presented: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .fold(false, |found, line| {
            found | constant_time_eq(line.as_bytes(), presented.as_bytes())
        })
}

/// Compares in time that depends only on the lengths (tokens are of a fixed length, so the
/// length says nothing an attacker does not know).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> ServiceName {
        ServiceName::new(name).unwrap()
    }

    #[test]
    fn mesh_wide_and_per_service_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = JoinTokens::in_dir(dir.path());
        let orders = service("orders");
        let web = service("web");
        assert_eq!(
            tokens.check(&orders, Some("x")),
            Err(TokenError::Refused("orders".into()))
        );

        std::fs::write(tokens.mesh_wide_file(), "mesh-secret\n").unwrap();
        std::fs::create_dir(tokens.per_service_dir()).unwrap();
        std::fs::write(
            tokens.per_service_dir().join("orders"),
            "old\n\norders-secret\n",
        )
        .unwrap();
        assert_eq!(tokens.check(&orders, Some("mesh-secret")), Ok(()));
        assert_eq!(tokens.check(&web, Some(" mesh-secret ")), Ok(()));
        assert_eq!(tokens.check(&orders, Some("orders-secret")), Ok(()));
        assert_eq!(
            tokens.check(&orders, Some("old")),
            Ok(()),
            "every line is a token"
        );
        assert_eq!(
            tokens.check(&web, Some("orders-secret")),
            Err(TokenError::Refused("web".into())),
            "a service's token admits only that service"
        );
        assert_eq!(tokens.check(&orders, None), Err(TokenError::Missing));
        assert_eq!(tokens.check(&orders, Some("  ")), Err(TokenError::Missing));
        assert_eq!(
            tokens.check(&orders, Some("mesh-secre")),
            Err(TokenError::Refused("orders".into()))
        );

        // Deleting a file revokes its token at once.
        std::fs::remove_file(tokens.mesh_wide_file()).unwrap();
        assert!(tokens.check(&web, Some("mesh-secret")).is_err());
        assert!(tokens.check(&orders, Some("orders-secret")).is_ok());
    }

    #[test]
    fn bearer_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert("authorization", "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn generated_tokens_are_random_base64url() {
        let a = generate();
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, generate());
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
