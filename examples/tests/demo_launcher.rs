//! Runs the real `convoy-demo` launcher for a few seconds against the real
//! `convoy-proxy` and `convoy-control-plane` and checks what its live table reports.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Start-up (up to 30 s for readiness) plus ~12 s of traffic, with room to spare.
const TIMEOUT: Duration = Duration::from_secs(90);

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("convoy-demo-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// What one run of the demo printed.
struct Output {
    stdout: String,
    /// stdout, stderr and where the logs are, for assertion messages.
    report: String,
    dir: PathBuf,
}

/// Starts `convoy-demo --no-build --work-dir <dir> args...` without stdin (so without
/// interactive controls), its output in `demo.stdout` and `demo.stderr` in the work dir.
fn start_demo(name: &str, args: &[&str]) -> (Child, PathBuf) {
    let demo = Path::new(env!("CARGO_BIN_EXE_convoy-demo"));
    for program in ["convoy-proxy", "convoy-control-plane"] {
        let path = demo.with_file_name(format!("{program}{}", std::env::consts::EXE_SUFFIX));
        assert!(
            path.is_file(),
            "{} is missing: run `cargo build -p convoy-proxy -p convoy-control-plane` first \
             (this test uses --no-build)",
            path.display()
        );
    }
    let dir = work_dir(name);
    let child = Command::new(demo)
        .args(["--no-build", "--work-dir"])
        .arg(&dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("demo.stdout")).unwrap())
        .stderr(File::create(dir.join("demo.stderr")).unwrap())
        .spawn()
        .unwrap();
    (child, dir)
}

/// What the demo running in `dir` printed so far, and a report for assertion messages.
fn printed(dir: &Path) -> (String, String) {
    let stdout = fs::read_to_string(dir.join("demo.stdout")).unwrap_or_default();
    let stderr = fs::read_to_string(dir.join("demo.stderr")).unwrap_or_default();
    let report = format!(
        "stdout:\n{stdout}\nstderr:\n{stderr}\nlogs in {}",
        dir.display()
    );
    (stdout, report)
}

/// Waits (until `deadline`) for the demo to exit and checks that it succeeded.
fn finish(mut child: Child, dir: PathBuf, deadline: Instant) -> Output {
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, report) = printed(&dir);
    let status =
        status.unwrap_or_else(|| panic!("convoy-demo still running after {TIMEOUT:?}\n{report}"));
    assert!(status.success(), "convoy-demo failed ({status})\n{report}");
    Output {
        stdout,
        report,
        dir,
    }
}

/// Runs `convoy-demo --no-build --work-dir <dir> args...` to its end and checks that it
/// succeeds.
fn run_demo(name: &str, args: &[&str]) -> Output {
    let deadline = Instant::now() + TIMEOUT;
    let (child, dir) = start_demo(name, args);
    finish(child, dir, deadline)
}

/// A row of the live table:
/// `service req/s success p50ms p99ms retry/s ejected limit/s denied/s version`.
struct Row {
    rate: f64,
    /// `None` for `-` (no requests).
    success: Option<f64>,
    retries: Option<f64>,
    /// `(ejected, total)` from `1/2`.
    ejected: Option<(u32, u32)>,
    /// Requests per second its own sidecars refused by authorization.
    denied: Option<f64>,
    /// `None` for `-`, or for `6..7` (sidecars on different versions).
    version: Option<u64>,
}

/// Every row of `service` in `stdout`, in order (the final summary's last).
fn rows(stdout: &str, service: &str) -> Vec<Row> {
    stdout
        .lines()
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            if columns.len() != 10 || columns[0] != service {
                return None;
            }
            Some(Row {
                rate: columns[1].parse().ok()?,
                success: columns[2]
                    .strip_suffix('%')
                    .and_then(|p| p.parse::<f64>().ok()),
                retries: columns[5].parse().ok(),
                ejected: columns[6]
                    .split_once('/')
                    .and_then(|(e, t)| Some((e.parse().ok()?, t.parse().ok()?))),
                denied: columns[8].parse().ok(),
                version: columns[9].parse().ok(),
            })
        })
        .collect()
}

