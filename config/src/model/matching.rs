//! How routes and authorization rules match a request path.

use serde::Serialize;

/// How a route matches the request path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    /// Any path.
    Any,
    /// Paths that start with this prefix (which starts with `/`).
    Prefix(String),
    /// Exactly this path (which starts with `/`); the query is not part of the path.
    Exact(String),
}

impl PathMatch {
    /// Whether `path` (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatch::Exact(exact) => path == exact,
        }
    }
}
