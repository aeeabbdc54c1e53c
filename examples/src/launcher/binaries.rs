//! Building the demo's binaries with cargo and finding them next to this executable.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use convoy_harness::binary;

/// The programs the demo starts.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) proxy: PathBuf,
    pub(crate) control_plane: PathBuf,
    pub(crate) service: PathBuf,
}

/// Directory holding this executable, i.e. `target/<profile>` under `cargo run`.
pub(crate) fn own_dir() -> anyhow::Result<PathBuf> {
    convoy_harness::binary::bin_dir().context("finding this executable")
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
        binary::find_in(dir, name).map_err(|missing| {
            anyhow::anyhow!("{missing}; run `cargo build --workspace --bins` (or drop --no-build)")
        })
    };
    Ok(Binaries {
        proxy: find(binary::PROXY)?,
        control_plane: find(binary::CONTROL_PLANE)?,
        service: find("convoy-demo-service")?,
    })
}
