//! What JWT verification costs at the gateway, measured in one run on loopback: the same
//! gateway, the same upstream, three routes that differ only in authentication — none, an
//! HS256 token, an ES256 token (a fresh signature check per request: the gateway caches no
//! verification) — each driven
//!
//! - **closed loop** (`--connections` clients sending back to back) for its throughput, and
//! - **open loop** at `--rate` requests/s for its latency (from each request's scheduled time),
//!
//! taking turns over `--rounds` rounds.
//!
//! ```text
//! cargo build --release -p convoy-proxy
//! cargo bench -p convoy-tests --bench gateway_jwt -- [--rate 1000] [--seconds 5] [--rounds 3] \
//!     [--connections 32]
//! ```
//!
//! The gateway runs with its default single worker thread; the clients and the upstream share
//! this process, on 2 cores.

#![allow(missing_docs)]

mod common;

use base64::Engine as _;
use common::{open_loop, percentile, Args};
use convoy_harness::ports::free_port;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{HttpClient, Proto, Proxy};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "bench";
const HMAC_SECRET: &[u8] = b"a bench secret of thirty-two bytes!";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// One route under test: its path and the credential its requests carry.
struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    closed_rps: Vec<f64>,
    latencies_us: Vec<u64>,
    errors: u64,
}

/// Requests per second that `connections` clients get sending back to back for `seconds`.
async fn closed_loop(case: &Case, client: &HttpClient, connections: usize, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let client = client.clone();
            let done = done.clone();
            let path = case.path;
            let headers = case.headers.clone();
            tokio::spawn(async move {
                while Instant::now() < until {
                    let mut request = client.request("bench", path);
                    for (name, value) in &headers {
                        request = request.header(*name, value.as_str());
                    }
                    let request = request.body(convoy_tests::client::empty()).unwrap();
                    if matches!(client.try_send(request).await, Ok(r) if r.status == 200) {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse(Args {
        rate: 1000,
        seconds: 5,
        rounds: 3,
        connections: 32,
    });
    let upstream = EchoServer::start("api").await;
    let dir = tempfile::tempdir().expect("a temporary directory");

    // ES256 key pair; the JWKS holds its public point, and an HS256 secret.
    let es_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let point = es_key.public_key_raw();
    let (x, y) = point[1..].split_at(32);
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "es", "alg": "ES256", "x": b64(x), "y": b64(y)},
        {"kty": "oct", "kid": "hs", "alg": "HS256", "k": b64(HMAC_SECRET)},
    ]});
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).expect("write the JWKS");
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-user", "exp": expires});
    let token = |alg: Algorithm, kid: &str, key: &EncodingKey| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        format!("Bearer {}", encode(&header, &claims, key).expect("a token"))
    };
    let es_token = token(
        Algorithm::ES256,
        "es",
        &EncodingKey::from_ec_der(&es_key.serialize_der()),
    );
    let hs_token = token(
        Algorithm::HS256,
        "hs",
        &EncodingKey::from_secret(HMAC_SECRET),
    );

    let yaml = format!(
        r#"sidecar:
  service: edge
  listen: {{ outbound: 127.0.0.1:0, inbound: 127.0.0.1:0, admin: 127.0.0.1:0 }}
services:
  api: {{ endpoints: ["{upstream}"], meshed: false }}
gateways:
  edge:
    listeners:
      - address: {listener}
    jwt_providers:
      - {{ name: issuer, jwks: {jwks}, issuer: "{ISSUER}", audience: {AUDIENCE} }}
    route_sets:
      - name: bench
        routes:
          - {{ name: open, match: {{ path_prefix: /open }}, service: api }}
          - {{ name: jwt, match: {{ path_prefix: /jwt }}, service: api, auth: {{ methods: [{{ jwt: issuer }}] }} }}
"#,
        upstream = upstream.addr(),
        listener = free_port(),
        jwks = jwks_path.display(),
    );
    let gateway = Proxy::builder(&yaml).arg("--gateway").start().await;
    let client = HttpClient::new(Proto::Http1, gateway.addrs().gateway[0]);

    let mut cases = [
        Case::new("no authentication", "/open/x", vec![]),
        Case::new("JWT HS256", "/jwt/x", vec![("authorization", hs_token)]),
        Case::new("JWT ES256", "/jwt/x", vec![("authorization", es_token)]),
    ];
    for case in &cases {
        let (ok, errors) = open_loop(&client, "bench", case.path, &case.headers, 100, 1).await;
        assert!(
            errors == 0 && !ok.is_empty(),
            "{}: the warm-up failed ({errors} errors)",
            case.name
        );
    }
    for round in 1..=args.rounds {
        for case in &mut cases {
            let rps = closed_loop(case, &client, args.connections, args.seconds).await;
            let (latencies, errors) = open_loop(
                &client,
                "bench",
                case.path,
                &case.headers,
                args.rate,
                args.seconds,
            )
            .await;
            eprintln!(
                "round {round}/{}: {:<18} closed loop {rps:.0} req/s; open loop {} ok, {errors} failed",
                args.rounds,
                case.name,
                latencies.len()
            );
            case.closed_rps.push(rps);
            case.latencies_us.extend(latencies);
            case.errors += errors;
        }
    }

    println!(
        "\ngateway, HTTP/1.1 keep-alive clients: throughput with {} connections back to back; \
         latency at {} req/s open loop; {} rounds × {} s each\n",
        args.connections, args.rate, args.rounds, args.seconds
    );
    println!(
        "| route | throughput req/s | p50 µs | p99 µs | p99.9 µs | failed |\n|---|---|---|---|---|---|"
    );
    for case in &mut cases {
        case.latencies_us.sort_unstable();
        let rps = case.closed_rps.iter().sum::<f64>() / case.closed_rps.len() as f64;
        println!(
            "| {} | {rps:.0} | {:.0} | {:.0} | {:.0} | {} |",
            case.name,
            percentile(&case.latencies_us, 50.0),
            percentile(&case.latencies_us, 99.0),
            percentile(&case.latencies_us, 99.9),
            case.errors
        );
    }
}

impl Case {
    fn new(name: &'static str, path: &'static str, headers: Vec<(&'static str, String)>) -> Self {
        Case {
            name,
            path,
            headers,
            closed_rps: Vec::new(),
            latencies_us: Vec::new(),
            errors: 0,
        }
    }
}
