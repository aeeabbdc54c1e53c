//! The mesh YAML the control plane watches: where it is, the copy made when flags override
//! part of it, and the policies in force that the live view's messages quote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use convoy_config::{Mesh as MeshConfig, OutlierDetection, RateLimitRule};

/// The demo's mesh in this source tree: `examples/demo/mesh`.
pub(crate) fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("demo")
        .join("mesh")
}

/// The file of the demo's mesh that defines `service`'s policies.
pub(crate) fn file_of(service: &str) -> String {
    format!("{service}.yaml")
}

/// What the flags change in the mesh's YAML.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Overrides {
    /// payments' `circuit_breaker.base_ejection` (`max_ejection` becomes twice it).
    pub(crate) base_ejection: Option<Duration>,
    /// orders' `rate_limit.requests_per_second` (`burst` becomes half of it).
    pub(crate) rate_limit: Option<u32>,
}

impl Overrides {
    fn any(&self) -> bool {
        self.base_ejection.is_some() || self.rate_limit.is_some()
    }
}

/// The directory of mesh YAML the control plane watches.
#[derive(Debug, Clone)]
pub(crate) struct MeshDir {
    /// Where the files are (an absolute path).
    pub(crate) path: PathBuf,
    /// The directory `path` is a copy of, when flags override part of the mesh.
    pub(crate) copied_from: Option<PathBuf>,
}

impl MeshDir {
    /// The directory to watch: `source` itself, so that edits to it take effect, or (with
    /// overrides) a copy of its YAML files in `work_dir/mesh` with the overrides written in.
    /// Either way it must validate.
    pub(crate) fn prepare(
        source: &Path,
        work_dir: &Path,
        overrides: Overrides,
    ) -> anyhow::Result<MeshDir> {
        let source = source.canonicalize().with_context(|| {
            format!(
                "the mesh directory {} is not there (give one with --mesh-dir)",
                source.display()
            )
        })?;
        if !overrides.any() {
            check(&source)?;
            return Ok(MeshDir {
                path: source,
                copied_from: None,
            });
        }
        let files = convoy_config::mesh_files(&source).map_err(|e| anyhow::anyhow!("{e}"))?;
        // Read everything first: the source may be an earlier copy, replaced below.
        let mut texts = Vec::with_capacity(files.len());
        for file in &files {
            let name = file.file_name().context("a mesh file has a name")?;
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            texts.push((name.to_owned(), text));
        }
        let copy = work_dir.join("mesh");
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("removing the old copy {}", copy.display()))?;
        }
        std::fs::create_dir_all(&copy).with_context(|| format!("creating {}", copy.display()))?;
        for (name, mut text) in texts {
            let name = name.to_string_lossy().into_owned();
            if let Some(base) = overrides.base_ejection {
                if name == file_of("payments") {
                    let base = base.max(Duration::from_millis(1));
                    text = patch(&text, &name, "base_ejection", &yaml_duration(base))?;
                    text = patch(
                        &text,
                        &name,
                        "max_ejection",
                        &yaml_duration(base.saturating_mul(2)),
                    )?;
                }
            }
            if let Some(rate) = overrides.rate_limit {
                if name == file_of("orders") {
                    text = patch(&text, &name, "requests_per_second", &rate.to_string())?;
                    text = patch(&text, &name, "burst", &(rate / 2).max(1).to_string())?;
                }
            }
            let path = copy.join(&name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        for (flag, set, file) in [
            (
                "--base-ejection",
                overrides.base_ejection.is_some(),
                "payments",
            ),
            ("--rate-limit", overrides.rate_limit.is_some(), "orders"),
        ] {
            let file = file_of(file);
            if set && !copy.join(&file).is_file() {
                bail!(
                    "{flag} changes {file}, which is not in {}",
                    source.display()
                );
            }
        }
        check(&copy)?;
        Ok(MeshDir {
            path: copy,
            copied_from: Some(source),
        })
    }

    /// The mesh as its files are now; `None` while they do not validate (the control plane
    /// keeps the last good version then).
    pub(crate) fn load(&self) -> Option<MeshConfig> {
        convoy_config::load_mesh_dir(&self.path)
            .ok()
            .map(|source| source.mesh)
    }

    /// `error` (from the control plane, about one of these files) with file names relative to
    /// this directory, so that it fits on a line.
    pub(crate) fn shorten(&self, error: &str) -> String {
        let mut prefix = self.path.to_string_lossy().into_owned();
        prefix.push(std::path::MAIN_SEPARATOR);
        error.replace(&prefix, "")
    }
}

