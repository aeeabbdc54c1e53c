//! The architecture, checked: crates only depend on crates below them, the control plane does
//! not depend on the data plane, and inside every crate no module imports a module that
//! imports it back (at every level of the module tree, between sibling modules).
//!
//! The crate layers are the ones drawn in the README's "Architecture" section; a new crate
//! gets a layer here, and a dependency that points up (or sideways into a crate of the same
//! layer) fails this test before it lands.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each workspace crate's layer, lowest first. A crate may depend only on crates of a lower
/// layer.
const LAYERS: &[(&str, u32)] = &[
    ("convoy-config", 0),
    ("convoy-runtime", 0),
    ("convoy-protocol", 1),
    ("convoy-proxy-core", 1),
    ("convoy-identity", 2),
    ("convoy-telemetry", 2),
    ("convoy-policy", 3),
    ("convoy-balance", 4),
    ("convoy-stack", 5),
    ("convoy-gateway", 6),
    ("convoy-control-client", 6),
    ("convoy-proxy", 7),
    ("convoy-control-plane", 7),
    ("convoy-harness", 8),
    ("convoy-examples", 9),
    ("convoy-bench", 9),
    ("convoy-tests", 9),
];

/// The data plane's crates: the control plane must not depend on any of them.
const DATA_PLANE: &[&str] = &[
    "convoy-proxy-core",
    "convoy-identity",
    "convoy-telemetry",
    "convoy-policy",
    "convoy-balance",
    "convoy-stack",
    "convoy-gateway",
    "convoy-control-client",
    "convoy-proxy",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// Every workspace crate: its name, its folder, and the workspace crates it depends on
/// (normal and build dependencies; dev-dependencies may reach anywhere below).
fn workspace_crates() -> Vec<(String, PathBuf, Vec<String>)> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    packages
        .iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .filter(|d| names.contains(d))
                .collect();
            (
                p["name"].as_str().unwrap().to_owned(),
                manifest.parent().unwrap().to_owned(),
                deps,
            )
        })
        .collect()
}

fn layer(name: &str) -> u32 {
    LAYERS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("crate {name} has no layer in tests/tests/layering.rs"))
        .1
}

