//! Validating who may call a service: `mtls` and `authorization`.

use super::primitives::*;
use crate::error::closest;
use crate::model::*;
use crate::path::{normalize_path, PathError};
use crate::raw;

/// `mtls: strict | permissive`; `strict` when absent.
pub(super) fn mtls(path: &str, raw: Option<&str>) -> Result<MtlsMode> {
    match raw {
        None => Ok(MtlsMode::default()),
        Some(mode) => one_of(
            path,
            mode,
            &[
                ("strict", MtlsMode::Strict),
                ("permissive", MtlsMode::Permissive),
            ],
        ),
    }
}

/// An authorization policy (`None` when the section is absent: no policy).
pub(super) fn authorization(
    path: &str,
    raw: Option<&raw::Authorization>,
) -> Result<Option<Authorization>> {
    let Some(raw) = raw else { return Ok(None) };
    let mut allow = Vec::with_capacity(raw.allow.len());
    for (i, entry) in raw.allow.iter().enumerate() {
        let p = format!("{path}.allow[{i}]");
        allow.push(match entry {
            raw::AllowEntry::Caller(name) => AuthorizationRule {
                from: vec![principal(&p, name)?],
                path: PathMatch::Any,
                methods: Vec::new(),
            },
            raw::AllowEntry::Rule(rule) => allow_rule(&p, rule)?,
        });
    }
    Ok(Some(Authorization { allow }))
}

fn allow_rule(path: &str, raw: &raw::AllowRule) -> Result<AuthorizationRule> {
    let f = Section(path);
    if raw.from.is_empty() {
        return Err(invalid(
            &f.path("from"),
            "name at least one caller: a service name, or \"*\" for any mesh identity",
        ));
    }
    let from = raw
        .from
        .iter()
        .enumerate()
        .map(|(i, name)| principal(&format!("{}[{i}]", f.path("from")), name))
        .collect::<Result<Vec<_>>>()?;
    let methods = match &raw.methods {
        None => Vec::new(),
        Some(list) if list.is_empty() => {
            return Err(invalid(
                &f.path("methods"),
                "name at least one method, or leave `methods` out to allow any",
            ))
        }
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, m)| method(&format!("{}[{i}]", f.path("methods")), m))
            .collect::<Result<Vec<_>>>()?,
    };
    let path_match = match (&raw.path_prefix, &raw.path_exact) {
        (Some(_), Some(_)) => {
            return Err(invalid(path, "set `path_prefix` or `path_exact`, not both"))
        }
        (Some(p), None) => PathMatch::Prefix(normal_path(&f.path("path_prefix"), p)?),
        (None, Some(p)) => PathMatch::Exact(normal_path(&f.path("path_exact"), p)?),
        (None, None) => PathMatch::Any,
    };
    Ok(AuthorizationRule {
        from,
        path: path_match,
        methods,
    })
}

/// A caller: `"*"` (any mesh identity) or a service name. The service need not be in this
/// configuration (it may call from elsewhere in the mesh).
fn principal(path: &str, name: &str) -> Result<Principal> {
    if name == "*" {
        return Ok(Principal::AnyMeshIdentity);
    }
    service_name(path, name).map(Principal::Service)
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// A standard HTTP method, written in uppercase as on the wire.
pub(super) fn method(path: &str, text: &str) -> Result<http::Method> {
    if METHODS.contains(&text) {
        return http::Method::from_bytes(text.as_bytes())
            .map_err(|_| invalid(path, format!("`{text}` is not an HTTP method")));
    }
    Err(invalid(
        path,
        format!(
            "`{text}` is not one of {} (methods are written in uppercase)",
            METHODS.join(", ")
        ),
    )
    .with_hint(closest(&text.to_ascii_uppercase(), METHODS)))
}

/// A path as requests are matched: in normal form (see [`crate::path`]), or no request could
/// ever match it.
pub(super) fn normal_path(path: &str, text: &str) -> Result<String> {
    let text = super::url_path(path, text)?;
    match normalize_path(&text) {
        Ok(normal) if normal == text => Ok(text),
        Ok(normal) => Err(invalid(
            path,
            format!("`{text}` would never match: request paths are normalized before matching (escapes of letters, digits and `-._~` decoded, other escapes uppercased, `//` merged, `.` and `..` resolved); write `{normal}`"),
        )),
        Err(PathError::EncodedSlash) => Err(invalid(
            path,
            format!("`{text}` would never match: requests with an encoded slash or backslash (`%2F`, `%5C`) in their path are refused"),
        )),
        Err(PathError::Backslash) => Err(invalid(
            path,
            format!("`{text}` would never match: requests with a backslash in their path are refused"),
        )),
        Err(PathError::BadEscape) => Err(invalid(
            path,
            format!("`{text}` has a `%` that is not followed by two hex digits"),
        )),
    }
}
