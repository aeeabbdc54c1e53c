//! The authorization policy's refusal: 403, naming the caller, the request and why.

use crate::peer::Peer;
use convoy_config::ServiceName;

/// Most characters of the path quoted in the refusal (128).
const MAX_PATH_CHARS: usize = 128;

/// A request that the service's authorization policy does not allow.
#[derive(Debug, Clone, thiserror::Error)]
#[error("forbidden: caller {caller} may not {method} {path} on service {service}: {why}")]
pub struct Forbidden {
    /// Who called (`spiffe://...` or `unauthenticated (plaintext)`).
    pub(crate) caller: Peer,
    /// The request's method.
    pub(crate) method: http::Method,
    /// The request's normalized path (printable ASCII, cut to 128 characters).
    pub(crate) path: String,
    /// The service whose policy refused it.
    pub(crate) service: ServiceName,
    /// Why: `no rule allows it`.
    pub(crate) why: &'static str,
}

impl Forbidden {
    /// A refusal of `method` `path` from `caller` because no rule of `service` allows it.
    pub fn no_rule(caller: Peer, method: http::Method, path: &str, service: ServiceName) -> Self {
        Forbidden {
            caller,
            method,
            path: printable(path),
            service,
            why: "no rule allows it",
        }
    }
}

/// `path` as header text: printable ASCII only, at most [`MAX_PATH_CHARS`] characters.
fn printable(path: &str) -> String {
    let mut text: String = path
        .chars()
        .take(MAX_PATH_CHARS)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if path.chars().count() > MAX_PATH_CHARS {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_caller_the_request_and_why() {
        let caller = Peer::Authenticated(
            convoy_config::SpiffeId::parse("spiffe://convoy.local/service/web").unwrap(),
        );
        let refused = Forbidden::no_rule(
            caller,
            http::Method::POST,
            "/admin",
            ServiceName::new("payments").unwrap(),
        );
        assert_eq!(
            refused.to_string(),
            "forbidden: caller spiffe://convoy.local/service/web may not POST /admin on service payments: no rule allows it"
        );
        let long = Forbidden::no_rule(
            Peer::Unauthenticated,
            http::Method::GET,
            &format!("/{}", "a".repeat(300)),
            ServiceName::new("payments").unwrap(),
        );
        assert!(long
            .to_string()
            .starts_with("forbidden: caller unauthenticated (plaintext) may not GET /aaa"));
        assert_eq!(long.path.len(), MAX_PATH_CHARS + 3);
    }
}