/// The final summary: what `convoy-demo` prints after its last live table.
fn summary(out: &Output) -> &str {
    let at = out
        .stdout
        .rfind("summary after ")
        .unwrap_or_else(|| panic!("no final summary\n{}", out.report));
    &out.stdout[at..]
}

/// How many requests of the denied stream (web calling payments) were refused with 403, of
/// how many sent, from the summary line `web → payments (...): sent N requests, M refused
/// with 403...`.
fn refused(summary: &str) -> Option<(u64, u64)> {
    let line = summary.lines().find(|l| l.starts_with("web → payments"))?;
    let rest = &line[line.find("sent ")? + "sent ".len()..];
    let (sent, rest) = rest.split_once(" requests, ")?;
    let (refused, _) = rest.split_once(" refused with 403")?;
    Some((sent.parse().ok()?, refused.parse().ok()?))
}

/// `(ok, sent)` from `20 of 20 ok`.
fn served(text: &str) -> Option<(u64, u64)> {
    let (ok, rest) = text.trim().split_once(" of ")?;
    let (sent, _) = rest.split_once(" ok")?;
    Some((ok.parse().ok()?, sent.parse().ok()?))
}

/// What went through the gateway, from the summary lines `gateway edge: /web 20 of 20 ok;
/// /mobile with a key 20 of 20 ok;` and `  /mobile without a key: sent N requests, M refused
/// with 401...`: `(web, keyed, keyless)`, each `(ok or refused, sent)`, and whether the
/// keyless line names nothing else.
type Through = ((u64, u64), (u64, u64), (u64, u64), bool);

fn through_gateway(summary: &str) -> Option<Through> {
    let line = summary.lines().find(|l| l.starts_with("gateway edge: "))?;
    let web = served(
        line.strip_prefix("gateway edge: /web ")?
            .split(';')
            .next()?,
    )?;
    let keyed = served(
        line.split_once("/mobile with a key ")?
            .1
            .split(';')
            .next()?,
    )?;
    let keyless = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("/mobile without a key: sent "))?;
    let (sent, rest) = keyless.split_once(" requests, ")?;
    let (refused, rest) = rest.split_once(" refused with 401")?;
    Some((
        web,
        keyed,
        (refused.parse().ok()?, sent.parse().ok()?),
        rest.is_empty(),
    ))
}

