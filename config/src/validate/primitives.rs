//! Small validators shared by the rest: durations, ranges, addresses, names.

use crate::duration::parse_duration;
use crate::error::{closest, ConfigError, ErrorKind};
use crate::model::*;
use crate::raw;
use std::net::SocketAddr;
use std::time::Duration;

pub(super) type Result<T> = std::result::Result<T, ConfigError>;

pub(super) fn invalid(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(ErrorKind::InvalidValue, path, message)
}

pub(super) fn one_of<T: Copy>(path: &str, value: &str, choices: &[(&str, T)]) -> Result<T> {
    choices
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            invalid(
                path,
                format!("`{value}` is not one of {}", names.join(", ")),
            )
            .with_hint(closest(value, names.iter().copied()))
        })
}

pub(super) fn duration(path: &str, text: &str) -> Result<Duration> {
    parse_duration(text).map_err(|e| invalid(path, e))
}

pub(super) fn positive_duration(
    path: &str,
    text: Option<&str>,
    default: Duration,
) -> Result<Duration> {
    let Some(text) = text else { return Ok(default) };
    let d = duration(path, text)?;
    if d.is_zero() {
        return Err(invalid(path, "must be greater than zero"));
    }
    Ok(d)
}

pub(super) fn in_range(
    path: &str,
    value: Option<u64>,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64> {
    let v = value.unwrap_or(default);
    if !range.contains(&v) {
        return Err(invalid(
            path,
            format!(
                "must be within {}..={}, got {v}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(v)
}

pub(super) fn socket_addr(path: &str, text: &str) -> Result<SocketAddr> {
    text.parse().map_err(|_| {
        invalid(
            path,
            format!("`{text}` is not an address such as 127.0.0.1:4140 or [::1]:4140"),
        )
    })
}

pub(super) fn byte_size(path: &str, size: &raw::ByteSize) -> Result<u64> {
    let text = match size {
        raw::ByteSize::Number(n) => return Ok(*n),
        raw::ByteSize::Text(t) => t.trim(),
    };
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let unit = match &text[digits..] {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        _ => {
            return Err(invalid(
                path,
                format!("`{text}` is not a size such as 65536, 64KiB or 1MiB"),
            ))
        }
    };
    text[..digits]
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            invalid(
                path,
                format!("`{text}` is not a size such as 65536, 64KiB or 1MiB"),
            )
        })
}

pub(super) fn service_name(path: &str, name: &str) -> Result<ServiceName> {
    ServiceName::new(name).map_err(|e| invalid(path, e))
}

pub(super) fn endpoint(path: &str, text: &str) -> Result<Endpoint> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Endpoint::Socket(addr));
    }
    let bad = || {
        invalid(
            path,
            format!("`{text}` is not an endpoint such as 10.0.0.7:4143 or orders.internal:4143"),
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid_host {
        return Err(bad());
    }
    Ok(Endpoint::Dns {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// The fields of one section (`sidecar.limits`, `services.orders.retry`): each validator names
/// the field's full path in its error.
#[derive(Debug, Clone, Copy)]
pub(super) struct Section<'a>(pub(super) &'a str);

impl Section<'_> {
    /// The path of `field` in this section.
    pub(super) fn path(&self, field: &str) -> String {
        format!("{}.{field}", self.0)
    }

    /// A whole number in `range`, `default` when absent.
    pub(super) fn number(
        &self,
        field: &str,
        value: Option<u64>,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64> {
        in_range(&self.path(field), value, range, default)
    }

    /// A duration greater than zero, `default` when absent.
    pub(super) fn duration(
        &self,
        field: &str,
        text: Option<&str>,
        default: Duration,
    ) -> Result<Duration> {
        positive_duration(&self.path(field), text, default)
    }

    /// A duration greater than zero, or nothing when absent.
    pub(super) fn optional_duration(
        &self,
        field: &str,
        text: Option<&str>,
    ) -> Result<Option<Duration>> {
        text.map(|t| positive_duration(&self.path(field), Some(t), Duration::ZERO))
            .transpose()
    }
}
