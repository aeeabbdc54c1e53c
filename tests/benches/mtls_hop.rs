//! What mutual TLS costs between two sidecars, measured in one run on loopback:
//!
//! - **latency**: client → sidecar A (outbound) → sidecar B (inbound) → app, once with sidecars
//!   configured from files (no identity: the hop is plaintext HTTP/2) and once with sidecars
//!   that took their identities from a control plane (the hop is mTLS, TLS 1.3, HTTP/2); and the
//!   app called directly, for reference. Open-loop constant rate: each request's latency runs
//!   from its *scheduled* send time, so a stall cannot hide. The topologies take turns over
//!   several rounds, so drift on the machine affects them alike.
//! - **handshakes**: new mTLS connections per second sidecar B's inbound listener completes
//!   (each: TCP, a TLS 1.3 handshake with a client certificate, one small HTTP/1.1 request).
//!
//! ```text
//! cargo build --release -p convoy-proxy -p convoy-control-plane
//! cargo bench -p convoy-tests --bench mtls_hop -- [--rate 1000] [--seconds 5] [--rounds 3] \
//!     [--connections 16]
//! ```
//!
//! The sidecars run with their default single worker thread; the load generator, the app and
//! the test control plane share this process. On 2 cores the figures are for comparing the
//! topologies within one run, not absolute capacity.

#![allow(missing_docs)]

mod common;

#[allow(unreachable_pub)]
#[path = "../tests/fake_control_plane/mod.rs"]
mod fake_control_plane;

use common::{open_loop, percentile, Args};
use convoy_harness::pki::{spiffe_id, Leaf};
use convoy_harness::ports::closed_port;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{proxy_to_meshed, ConfigYaml, HttpClient, Proto, Proxy};
use fake_control_plane::mtls_client::MtlsClient;
use fake_control_plane::FakeControlPlane;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where requests go, and what to call it in the table.
struct Topology {
    name: &'static str,
    client: HttpClient,
    host: &'static str,
    latencies_us: Vec<u64>,
    errors: u64,
}

/// New mTLS connections per second `target`'s inbound listener completes, with `connections`
/// clients connecting again and again for `seconds`.
async fn handshakes_per_second(client: &MtlsClient, connections: usize, seconds: u64) -> f64 {
    let duration = Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut done = 0_u64;
                while started.elapsed() < duration {
                    if client.get("orders", "/").await.is_ok() {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.expect("a worker");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse(Args {
        rate: 1000,
        seconds: 5,
        rounds: 3,
        connections: 16,
    });
    let app = EchoServer::start("orders").await;

    // Plaintext: sidecars from files have no identity.
    let plain_b = Proxy::start(&ConfigYaml::new("orders").app(app.addr()).render()).await;
    let plain_a = proxy_to_meshed("orders", &[plain_b.inbound()])
        .start()
        .await;

    // mTLS: sidecars with identities from a control plane (certificates for 24 h).
    let cp = FakeControlPlane::start().await;
    cp.push(1, json!({}));
    let mtls_b = cp.sidecar("orders", app.addr()).start().await;
    cp.push(
        2,
        json!({ "orders": { "endpoints": [mtls_b.inbound().to_string()] } }),
    );
    let mtls_a = cp.sidecar("web", closed_port()).start().await;
    cp.wait_ack(2).await;

    let mut topologies = [
        topology("direct (client → app)", app.addr(), "orders"),
        topology("plaintext hop (A → B)", plain_a.outbound(), "orders"),
        topology("mTLS hop (A → B)", mtls_a.outbound(), "orders"),
    ];
    // Warm every path (pools, first handshakes) before measuring.
    for t in &topologies {
        let _ = open_loop(&t.client, t.host, "/bench", &[], args.rate, 1).await;
    }
    for round in 1..=args.rounds {
        for t in &mut topologies {
            let (latencies, errors) =
                open_loop(&t.client, t.host, "/bench", &[], args.rate, args.seconds).await;
            eprintln!(
                "round {round}/{}: {:<24} {} ok, {errors} failed",
                args.rounds,
                t.name,
                latencies.len()
            );
            t.latencies_us.extend(latencies);
            t.errors += errors;
        }
    }

    println!(
        "\n{} req/s open loop, HTTP/1.1 client, {} rounds × {} s per topology, small echo responses\n",
        args.rate, args.rounds, args.seconds
    );
    println!(
        "| topology | requests | failed | p50 µs | p90 µs | p99 µs | p99.9 µs |\n|---|---|---|---|---|---|---|"
    );
    let mut summary = Vec::new();
    for t in &mut topologies {
        t.latencies_us.sort_unstable();
        let ps: Vec<f64> = [50.0, 90.0, 99.0, 99.9]
            .iter()
            .map(|p| percentile(&t.latencies_us, *p))
            .collect();
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            t.name,
            t.latencies_us.len(),
            t.errors,
            ps[0],
            ps[1],
            ps[2],
            ps[3]
        );
        summary.push(ps);
    }
    println!(
        "\nadded by mTLS over the plaintext hop: p50 {:+.0} µs, p99 {:+.0} µs, p99.9 {:+.0} µs",
        summary[2][0] - summary[1][0],
        summary[2][2] - summary[1][2],
        summary[2][3] - summary[1][3]
    );

    let caller = cp.pki().ca.issue(&Leaf::for_service("web"));
    let client = MtlsClient::new(
        mtls_b.inbound(),
        Proto::Http1,
        &caller,
        cp.pki().ca.pem(),
        &spiffe_id("orders"),
    );
    let rate = handshakes_per_second(&client, args.connections, args.seconds).await;
    println!(
        "inbound listener: {rate:.0} new mTLS connections/s ({} concurrent clients, {} s)",
        args.connections, args.seconds
    );
}

fn topology(name: &'static str, addr: SocketAddr, host: &'static str) -> Topology {
    Topology {
        name,
        client: HttpClient::new(Proto::Http1, addr),
        host,
        latencies_us: Vec::new(),
        errors: 0,
    }
}
