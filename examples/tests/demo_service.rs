//! Starts the real `convoy-demo-service` binary and checks what clients see.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A running demo service, killed when dropped.
struct DemoService {
    child: Child,
    addr: SocketAddr,
}

impl DemoService {
    /// Starts the service on a free port (`--listen 127.0.0.1:0`) and reads the address
    /// it prints once it is listening.
    fn start(name: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_convoy-demo-service"))
            .args(["--name", name, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start convoy-demo-service");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("expected `... listening on ADDR`, got {line:?}"));
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for DemoService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type TestClient = Client<HttpConnector, Full<Bytes>>;

fn http1() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// HTTP/2 over cleartext with prior knowledge (no upgrade dance).
fn h2c() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

async fn send(client: &TestClient, request: Request<Full<Bytes>>) -> (StatusCode, Version, Value) {
    let response = client.request(request).await.expect("response");
    let (status, version) = (response.status(), response.version());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (status, version, json)
}

async fn get(client: &TestClient, url: &str) -> (StatusCode, Version, Value) {
    send(client, Request::get(url).body(Full::default()).unwrap()).await
}

/// An address nothing listens on: bind a free port, then let it go.
fn unused_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test]
async fn echoes_name_method_path_and_headers() {
    let service = DemoService::start("web", &[]);
    let request = Request::get(service.url("/orders/42?verbose=1"))
        .header("X-Custom", "hello")
        .header("x-convoy-attempt", "2")
        .body(Full::default())
        .unwrap();
    let (status, _, json) = send(&http1(), request).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["service"], "web");
    assert_eq!(json["method"], "GET");
    assert_eq!(json["path"], "/orders/42");
    assert_eq!(json["headers"]["x-custom"], "hello");
    assert_eq!(json["headers"]["host"], service.addr.to_string());
    assert_eq!(json["attempt"], "2");
    assert_eq!(json["calls"], serde_json::json!([]));
    assert_eq!(json["body_bytes"], 0);

    let (_, _, json) = get(&http1(), &service.url("/")).await;
    assert_eq!(json["attempt"], Value::Null);
}

#[tokio::test]
async fn counts_request_body_bytes() {
    let service = DemoService::start("web", &[]);
    let body = Bytes::from(vec![b'x'; 100_000]);
    let request = Request::post(service.url("/upload"))
        .body(Full::new(body))
        .unwrap();
    let (status, _, json) = send(&http1(), request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["method"], "POST");
    assert_eq!(json["body_bytes"], 100_000);
}

#[tokio::test]
async fn failure_rate_one_always_fails_but_healthz_does_not() {
    let service = DemoService::start("payments", &["--failure-rate", "1"]);
    for _ in 0..5 {
        let (status, _, json) = get(&http1(), &service.url("/pay")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["service"], "payments");
    }
    let (status, _, body) = get(&http1(), &service.url("/healthz")).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, Value::String("ok\n".into()))
    );
}

/// `/whoami` answers with the identity the sidecar in front put in `x-convoy-client-id`, at
/// once (no latency, no downstream calls, no failures).
#[tokio::test]
async fn whoami_answers_the_client_id_header() {
    let outbound = unused_addr().to_string();
    let service = DemoService::start(
        "orders",
        &[
            "--failure-rate",
            "1",
            "--latency",
            "1s",
            "--call",
            "payments",
            "--outbound",
            &outbound,
        ],
    );
    let started = Instant::now();
    let request = Request::get(service.url("/whoami"))
        .header("x-convoy-client-id", "spiffe://demo.convoy/service/web")
        .body(Full::default())
        .unwrap();
    let (status, _, body) = send(&http1(), request).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            Value::String("spiffe://demo.convoy/service/web\n".into())
        )
    );
    let (status, _, body) = get(&http1(), &service.url("/whoami")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        Value::String("unknown caller: the request carried no x-convoy-client-id\n".into())
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn latency_applies_to_requests_not_healthz() {
    let service = DemoService::start("slow", &["--latency", "1s"]);
    let started = Instant::now();
    get(&http1(), &service.url("/healthz")).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let started = Instant::now();
    get(&http1(), &service.url("/")).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn serves_http2_with_prior_knowledge() {
    let service = DemoService::start("web", &[]);
    let (status, version, json) = get(&h2c(), &service.url("/h2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(json["path"], "/h2");
}

#[tokio::test]
async fn calls_downstream_with_host_and_traceparent() {
    // A second demo service stands in for the sidecar: it echoes what it received.
    let sidecar = DemoService::start("sidecar", &[]);
    let outbound = sidecar.addr.to_string();
    let web = DemoService::start(
        "web",
        &[
            "--outbound",
            &outbound,
            "--call",
            "orders",
            "--call",
            "payments",
        ],
    );
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = Request::get(web.url("/checkout"))
        .header("traceparent", traceparent)
        .body(Full::default())
        .unwrap();
    let (status, _, json) = send(&http1(), request).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let calls = json["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    for (call, service) in calls.iter().zip(["orders", "payments"]) {
        assert_eq!(call["service"], service);
        assert_eq!(call["status"], 200);
        assert_eq!(call["body"]["path"], "/checkout");
        assert_eq!(call["body"]["headers"]["host"], service);
        assert_eq!(call["body"]["headers"]["traceparent"], traceparent);
    }
}

#[tokio::test]
async fn unreachable_outbound_gives_502() {
    let outbound = unused_addr().to_string();
    let service = DemoService::start("web", &["--call", "orders", "--outbound", &outbound]);
    let (status, _, json) = get(&http1(), &service.url("/")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
    assert_eq!(json["calls"][0]["service"], "orders");
    assert_eq!(json["calls"][0]["status"], Value::Null);
    assert!(json["calls"][0]["error"]
        .as_str()
        .unwrap()
        .contains("orders"));
}

/// A stand-in sidecar that answers every request with `status`, on a free port.
fn answering(status: u16) -> SocketAddr {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            // One small GET per connection: read its head, answer, close.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Whatever\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    addr
}

#[tokio::test]
async fn a_downstream_429_is_passed_on_and_a_5xx_is_a_502() {
    let limited = answering(429).to_string();
    let web = DemoService::start("web", &["--outbound", &limited, "--call", "orders"]);
    let (status, _, json) = get(&http1(), &web.url("/")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert_eq!(json["calls"][0]["status"], 429);

    let failing = answering(503).to_string();
    let web = DemoService::start("web", &["--outbound", &failing, "--call", "orders"]);
    let (status, _, _) = get(&http1(), &web.url("/")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

#[test]
fn rejects_out_of_range_failure_rate() {
    let output = Command::new(env!("CARGO_BIN_EXE_convoy-demo-service"))
        .args(["--name", "web", "--failure-rate", "1.5"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must be within 0..=1, got 1.5"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn exits_cleanly_on_sigterm() {
    let mut service = DemoService::start("web", &[]);
    let pid = service.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = service.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 10s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
