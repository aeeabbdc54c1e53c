//! A mesh read from a directory of YAML files (the control plane's input), and the wire form
//! in which the control plane sends it to sidecars.
//!
//! Each file may hold `services:` and `gateways:`; a service or gateway is defined in exactly
//! one file, and routes (of services and gateways) may refer to services of any file. Errors name the file, line and column of the service that is
//! wrong. The wire form is the merged raw document as JSON, validated again by each sidecar
//! with the very same rules, so a sidecar never applies what the model would refuse.

use crate::error::{ConfigError, ErrorKind};
use crate::load::{locate, parse_document, read_limited};
use crate::model::{Mesh, ProxyConfig, Sidecar};
use crate::{raw, validate};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name used for the file in errors about a pushed snapshot.
pub(crate) const WIRE_SOURCE: &str = "<control-plane snapshot>";

/// A validated mesh and the raw form it was read from.
#[derive(Debug, Clone)]
pub struct MeshSource {
    /// The validated mesh.
    pub mesh: Mesh,
    /// The files it was read from, in order.
    pub files: Vec<PathBuf>,
    raw: BTreeMap<String, raw::Service>,
    raw_gateways: BTreeMap<String, raw::Gateway>,
}

impl MeshSource {
    /// The wire form of this mesh with `registered` endpoints (by service) added to the YAML's;
    /// a registered service the YAML does not name is added with default policies.
    pub fn to_wire(&self, registered: &BTreeMap<String, Vec<String>>) -> Vec<u8> {
        let mut services = self.raw.clone();
        for (name, addrs) in registered {
            let service = services.entry(name.clone()).or_insert_with(empty_service);
            for addr in addrs {
                if !service.endpoints.contains(addr) {
                    service.endpoints.push(addr.clone());
                }
            }
        }
        serde_json::to_vec(&WireMesh {
            services,
            gateways: self.raw_gateways.clone(),
        })
        .expect("raw shapes always serialize")
    }

    /// Whether `name` is a service of the YAML.
    pub fn defines(&self, name: &str) -> bool {
        self.raw.contains_key(name)
    }

    /// Whether `name` is a gateway of the YAML.
    pub fn defines_gateway(&self, name: &str) -> bool {
        self.raw_gateways.contains_key(name)
    }
}