#[test]
fn crates_depend_only_on_lower_layers() {
    let mut upward = Vec::new();
    for (name, _, deps) in workspace_crates() {
        for dep in deps {
            if layer(&dep) >= layer(&name) {
                upward.push(format!(
                    "{name} (layer {}) -> {dep} (layer {})",
                    layer(&name),
                    layer(&dep)
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "dependencies that do not point down: {upward:#?}"
    );
}

#[test]
fn the_control_plane_does_not_depend_on_the_data_plane() {
    let crates = workspace_crates();
    let deps: BTreeMap<&str, &Vec<String>> =
        crates.iter().map(|(n, _, d)| (n.as_str(), d)).collect();
    // Everything the control plane links, transitively.
    let mut seen = BTreeSet::new();
    let mut next = vec!["convoy-control-plane"];
    while let Some(name) = next.pop() {
        for dep in deps[name].iter() {
            if seen.insert(dep.as_str()) {
                next.push(dep.as_str());
            }
        }
    }
    let data_plane: Vec<_> = seen.iter().filter(|d| DATA_PLANE.contains(d)).collect();
    assert!(
        data_plane.is_empty(),
        "the control plane links {data_plane:?}"
    );
}

#[test]
fn no_crate_has_a_module_cycle() {
    let mut cycles = Vec::new();
    for (name, dir, _) in workspace_crates() {
        let src = dir.join("src");
        if src.is_dir() {
            for cycle in module_cycles(&src) {
                cycles.push(format!("{name}: {}", cycle.join(" <-> ")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other: {cycles:#?}"
    );
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod x;\nmod y;\nuse crate::b::B;\n").unwrap();
    std::fs::write(src.join("a/x.rs"), "use super::y::Y;\n").unwrap();
    std::fs::write(
        src.join("a/y.rs"),
        "pub struct Y;\n// crate::a::x is only named here\n",
    )
    .unwrap();
    std::fs::write(src.join("b.rs"), "pub struct B;\n").unwrap();
    assert!(module_cycles(src).is_empty());
    std::fs::write(
        src.join("a/y.rs"),
        "pub struct Y;\nfn f() { crate::a::x::g(); }\n",
    )
    .unwrap();
    assert_eq!(module_cycles(src), vec![vec!["a::x", "a::y"]]);
    std::fs::write(src.join("b.rs"), "use crate::a::{x::X};\n").unwrap();
    let found = module_cycles(src);
    assert!(
        found.contains(&vec!["a".to_owned(), "b".to_owned()]),
        "{found:?}"
    );
}

/// A module: its path from the crate root (`[]` is the root) and its source file.
type ModPath = Vec<String>;

/// The sets of sibling modules that import each other, as `parent::child` paths, sorted.
fn module_cycles(src: &Path) -> Vec<Vec<String>> {
    let files = module_files(src);
    let modules: BTreeSet<ModPath> = files.keys().cloned().collect();
    // Edges between siblings: (parent, from child, to child).
    let mut edges: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, file) in &files {
        let text = without_tests_and_comments(&std::fs::read_to_string(file).unwrap());
        // A module with children of its own may name them without a prefix.
        let is_dir_module = modules
            .iter()
            .any(|m| m.len() == module.len() + 1 && m.starts_with(module));
        for reference in references(&text, module, is_dir_module) {
            let target = longest_module(&modules, &reference);
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common < module.len() && common < target.len() {
                edges
                    .entry(module[..common].to_vec())
                    .or_default()
                    .entry(module[common].clone())
                    .or_default()
                    .insert(target[common].clone());
            }
        }
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &edges {
        for component in strongly_connected(graph) {
            if component.len() > 1 {
                let mut names: Vec<String> = component
                    .iter()
                    .map(|child| {
                        let mut path = parent.clone();
                        path.push(child.clone());
                        path.join("::")
                    })
                    .collect();
                names.sort();
                cycles.push(names);
            }
        }
    }
    cycles.sort();
    cycles
}

/// Every module file under `src`, by module path. Test-only files (`tests.rs`, `testing.rs`,
/// anything under a `tests/` folder) are left out: tests may reach anywhere.
fn module_files(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut files = BTreeMap::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "tests" && name != "bin" {
                    stack.push(path);
                }
                continue;
            }
            if !name.ends_with(".rs") || name == "tests.rs" || name == "testing.rs" {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let mut module: ModPath = relative
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            if module.is_empty() && name == "main.rs" && src.join("lib.rs").exists() {
                continue; // the binary's root is another crate that uses the library
            }
            files.insert(module, path);
        }
    }
    files
}

/// `text` without comments and without `#[cfg(test)]` items (a test module's body).
fn without_tests_and_comments(text: &str) -> String {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal ("https://...") is rare in paths; good enough.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        // Skip the attribute's item: up to the end of its braces, or its `;`.
        let open = after.find('{');
        let semi = after.find(';');
        match (open, semi) {
            (Some(o), Some(s)) if s < o => rest = &after[s + 1..],
            (Some(o), _) => {
                let mut depth = 0usize;
                let mut end = after.len();
                for (j, c) in after[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            (None, Some(s)) => rest = &after[s + 1..],
            (None, None) => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// The module paths `text` (the code of `module`) refers to: `crate::`, `super::` and `self::`
/// paths anywhere, `use` trees with braces, and, in a folder module, its own children by name.
fn references(text: &str, module: &ModPath, is_dir_module: bool) -> Vec<ModPath> {
    // The module a `super::` or `self::` is relative to: a file module's `self` is itself.
    let mut found = Vec::new();
    for statement in use_statements(text) {
        for path in expand_use_tree(&statement) {
            if let Some(resolved) = resolve(&path, module, is_dir_module) {
                found.push(resolved);
            }
        }
    }
    // Inline paths: `crate::a::b`, `super::a`, `self::a` outside `use`.
    let bytes = text.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segments: Vec<String> = path
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(resolved) = resolve(&segments, module, is_dir_module) {
                found.push(resolved);
            }
        }
    }
    found
}

/// The bodies of `use ...;` statements (without `use` and `;`).
fn use_statements(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            rest = after;
            continue;
        }
        let end = after.find(';').unwrap_or(after.len());
        statements.push(after[..end].split_whitespace().collect::<String>());
        rest = &after[end..];
    }
    statements
}

/// `a::{b, c::{d, e}}` as `[a,b]`, `[a,c,d]`, `[a,c,e]` (an `as` rename is dropped).
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn split_top(list: &str) -> Vec<&str> {
        let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
        for (i, c) in list.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&list[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&list[start..]);
        parts.into_iter().filter(|p| !p.is_empty()).collect()
    }
    let tree = tree
        .trim_start_matches("pub(crate)")
        .trim_start_matches("pub");
    match tree.find('{') {
        None => {
            let path = tree.split("as").next().unwrap_or(tree);
            vec![path
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()]
        }
        Some(open) => {
            let prefix: Vec<String> = tree[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let close = tree.rfind('}').filter(|c| *c > open).unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            split_top(inner)
                .into_iter()
                .flat_map(expand_use_tree)
                .map(|tail| {
                    let mut path = prefix.clone();
                    path.extend(tail.into_iter().filter(|s| s != "self"));
                    path
                })
                .collect()
        }
    }
}

/// `path` as a module path from the crate root, or `None` for another crate's path.
fn resolve(path: &[String], module: &ModPath, is_dir_module: bool) -> Option<ModPath> {
    let first = path.first()?;
    let mut base: ModPath = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.clone(),
        "super" => {
            let mut base = module.clone();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        // In a folder module, a plain path may start at one of its own children.
        _ if is_dir_module => {
            let mut base = module.clone();
            base.extend(path.iter().cloned());
            return Some(base);
        }
        _ => return None,
    };
    base.extend(path[1..].iter().cloned());
    Some(base)
}

/// The longest prefix of `path` that is a module.
fn longest_module(modules: &BTreeSet<ModPath>, path: &ModPath) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_default()
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(next) = s.graph.get(v) {
            for w in next {
                if !s.index.contains_key(w.as_str()) {
                    visit(s, w);
                    let low = s.low[w.as_str()].min(s.low[v]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w.as_str()) {
                    let low = s.index[w.as_str()].min(s.low[v]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out
}
