//! Reading a configuration file: size limit, YAML parsing, error positions, validation.

use crate::error::{closest, ConfigError, ErrorKind};
use crate::locate::Positions;
use crate::model::ProxyConfig;
use crate::{raw, validate};
use std::path::Path;

/// The largest configuration file accepted, in bytes (1 MiB): larger files are refused before
/// parsing, so a huge document cannot exhaust memory.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Reads and validates a sidecar's configuration file.
pub fn load_proxy_config(path: &Path) -> Result<ProxyConfig, ConfigError> {
    let located = |mut e: ConfigError| {
        e.file = path.to_owned();
        e
    };
    let metadata = std::fs::metadata(path).map_err(|e| {
        located(ConfigError::new(
            ErrorKind::Io,
            "",
            format!("cannot read: {e}"),
        ))
    })?;
    if metadata.len() > MAX_CONFIG_BYTES as u64 {
        return Err(located(too_large(metadata.len() as usize)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        located(ConfigError::new(
            ErrorKind::Io,
            "",
            format!("cannot read: {e}"),
        ))
    })?;
    parse_proxy_config(&text, path)
}

pub(crate) fn too_large(len: usize) -> ConfigError {
    ConfigError::new(
        ErrorKind::Syntax,
        "",
        format!("file is {len} bytes; the limit is {MAX_CONFIG_BYTES} bytes"),
    )
}

/// Parses and validates a sidecar's configuration from YAML text; `file` names it in errors.
///
/// Relative file paths of gateways (certificates, keys, JWKS) are made relative to `file`'s
/// directory.
pub fn parse_proxy_config(text: &str, file: &Path) -> Result<ProxyConfig, ConfigError> {
    let mut config = parse_document(text)
        .and_then(validate::proxy_config)
        .map_err(|e| locate(e, file, text))?;
    let dir = file.parent().unwrap_or(Path::new(""));
    for gateway in config.mesh.gateways.values_mut() {
        gateway.resolve_paths(dir);
    }
    Ok(config)
}

/// Names `file` in `error` and, if it has no position yet, finds its field's in `text`.
pub(crate) fn locate(mut error: ConfigError, file: &Path, text: &str) -> ConfigError {
    error.file = file.to_owned();
    if error.line.is_none() && error.kind != ErrorKind::Io {
        let positions = Positions::index(text);
        let position = if error.at_key {
            positions
                .key(&error.path)
                .or_else(|| positions.nearest(&error.path))
        } else {
            positions.nearest(&error.path)
        };
        if let Some((line, column)) = position {
            error.line = Some(line);
            error.column = Some(column);
        }
    }
    error
}

/// Reads a configuration file whole, refusing one over [`MAX_CONFIG_BYTES`].
pub(crate) fn read_limited(path: &Path) -> Result<String, ConfigError> {
    let io = |e: std::io::Error| {
        let mut error = ConfigError::new(ErrorKind::Io, "", format!("cannot read: {e}"));
        error.file = path.to_owned();
        error
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if metadata.len() > MAX_CONFIG_BYTES as u64 {
        let mut error = too_large(metadata.len() as usize);
        error.file = path.to_owned();
        return Err(error);
    }
    std::fs::read_to_string(path).map_err(io)
}

pub(crate) fn parse_document(text: &str) -> Result<raw::Document, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(too_large(text.len()));
    }
    if text.trim().is_empty() {
        return Err(ConfigError::new(
            ErrorKind::MissingField,
            "",
            "the file is empty",
        ));
    }
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut error = from_serde(
            if path == "." { String::new() } else { path },
            &inner.to_string(),
        );
        if let Some(location) = inner.location() {
            if error.kind != ErrorKind::UnknownField {
                error.line = Some(location.line());
                error.column = Some(location.column());
            }
        }
        error
    })
}

/// Turns serde's message into a kind, a field path and a hint.
fn from_serde(path: String, message: &str) -> ConfigError {
    // serde_yaml appends " at line L column C"; the position is kept separately.
    let message = message.split(" at line ").next().unwrap_or(message).trim();
    // serde_yaml may prefix its own idea of the path (`services.orders: ...`); ours is better.
    let message = match message.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(' ') && !prefix.is_empty() => rest,
        _ => message,
    };
    let quoted = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = quoted(rest);
        let (unknown, expected) = names
            .split_first()
            .map(|(u, e)| (u.clone(), e.to_vec()))
            .unwrap_or_default();
        let field_path = if path.is_empty() {
            unknown.clone()
        } else if path == unknown || path.ends_with(&format!(".{unknown}")) {
            path
        } else {
            format!("{path}.{unknown}")
        };
        let allowed = if expected.is_empty() {
            "no fields are allowed here".to_owned()
        } else {
            format!("expected one of {}", expected.join(", "))
        };
        return ConfigError::new(
            ErrorKind::UnknownField,
            field_path,
            format!("unknown field `{unknown}`, {allowed}"),
        )
        .with_hint(closest(&unknown, expected.iter().map(String::as_str)))
        .at_key();
    }
    if message.starts_with("missing field ") {
        return ConfigError::new(ErrorKind::MissingField, path, message);
    }
    if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("data did not match")
    {
        return ConfigError::new(ErrorKind::InvalidValue, path, message);
    }
    ConfigError::new(ErrorKind::Syntax, path, message)
}
