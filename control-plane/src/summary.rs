//! One-line summaries of what a version changed: services added, removed or changed (with the
//! fields that changed), and endpoints that joined or left.

use convoy_config::Mesh;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// At most this many names are listed; the rest are counted.
const MAX_LISTED: usize = 10;

/// How one mesh differs from another, by service.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ConfigDiff {
    /// Services only the new mesh has.
    pub(crate) added: Vec<String>,
    /// Services only the old mesh has.
    pub(crate) removed: Vec<String>,
    /// Services both have but differently, with the top-level fields that differ.
    pub(crate) changed: Vec<(String, Vec<String>)>,
}

impl ConfigDiff {
    /// Compares two meshes service by service, field by field (as they serialize).
    pub(crate) fn between(old: &Mesh, new: &Mesh) -> Self {
        let mut diff = ConfigDiff::default();
        for (name, service) in &new.services {
            match old.services.get(name) {
                None => diff.added.push(name.to_string()),
                Some(before) if before != service => {
                    let fields = changed_fields(&to_value(before), &to_value(service));
                    diff.changed.push((name.to_string(), fields));
                }
                Some(_) => {}
            }
        }
        diff.removed = old
            .services
            .keys()
            .filter(|name| !new.services.contains_key(*name))
            .map(ToString::to_string)
            .collect();
        diff
    }

    /// Whether nothing differs.
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl fmt::Display for ConfigDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no service changed");
        }
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("added {}", listed(self.added.iter().cloned())));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", listed(self.removed.iter().cloned())));
        }
        if !self.changed.is_empty() {
            let changed = self
                .changed
                .iter()
                .map(|(name, fields)| format!("{name} ({})", fields.join(", ")));
            parts.push(format!("changed {}", listed(changed)));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The summary of the first version: what was loaded.
pub(crate) fn loaded(mesh: &Mesh) -> String {
    let count = mesh.services.len();
    let noun = if count == 1 { "service" } else { "services" };
    if count == 0 {
        return "loaded 0 services".to_owned();
    }
    format!(
        "loaded {count} {noun}: {}",
        listed(mesh.services.keys().map(ToString::to_string))
    )
}

/// Registered endpoints, by service (the registry's contribution to a snapshot).
pub(crate) type Endpoints = BTreeMap<String, Vec<String>>;

/// The summary of a registry change: `joined orders 10.0.0.7:4143; left web 10.0.0.9:4143`.
pub(crate) fn endpoints(old: &Endpoints, new: &Endpoints) -> String {
    let pairs = |map: &Endpoints| -> BTreeSet<(String, String)> {
        map.iter()
            .flat_map(|(s, addrs)| addrs.iter().map(move |a| (s.clone(), a.clone())))
            .collect()
    };
    let (old, new) = (pairs(old), pairs(new));
    let mut parts = Vec::new();
    let joined: Vec<String> = new
        .difference(&old)
        .map(|(s, a)| format!("{s} {a}"))
        .collect();
    let left: Vec<String> = old
        .difference(&new)
        .map(|(s, a)| format!("{s} {a}"))
        .collect();
    if !joined.is_empty() {
        parts.push(format!("joined {}", listed(joined.into_iter())));
    }
    if !left.is_empty() {
        parts.push(format!("left {}", listed(left.into_iter())));
    }
    if parts.is_empty() {
        return "endpoints unchanged".to_owned();
    }
    parts.join("; ")
}

fn to_value(service: &convoy_config::Service) -> Value {
    serde_json::to_value(service).unwrap_or(Value::Null)
}

fn changed_fields(old: &Value, new: &Value) -> Vec<String> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => old
            .keys()
            .chain(new.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|key| old.get(*key) != new.get(*key))
            .cloned()
            .collect(),
        _ => vec!["(all)".to_owned()],
    }
}

fn listed(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.len() <= MAX_LISTED {
        return items.join(", ");
    }
    format!(
        "{} and {} more",
        items[..MAX_LISTED].join(", "),
        items.len() - MAX_LISTED
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mesh(yaml: &str) -> Mesh {
        convoy_config::parse_mesh_files([(Path::new("m.yaml"), yaml)])
            .unwrap()
            .mesh
    }

    #[test]
    fn services_added_removed_and_changed_with_fields() {
        let old =
            mesh("services:\n  orders:\n    timeout: 2s\n  web: {}\n  legacy: {}\n  same: {}\n");
        let new = mesh(
            "services:\n  orders:\n    timeout: 3s\n    retry: { attempts: 2 }\n  web:\n    endpoints: [\"127.0.0.1:1\"]\n  payments: {}\n  same: {}\n",
        );
        let diff = ConfigDiff::between(&old, &new);
        assert_eq!(diff.added, ["payments"]);
        assert_eq!(diff.removed, ["legacy"]);
        assert_eq!(
            diff.changed,
            [
                (
                    "orders".to_owned(),
                    vec!["retry".to_owned(), "timeouts".to_owned()]
                ),
                ("web".to_owned(), vec!["endpoints".to_owned()]),
            ]
        );
        assert_eq!(
            diff.to_string(),
            "added payments; removed legacy; changed orders (retry, timeouts), web (endpoints)"
        );
    }

    #[test]
    fn identical_meshes_differ_in_nothing() {
        let a = mesh("services:\n  orders: { timeout: 2s }\n");
        let b = mesh("services:\n  orders: { timeout: 2000ms }\n");
        let diff = ConfigDiff::between(&a, &b);
        assert!(diff.is_empty());
        assert_eq!(diff.to_string(), "no service changed");
    }

    #[test]
    fn the_first_version_lists_what_it_loaded() {
        assert_eq!(
            loaded(&mesh("services:\n  orders: {}\n  web: {}\n")),
            "loaded 2 services: orders, web"
        );
        let many: String = (0..12).map(|i| format!("  s{i:02}: {{}}\n")).collect();
        assert_eq!(
            loaded(&mesh(&format!("services:\n{many}"))),
            "loaded 12 services: s00, s01, s02, s03, s04, s05, s06, s07, s08, s09 and 2 more"
        );
    }

    #[test]
    fn endpoints_that_joined_and_left() {
        let mut old = Endpoints::new();
        old.insert("web".into(), vec!["127.0.0.1:2".into()]);
        old.insert("orders".into(), vec!["127.0.0.1:1".into()]);
        let mut new = Endpoints::new();
        new.insert(
            "orders".into(),
            vec!["127.0.0.1:1".into(), "127.0.0.1:3".into()],
        );
        assert_eq!(
            endpoints(&old, &new),
            "joined orders 127.0.0.1:3; left web 127.0.0.1:2"
        );
        assert_eq!(endpoints(&new, &new), "endpoints unchanged");
    }
}
