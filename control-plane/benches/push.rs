//! Push latency of the control plane: time from a YAML file write to each simulated sidecar's
//! ACK, for N watchers; and the control plane's memory with many services and sidecars.
//!
//! `cargo bench -p convoy-control-plane --bench push -- [--watchers 10,100,1000] [--rounds 20]
//!  [--services 1000 --sidecars 2000 --memory]`
//!
//! Each watcher is a real protocol client on its own HTTP/2 connection: it registers, reads
//! every snapshot and ACKs it. A real sidecar also validates the mesh on its own core; 1,000
//! of them in this one process would measure the bench, not the control plane, so that is
//! opt-in (`--decode`).

#![allow(missing_docs)]

use bytes::Bytes;
use convoy_protocol::{
    BodyLines, ControlMessage, Hello, SidecarMessage, MAX_CONTROL_PLANE_LINE, NDJSON, STREAM_PATH,
};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convoy_harness::{binary, tls, Child, ControlPlaneAddrs, Spawn};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    watchers: Vec<usize>,
    rounds: usize,
    services: usize,
    sidecars: usize,
    memory: bool,
    decode: bool,
}

fn args() -> Args {
    let mut a = Args {
        watchers: vec![10, 100, 1000],
        rounds: 20,
        services: 1000,
        sidecars: 2000,
        memory: false,
        decode: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--watchers" => {
                a.watchers = value
                    .split(',')
                    .map(|v| v.parse().expect("a number"))
                    .collect()
            }
            "--rounds" => a.rounds = value.parse().expect("a number"),
            "--services" => a.services = value.parse().expect("a number"),
            "--sidecars" => a.sidecars = value.parse().expect("a number"),
            "--decode" => {
                a.decode = true;
                i += 1;
                continue;
            }
            "--memory" => {
                a.memory = true;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// The API of a control plane under test: its address, TLS verified against its `ca.pem`, and
/// its mesh-wide join token.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    token: Arc<str>,
}

impl Target {
    fn new(addr: SocketAddr, ca_dir: &Path) -> Target {
        let roots = tls::roots(&ca_dir.join("ca.pem")).expect("the control plane's ca.pem");
        let config = tls::client_config(roots, &[b"h2", b"http/1.1"]);
        let token = std::fs::read_to_string(ca_dir.join("join-token")).expect("the join token");
        Target {
            addr,
            tls: tokio_rustls::TlsConnector::from(config),
            token: token.trim().into(),
        }
    }

    async fn connect(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, BoxError> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let name = rustls_pki_types::ServerName::IpAddress(self.addr.ip().into());
        Ok(self.tls.connect(name, stream).await?)
    }
}

struct ControlPlane {
    child: Child,
    addr: Target,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn mesh_yaml(services: usize, attempts: u32) -> String {
    let mut y = String::from("services:\n");
    for s in 0..services {
        y.push_str(&format!(
            "  svc-{s}:\n    retry: {{ attempts: {attempts} }}\n"
        ));
    }
    y
}

async fn start(services: usize) -> ControlPlane {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mesh");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("mesh.yaml"), mesh_yaml(services, 2)).unwrap();
    let mut child = Spawn::new(
        "convoy-control-plane",
        binary::require(binary::CONTROL_PLANE),
        std::env::temp_dir().join("convoy-push-bench-cp.log"),
    )
    .args(["serve", "--config-dir"])
    .arg(&config)
    .args(["--listen", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
    .bound_addrs_file(dir.path().join("addrs.json"))
    .arg("--ca-dir")
    .arg(dir.path().join("ca"))
    .env("RUST_LOG", "warn")
    .start()
    .expect("start the control plane");
    let addr = match child
        .wait_bound::<ControlPlaneAddrs>(Duration::from_secs(20))
        .await
    {
        Ok(addrs) => addrs.listen,
        Err(e) => panic!("the control plane did not start: {e}"),
    };
    ControlPlane {
        child,
        addr: Target::new(addr, &dir.path().join("ca")),
        _dir: dir,
        config,
    }
}

/// The highest version each watcher has acked, and when it received each version.
struct Watcher {
    acked: AtomicU64,
    received_at: std::sync::Mutex<Vec<(u64, Instant)>>,
}

/// The version of a snapshot line, read without parsing the (possibly large) mesh: the control
/// plane writes `{"type":"snapshot","version":N,...`.
fn snapshot_version(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(br#"{"type":"snapshot","version":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

async fn watch(
    cp: Target,
    index: usize,
    state: Arc<Watcher>,
    decode: bool,
) -> Result<(), BoxError> {
    let stream = cp.connect().await?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let (tx, body) = convoy_protocol::channel(16);
    let hello = SidecarMessage::Hello(Hello {
        id: format!("bench-{index}"),
        service: format!("bench-{}", index % 50),
        address: format!("127.0.0.1:{}", 10000 + index),
        proxy_version: "bench".into(),
        serving: false,
        gateway: false,
    });
    tx.send(hello.to_line()).await?;
    let request = http::Request::post(format!("https://{}{STREAM_PATH}", cp.addr))
        .header("content-type", NDJSON)
        .header("authorization", format!("Bearer {}", cp.token))
        .body(body)?;
    let response = sender.send_request(request).await?;
    // The protocol's heartbeat: a silent sidecar is disconnected after 15 s.
    let pinger = tx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            if pinger.send(SidecarMessage::Ping.to_line()).await.is_err() {
                return;
            }
        }
    });
    let mut lines = BodyLines::new(response.into_body(), MAX_CONTROL_PLANE_LINE);
    while let Some(line) = lines.next_line().await? {
        let now = Instant::now();
        let Some(version) = snapshot_version(&line) else {
            continue;
        };
        if decode {
            if let ControlMessage::Snapshot { mesh, .. } = ControlMessage::parse(&line)? {
                convoy_config::decode_wire_mesh(&mesh)?;
            }
        }
        state.received_at.lock().unwrap().push((version, now));
        tx.send(SidecarMessage::Ack { version }.to_line()).await?;
        state.acked.fetch_max(version, Ordering::AcqRel);
    }
    Ok(())
}

async fn status(cp: &Target) -> serde_json::Value {
    let stream = cp.connect().await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("/v1/status")
        .header("host", cp.addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

async fn connected(cp: &Target) -> usize {
    let status = status(cp).await;
    status["sidecars"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|x| x["connected"] == true).count())
}

async fn status_version(cp: &Target) -> u64 {
    status(cp).await["version"].as_u64().unwrap_or(0)
}

async fn settle(cp: &Target, watchers: &[Arc<Watcher>]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let version = status_version(cp).await;
        if watchers
            .iter()
            .all(|w| w.acked.load(Ordering::Acquire) >= version)
        {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if status_version(cp).await == version {
                return version;
            }
        }
        if Instant::now() > deadline {
            let behind = watchers
                .iter()
                .filter(|w| w.acked.load(Ordering::Acquire) < version)
                .count();
            panic!(
                "watchers did not settle: {behind} of {} behind version {version}",
                watchers.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn connect_all(cp: &Target, n: usize, decode: bool) -> Vec<Arc<Watcher>> {
    let mut watchers = Vec::with_capacity(n);
    for i in 0..n {
        let w = Arc::new(Watcher {
            acked: AtomicU64::new(0),
            received_at: Default::default(),
        });
        watchers.push(w.clone());
        let cp = cp.clone();
        tokio::spawn(async move {
            // Streams end when the control plane stops between runs; report only if asked.
            if let Err(e) = watch(cp, i, w, decode).await {
                if std::env::var_os("PUSH_BENCH_VERBOSE").is_some() {
                    eprintln!("watcher {i}: {e}");
                }
            }
        });
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    watchers
}

async fn latency(n: usize, rounds: usize, decode: bool) {
    let cp = start(10).await;
    let watchers = connect_all(&cp.addr, n, decode).await;
    settle(&cp.addr, &watchers).await;
    let mut samples: Vec<Duration> = Vec::with_capacity(n * rounds);
    for round in 0..rounds {
        let before = status_version(&cp.addr).await;
        let written = Instant::now();
        write_config(&cp.config, 10, 3 + (round % 2) as u32);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if watchers
                .iter()
                .all(|w| w.acked.load(Ordering::Acquire) > before)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: not every watcher acked"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for w in &watchers {
            let received = w.received_at.lock().unwrap();
            if let Some((_, at)) = received.iter().find(|(v, _)| *v > before) {
                samples.push(at.duration_since(written));
            }
        }
        settle(&cp.addr, &watchers).await;
    }
    samples.sort();
    let (rss, hwm) = rss_kib(cp.child.pid());
    println!(
        "{n:>5} watchers, {rounds} writes: write→ACK p50 {:>7.1} ms, p99 {:>7.1} ms, max {:>7.1} ms; control plane RSS {} KiB (peak {} KiB)",
        percentile(&samples, 50.0).as_secs_f64() * 1e3,
        percentile(&samples, 99.0).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        rss,
        hwm
    );
}

fn write_config(dir: &Path, services: usize, attempts: u32) {
    // Written whole then renamed, as editors and config tools do.
    let tmp = dir.join(".mesh.yaml.tmp");
    std::fs::write(&tmp, mesh_yaml(services, attempts)).unwrap();
    std::fs::rename(&tmp, dir.join("mesh.yaml")).unwrap();
}

async fn memory(services: usize, sidecars: usize) {
    let cp = start(services).await;
    let watchers = connect_all(&cp.addr, sidecars, false).await;
    // Let the fleet finish registering before judging who is behind.
    let deadline = Instant::now() + Duration::from_secs(120);
    while connected(&cp.addr).await < sidecars {
        assert!(Instant::now() < deadline, "not every sidecar registered");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    settle(&cp.addr, &watchers).await;
    let (rss, hwm) = rss_kib(cp.child.pid());
    println!("{services} services, {sidecars} sidecars connected: control plane RSS {rss} KiB (peak {hwm} KiB)");
    write_config(&cp.config, services, 3);
    settle(&cp.addr, &watchers).await;
    let (rss, hwm) = rss_kib(cp.child.pid());
    println!("  after one more push to all: RSS {rss} KiB (peak {hwm} KiB)");
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if args.memory {
            memory(args.services, args.sidecars).await;
        } else {
            for n in &args.watchers {
                latency(*n, args.rounds, args.decode).await;
            }
        }
    });
}
