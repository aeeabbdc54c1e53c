//! Path normalization: the very first step of both directions, so that routing, authorization
//! and rate limits see exactly the path that is forwarded.
//!
//! The normal form is [`convoy_config::normalize_path`]'s (the same rules validation holds
//! configured paths to). A path that cannot be normalized (an encoded slash or backslash, a
//! broken escape) is not refused here, where no error could be answered yet: the request is
//! marked with `PathRefused`, and `Sanitize` (in `layers`) answers it with 400, so
//! it is counted and logged like every other answer the proxy makes.

use crate::Request;
use convoy_config::{normalize_path, PathError};
use http::uri::{PathAndQuery, Uri};
use std::borrow::Cow;

/// Request extension: the path could not be normalized, and the request must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathRefused(pub(crate) PathError);

/// Rewrites the request's URI to its normalized path (the query is kept as it is), or marks the
/// request `PathRefused`. Allocates only when the path changes.
pub fn normalize(mut request: Request) -> Request {
    let normal = match normalize_path(request.uri().path()) {
        Ok(Cow::Borrowed(_)) => return request,
        Ok(Cow::Owned(normal)) => normal,
        Err(error) => {
            request.extensions_mut().insert(PathRefused(error));
            return request;
        }
    };
    match with_path(request.uri(), &normal) {
        Some(uri) => *request.uri_mut() = uri,
        // Cannot happen (the normal form only holds bytes the URI held, or unreserved ones);
        // never forward a path that was not the one matched.
        None => {
            request
                .extensions_mut()
                .insert(PathRefused(PathError::BadEscape));
        }
    }
    request
}

/// `uri` with `path` instead of its own path (the query kept), if that is a valid URI.
pub fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;

    fn normalized(uri: &str) -> Request {
        let mut request = http::Request::new(body::empty());
        *request.uri_mut() = uri.parse().unwrap();
        normalize(request)
    }

    #[test]
    fn the_path_is_rewritten_and_the_query_and_authority_kept() {
        let cases = [
            ("/public/../admin?x=/../y", "/admin?x=/../y"),
            ("/%2e%2e/admin", "/admin"),
            ("http://orders:8080//a/./b?q", "http://orders:8080/a/b?q"),
            ("/a/b", "/a/b"),
            ("*", "*"),
        ];
        for (uri, expected) in cases {
            let request = normalized(uri);
            assert_eq!(request.uri().to_string(), expected, "{uri}");
            assert!(request.extensions().get::<PathRefused>().is_none());
        }
    }

    #[test]
    fn an_encoded_slash_marks_the_request_refused() {
        let request = normalized("/a%2Fb?x");
        assert_eq!(
            request.extensions().get::<PathRefused>(),
            Some(&PathRefused(PathError::EncodedSlash))
        );
        assert_eq!(request.uri(), "/a%2Fb?x", "left as it came, for the log");
    }
}
