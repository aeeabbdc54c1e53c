//! The join token: how a sidecar proves to the control plane that it may join as its service.
//! Read from its file each time it is needed, so a replaced file is picked up.

use std::path::{Path, PathBuf};

/// Why the token could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read.
    #[error("cannot read the join token file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty (or whitespace).
    #[error("the join token file {} is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The token holds characters an HTTP header cannot.
    #[error("the join token in {} holds characters a header cannot carry", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
    },
}

/// Where the token is.
#[derive(Debug, Clone)]
pub struct JoinToken {
    path: PathBuf,
}

impl JoinToken {
    /// The token in `path`.
    pub fn new(path: &Path) -> Self {
        JoinToken {
            path: path.to_owned(),
        }
    }

    /// The `authorization` header value: `Bearer <token>`, the token being the file's first
    /// line without surrounding whitespace. Marked sensitive (never logged by hyper).
    pub fn header(&self) -> Result<http::HeaderValue, TokenError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| TokenError::Read {
            path: self.path.clone(),
            source,
        })?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(TokenError::Empty {
                path: self.path.clone(),
            });
        }
        let mut value = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            TokenError::Invalid {
                path: self.path.clone(),
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_trimmed_is_the_token_and_a_new_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let token = JoinToken::new(&path);
        assert!(matches!(token.header(), Err(TokenError::Read { .. })));
        std::fs::write(&path, "  \n").unwrap();
        assert!(matches!(token.header(), Err(TokenError::Empty { .. })));
        std::fs::write(&path, " s3cret \nignored\n").unwrap();
        assert_eq!(token.header().unwrap(), "Bearer s3cret");
        assert!(token.header().unwrap().is_sensitive());
        std::fs::write(&path, "n3w").unwrap();
        assert_eq!(token.header().unwrap(), "Bearer n3w");
        std::fs::write(&path, "bad\u{7f}").unwrap();
        assert!(matches!(token.header(), Err(TokenError::Invalid { .. })));
    }
}
