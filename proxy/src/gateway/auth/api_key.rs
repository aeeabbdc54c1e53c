//! API keys: only their SHA-256 is configured; presented keys are hashed and compared in
//! constant time with every configured hash.

use convoy_config::ApiKeyConsumer;
use ring::digest;

/// The gateway's API-key consumers.
pub(super) struct ApiKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl ApiKeys {
    pub(super) fn new(consumers: &[ApiKeyConsumer]) -> Self {
        ApiKeys {
            keys: consumers
                .iter()
                .map(|c| (c.name.clone(), c.key_sha256))
                .collect(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The name of the consumer whose key this is. Every configured hash is compared, each in
    /// constant time, so the time taken does not tell how much of a hash matched.
    pub(super) fn find(&self, presented: &[u8]) -> Option<&str> {
        if presented.is_empty() {
            return None;
        }
        let hash = sha256(presented);
        let mut found = None;
        for (name, expected) in &self.keys {
            if constant_time_eq(&hash, expected) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Whether two hashes are equal, looking at every byte whatever the differences.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The SHA-256 of an API key as 64 lowercase hex digits: what `api_keys[].key_sha256` holds
/// (`convoy-proxy hash-api-key` prints it).
pub fn hash_api_key(key: &[u8]) -> String {
    sha256(key).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_the_sha256_in_hex() {
        // The plan's example: sha256("test").
        assert_eq!(
            hash_api_key(b"test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn keys_are_found_by_their_hash_only() {
        let keys = ApiKeys::new(&[
            ApiKeyConsumer {
                name: "a".into(),
                key_sha256: sha256(b"key-a"),
            },
            ApiKeyConsumer {
                name: "b".into(),
                key_sha256: sha256(b"key-b"),
            },
        ]);
        assert_eq!(keys.find(b"key-a"), Some("a"));
        assert_eq!(keys.find(b"key-b"), Some("b"));
        assert_eq!(keys.find(b"key-c"), None);
        assert_eq!(keys.find(b""), None);
        let hash_itself = hash_api_key(b"key-a");
        assert_eq!(keys.find(hash_itself.as_bytes()), None);
        assert!(constant_time_eq(&sha256(b"x"), &sha256(b"x")));
        assert!(!constant_time_eq(&sha256(b"x"), &sha256(b"y")));
    }
}
