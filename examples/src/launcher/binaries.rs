//! Building the demo's binaries with cargo and finding them next to this executable.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The programs the demo starts.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) proxy: PathBuf,
    pub(crate) control_plane: PathBuf,
    pub(crate) service: PathBuf,
}

/// Directory holding this executable, i.e. `target/<profile>` under `cargo run`.
pub(crate) fn own_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let dir = exe
        .parent()
        .context("this executable has no parent directory")?;
    Ok(dir.to_path_buf())
}

/// Runs `cargo build` for the proxy, the control plane and the demo binaries, in the profile this
/// executable was built with, so they land next to it.
pub(crate) async fn build(own_dir: &Path) -> anyhow::Result<()> {
    // `cargo run` sets CARGO to the cargo that built us; use the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut args = vec![
        "build",
        "-p",
        "convoy-proxy",
        "-p",
        "convoy-control-plane",
        "-p",
        "convoy-examples",
        "--bins",
    ];
    if own_dir.file_name().is_some_and(|name| name == "release") {
        args.push("--release");
    }
    let shown = format!("{} {}", cargo.to_string_lossy(), args.join(" "));
    println!("building: {shown}");
    let status = tokio::process::Command::new(&cargo)
        .args(&args)
        // Build this workspace whatever the current directory is.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .await
        .with_context(|| format!("running `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Finds `convoy-proxy`, `convoy-control-plane` and `convoy-demo-service` in `dir`.
pub(crate) fn locate(dir: &Path) -> anyhow::Result<Binaries> {
    let find = |name: &str| {
        let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if path.is_file() {
            Ok(path)
        } else {
            Err(anyhow::anyhow!(
                "{name} not found at {}; run `cargo build --workspace --bins` (or drop --no-build)",
                path.display()
            ))
        }
    };
    Ok(Binaries {
        proxy: find("convoy-proxy")?,
        control_plane: find("convoy-control-plane")?,
        service: find("convoy-demo-service")?,
    })
}
