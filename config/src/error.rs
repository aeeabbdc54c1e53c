//! Configuration errors that point at the file, line, column and field.

use std::fmt;
use std::path::PathBuf;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The file is not well-formed YAML (or is too large, or nests too deeply).
    Syntax,
    /// A field name is not known at that place.
    UnknownField,
    /// A value has the wrong type or is out of range.
    InvalidValue,
    /// A required field is missing.
    MissingField,
    /// A reference to something that does not exist (an unknown service, say).
    UnknownReference,
    /// Two things that must differ are the same (two listeners on one address, say).
    Conflict,
}

/// A configuration error: where it is and what is wrong.
///
/// Displays as `file:line:column: field.path: message (did you mean `x`?)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The kind of error.
    pub kind: ErrorKind,
    /// The file the configuration was read from.
    pub(crate) file: PathBuf,
    /// 1-based line of the offending value, when known.
    pub(crate) line: Option<usize>,
    /// 1-based column of the offending value, when known.
    pub(crate) column: Option<usize>,
    /// The path of the field (`services.orders.routes[1].backends[0].weight`); empty for the document.
    pub(crate) path: String,
    /// What is wrong, in one line.
    pub message: String,
    /// A close known name, for misspellings.
    pub(crate) did_you_mean: Option<String>,
    /// Whether the position should be that of the key naming `path` rather than its value.
    pub(crate) at_key: bool,
}

impl ConfigError {
    pub(crate) fn new(
        kind: ErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            kind,
            file: PathBuf::new(),
            line: None,
            column: None,
            path: path.into(),
            message: message.into(),
            did_you_mean: None,
            at_key: false,
        }
    }

    pub(crate) fn at_key(mut self) -> Self {
        self.at_key = true;
        self
    }

    pub(crate) fn with_hint(mut self, hint: Option<String>) -> Self {
        self.did_you_mean = hint;
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.did_you_mean {
            write!(f, " (did you mean `{hint}`?)")?;
        }
        Ok(())
    }
}

/// The candidate closest to `unknown`, if it is close enough to be a likely misspelling.
pub(crate) fn closest<'a>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(unknown, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            closest("endpoint", ["endpoints", "routes"]),
            Some("endpoints".into())
        );
        assert_eq!(
            closest("protcol", ["protocol", "routes"]),
            Some("protocol".into())
        );
        assert_eq!(closest("zzz", ["endpoints", "routes"]), None);
    }

    #[test]
    fn display_names_file_line_column_and_field() {
        let mut e = ConfigError::new(ErrorKind::InvalidValue, "services.a.protocol", "bad");
        e.file = "mesh.yaml".into();
        e.line = Some(3);
        e.column = Some(15);
        e.did_you_mean = Some("http".into());
        assert_eq!(
            e.to_string(),
            "mesh.yaml:3:15: services.a.protocol: bad (did you mean `http`?)"
        );
    }
}