fn empty_service() -> raw::Service {
    serde_json::from_str("{}").expect("an empty service is valid")
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMesh {
    services: BTreeMap<String, raw::Service>,
    /// Left out when empty, so a mesh without gateways has the same wire form as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    gateways: BTreeMap<String, raw::Gateway>,
}

/// Validates a mesh received from the control plane.
pub fn decode_wire_mesh(bytes: &[u8]) -> Result<Mesh, ConfigError> {
    let wire: WireMesh = serde_json::from_slice(bytes).map_err(|e| {
        let mut error = ConfigError::new(ErrorKind::Syntax, "", format!("bad snapshot: {e}"));
        error.file = PathBuf::from(WIRE_SOURCE);
        error
    })?;
    validate::mesh(&wire.services, &wire.gateways).map_err(|mut e| {
        e.file = PathBuf::from(WIRE_SOURCE);
        e
    })
}

impl ProxyConfig {
    /// A sidecar's configuration from its own settings and a mesh (from the control plane):
    /// refuses TCP service listeners that overlap the sidecar's.
    pub fn combine(sidecar: Sidecar, mesh: Mesh) -> Result<ProxyConfig, ConfigError> {
        validate::check_listener_conflicts(&sidecar, &mesh).map_err(|mut e| {
            e.file = PathBuf::from(WIRE_SOURCE);
            e
        })?;
        Ok(ProxyConfig { sidecar, mesh })
    }
}

/// The YAML files of `dir`, sorted; hidden files and editor leftovers are skipped.
pub fn mesh_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        let mut error =
            ConfigError::new(ErrorKind::Io, "", format!("cannot read the directory: {e}"));
        error.file = dir.to_owned();
        error
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads and validates every YAML file of `dir` as one mesh.
pub fn load_mesh_dir(dir: &Path) -> Result<MeshSource, ConfigError> {
    let files = mesh_files(dir)?;
    if files.is_empty() {
        let mut error = ConfigError::new(
            ErrorKind::MissingField,
            "",
            "no .yaml or .yml files in the directory",
        );
        error.file = dir.to_owned();
        return Err(error);
    }
    let mut texts = Vec::with_capacity(files.len());
    for file in &files {
        texts.push(read_limited(file)?);
    }
    parse_mesh_files(
        files
            .iter()
            .map(PathBuf::as_path)
            .zip(texts.iter().map(String::as_str)),
    )
}

/// Validates several YAML texts (with the files they came from) as one mesh.
pub fn parse_mesh_files<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a str)>,
) -> Result<MeshSource, ConfigError> {
    let files: Vec<(&Path, &str)> = files.into_iter().collect();
    let mut raw: BTreeMap<String, raw::Service> = BTreeMap::new();
    let mut raw_gateways: BTreeMap<String, raw::Gateway> = BTreeMap::new();
    let mut origin: BTreeMap<String, usize> = BTreeMap::new();
    let mut gateway_origin: BTreeMap<String, usize> = BTreeMap::new();
    for (index, (file, text)) in files.iter().enumerate() {
        let document = parse_document(text).map_err(|e| locate(e, file, text))?;
        if document.sidecar.is_some() {
            let error = ConfigError::new(
                ErrorKind::UnknownField,
                "sidecar",
                "a `sidecar` section belongs in one sidecar's own file, not in the mesh directory",
            )
            .at_key();
            return Err(locate(error, file, text));
        }
        for (name, service) in document.services {
            if let Some(first) = origin.get(&name) {
                let error = ConfigError::new(
                    ErrorKind::Conflict,
                    format!("services.{name}"),
                    format!(
                        "service `{name}` is already defined in {}",
                        files[*first].0.display()
                    ),
                )
                .at_key();
                return Err(locate(error, file, text));
            }
            origin.insert(name.clone(), index);
            raw.insert(name, service);
        }
        for (name, gateway) in document.gateways {
            if let Some(first) = gateway_origin.get(&name) {
                let error = ConfigError::new(
                    ErrorKind::Conflict,
                    format!("gateways.{name}"),
                    format!(
                        "gateway `{name}` is already defined in {}",
                        files[*first].0.display()
                    ),
                )
                .at_key();
                return Err(locate(error, file, text));
            }
            gateway_origin.insert(name.clone(), index);
            raw_gateways.insert(name, gateway);
        }
    }
    let mesh = validate::mesh(&raw, &raw_gateways).map_err(|e| {
        // The error's path starts with `services.<name>` or `gateways.<name>`: point at the
        // file defining it.
        let named = |section: &str| {
            e.path
                .strip_prefix(section)
                .and_then(|rest| rest.split(['.', '[']).next())
        };
        let index = match (named("services."), named("gateways.")) {
            (Some(service), _) => origin.get(service),
            (_, Some(gateway)) => gateway_origin.get(gateway),
            _ => None,
        }
        .copied()
        .unwrap_or(0);
        let (file, text) = files.get(index).copied().unwrap_or((Path::new(""), ""));
        locate(e, file, text)
    })?;
    Ok(MeshSource {
        mesh,
        files: files.iter().map(|(f, _)| f.to_path_buf()).collect(),
        raw,
        raw_gateways,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(files: &[(&str, &str)]) -> Result<MeshSource, ConfigError> {
        parse_mesh_files(files.iter().map(|(f, t)| (Path::new(*f), *t)))
    }

    #[test]
    fn files_make_one_mesh_and_routes_cross_files() {
        let source = parse(&[
            (
                "a.yaml",
                "services:\n  orders:\n    routes:\n      - backends: [{ service: payments }]\n",
            ),
            (
                "b.yaml",
                "services:\n  payments:\n    endpoints: [\"10.0.0.1:4143\"]\n",
            ),
        ])
        .unwrap();
        assert_eq!(source.mesh.services.len(), 2);
    }

    #[test]
    fn errors_point_at_the_file_of_the_service() {
        let error = parse(&[
            ("a.yaml", "services:\n  orders: {}\n"),
            (
                "b.yaml",
                "services:\n  payments:\n    retry: { attempts: 0 }\n",
            ),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "b.yaml:3:24: services.payments.retry.attempts: must be within 1..=10, got 0"
        );
        let error = parse(&[
            ("a.yaml", "services:\n  orders: {}\n"),
            ("b.yaml", "services:\n  orders: {}\n"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "b.yaml:2:3: services.orders: service `orders` is already defined in a.yaml"
        );
        let error =
            parse(&[("a.yaml", "sidecar: { service: web, app: 127.0.0.1:1 }\n")]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("a.yaml:1:1: sidecar: a `sidecar` section belongs"),
            "{error}"
        );
    }

    #[test]
    fn the_wire_form_round_trips_with_registered_endpoints() {
        let source = parse(&[(
            "a.yaml",
            "services:\n  orders:\n    retry: { attempts: 3 }\n",
        )])
        .unwrap();
        let mut registered = BTreeMap::new();
        registered.insert("orders".to_owned(), vec!["127.0.0.1:4143".to_owned()]);
        registered.insert("web".to_owned(), vec!["127.0.0.1:5143".to_owned()]);
        let mesh = decode_wire_mesh(&source.to_wire(&registered)).unwrap();
        assert_eq!(mesh.services["orders"].retry.as_ref().unwrap().attempts, 3);
        assert_eq!(mesh.services["orders"].endpoints.len(), 1);
        assert_eq!(
            mesh.services["web"].endpoints.len(),
            1,
            "registered services join the mesh"
        );
    }

    #[test]
    fn a_bad_wire_mesh_is_refused_with_its_reason() {
        let error =
            decode_wire_mesh(br#"{"services":{"orders":{"retry":{"attempts":0}}}}"#).unwrap_err();
        assert_eq!(error.to_string(), "<control-plane snapshot>: services.orders.retry.attempts: must be within 1..=10, got 0");
        assert!(decode_wire_mesh(b"{").is_err());
    }
}
