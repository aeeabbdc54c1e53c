//! Smoke tests of `convoy-bench load`: the real binary against a tiny hyper server on
//! loopback, asserting on what a user sees in the `--json` report.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;

/// Serves `ok` over HTTP/1.1 and h2c on 127.0.0.1:0, counting requests and body bytes;
/// runs on its own runtime thread for the rest of the test.
fn server() -> (SocketAddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    let requests = Arc::new(AtomicU64::new(0));
    let body_bytes = Arc::new(AtomicU64::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("bound address");
    let (count, bytes) = (requests.clone(), body_bytes.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                let (count, bytes) = (count.clone(), bytes.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let (count, bytes) = (count.clone(), bytes.clone());
                        async move {
                            let body = request.into_body().collect().await;
                            let len = body.map(|b| b.to_bytes().len()).unwrap_or(0);
                            bytes.fetch_add(len as u64, Ordering::Relaxed);
                            count.fetch_add(1, Ordering::Relaxed);
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (addr, requests, body_bytes)
}

/// Runs `convoy-bench load URL ARGS --json`; returns the parsed report (the run must exit 0).
fn load(url: &str, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_convoy-bench"))
        .arg("load")
        .arg(url)
        .args(args)
        .arg("--json")
        .output()
        .expect("convoy-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_percentiles_ordered(report: &Value) {
    let latency = &report["latency_us"];
    let at = |name: &str| {
        latency[name]
            .as_u64()
            .unwrap_or_else(|| panic!("latency_us.{name} present: {report}"))
    };
    let (p50, p90, p99, p99_9, max) = (at("p50"), at("p90"), at("p99"), at("p99_9"), at("max"));
    assert!(
        p50 <= p90 && p90 <= p99 && p99 <= p99_9 && p99_9 <= max,
        "ordered: {latency}"
    );
}

#[test]
fn constant_rate_over_http1() {
    let (addr, requests, _) = server();
    let report = load(
        &format!("http://{addr}/hello"),
        &["--rate", "200", "--duration", "2s", "--connections", "4"],
    );
    assert_eq!(report["requests"], 400, "{report}");
    assert_eq!(report["responses"], 400, "{report}");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    assert_eq!(report["protocol"], "http1");
    assert_eq!(
        requests.load(Ordering::Relaxed),
        400,
        "the server saw each request"
    );
    assert_percentiles_ordered(&report);
    let rate = report["achieved_rate"].as_f64().expect("achieved_rate");
    assert!(
        (150.0..=230.0).contains(&rate),
        "achieved {rate} req/s: {report}"
    );
}

#[test]
fn posts_over_http2() {
    let (addr, requests, body_bytes) = server();
    let report = load(
        &format!("http://{addr}/upload"),
        &[
            "--rate",
            "100",
            "--duration",
            "1s",
            "--connections",
            "2",
            "--http2",
            "--body-size",
            "1KiB",
        ],
    );
    assert_eq!(report["responses"], 100, "{report}");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    assert_eq!(report["protocol"], "http2");
    assert_eq!(report["body_bytes"], 1024);
    assert_eq!(requests.load(Ordering::Relaxed), 100);
    assert_eq!(body_bytes.load(Ordering::Relaxed), 100 * 1024);
    assert_percentiles_ordered(&report);
}

#[test]
fn closed_port_counts_connect_errors() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.local_addr().expect("bound address").port()
    };
    let report = load(
        &format!("http://127.0.0.1:{port}/"),
        &["--rate", "50", "--duration", "1s", "--connections", "2"],
    );
    assert_eq!(report["requests"], 50, "{report}");
    assert_eq!(report["responses"], 0, "{report}");
    assert_eq!(report["errors"]["connect"], 50, "{report}");
    assert_eq!(report["errors"]["total"], 50, "{report}");
    assert!(report["latency_us"]["p50"].is_null(), "{report}");
}

#[test]
fn bad_flags_are_refused_clearly() {
    let output = Command::new(env!("CARGO_BIN_EXE_convoy-bench"))
        .args([
            "load",
            "http://127.0.0.1:1/",
            "--rate",
            "200",
            "--duration",
            "10",
        ])
        .output()
        .expect("convoy-bench runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--duration"), "{stderr}");
}
