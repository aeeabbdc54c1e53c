//! Validated names.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A service name: lowercase DNS labels (`orders`, `orders-v2`, `payments.billing`), at most 253
/// bytes. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceName(Arc<str>);

impl Serialize for ServiceName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl ServiceName {
    /// Validates a service name.
    pub fn new(name: &str) -> Result<Self, String> {
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.len() > 253 || !name.split('.').all(valid_label) {
            return Err(format!(
                "`{name}` is not a valid service name: use lowercase letters, digits and `-`, in labels separated by `.`"
            ));
        }
        Ok(ServiceName(name.into()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for ServiceName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_like_names() {
        for ok in ["orders", "orders-v2", "a", "payments.billing", "x1"] {
            assert!(ServiceName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_other_names() {
        for bad in [
            "",
            "Orders",
            "-a",
            "a-",
            "a..b",
            "a_b",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(ServiceName::new(bad).is_err(), "{bad}");
        }
    }
}
