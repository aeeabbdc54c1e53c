//! The binary's command line: help text, env vars and exit codes.

use std::process::Command;

fn proxy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_convoy-proxy"))
}

#[test]
fn help_documents_every_flag_and_its_env_var() {
    let out = proxy().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, env) in [
        ("--config", "CONVOY_CONFIG"),
        ("--control-plane", "CONVOY_CONTROL_PLANE"),
        ("--service", "CONVOY_SERVICE"),
        ("--app", "CONVOY_APP"),
        ("--app-protocol", "CONVOY_APP_PROTOCOL"),
        ("--advertise-addr", "CONVOY_ADVERTISE_ADDR"),
        ("--log-format", "CONVOY_LOG_FORMAT"),
        ("--grace-period", "CONVOY_GRACE_PERIOD"),
        ("--outbound-addr", "CONVOY_OUTBOUND_ADDR"),
        ("--inbound-addr", "CONVOY_INBOUND_ADDR"),
        ("--admin-addr", "CONVOY_ADMIN_ADDR"),
        ("--bound-addrs-file", "CONVOY_BOUND_ADDRS_FILE"),
        ("--worker-threads", "CONVOY_WORKER_THREADS"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
        assert!(help.contains(env), "{env} missing from --help:\n{help}");
    }
}

#[test]
fn config_file_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "sidecar:\n  service: web\n  app: 127.0.0.1:1\n  colour: blue\n",
    )
    .unwrap();
    let out = proxy().env("CONVOY_CONFIG", &path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}:4:3: sidecar.colour: unknown field `colour`",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_bad_flag_value_is_refused() {
    let out = proxy()
        .args(["--config", "x.yaml", "--grace-period", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("expected a duration"), "{stderr}");
}

/// Runs the proxy with `args` and no `CONVOY_*` variables; its exit code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let mut command = proxy();
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CONVOY_") {
            command.env_remove(key);
        }
    }
    let out = command.args(args).output().unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

/// [`refused`] for a sidecar run by the control plane at `control_plane` as `service`, its app
/// at 127.0.0.1:8080, with `extra` arguments after those.
fn refused_sidecar(control_plane: &str, service: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "--control-plane",
        control_plane,
        "--service",
        service,
        "--app",
        "127.0.0.1:8080",
        "--control-plane-ca",
        "ca.pem",
        "--join-token-file",
        "join-token",
    ];
    args.extend_from_slice(extra);
    refused(&args)
}

#[test]
fn exactly_one_of_config_and_control_plane() {
    let (code, stderr) = refused(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--config") && stderr.contains("--control-plane"),
        "{stderr}"
    );
    let (code, stderr) = refused(&["--config", "x.yaml", "--control-plane", "127.0.0.1:4200"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let (code, stderr) = refused(&["--config", "x.yaml", "--service", "web"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn control_plane_mode_needs_a_valid_service_and_an_app() {
    // --app is not a clap requirement (a gateway has no app), so the start refuses it.
    let (code, stderr) = refused(&[
        "--control-plane",
        "127.0.0.1:4200",
        "--service",
        "web",
        "--control-plane-ca",
        "ca.pem",
        "--join-token-file",
        "join-token",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--app ADDR (a gateway, --gateway, has no app)"),
        "{stderr}"
    );
    let (code, stderr) = refused_sidecar("127.0.0.1:4200", "Web_1", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`Web_1` is not a valid service name"),
        "{stderr}"
    );
    let (code, stderr) = refused_sidecar("http://cp:4200", "web", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the control plane's API runs over TLS only; use https://"),
        "{stderr}"
    );
    let (code, stderr) = refused(&[
        "--control-plane",
        "https://127.0.0.1:4200",
        "--service",
        "web",
        "--app",
        "127.0.0.1:8080",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--control-plane-ca <FILE>") && stderr.contains("--join-token-file <FILE>"),
        "{stderr}"
    );
}

#[test]
fn an_inbound_listener_on_every_interface_needs_an_advertise_address() {
    // The default inbound listener is 0.0.0.0:4143: other sidecars cannot be told where it is.
    let (code, stderr) = refused_sidecar("127.0.0.1:4200", "web", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the inbound listener 0.0.0.0:4143 is on every interface")
            && stderr.contains("--advertise-addr HOST:PORT"),
        "{stderr}"
    );
    let (code, stderr) = refused_sidecar(
        "127.0.0.1:4200",
        "web",
        &["--advertise-addr", "0.0.0.0:4143"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("not reachable from other hosts"),
        "{stderr}"
    );
}