/// Fails unless `dir` holds a mesh that validates.
fn check(dir: &Path) -> anyhow::Result<()> {
    match convoy_config::load_mesh_dir(dir) {
        Ok(_) => Ok(()),
        Err(e) => bail!("the mesh in {} does not validate: {e}", dir.display()),
    }
}

/// The first rate limit of `service` in `mesh`.
pub(crate) fn rate_limit<'a>(mesh: &'a MeshConfig, service: &str) -> Option<&'a RateLimitRule> {
    mesh.services.get(service)?.rate_limits.first()
}

/// The outlier detection its callers apply to `service` in `mesh`.
pub(crate) fn outlier<'a>(mesh: &'a MeshConfig, service: &str) -> Option<&'a OutlierDetection> {
    mesh.services.get(service)?.circuit_breaker.outlier.as_ref()
}

/// Replaces the value of the first `key:` line (not commented out) of `text`, keeping its
/// indentation and its trailing comment.
fn patch(text: &str, file: &str, key: &str, value: &str) -> anyhow::Result<String> {
    let mut done = false;
    let mut out = String::with_capacity(text.len() + value.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let rest = body.strip_prefix(key).and_then(|r| r.strip_prefix(':'));
        match rest {
            Some(rest) if !done => {
                done = true;
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                let rest = rest.trim_end_matches(['\n', '\r']);
                // The old value runs up to a comment (` #`), if any.
                let comment = rest.find(" #").map_or("", |at| &rest[at..]);
                let old_width = rest.len() - comment.len();
                let new = format!(" {value}");
                // Keep a lined-up comment where it was when the value fits.
                let pad = " ".repeat(old_width.saturating_sub(new.len()));
                let pad = if comment.is_empty() { "" } else { &pad };
                out.push_str(&format!("{indent}{key}:{new}{pad}{comment}{newline}"));
            }
            _ => out.push_str(line),
        }
    }
    if !done {
        bail!("found no `{key}:` line in {file} to override");
    }
    Ok(out)
}

