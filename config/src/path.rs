//! URL path normalization, shared by the proxy (which rewrites every request's path with it
//! before routing and authorization) and validation (which refuses configured paths that no
//! normalized request path could ever match).
//!
//! The normal form: unreserved characters decoded (`%41` → `A`, `%2e` → `.`), other escapes in
//! uppercase (`%c3` → `%C3`), repeated slashes merged, `.` and `..` segments resolved (RFC 3986
//! `remove_dot_segments`; a `..` above the root stays at the root). An encoded slash or
//! backslash (`%2F`, `%5C`) is refused: an app that decodes it would see another path than the
//! one matched. So is a backslash itself, which some servers read as a slash.

use std::borrow::Cow;

/// Why a path cannot be normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `%2F` or `%5C` (any case).
    #[error("encoded slash in path")]
    EncodedSlash,
    /// `\`, which some servers read as `/`.
    #[error("backslash in path")]
    Backslash,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding in path")]
    BadEscape,
}

/// The normal form of `path` (which starts with `/`, without query). Borrows when `path` is
/// already normal, which is the common case; a path not starting with `/` (`*`) is left alone.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    if !path.starts_with('/') || is_plainly_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let mut rest = decoded[1..].split('/').peekable();
    while let Some(segment) = rest.next() {
        let last = rest.peek().is_none();
        match segment {
            // Repeated slashes merge; `.` is the segment itself.
            "" | "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            other => {
                segments.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for segment in &segments {
        normal.push('/');
        normal.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        normal.push('/');
    }
    Ok(Cow::Owned(normal))
}

/// No escapes, no empty, `.` or `..` segments: nothing to do (one pass, no allocation).
fn is_plainly_normal(path: &str) -> bool {
    if path.contains('%') {
        return false;
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        // An empty segment is fine only last: the trailing slash of `/a/`.
        let repeated_slash = segment.is_empty() && segments.peek().is_some();
        if repeated_slash || segment == "." || segment == ".." {
            return false;
        }
    }
    true
}

/// Decodes `%XX` escapes of unreserved characters and uppercases the others.
fn decode_unreserved(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.contains('%') {
        return Ok(Cow::Borrowed(path));
    }
    let bytes = path.as_bytes();
    // Bytes, not chars: other bytes are copied as they are (a `%` never splits a UTF-8
    // sequence, and only ASCII is inserted).
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |b: u8| (b as char).to_digit(16);
        let (Some(high), Some(low)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::BadEscape);
        };
        let byte = (high * 16 + low) as u8;
        match byte {
            b'/' | b'\\' => return Err(PathError::EncodedSlash),
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => out.push(b),
            b => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
        i += 3;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| PathError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(path: &str) -> String {
        normalize_path(path).unwrap().into_owned()
    }

    #[test]
    fn normal_paths_are_borrowed_unchanged() {
        for path in ["/", "/a", "/a/b/", "/api/v1/items", "/a.b/c..d/...", "*"] {
            assert!(
                matches!(normalize_path(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn dot_segments_are_resolved_and_never_climb_above_the_root() {
        let cases = [
            ("/public/../admin", "/admin"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/..", "/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/a/../../b", "/b"),
            ("/.", "/"),
        ];
        for (path, expected) in cases {
            assert_eq!(normal(path), expected, "{path}");
        }
    }

    #[test]
    fn repeated_slashes_merge() {
        assert_eq!(normal("//admin"), "/admin");
        assert_eq!(normal("/a///b//"), "/a/b/");
        assert_eq!(normal("/a//../b"), "/b");
        assert_eq!(normal("//"), "/");
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_uppercased() {
        assert_eq!(normal("/%2e%2e/admin"), "/admin");
        assert_eq!(normal("/public/%2E%2E/admin"), "/admin");
        assert_eq!(normal("/.%2e/x"), "/x");
        assert_eq!(normal("/%41%7a%30%2d%5f%7E"), "/Az0-_~");
        assert_eq!(normal("/caf%c3%a9?"), "/caf%C3%A9?");
        assert_eq!(normal("/a%20b"), "/a%20b");
        assert_eq!(normal("/a%3fb"), "/a%3Fb");
    }

    #[test]
    fn encoded_slashes_and_bad_escapes_are_refused() {
        for path in ["/a%2Fb", "/a%2fb", "/a%5Cb", "/%5c..%5cadmin", "/x/%2F"] {
            assert_eq!(normalize_path(path), Err(PathError::EncodedSlash), "{path}");
        }
        for path in ["/public\\..\\admin", "/public/..\\admin"] {
            assert_eq!(normalize_path(path), Err(PathError::Backslash), "{path}");
        }
        for path in ["/a%", "/a%2", "/a%zz", "/%g0"] {
            assert_eq!(normalize_path(path), Err(PathError::BadEscape), "{path}");
        }
        assert_eq!(PathError::EncodedSlash.to_string(), "encoded slash in path");
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for path in ["/a/../b//c/./%2e%2e/d%7e", "//x/%c3%a9/..", "/a/b/"] {
            let once = normal(path);
            assert_eq!(normal(&once), once, "{path}");
        }
    }
}
