//! Deterministic test data and a checksum, so large bodies can be checked end to end without
//! keeping them in memory.

use crate::client::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};

/// An endless, seeded byte sequence; the same seed always gives the same bytes, however they
/// are cut into chunks.
#[derive(Debug, Clone)]
pub struct Pattern {
    state: u64,
}

impl Pattern {
    /// The sequence for `seed`.
    pub fn new(seed: u64) -> Self {
        Pattern {
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The next `len` bytes.
    pub fn chunk(&mut self, len: usize) -> Bytes {
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            self.state = self
                .state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            out.push((self.state >> 56) as u8);
        }
        Bytes::from(out)
    }
}

/// FNV-1a, 64 bits: enough to tell whether two byte streams are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum(u64);

impl Default for Checksum {
    fn default() -> Self {
        Checksum(0xcbf2_9ce4_8422_2325)
    }
}

impl Checksum {
    /// Folds in more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The checksum so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

/// The [`Checksum`] of `bytes`.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut sum = Checksum::default();
    sum.update(bytes);
    sum.value()
}

/// The checksum of the first `len` bytes of `Pattern::new(seed)`.
pub fn pattern_checksum(seed: u64, len: usize) -> u64 {
    let mut pattern = Pattern::new(seed);
    let mut sum = Checksum::default();
    let mut left = len;
    while left > 0 {
        let n = left.min(64 * 1024);
        sum.update(&pattern.chunk(n));
        left -= n;
    }
    sum.value()
}

/// A body streaming the first `len` bytes of `Pattern::new(seed)`, `chunk` bytes per frame,
/// each generated only when the previous one was taken.
pub fn pattern_body(seed: u64, len: usize, chunk: usize) -> Body {
    let stream = futures_util::stream::unfold(
        (Pattern::new(seed), len),
        move |(mut pattern, left)| async move {
            if left == 0 {
                return None;
            }
            let n = left.min(chunk);
            let frame = http_body::Frame::data(pattern.chunk(n));
            Some((Ok(frame), (pattern, left - n)))
        },
    );
    StreamBody::new(stream).boxed_unsync()
}
