//! Smoke test of `convoy-bench compare --quick`: direct and one Convoy sidecar (the debug
//! `convoy-proxy` beside this test's `convoy-bench`), asserting on the results it writes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn quick_compare_of_direct_and_one_sidecar() {
    let bench = Path::new(env!("CARGO_BIN_EXE_convoy-bench"));
    let bin_dir = bench.parent().expect("the binary's directory");
    if !bin_dir.join("convoy-proxy").is_file() {
        // `cargo test --workspace` builds it; `cargo test -p convoy-bench` alone does not.
        eprintln!(
            "SKIPPED: no convoy-proxy in {}; run `cargo build -p convoy-proxy` (or cargo test --workspace)",
            bin_dir.display()
        );
        return;
    }
    let out = tempfile::tempdir().expect("a results directory");
    let output = Command::new(bench)
        .args([
            "compare",
            "--quick",
            "--only",
            "direct,convoy-1",
            "--bin-dir",
        ])
        .arg(bin_dir)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run convoy-bench compare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "compare failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| convoy-1 |"), "the table: {stdout}");

    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("results.json")).expect("results.json"),
    )
    .expect("valid JSON");
    assert_eq!(json["rounds"], 1);
    assert_eq!(json["rate"], 500.0);
    let topologies = json["topologies"].as_array().expect("topologies");
    let names: Vec<&str> = topologies
        .iter()
        .map(|t| t["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["direct", "convoy-1"]);
    for t in topologies {
        assert_eq!(t["requests"], 500, "{t}");
        assert_eq!(t["errors"]["total"], 0, "{t}");
        let l = &t["latency_us"];
        let (p50, p99) = (l["p50"].as_i64(), l["p99"].as_i64());
        assert!(p50.is_some_and(|p| p > 0) && p50 <= p99, "{t}");
    }
    let sidecar = &topologies[1];
    assert!(sidecar["added_us"]["p50"].is_i64(), "{sidecar}");
    assert!(sidecar["cpu_ms_per_1k"].is_f64(), "{sidecar}");
    assert_eq!(sidecar["memory"][0]["proxy"], "convoy-proxy A");
    assert!(
        sidecar["memory"][0]["idle_rss_kib"].as_u64() > Some(0),
        "{sidecar}"
    );
    assert!(sidecar["knee"].is_null(), "no knee sweep in --quick");
    let md = std::fs::read_to_string(out.path().join("results.md")).expect("results.md");
    assert!(md.contains("| direct |") && md.contains("commit"), "{md}");
    let svg = std::fs::read_to_string(out.path().join("latency.svg")).expect("latency.svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("convoy-1"),
        "{}",
        &svg[..svg.len().min(200)]
    );
}