/// A duration as the mesh YAML reads it: whole milliseconds or seconds.
fn yaml_duration(duration: Duration) -> String {
    let millis = duration.as_millis().max(1);
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::{
        Authorization, AuthorizationRule, MtlsMode, PathMatch, Principal, ServiceName,
    };

    #[test]
    fn the_demo_mesh_validates_and_has_the_demo_policies() {
        let dir = MeshDir::prepare(
            &default_dir(),
            Path::new("/nonexistent"),
            Overrides::default(),
        )
        .unwrap();
        assert!(dir.copied_from.is_none());
        let mesh = dir.load().unwrap();
        let names: Vec<&str> = mesh.services.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["orders", "payments", "web"]);
        let limit = rate_limit(&mesh, "orders").unwrap();
        assert_eq!((limit.requests_per_second, limit.burst), (80, 40));
        let od = outlier(&mesh, "payments").unwrap();
        assert_eq!(od.consecutive_failures, 5);
        assert_eq!(od.base_ejection, Duration::from_secs(5));
        assert_eq!(od.max_ejection, Duration::from_secs(10));
        assert_eq!(
            mesh.services["payments"].retry.as_ref().unwrap().attempts,
            3
        );
        assert_eq!(mesh.services["orders"].retry.as_ref().unwrap().attempts, 2);
        assert!(mesh.services["payments"].fault.is_none(), "commented out");
        assert!(mesh.services.values().all(|s| s.endpoints.is_empty()));
        // Only orders may call payments: web's calls to it are the demo's denied ones.
        let orders = ServiceName::new("orders").unwrap();
        assert_eq!(
            mesh.services["payments"].authorization,
            Some(Authorization {
                allow: vec![AuthorizationRule {
                    from: vec![Principal::Service(orders)],
                    path: PathMatch::Any,
                    methods: vec![],
                }]
            })
        );
        assert!(mesh.services["orders"].authorization.is_none());
        // The load generator calls web without a certificate.
        assert_eq!(mesh.services["web"].mtls, MtlsMode::Permissive);
        assert_eq!(mesh.services["payments"].mtls, MtlsMode::Strict);
    }

    #[test]
    fn overrides_go_into_a_copy() {
        let work = tempfile::tempdir().unwrap();
        let overrides = Overrides {
            base_ejection: Some(Duration::from_millis(1500)),
            rate_limit: Some(21),
        };
        let dir = MeshDir::prepare(&default_dir(), work.path(), overrides).unwrap();
        assert_eq!(dir.path, work.path().join("mesh"));
        assert_eq!(
            dir.copied_from.as_deref(),
            Some(default_dir().canonicalize().unwrap().as_path())
        );
        let mesh = dir.load().unwrap();
        let limit = rate_limit(&mesh, "orders").unwrap();
        assert_eq!((limit.requests_per_second, limit.burst), (21, 10));
        let od = outlier(&mesh, "payments").unwrap();
        assert_eq!(od.base_ejection, Duration::from_millis(1500));
        assert_eq!(od.max_ejection, Duration::from_secs(3));
        // The comments stay, for whoever edits the copy.
        let text = std::fs::read_to_string(dir.path.join("payments.yaml")).unwrap();
        assert!(text.contains("# fault: { abort"), "{text}");
        // Copying the copy (another run with the same work dir) works too.
        let again = MeshDir::prepare(&dir.path, work.path(), overrides).unwrap();
        assert!(again.load().is_some());
    }

    #[test]
    fn a_mesh_that_does_not_validate_is_refused() {
        let mesh = tempfile::tempdir().unwrap();
        std::fs::write(
            mesh.path().join("orders.yaml"),
            "services:\n  orders:\n    retry: { attempts: 99 }\n",
        )
        .unwrap();
        let error = MeshDir::prepare(mesh.path(), mesh.path(), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not validate"), "{error}");
        assert!(error.contains("orders.yaml:3"), "{error}");
        let error = MeshDir::prepare(&mesh.path().join("gone"), mesh.path(), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("--mesh-dir"), "{error}");
    }

    #[test]
    fn patching_keeps_indentation_and_comments() {
        let text = "a:\n  # burst: 1\n  burst: 40        # at once\n  burst: 7\nrest: 1";
        assert_eq!(
            patch(text, "f", "burst", "5").unwrap(),
            "a:\n  # burst: 1\n  burst: 5         # at once\n  burst: 7\nrest: 1"
        );
        assert_eq!(patch("x: 1", "f", "x", "22").unwrap(), "x: 22");
        assert!(patch("xy: 1", "f", "x", "2").is_err());
        let error = patch("", "orders.yaml", "burst", "2").unwrap_err();
        assert!(error.to_string().contains("orders.yaml"), "{error}");
    }

    #[test]
    fn errors_are_shortened_to_file_names() {
        let dir = MeshDir {
            path: PathBuf::from("/x/mesh"),
            copied_from: None,
        };
        assert_eq!(
            dir.shorten("/x/mesh/payments.yaml:3:5: services.payments: no"),
            "payments.yaml:3:5: services.payments: no"
        );
    }

    #[test]
    fn durations_in_config_units() {
        assert_eq!(yaml_duration(Duration::from_secs(5)), "5s");
        assert_eq!(yaml_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(yaml_duration(Duration::ZERO), "1ms");
    }
}
