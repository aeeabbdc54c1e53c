//! API keys: only their SHA-256 is configured; presented keys are hashed and compared in
//! constant time with every configured hash.

use convoy_config::ApiKeyConsumer;
use ring::digest;
use std::io::Read;

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

/// The largest key `hash-api-key` reads.
const MAX_KEY_BYTES: u64 = 4096;

/// What `convoy-proxy hash-api-key` prints for the key read from `input`: one trailing newline
/// (`\n` or `\r\n`) is not part of the key; an empty key is refused.
pub fn hash_api_key_from(input: impl std::io::Read) -> Result<String, String> {
    let mut key = Vec::new();
    input
        .take(MAX_KEY_BYTES + 1)
        .read_to_end(&mut key)
        .map_err(|e| format!("cannot read the key from stdin: {e}"))?;
    if key.len() as u64 > MAX_KEY_BYTES {
        return Err(format!("the key is longer than {MAX_KEY_BYTES} bytes"));
    }
    if key.ends_with(b"\n") {
        key.pop();
        if key.ends_with(b"\r") {
            key.pop();
        }
    }
    if key.is_empty() {
        return Err("empty key (give it on stdin: echo -n KEY | convoy-proxy hash-api-key)".into());
    }
    Ok(hash_api_key(&key))
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
    fn the_cli_helper_ignores_one_trailing_newline() {
        let expected = hash_api_key(b"test");
        assert_eq!(hash_api_key_from(&b"test"[..]), Ok(expected.clone()));
        assert_eq!(hash_api_key_from(&b"test\n"[..]), Ok(expected.clone()));
        assert_eq!(hash_api_key_from(&b"test\r\n"[..]), Ok(expected));
        assert_eq!(
            hash_api_key_from(&b"test\n\n"[..]),
            Ok(hash_api_key(b"test\n"))
        );
        assert!(hash_api_key_from(&b"\n"[..])
            .unwrap_err()
            .contains("empty key"));
        assert!(hash_api_key_from(&[b'k'; 5000][..]).is_err());
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