/// Every hop is mTLS and payments lets in only orders: web's calls straight to payments
/// are refused at payments' sidecars (`denied/s`), while the web → orders → payments traffic
/// goes on as before. The gateway edge, in front of web, serves /web/ and /mobile/ with a key
/// and refuses /mobile/ without one (401, its `denied/s`).
#[test]
fn demo_reports_traffic_for_every_service() {
    let out = run_demo("traffic", &["--duration", "4s"]);
    assert!(
        out.stdout.contains("gateway edge: http://127.")
            && out.stdout.contains("(x-api-key: demo-mobile-key)"),
        "the gateway's address is not printed\n{}",
        out.report
    );
    assert!(
        out.dir.join("edge.gateway.log").is_file(),
        "no gateway log\n{}",
        out.report
    );
    for service in [
        "edge",
        "web",
        "orders",
        "payments",
        "payments-1",
        "payments-2",
    ] {
        let rows = rows(&out.stdout, service);
        assert!(
            rows.iter().any(|r| r.rate > 0.0),
            "no row with a non-zero rate for {service}\n{}",
            out.report
        );
        assert!(
            rows.iter().all(|r| r.version.is_some_and(|v| v > 0)),
            "a row of {service} without the version its sidecar runs\n{}",
            out.report
        );
    }
    assert!(
        out.stdout.contains("mesh: version "),
        "no mesh version above the table\n{}",
        out.report
    );
    assert!(
        out.stdout
            .contains("convoy-control-plane status --url https://127."),
        "no hint on `convoy-control-plane status`\n{}",
        out.report
    );
    assert!(
        out.stdout.contains("--ca-file ") && out.dir.join("ca/ca.pem").is_file(),
        "no mesh CA in the work dir, or no --ca-file in the hint\n{}",
        out.report
    );

    let summary = summary(&out);
    let last = |service: &str| {
        rows(summary, service)
            .pop()
            .unwrap_or_else(|| panic!("no {service} row in the summary\n{}", out.report))
    };
    let payments = last("payments");
    assert!(
        payments.denied.is_some_and(|d| d > 0.0),
        "payments' sidecars refused nothing by authorization\n{}",
        out.report
    );
    // The allowed calls are not refused, and the retries still hide payments' flakiness.
    for service in ["web", "orders"] {
        let row = last(service);
        assert_eq!(row.denied, Some(0.0), "{service}\n{}", out.report);
        assert!(
            row.success.is_some_and(|s| s >= 90.0),
            "{service} success\n{}",
            out.report
        );
    }
    assert!(
        payments.success.is_some_and(|s| s >= 50.0),
        "payments success\n{}",
        out.report
    );
    let (sent, refused) = refused(summary)
        .unwrap_or_else(|| panic!("no summary line of the denied calls\n{}", out.report));
    assert!(
        refused > 0 && refused == sent,
        "web → payments: {refused} of {sent} refused\n{}",
        out.report
    );

    // The gateway: 2 + 2 + 1 req/s, of which the keyless 1 is refused with 401.
    let edge = last("edge");
    assert!(
        edge.denied.is_some_and(|d| d > 0.0),
        "the gateway refused nothing\n{}",
        out.report
    );
    assert!(
        edge.success.is_some_and(|s| (50.0..100.0).contains(&s)),
        "the gateway's success (2xx share) should be about 80%\n{}",
        out.report
    );
    let (web, keyed, keyless, only_401) = through_gateway(summary)
        .unwrap_or_else(|| panic!("no summary lines of the gateway\n{}", out.report));
    for (what, (ok, sent)) in [
        ("/web", web),
        ("/mobile with a key", keyed),
        ("/mobile without a key", keyless),
    ] {
        assert!(
            sent > 0 && ok == sent,
            "{what}: {ok} of {sent} as expected\n{}",
            out.report
        );
    }
    assert!(
        only_401,
        "a keyless request was answered otherwise\n{}",
        out.report
    );
    fs::remove_dir_all(&out.dir).unwrap();
}

/// payments is flaky, so orders' sidecar retries it; stopping both payments apps gets
/// both endpoints ejected (the circuit opens); starting them again closes it.
#[test]
fn scripted_outage_opens_the_circuit_and_a_restart_closes_it() {
    let out = run_demo(
        "outage",
        &[
            "--duration",
            "12s",
            "--rate",
            "40",
            "--base-ejection",
            "1s",
            "--script",
            // Ejections last 1s, then 2s: after the restart each endpoint gets a probe at
            // least every 2s, and one succeeding (80% each) closes the circuit.
            "3s:stop-payments,5s:start-payments",
        ],
    );
    let (stdout, report) = (&out.stdout, &out.report);
    assert!(stdout.contains(": killed the payments apps"), "{report}");
    assert!(stdout.contains(": started the payments apps"), "{report}");

    let payments = rows(stdout, "payments");
    assert!(
        payments.iter().any(|r| r.retries.is_some_and(|n| n > 0.0)),
        "orders' sidecar never retried payments\n{report}"
    );
    let open = payments
        .iter()
        .position(|r| r.ejected == Some((2, 2)))
        .unwrap_or_else(|| panic!("payments never had 2/2 endpoints ejected\n{report}"));
    assert!(
        payments[open + 1..]
            .iter()
            .any(|r| r.rate > 0.0 && r.ejected.is_some_and(|(e, _)| e < 2)),
        "the circuit did not close again after payments returned\n{report}"
    );
    fs::remove_dir_all(&out.dir).unwrap();
}

