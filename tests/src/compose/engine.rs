//! Finding a Docker engine and a compose command, and building the demo's images.

use super::command::{run, CommandError};
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;

/// Set to make a missing Docker engine or compose command a test failure instead of a skip.
pub(crate) const REQUIRE_ENV: &str = "CONVOY_REQUIRE_DOCKER";

/// Set to the compose command to use (`docker compose` or `docker-compose`); by default the
/// first of the two that answers `version`.
pub(crate) const COMPOSE_ENV: &str = "CONVOY_COMPOSE";

/// A Docker engine that answers, and the compose command to drive it with.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The compose command: `["docker", "compose"]` or `["docker-compose"]`.
    pub compose: Vec<String>,
}

impl Engine {
    /// The engine, or `None` after printing why the test is skipped: `docker` is not
    /// installed, the engine does not answer, or there is no compose command. With
    /// `CONVOY_REQUIRE_DOCKER` set each of these panics instead.
    pub async fn detect() -> Option<Engine> {
        match Self::find().await {
            Ok(engine) => Some(engine),
            Err(why) if std::env::var_os(REQUIRE_ENV).is_some() => {
                panic!("{why}, and {REQUIRE_ENV} is set")
            }
            Err(why) => {
                // Straight to stderr: the test harness captures `eprintln!` of passing tests,
                // and a skip must show in `cargo test`'s output.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: the compose walkthrough needs Docker: {why}. \
                     Set {REQUIRE_ENV}=1 to make this a failure."
                );
                None
            }
        }
    }

    async fn find() -> Result<Engine, String> {
        let limit = Duration::from_secs(30);
        let mut info = Command::new("docker");
        info.args(["info", "--format", "{{.ServerVersion}}"]);
        match run(info, limit, false).await {
            Ok(_) => {}
            Err(CommandError::Spawn(_)) => return Err("`docker` is not installed".into()),
            Err(e) => return Err(format!("the Docker engine does not answer: {e}")),
        }
        let candidates: Vec<Vec<String>> = match std::env::var(COMPOSE_ENV) {
            Ok(command) => vec![command.split_whitespace().map(String::from).collect()],
            Err(_) => vec![
                vec!["docker".into(), "compose".into()],
                vec!["docker-compose".into()],
            ],
        };
        for compose in candidates {
            let Some((program, args)) = compose.split_first() else {
                continue;
            };
            let mut version = Command::new(program);
            version.args(args).arg("version");
            if run(version, limit, false).await.is_ok() {
                return Ok(Engine { compose });
            }
        }
        Err(format!(
            "neither `docker compose` nor `docker-compose` works (or set {COMPOSE_ENV})"
        ))
    }

    /// A compose command for `project`, with `compose.yaml` of `dir`.
    pub(crate) fn compose(&self, dir: &Path, project: &str) -> Command {
        let (program, args) = self.compose.split_first().expect("a compose command");
        let mut command = Command::new(program);
        command
            .args(args)
            .arg("--project-name")
            .arg(project)
            .arg("--file")
            .arg(dir.join("compose.yaml"))
            .arg("--project-directory")
            .arg(dir);
        command
    }
}

/// Builds the demo's three images tagged `tag` with `examples/compose/build-images.sh`, from
/// the binaries in `bin_dir` (no cargo build); returns what the script printed (each image
/// and its size).
pub async fn build_images(bin_dir: &Path, tag: &str) -> Result<String, CommandError> {
    let mut script = Command::new("bash");
    script
        .arg(super::demo_dir().join("build-images.sh"))
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--tag")
        .arg(tag);
    let output = run(script, Duration::from_secs(300), false).await?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
