//! Mutual TLS between real sidecars run by a (fake, TLS-speaking) control plane whose CA signs
//! their certificates, with curl and openssl s_client as outside clients: a strict inbound
//! listener refuses every certificate that is not a valid mesh identity at the handshake (the
//! app receives nothing, /metrics says why), refuses plaintext; a permissive one accepts both;
//! the outbound side refuses a server that is not the service meant; identities flow through a
//! chain; certificates rotating every few seconds under load fail no request; a rotated CA is
//! picked up through the pushed bundle.

mod fake_control_plane;

use convoy_harness::pki::{dns_san, spiffe_id, uri_san, KeyAndCert, Leaf, TestCa};
use convoy_harness::ports::closed_port;
use convoy_tests::requests::get;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{within, HttpClient, Proto, Proxy, BOTH, STEP_TIMEOUT};
use fake_control_plane::mtls_client::MtlsClient;
use fake_control_plane::FakeControlPlane;
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncWriteExt;

/// A service of the mesh (meshed) at `addrs`, with `extra` fields.
fn service(addrs: &[SocketAddr], extra: Value) -> Value {
    let mut service = json!({
        "endpoints": addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    if let (Some(service), Value::Object(extra)) = (service.as_object_mut(), extra) {
        service.extend(extra);
    }
    service
}

/// `orders`' sidecar in front of an echo app, run by `cp` (which has published version 1).
async fn orders_sidecar(cp: &FakeControlPlane) -> (EchoServer, Proxy) {
    let app = EchoServer::start("orders").await;
    let sidecar = cp.sidecar("orders", app.addr()).start().await;
    (app, sidecar)
}

/// What an outside tool did.
#[derive(Debug)]
struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `program` with `args`, `stdin` written to it, for at most 15 s.
async fn run(program: &PathBuf, args: &[String], stdin: &str) -> Ran {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the tool");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = within(
        Duration::from_secs(15),
        &format!("{} {args:?}", program.display()),
        child.wait_with_output(),
    )
    .await
    .expect("the tool's output");
    Ran {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The outside clients, when installed.
struct Tools {
    curl: PathBuf,
    openssl: PathBuf,
}

impl Tools {
    fn find() -> Option<Tools> {
        Some(Tools {
            curl: convoy_tests::tools::require("curl", "apt-get install curl")?,
            openssl: convoy_tests::tools::require("openssl", "apt-get install openssl")?,
        })
    }

    /// curl over TLS to `addr` (server certificate not checked: it names no DNS name), with
    /// `client` as its certificate; `(success, status line or error)`.
    async fn curl_tls(&self, addr: SocketAddr, http2: bool, client: Option<&KeyAndCert>) -> Ran {
        let mut args: Vec<String> = [
            "-sS",
            "-k",
            "--max-time",
            "10",
            "-H",
            "host: orders",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ]
        .map(String::from)
        .to_vec();
        args.push(if http2 { "--http2" } else { "--http1.1" }.to_owned());
        if let Some(client) = client {
            args.extend([
                "--cert".to_owned(),
                client.cert_file().display().to_string(),
                "--key".to_owned(),
                client.key_file().display().to_string(),
            ]);
        }
        args.push(format!("https://{addr}/from-curl"));
        run(&self.curl, &args, "").await
    }

    /// `openssl s_client` (TLS 1.3) to `addr` with `client`, sending one HTTP/1.1 request.
    async fn s_client(&self, addr: SocketAddr, client: Option<&KeyAndCert>) -> Ran {
        let mut args: Vec<String> = [
            "s_client",
            "-connect",
            &addr.to_string(),
            "-tls1_3",
            "-quiet",
        ]
        .map(String::from)
        .to_vec();
        if let Some(client) = client {
            args.extend([
                "-cert".to_owned(),
                client.cert_file().display().to_string(),
                "-key".to_owned(),
                client.key_file().display().to_string(),
            ]);
        }
        let request = "GET /from-openssl HTTP/1.1\r\nhost: orders\r\nconnection: close\r\n\r\n";
        run(&self.openssl, &args, request).await
    }
}

/// `convoy_tls_handshakes_total` of `direction`, by `(result, reason)`.
async fn handshakes(proxy: &Proxy, direction: &str) -> BTreeMap<(String, String), f64> {
    let text = proxy.metrics().await;
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("convoy_tls_handshakes_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        if label("direction") == direction {
            counts.insert(
                (label("result"), label("reason")),
                value.trim().parse().unwrap_or(f64::NAN),
            );
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_port_refuses_every_certificate_that_is_not_a_mesh_identity() {
    let Some(tools) = Tools::find() else { return };
    let cp = FakeControlPlane::start().await;
    cp.push(1, json!({}));
    let (app, orders) = orders_sidecar(&cp).await;
    let ca = cp.pki().ca.clone();

    // A good certificate gets through with either tool (so a refusal below is the
    // certificate's, not the tool's).
    let good = ca.issue(&Leaf::for_service("web"));
    for http2 in [false, true] {
        let ran = tools.curl_tls(orders.inbound(), http2, Some(&good)).await;
        assert!(ran.success && ran.stdout == "200", "{ran:?}");
    }
    let ran = tools.s_client(orders.inbound(), Some(&good)).await;
    assert!(ran.stdout.starts_with("HTTP/1.1 200"), "{ran:?}");
    assert_eq!(app.count(), 3);

    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let stranger = TestCa::new("another CA");
    let web = spiffe_id("web");
    let cases: Vec<(&str, Option<KeyAndCert>, &str)> = vec![
        ("no client certificate", None, "no_client_certificate"),
        (
            "a certificate from another CA",
            Some(stranger.issue(&Leaf::for_service("web"))),
            "unknown_ca",
        ),
        (
            "an expired certificate",
            Some(ca.issue(&Leaf::for_service("web").valid(now - 2 * hour, now - hour))),
            "expired",
        ),
        (
            "a certificate not yet valid",
            Some(ca.issue(&Leaf::for_service("web").valid(now + hour, now + 2 * hour))),
            "not_yet_valid",
        ),
        (
            "another trust domain",
            Some(ca.issue(&Leaf::with_uri("spiffe://other.mesh/service/web"))),
            "bad_identity",
        ),
        (
            "a DNS-only SAN",
            Some(ca.issue(&Leaf::for_service("web").sans(vec![dns_san("web")]))),
            "bad_identity",
        ),
        (
            "two URI SANs",
            Some(ca.issue(
                &Leaf::for_service("web").sans(vec![uri_san(&web), uri_san(&spiffe_id("admin"))]),
            )),
            "bad_identity",
        ),
        (
            "a serverAuth-only certificate",
            Some(ca.issue(
                &Leaf::for_service("web").usages(vec![ExtendedKeyUsagePurpose::ServerAuth]),
            )),
            "bad_usage",
        ),
    ];
    let mut expected: BTreeMap<(String, String), f64> = BTreeMap::new();
    expected.insert(("ok".into(), "ok".into()), 3.0);
    for (what, client, reason) in &cases {
        let ran = tools
            .curl_tls(orders.inbound(), false, client.as_ref())
            .await;
        assert!(!ran.success && ran.stdout != "200", "{what}: curl {ran:?}");
        assert!(!ran.stderr.is_empty(), "{what}: curl says why: {ran:?}");
        let ran = tools.s_client(orders.inbound(), client.as_ref()).await;
        assert!(!ran.stdout.contains("HTTP/1.1"), "{what}: openssl {ran:?}");
        assert_eq!(app.count(), 3, "{what}: the app received a request");
        *expected
            .entry(("refused".into(), (*reason).into()))
            .or_default() += 2.0;
    }
    assert_eq!(handshakes(&orders, "inbound").await, expected);
    assert_eq!(
        app.connections(),
        1,
        "only the good requests reached the app"
    );
}

#[tokio::test]
async fn plaintext_to_a_strict_port_is_refused() {
    let cp = FakeControlPlane::start().await;
    cp.push(1, json!({}));
    let (app, orders) = orders_sidecar(&cp).await;

    let reply = HttpClient::new(Proto::Http1, orders.inbound())
        .get("orders", "/plain")
        .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(
        reply.convoy_error(),
        Some("mtls required: service orders accepts only mutual TLS; plaintext refused")
    );
    assert_eq!(reply.header("connection"), Some("close"));
    // HTTP/2 with prior knowledge: the connection is just closed.
    let h2 = HttpClient::new(Proto::Http2, orders.inbound())
        .try_send(get("/plain-h2"))
        .await;
    assert!(h2.is_err(), "{h2:?}");
    if let Some(curl) = convoy_tests::tools::require("curl", "apt-get install curl") {
        let args = [
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "host: orders",
            &format!("http://{}/plain-curl", orders.inbound()),
        ]
        .map(String::from);
        let ran = run(&curl, &args, "").await;
        assert_eq!(ran.stdout, "403", "{ran:?}");
    }
    assert_eq!(app.count(), 0);
    let counts = handshakes(&orders, "inbound").await;
    assert!(
        counts[&("refused".into(), "plaintext".into())] >= 2.0,
        "{counts:?}"
    );
}

#[tokio::test]
async fn a_permissive_port_accepts_both_and_only_the_tls_caller_has_an_identity() {
    let cp = FakeControlPlane::start().await;
    cp.push(
        1,
        json!({ "orders": service(&[], json!({ "mtls": "permissive" })) }),
    );
    let (app, orders) = orders_sidecar(&cp).await;
    let caller = cp.pki().ca.issue(&Leaf::for_service("web"));
    for proto in BOTH {
        // Plaintext, even with a forged identity header: no identity reaches the app.
        let request = http::Request::get("http://orders/plain")
            .header("x-convoy-client-id", spiffe_id("admin"))
            .body(convoy_tests::client::empty())
            .unwrap();
        let reply = HttpClient::new(proto, orders.inbound()).send(request).await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(app.last().header("x-convoy-client-id"), None, "{proto:?}");

        let tls = MtlsClient::new(
            orders.inbound(),
            proto,
            &caller,
            cp.pki().ca.pem(),
            &spiffe_id("orders"),
        );
        let reply = tls.get("orders", "/tls").await.unwrap();
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(
            app.last().header("x-convoy-client-id"),
            Some(spiffe_id("web").as_str()),
            "{proto:?}"
        );
    }
    let counts = handshakes(&orders, "inbound").await;
    assert_eq!(counts.get(&("refused".into(), "plaintext".into())), None);
    assert_eq!(counts[&("ok".into(), "ok".into())], 2.0);
}

#[tokio::test]
async fn outbound_refuses_a_server_that_is_not_the_service_meant() {
    let cp = FakeControlPlane::start().await;
    cp.push(1, json!({}));
    let users_app = EchoServer::start("users").await;
    let users = cp.sidecar("users", users_app.addr()).start().await;
    // `orders` is (wrongly) said to run where users' sidecar is.
    cp.push(
        2,
        json!({
            "orders": service(&[users.inbound()], json!({})),
            "users": service(&[users.inbound()], json!({})),
        }),
    );
    let web = cp.sidecar("web", closed_port()).start().await;
    cp.wait_ack(2).await;
    for proto in BOTH {
        let client = HttpClient::new(proto, web.outbound());
        let reply = client.get("users", "/right").await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        let reply = client.get("orders", "/wrong").await;
        assert_eq!(reply.status, 502, "{proto:?}: {reply:?}");
        let error = reply.convoy_error().unwrap_or("");
        assert!(
            error.starts_with(&format!(
                "upstream connect failed: orders {}: ",
                users.inbound()
            )),
            "{error}"
        );
        assert!(
            error.ends_with(&format!(
                "mtls: server identity {} is not the expected {}",
                spiffe_id("users"),
                spiffe_id("orders")
            )),
            "{error}"
        );
    }
    assert!(users_app
        .seen()
        .iter()
        .all(|seen| seen.uri.path() == "/right"));
    let counts = handshakes(&web, "outbound").await;
    assert!(
        counts[&("refused".into(), "wrong_identity".into())] >= 2.0,
        "{counts:?}"
    );
}

/// `web`'s sidecar calling `orders`' sidecar (in front of an echo app), both run by `cp`.
async fn chain(cp: &FakeControlPlane) -> (EchoServer, Proxy, Proxy) {
    cp.push(1, json!({}));
    let (app, orders) = orders_sidecar(cp).await;
    cp.push(
        2,
        json!({ "orders": service(&[orders.inbound()], json!({})) }),
    );
    let web = cp.sidecar("web", closed_port()).start().await;
    cp.wait_ack(2).await;
    (app, orders, web)
}

#[tokio::test]
async fn two_sidecars_speak_mutual_tls_end_to_end() {
    let cp = FakeControlPlane::start().await;
    let (app, orders, web) = chain(&cp).await;
    for proto in BOTH {
        let reply = HttpClient::new(proto, web.outbound())
            .get("orders", "/chained")
            .await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(reply.upstream(), "orders");
    }
    assert_eq!(app.count(), 2);
    let outbound = handshakes(&web, "outbound").await;
    assert_eq!(
        outbound.keys().collect::<Vec<_>>(),
        [&("ok".into(), "ok".into())]
    );
    let inbound = handshakes(&orders, "inbound").await;
    assert_eq!(
        inbound.keys().collect::<Vec<_>>(),
        [&("ok".into(), "ok".into())]
    );
}

#[tokio::test]
async fn the_callers_identity_reaches_the_app_and_a_forged_one_does_not() {
    let cp = FakeControlPlane::start().await;
    let (app, _orders, web) = chain(&cp).await;
    for proto in BOTH {
        let request = http::Request::get("http://orders/who")
            .header("x-convoy-client-id", spiffe_id("admin"))
            .body(convoy_tests::client::empty())
            .unwrap();
        let reply = HttpClient::new(proto, web.outbound()).send(request).await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(
            app.last().header("x-convoy-client-id"),
            Some(spiffe_id("web").as_str()),
            "{proto:?}"
        );
    }
}

/// Samples of `convoy_identity_renewals_total{result="ok"}`.
async fn renewals(proxy: &Proxy) -> f64 {
    proxy
        .metric_samples()
        .await
        .sum("convoy_identity_renewals_total", &[("result", "ok")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotating_every_few_seconds_under_load_fail_no_request() {
    let cp = FakeControlPlane::start().await;
    cp.set_certificate_ttl(Duration::from_secs(3));
    let (app, orders, web) = chain(&cp).await;
    let direct_caller = cp.pki().ca.issue(&Leaf::for_service("web"));
    let direct = MtlsClient::new(
        orders.inbound(),
        Proto::Http2,
        &direct_caller,
        cp.pki().ca.pem(),
        &spiffe_id("orders"),
    );
    let load = HttpClient::new(Proto::Http1, web.outbound());
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let run_for = Duration::from_secs(12);
    let mut sent = 0_u64;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut in_flight = Vec::new();
    let mut version = 2;
    while started.elapsed() < run_for {
        tick.tick().await;
        sent += 1;
        let (load, failed) = (load.clone(), failures.clone());
        in_flight.push(tokio::spawn(async move {
            let request = get(&format!("/load/{sent}"));
            match load.try_send(request).await {
                Ok(reply) if reply.status == 200 => {}
                Ok(reply) => failed.lock().unwrap().push(format!("{reply:?}")),
                Err(error) => failed.lock().unwrap().push(error.to_string()),
            }
        }));
        if sent % 12 == 0 {
            // A fresh handshake straight to orders: its certificate in force must be valid.
            let (direct, failed) = (direct.clone(), failures.clone());
            in_flight.push(tokio::spawn(async move {
                match direct.get("orders", "/direct").await {
                    Ok(reply) if reply.status == 200 => {}
                    other => failed.lock().unwrap().push(format!("direct: {other:?}")),
                }
            }));
        }
        if sent % 50 == 0 {
            // A new connection timeout gives web a new pool: a new handshake with the
            // certificates in force now.
            version += 1;
            let timeout = if version % 2 == 0 { "1s" } else { "2s" };
            cp.push(
                version,
                json!({ "orders": service(&[orders.inbound()], json!({ "connect_timeout": timeout })) }),
            );
        }
    }
    for task in in_flight {
        within(STEP_TIMEOUT, "a request of the load", task)
            .await
            .unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert!(app.count() as u64 >= sent, "{} < {sent}", app.count());
    assert!(renewals(&web).await >= 3.0, "{}", web.metrics().await);
    assert!(renewals(&orders).await >= 3.0, "{}", orders.metrics().await);
    let outbound = handshakes(&web, "outbound").await;
    assert!(outbound[&("ok".into(), "ok".into())] >= 4.0, "{outbound:?}");
    assert_eq!(outbound.len(), 1, "{outbound:?}");
    let inbound = handshakes(&orders, "inbound").await;
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    assert!(cp.refused().is_empty(), "{:?}", cp.refused());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_ca_is_picked_up_through_the_pushed_bundle() {
    let cp = FakeControlPlane::start().await;
    cp.set_certificate_ttl(Duration::from_secs(4));
    let (app, orders, web) = chain(&cp).await;
    let old_caller = cp.pki().ca.issue(&Leaf::for_service("web"));

    // The new CA signs from now on; both are trusted meanwhile.
    let next = Arc::new(TestCa::new("next CA"));
    cp.rotate_ca(next.clone());
    let (web_before, orders_before) = (renewals(&web).await, renewals(&orders).await);
    cp.push(
        3,
        json!({ "orders": service(&[orders.inbound()], json!({})) }),
    );
    within(
        STEP_TIMEOUT,
        "both sidecars to renew from the new CA",
        async {
            while renewals(&web).await < web_before + 1.0
                || renewals(&orders).await < orders_before + 1.0
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await;
    let new_caller = next.issue(&Leaf::for_service("web"));
    let to_orders = |caller: &KeyAndCert, anchors: &str| {
        MtlsClient::new(
            orders.inbound(),
            Proto::Http1,
            caller,
            anchors,
            &spiffe_id("orders"),
        )
    };
    // orders now presents a certificate of the new CA.
    let reply = to_orders(&new_caller, next.pem())
        .get("orders", "/new")
        .await;
    assert_eq!(reply.map(|r| r.status.as_u16()), Ok(200));

    // Only the new CA from now on: the old one's certificates are refused, the mesh goes on.
    cp.set_bundle(next.pem());
    cp.push(
        4,
        json!({ "orders": service(&[orders.inbound()], json!({ "connect_timeout": "2s" })) }),
    );
    cp.wait_for("two acks of version 4", |_| {
        cp.of_type("ack")
            .iter()
            .filter(|a| a["version"] == 4)
            .count()
            == 2
    })
    .await;
    let refused = to_orders(&old_caller, next.pem())
        .get("orders", "/old")
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let reply = HttpClient::new(Proto::Http1, web.outbound())
        .get("orders", "/after-rotation")
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(app.seen().iter().all(|seen| seen.uri.path() != "/old"));
    let inbound = handshakes(&orders, "inbound").await;
    assert!(
        inbound[&("refused".into(), "unknown_ca".into())] >= 1.0,
        "{inbound:?}"
    );
    assert_eq!(
        web.config_json().await["identity"]["trust_anchors"],
        1,
        "the bundle in force"
    );
}