/// Polls what the demo in `dir` prints until `done` finds what it waits for in its stdout
/// (and returns it), failing at `deadline` or if the demo exits first.
fn wait_for<T>(
    child: &mut Child,
    dir: &Path,
    deadline: Instant,
    what: &str,
    mut done: impl FnMut(&str) -> Option<T>,
) -> T {
    loop {
        let (stdout, report) = printed(dir);
        if let Some(found) = done(&stdout) {
            return found;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("convoy-demo exited ({status}) before {what}\n{report}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: not seen in time\n{report}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Replaces `file` the way editors do (a new file renamed over it), so the control plane
/// never reads it half written.
fn save(file: &Path, text: &str) {
    let name = file.file_name().unwrap().to_string_lossy();
    let temporary = file.with_file_name(format!(".{name}.tmp")); // hidden: not read
    fs::write(&temporary, text).unwrap();
    fs::rename(&temporary, file).unwrap();
}

/// Editing the mesh YAML the control plane watches changes the running mesh within seconds:
/// a fault on payments shows as a new version in every row and as failures on payments; an
/// edit that does not validate is shown above the table, and the version stays.
#[test]
fn editing_the_mesh_yaml_changes_the_live_table() {
    let deadline = Instant::now() + TIMEOUT;
    let mesh = work_dir("edit-mesh");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/mesh");
    for file in ["web.yaml", "orders.yaml", "payments.yaml", "edge.yaml"] {
        fs::copy(shipped.join(file), mesh.join(file)).unwrap();
    }
    let mesh_dir = mesh.to_str().unwrap();
    let (mut child, dir) = start_demo(
        "edit",
        &[
            "--duration",
            "16s",
            "--rate",
            "40",
            // payments fails only when the mesh says so.
            "--failure-rate",
            "0",
            "--mesh-dir",
            mesh_dir,
        ],
    );

    // Every sidecar runs the first version, and payments answers.
    let first = wait_for(&mut child, &dir, deadline, "a table with versions", |out| {
        let payments = rows(out, "payments");
        let last = payments.last()?;
        (last.rate > 0.0 && rows(out, "payments-2").last()?.version.is_some())
            .then_some(last.version?)
    });
    let payments_yaml = mesh.join("payments.yaml");
    let text = fs::read_to_string(&payments_yaml).unwrap();
    let uncommented = text.replace(
        "    # fault: { abort: { status: 503, percent: 50 } }",
        "    fault: { abort: { status: 503, percent: 50 } }",
    );
    assert_ne!(text, uncommented, "payments.yaml has no fault to uncomment");
    let edited = Instant::now();
    save(&payments_yaml, &uncommented);

    // A new version, and payments fails: its success drops, orders' sidecar retries it or
    // ejects its endpoints.
    let second = wait_for(
        &mut child,
        &dir,
        deadline,
        "the fault taking effect",
        |out| {
            rows(out, "payments").iter().find_map(|r| {
                let version = r.version.filter(|v| *v > first)?;
                let failing = r.success.is_some_and(|s| s < 90.0)
                    || r.retries.is_some_and(|n| n > 0.0)
                    || r.ejected.is_some_and(|(e, _)| e > 0);
                failing.then_some(version)
            })
        },
    );
    let took = edited.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the fault showed {took:?} after the edit"
    );
    let (stdout, report) = printed(&dir);
    for instance in ["payments-1", "payments-2", "orders", "web"] {
        assert!(
            rows(&stdout, instance)
                .iter()
                .any(|r| r.version.is_some_and(|v| v >= second)),
            "{instance} never showed version {second}\n{report}"
        );
    }

    // An edit that does not validate: shown above the table, and nothing changes.
    let orders_yaml = mesh.join("orders.yaml");
    let text = fs::read_to_string(&orders_yaml).unwrap();
    let broken = text.replacen("attempts: 2", "attempts: 99", 1);
    assert_ne!(text, broken, "orders.yaml has no `attempts: 2`");
    save(&orders_yaml, &broken);
    let after_refusal = wait_for(&mut child, &dir, deadline, "the refused edit", |out| {
        let rest = &out[out.find("REFUSED")?..];
        (rest.contains("orders.yaml:") && rest.contains("services.orders.retry.attempts"))
            .then(|| rest.to_owned())
    });
    let refused_line = after_refusal.lines().next().unwrap_or("");
    assert!(
        refused_line.contains(&format!("version {second} stays")),
        "{refused_line}\n{report}"
    );

    let out = finish(child, dir, deadline);
    let at = out.stdout.find("REFUSED").unwrap();
    for row in rows(&out.stdout[at..], "payments") {
        assert_eq!(
            row.version,
            Some(second),
            "the version changed after a refused edit\n{}",
            out.report
        );
    }
    fs::remove_dir_all(&out.dir).unwrap();
    fs::remove_dir_all(&mesh).unwrap();
}
