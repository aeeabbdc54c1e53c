//! The mesh end to end: the real `convoy-control-plane` over a directory of YAML, real sidecars
//! (`convoy-proxy --control-plane`) in front of echo apps, and clients calling `orders` through
//! `web`'s sidecar. A change reaches every sidecar and is acked, steady traffic sees no error
//! across many pushes, bad changes are rejected (by the control plane) or refused (by a
//! sidecar) while the old configuration keeps serving, sidecars ride out a control-plane
//! outage, the registry follows sidecars that go and come, and a rollback restores an earlier
//! version everywhere.
//!
//! Each test asserts what the clients got, what the apps received, and what the status,
//! history and metrics say. Bounds on time are generous behaviour bounds, not performance
//! figures; the figures observed are printed (`--nocapture`).

use convoy_harness::ports::free_port;
use convoy_tests::control_plane::{ControlPlane, Status};
use convoy_tests::raw::echo_round_trip;
use convoy_tests::relay::TcpRelay;
use convoy_tests::requests::get;
use convoy_tests::upstream::{EchoServer, TcpEchoServer};
use convoy_tests::{within, HttpClient, Proto, Proxy, BOTH, STEP_TIMEOUT};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// `orders` with a timeout: the mesh of most tests.
const ORDERS: &str = "services:\n  orders:\n    timeout: 2s\n";

/// `web` calling meshed `orders` (sidecars registered with the control plane), each `orders`
/// sidecar in front of its own echo app (`orders-0`, `orders-1`, ...).
struct Mesh {
    cp: ControlPlane,
    web: Proxy,
    _web_app: EchoServer,
    orders: Vec<Proxy>,
    apps: Vec<EchoServer>,
}

impl Mesh {
    /// Starts the control plane on `files`, `web`'s sidecar and `orders_count` `orders`
    /// sidecars, and waits until every one has acked the version in force.
    async fn start(files: &[(&str, &str)], orders_count: usize) -> Mesh {
        let cp = ControlPlane::start(files).await;
        let web_app = EchoServer::start("web-app").await;
        let web = cp.sidecar("web", web_app.addr()).await;
        let mut mesh = Mesh {
            cp,
            web,
            _web_app: web_app,
            orders: Vec::new(),
            apps: Vec::new(),
        };
        for _ in 0..orders_count {
            mesh.add_orders().await;
        }
        mesh.cp.wait_converged(1 + orders_count).await;
        mesh
    }

    /// [`Mesh::start`] with one `orders` sidecar, `orders` sending `/beta` to the plain
    /// service `beta` at `beta` ([`ORDERS_WITH_BETA_ROUTE`]).
    async fn with_beta_route(beta: &EchoServer) -> Mesh {
        Mesh::start(
            &[
                ("orders.yaml", ORDERS_WITH_BETA_ROUTE),
                ("beta.yaml", &beta_yaml(beta)),
            ],
            1,
        )
        .await
    }

    /// Starts one more `orders` sidecar with its app (not waiting for the others to ack it).
    async fn add_orders(&mut self) {
        let app = EchoServer::start(&format!("orders-{}", self.apps.len())).await;
        self.orders
            .push(self.cp.sidecar("orders", app.addr()).await);
        self.apps.push(app);
    }

    /// Every sidecar: `web`'s, then `orders`'.
    fn sidecars(&self) -> impl Iterator<Item = &Proxy> {
        std::iter::once(&self.web).chain(&self.orders)
    }

    /// A client of `web`'s outbound listener (requests for `orders` go through the mesh).
    fn client(&self, proto: Proto) -> HttpClient {
        HttpClient::new(proto, self.web.outbound())
    }

    /// Which app answered GET `path` of `orders`, over each protocol (asserting 200).
    async fn answered_by(&self, path: &str) -> Vec<String> {
        let mut upstreams = Vec::new();
        for proto in BOTH {
            let reply = self.client(proto).send(get(path)).await;
            assert_eq!(reply.status, 200, "{proto:?} {path}: {reply:?}");
            upstreams.push(reply.upstream().to_owned());
        }
        upstreams
    }

    /// Writes `name` and waits until every one of the `count` sidecars acked the version it
    /// makes (the next one); that version.
    async fn push(&self, name: &str, yaml: &str, count: usize) -> u64 {
        let before = self.cp.status().await.version;
        self.cp.write(name, yaml);
        self.cp
            .wait_status(&format!("version {} acked by all", before + 1), |s| {
                s.version == before + 1 && s.converged(count)
            })
            .await
            .version
    }
}

/// The version a sidecar's `/config` says is in force.
async fn config_version(proxy: &Proxy) -> String {
    proxy.config_json().await["version"]
        .as_str()
        .expect("a version")
        .to_owned()
}

/// How many requests for paths starting with `prefix` the app received.
fn received(app: &EchoServer, prefix: &str) -> usize {
    app.seen()
        .iter()
        .filter(|s| s.uri.path().starts_with(prefix))
        .count()
}

/// One request of a [`Load`].
#[derive(Debug)]
struct Outcome {
    proto: Proto,
    #[allow(dead_code)] // Shown (Debug) when a request failed.
    path: String,
    started: Instant,
    /// The status and the app that answered (or the proxy's `x-convoy-error`), or why there
    /// was no answer.
    result: Result<(u16, String), String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self.result, Ok((200, _)))
    }
}

/// A steady stream of GETs of `orders` through `web`'s sidecar: `workers` per protocol, each
/// sending one request every `period` (never more than one at a time), until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Vec<Outcome>>>,
    started: Instant,
}

impl Load {
    fn start(outbound: SocketAddr, prefix: &str, workers: usize, period: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for proto in BOTH {
            for worker in 0..workers {
                let (stop, prefix) = (stop.clone(), prefix.to_owned());
                handles.push(tokio::spawn(async move {
                    let client = HttpClient::new(proto, outbound);
                    let mut tick = tokio::time::interval(period);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut outcomes = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        let path = format!("{prefix}/{proto:?}/{worker}/{}", outcomes.len());
                        let started = Instant::now();
                        let result =
                            match tokio::time::timeout(STEP_TIMEOUT, client.try_send(get(&path)))
                                .await
                            {
                                Ok(Ok(reply)) => Ok((
                                    reply.status.as_u16(),
                                    match reply.convoy_error() {
                                        Some(error) => format!("the proxy: {error}"),
                                        None => reply.upstream().to_owned(),
                                    },
                                )),
                                Ok(Err(e)) => Err(e.to_string()),
                                Err(_) => Err(format!("no answer within {STEP_TIMEOUT:?}")),
                            };
                        outcomes.push(Outcome {
                            proto,
                            path,
                            started,
                            result,
                        });
                    }
                    outcomes
                }));
            }
        }
        Load {
            stop,
            workers: handles,
            started: Instant::now(),
        }
    }

    /// Stops the workers; every request sent, in no particular order.
    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let mut outcomes = Vec::new();
        for worker in self.workers {
            outcomes.extend(
                within(STEP_TIMEOUT * 2, "a load worker to stop", worker)
                    .await
                    .unwrap(),
            );
        }
        eprintln!(
            "load: {} requests in {:.1?} ({:.0}/s)",
            outcomes.len(),
            self.started.elapsed(),
            outcomes.len() as f64 / self.started.elapsed().as_secs_f64()
        );
        outcomes
    }
}

fn failures(outcomes: &[Outcome]) -> Vec<&Outcome> {
    outcomes.iter().filter(|o| !o.ok()).collect()
}

/// Asserts that every request of `outcomes` was answered 200 by an app, showing the first
/// `shown` failures otherwise.
fn assert_no_failures(outcomes: &[Outcome], shown: usize) {
    let failed = failures(outcomes);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:#?}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(shown)]
    );
}

// 1. A change reaches every sidecar and is acked.
#[tokio::test]
async fn a_change_reaches_every_sidecar_and_is_acked() {
    let mesh = Mesh::start(&[("orders.yaml", ORDERS)], 2).await;
    let before = mesh.cp.status().await;
    for sidecar in mesh.sidecars() {
        assert_eq!(config_version(sidecar).await, before.version.to_string());
    }

    let edited = Instant::now();
    mesh.cp.write(
        "orders.yaml",
        "services:\n  orders:\n    timeout: 2s\n    retry:\n      attempts: 3\n      on: [gateway-error]\n",
    );
    let version = before.version + 1;
    let status = mesh
        .cp
        .wait_status("the edit acked by every sidecar", |s| {
            s.version == version && s.converged(3)
        })
        .await;
    let took = edited.elapsed();
    eprintln!("edit → acked by all 3 sidecars: {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "the edit took {took:?} to be acked by every sidecar"
    );
    for sidecar in mesh.sidecars() {
        let entry = status.of(sidecar);
        assert!(entry.last_nack.is_none(), "{entry:?}");
        let config = sidecar.config_json().await;
        assert_eq!(config["version"], version.to_string(), "{config}");
        let orders = &config["config"]["mesh"]["services"]["orders"];
        assert_eq!(orders["retry"]["attempts"], 3, "{orders}");
        assert_eq!(
            orders["endpoints"].as_array().map(Vec::len),
            Some(2),
            "both orders sidecars are endpoints: {orders}"
        );
        let samples = sidecar.metric_samples().await;
        assert_eq!(samples.sum("convoy_config_version", &[]), version as f64);
    }
    let history = mesh.cp.history().await;
    let event = history.event(version);
    assert_eq!(
        (
            event.kind.as_str(),
            event.author.as_str(),
            event.summary.as_str()
        ),
        ("config", "config-dir", "changed orders (retry)"),
        "{event:?}"
    );
    assert_eq!(history.events.last().map(|e| e.version), Some(version));

    // And traffic flows under it, to both orders apps.
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.extend(mesh.answered_by("/after-edit").await);
    }
    for app in &mesh.apps {
        assert!(
            seen.iter().any(|s| s == app.name()),
            "{} got nothing: {seen:?}",
            app.name()
        );
    }
    assert_eq!(
        mesh.apps
            .iter()
            .map(|a| received(a, "/after-edit"))
            .sum::<usize>(),
        20
    );
}

// 2. No request fails at steady load while the configuration is pushed 50 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_at_steady_load_across_50_pushes() {
    const PUSHES: usize = 50;
    let a = "services:\n  orders:\n    timeout: 2s\n    retry: { attempts: 2 }\n";
    let b = "services:\n  orders:\n    timeout: 3s\n    retry: { attempts: 3, per_try_timeout: 1s }\n    circuit_breaker: { max_requests: 500 }\n";
    let mesh = Mesh::start(&[("orders.yaml", a)], 2).await;
    let first = mesh.cp.status().await.version;

    // 2 workers per protocol, one request each every 20 ms: about 200 requests a second, at
    // most 4 in flight.
    let load = Load::start(mesh.web.outbound(), "/load", 2, Duration::from_millis(20));
    mesh.apps[0].wait_for(10).await;
    let pushing = Instant::now();
    let mut version = first;
    for push in 0..PUSHES {
        let yaml = if push % 2 == 0 { b } else { a };
        let acked = mesh.push("orders.yaml", yaml, 3).await;
        assert_eq!(acked, version + 1);
        version = acked;
        // Some requests on each version, not only across the swaps.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let pushed_in = pushing.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcomes = load.stop().await;
    eprintln!(
        "{PUSHES} pushes acked by 3 sidecars in {pushed_in:.1?} ({:.0?} each)",
        pushed_in / PUSHES as u32
    );

    assert_no_failures(&outcomes, 20);
    assert!(outcomes.len() >= 200, "only {} requests", outcomes.len());
    for proto in BOTH {
        assert!(
            outcomes.iter().filter(|o| o.proto == proto).count() >= 100,
            "{proto:?}"
        );
    }
    // Every request reached an app exactly once (no retries were needed), both apps had some.
    let per_app: Vec<usize> = mesh.apps.iter().map(|a| received(a, "/load")).collect();
    assert_eq!(per_app.iter().sum::<usize>(), outcomes.len(), "{per_app:?}");
    assert!(per_app.iter().all(|&n| n > 0), "{per_app:?}");
    eprintln!("requests per orders app: {per_app:?}");

    assert_eq!(version, first + PUSHES as u64);
    let history = mesh.cp.history().await;
    let configs = history
        .events
        .iter()
        .filter(|e| e.version > first && e.kind == "config")
        .count();
    assert_eq!(configs, PUSHES);
    for sidecar in mesh.sidecars() {
        assert_eq!(config_version(sidecar).await, version.to_string());
        let samples = sidecar.metric_samples().await;
        assert_eq!(
            samples.sum("convoy_config_updates_total", &[("result", "rejected")]),
            0.0
        );
    }
    let samples = mesh.web.metric_samples().await;
    assert_eq!(samples.requests("outbound", "orders", "5xx"), 0.0);
    assert_eq!(
        samples.requests("outbound", "orders", "2xx"),
        outcomes.len() as f64
    );
    let cp = mesh.cp.metric_samples().await;
    assert_eq!(cp.sum("convoy_cp_nacks_total", &[]), 0.0);
    assert_eq!(cp.sum("convoy_cp_version", &[]), version as f64);
}

/// `orders` sends `/beta` to the plain service `beta` (its `beta.yaml`).
const ORDERS_WITH_BETA_ROUTE: &str = "services:\n  orders:\n    timeout: 2s\n    routes:\n      - match: { path_prefix: /beta }\n        backends: [{ service: beta }]\n";

fn beta_yaml(beta: &EchoServer) -> String {
    format!(
        "services:\n  beta:\n    meshed: false\n    endpoints: [\"{}\"]\n",
        beta.addr()
    )
}

// 3. An invalid change is rejected, and the old configuration keeps routing.
#[tokio::test]
async fn an_invalid_change_is_rejected_and_the_old_config_keeps_routing() {
    let beta = EchoServer::start("beta").await;
    let mesh = Mesh::with_beta_route(&beta).await;
    let before = mesh.cp.status().await;
    assert!(before.last_rejected.is_none(), "{before:?}");
    assert_eq!(mesh.answered_by("/beta/1").await, ["beta", "beta"]);
    assert_eq!(mesh.answered_by("/other").await, ["orders-0", "orders-0"]);

    // Drops the route, and has a timeout that is no duration.
    mesh.cp
        .write("orders.yaml", "services:\n  orders:\n    timeout: soon\n");
    let status = mesh
        .cp
        .wait_status("the change rejected", |s| s.last_rejected.is_some())
        .await;
    let error = &status.last_rejected.as_ref().unwrap().error;
    let file = mesh.cp.path("orders.yaml").display().to_string();
    assert!(
        error.starts_with(&format!("{file}:3:14: services.orders.timeout:")),
        "{error}"
    );
    eprintln!("rejected: {error}");
    assert_eq!(status.version, before.version, "no new version");
    assert!(status.converged(2), "{status:#?}");
    // The poll (every second) sees the same directory: still one rejection, no version.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let status = mesh.cp.status().await;
    assert_eq!(status.version, before.version);
    assert_eq!(
        mesh.cp
            .metric_samples()
            .await
            .sum("convoy_cp_rejected_changes_total", &[]),
        1.0
    );
    assert_eq!(
        mesh.cp.history().await.events.last().map(|e| e.version),
        Some(before.version)
    );

    // Routing still follows the old configuration.
    assert_eq!(mesh.answered_by("/beta/2").await, ["beta", "beta"]);
    for sidecar in mesh.sidecars() {
        assert_eq!(config_version(sidecar).await, before.version.to_string());
    }
    assert_eq!(received(&beta, "/beta/2"), 2);

    // A valid change is published, clears the rejection, and routing follows it.
    let version = mesh
        .push("orders.yaml", "services:\n  orders:\n    timeout: 3s\n", 2)
        .await;
    let status = mesh.cp.status().await;
    assert!(status.last_rejected.is_none(), "{status:#?}");
    assert_eq!(version, before.version + 1);
    assert_eq!(
        mesh.cp.history().await.event(version).summary,
        "changed orders (routes, timeouts)"
    );
    assert_eq!(mesh.answered_by("/beta/3").await, ["orders-0", "orders-0"]);
    assert_eq!(received(&beta, "/beta/3"), 0);
    assert_eq!(received(&mesh.apps[0], "/beta/3"), 2);
}

// 4. A snapshot a sidecar cannot apply is NACKed, shown, and the sidecar keeps its old one.
//
// Every sidecar binds the listener of every TCP service, and on one host only one process can
// hold a port: so `orders`' sidecar takes the port of `db` while it is alone, keeps it while
// `db` is away (listeners live as long as the process), and when `db` comes back, `web`'s
// sidecar cannot bind it and refuses the snapshot while `orders`' applies it.
#[tokio::test]
async fn a_snapshot_a_sidecar_cannot_apply_is_nacked_and_shown() {
    let echo = TcpEchoServer::start().await;
    let port = free_port();
    let db = format!(
        "services:\n  db:\n    protocol: tcp\n    listen: {port}\n    endpoints: [\"{}\"]\n",
        echo.addr()
    );
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let app = EchoServer::start("orders-0").await;
    let mut orders = cp.sidecar("orders", app.addr()).await;
    let alone = cp.wait_converged(1).await.version;
    cp.write("db.yaml", &db);
    cp.wait_status("db acked by orders", |s| {
        s.converged(1) && s.version == alone + 1
    })
    .await;
    orders.reload_addrs();
    assert_eq!(orders.tcp("db"), port);
    cp.remove("db.yaml");
    cp.wait_status("db removed", |s| s.converged(1) && s.version == alone + 2)
        .await;

    let web_app = EchoServer::start("web-app").await;
    let web = cp.sidecar("web", web_app.addr()).await;
    let good = cp.wait_converged(2).await.version;
    let mesh_client = HttpClient::new(Proto::Http1, web.outbound());
    assert_eq!(mesh_client.send(get("/before")).await.status, 200);

    // `db` is back: `orders`' sidecar has its listener, `web`'s cannot bind the port.
    cp.write("db.yaml", &db);
    let refused = good + 1;
    let status = cp
        .wait_status("a NACK from web and an ACK from orders", |s| {
            s.version == refused
                && s.of(&orders).acked_version == Some(refused)
                && s.of(&web).last_nack.is_some()
        })
        .await;
    let entry = status.of(&web);
    let nack = entry.last_nack.as_ref().unwrap();
    eprintln!("NACK: {nack:?}");
    assert_eq!(nack.version, refused);
    assert!(
        nack.reason
            .starts_with(&format!("cannot listen on {port} (tcp service db): ")),
        "{nack:?}"
    );
    assert_eq!(entry.acked_version, Some(good), "{entry:?}");
    assert!(entry.connected);
    assert!(status.of(&orders).last_nack.is_none());
    let cp_samples = cp.metric_samples().await;
    assert_eq!(cp_samples.sum("convoy_cp_nacks_total", &[]), 1.0);
    let table = cp.cli(&["status"]).await;
    assert!(table.status.success(), "{table:?}");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("cannot listen on"), "{table}");

    // `web` keeps serving on its old configuration; `orders` serves the new one.
    assert_eq!(config_version(&web).await, good.to_string());
    let web_config = web.config_json().await;
    assert!(
        web_config["config"]["mesh"]["services"]["db"].is_null(),
        "{web_config}"
    );
    assert_eq!(web.admin_get("/ready").await.0, 200);
    for proto in BOTH {
        let replies = HttpClient::new(proto, web.outbound())
            .send_many(10, 2, |i| get(&format!("/after-nack/{i}")))
            .await;
        assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    }
    assert_eq!(received(&app, "/after-nack/"), 20);
    assert_eq!(
        web.metric_samples()
            .await
            .sum("convoy_config_updates_total", &[("result", "rejected")]),
        1.0
    );
    assert_eq!(config_version(&orders).await, refused.to_string());
    let back = echo_round_trip(port, b"through orders' db listener").await;
    assert_eq!(back, b"through orders' db listener");

    // A later change both can apply is acked by both; the NACK stays, older than the ACK.
    cp.remove("db.yaml");
    let status = cp
        .wait_status("the next version acked by both", |s| {
            s.version == refused + 1 && s.converged(2)
        })
        .await;
    assert_eq!(
        status.of(&web).last_nack.as_ref().map(|n| n.version),
        Some(refused)
    );
    assert_eq!(config_version(&web).await, (refused + 1).to_string());
}

/// What [`control_plane_outage`] saw.
struct Outage {
    mesh: Mesh,
    /// Every request of the steady load (1 per 20 ms per protocol) sent through it.
    outcomes: Vec<Outcome>,
    /// When the control plane was started again.
    restarting: Instant,
    /// When the status showed every sidecar back and acked.
    converged: Instant,
}

/// Kills the control plane of a mesh of `web` and 2 `orders` under steady load, leaves it down
/// for `down_for`, starts it again on the same address, and waits until every sidecar is back
/// and acked (checking along the way that each sidecar serves and stays ready).
async fn control_plane_outage(down_for: Duration) -> Outage {
    let mut mesh = Mesh::start(&[("orders.yaml", ORDERS)], 2).await;
    let load = Load::start(mesh.web.outbound(), "/outage", 1, Duration::from_millis(20));
    mesh.apps[0].wait_for(5).await;

    mesh.cp.kill();
    let killed = Instant::now();
    for sidecar in mesh.sidecars() {
        sidecar.wait_connected(0.0).await;
    }
    tokio::time::sleep(down_for.saturating_sub(killed.elapsed())).await;
    for sidecar in mesh.sidecars() {
        assert_eq!(sidecar.admin_get("/ready").await.0, 200);
    }

    let restarting = Instant::now();
    mesh.cp.restart().await;
    let status = mesh.cp.wait_converged(3).await;
    let converged = Instant::now();
    eprintln!(
        "control plane down {down_for:?}; restarted → every sidecar back and acked in {:?} \
         (version {} of the new one)",
        converged - restarting,
        status.version
    );
    for sidecar in mesh.sidecars() {
        sidecar.wait_connected(1.0).await;
        let config = sidecar.config_json().await;
        assert_eq!(config["version"], status.version.to_string(), "{config}");
        assert_eq!(
            config["config"]["mesh"]["services"]["orders"]["endpoints"]
                .as_array()
                .map(Vec::len),
            Some(2),
            "{config}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outcomes = load.stop().await;
    // Every request that got an answer from an app reached it once.
    let per_app: Vec<usize> = mesh.apps.iter().map(|a| received(a, "/outage")).collect();
    let answered = outcomes.iter().filter(|o| o.ok()).count();
    assert_eq!(per_app.iter().sum::<usize>(), answered, "{per_app:?}");
    Outage {
        mesh,
        outcomes,
        restarting,
        converged,
    }
}

// 5. The control plane goes away: sidecars serve on and reconnect when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_serve_through_a_control_plane_outage_and_reconnect() {
    let outage = control_plane_outage(Duration::from_millis(800)).await;
    let (down, reconnecting, after): (Vec<&Outcome>, Vec<&Outcome>, Vec<&Outcome>) = {
        let by = |range: &dyn Fn(Instant) -> bool| -> Vec<&Outcome> {
            outage
                .outcomes
                .iter()
                .filter(|o| range(o.started))
                .collect()
        };
        (
            by(&|t| t < outage.restarting),
            by(&|t| t >= outage.restarting && t < outage.converged),
            by(&|t| t >= outage.converged),
        )
    };
    // Before the control plane came back (and while it was down): every request answered.
    assert!(down.len() >= 40, "{}", down.len());
    assert!(
        down.iter().all(|o| o.ok()),
        "{:#?}",
        failures(&outage.outcomes)
    );
    // Once every sidecar is back and acked: every request answered.
    assert!(after.len() >= 10, "{}", after.len());
    assert!(after.iter().all(|o| o.ok()), "{after:#?}");
    // While the sidecars reconnect, the first one back may apply a snapshot without the
    // endpoints of those not back yet (see the ignored test below): counted, not asserted.
    let failed: Vec<&&Outcome> = reconnecting.iter().filter(|o| !o.ok()).collect();
    eprintln!(
        "reconnect window: {} of {} requests failed{}",
        failed.len(),
        reconnecting.len(),
        failed
            .first()
            .map(|o| format!(" (first: {:?})", o.result))
            .unwrap_or_default()
    );

    // The new control plane works as the first did: an edit is pushed and acked.
    let mesh = &outage.mesh;
    let version = mesh
        .push("orders.yaml", "services:\n  orders:\n    timeout: 5s\n", 3)
        .await;
    assert_eq!(config_version(&mesh.web).await, version.to_string());
    assert_eq!(mesh.answered_by("/back").await.len(), 2);
}

// 5b. The strict form of 5: after a control-plane restart, a sidecar back before its callees
// keeps its last snapshot (the control plane holds a reconnecting sidecar's first snapshot for
// `--warm-up`) instead of applying a mesh in which the callees have no endpoints yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_late_to_reconnect_to_a_restarted_control_plane_keeps_its_traffic() {
    let mut cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let relay = TcpRelay::start(cp.api()).await;
    let web_app = EchoServer::start("web-app").await;
    let web = cp.sidecar("web", web_app.addr()).await;
    let app = EchoServer::start("orders-0").await;
    let via_relay = format!("https://{}", relay.addr());
    let mut orders = cp
        .sidecar_builder(&via_relay, "orders", app.addr())
        .start_bound()
        .await;
    orders.wait_ready().await;
    cp.wait_converged(2).await;
    let load = Load::start(web.outbound(), "/late", 1, Duration::from_millis(20));
    app.wait_for(5).await;

    relay.set_open(false);
    cp.kill();
    web.wait_connected(0.0).await;
    orders.wait_connected(0.0).await;
    cp.restart().await;
    // `orders` is cut off for 300 ms more: back later than `web`, within the warm-up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.set_open(true);
    cp.wait_converged(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcomes = load.stop().await;
    assert_no_failures(&outcomes, 5);
}

// 6. A sidecar that is gone leaves its callers' balancers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sidecar_leaves_the_callers_balancers() {
    let mut mesh = Mesh::start(&[("orders.yaml", ORDERS)], 2).await;
    let before = mesh.cp.status().await.version;
    let load = Load::start(mesh.web.outbound(), "/steady", 1, Duration::from_millis(10));
    mesh.apps[1].wait_for(5).await;

    let gone = mesh.orders.remove(1);
    let gone_addr = gone.inbound().to_string();
    let killed = Instant::now();
    drop(gone); // SIGKILL: no goodbye.
    let status = mesh
        .cp
        .wait_status("the endpoint removed and the removal acked", |s| {
            s.version > before && s.converged(2)
        })
        .await;
    let removed = Instant::now();
    eprintln!(
        "kill → endpoint removed and acked by the remaining sidecars: {:?} (grace 500ms)",
        removed - killed
    );
    assert!(status.sidecars.iter().all(|s| s.address != gone_addr));
    let event = mesh.cp.history().await.event(status.version).clone();
    assert_eq!(event.kind, "endpoints", "{event:?}");
    assert_eq!(event.summary, format!("left orders {gone_addr}"));
    let config = mesh.web.config_json().await;
    assert_eq!(
        config["config"]["mesh"]["services"]["orders"]["endpoints"],
        serde_json::json!([mesh.orders[0].inbound().to_string()]),
        "{config}"
    );

    // After the removal is acked, every request goes to the remaining app.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outcomes = load.stop().await;
    let mut burst = Vec::new();
    for proto in BOTH {
        burst.extend(
            mesh.client(proto)
                .send_many(50, 4, |i| get(&format!("/after/{i}")))
                .await,
        );
    }
    assert!(
        burst
            .iter()
            .all(|r| r.status == 200 && r.upstream() == "orders-0"),
        "{burst:?}"
    );
    assert_eq!(received(&mesh.apps[0], "/after/"), 100);
    assert_eq!(received(&mesh.apps[1], "/after/"), 0);

    let in_window = outcomes
        .iter()
        .filter(|o| o.started >= killed && o.started < removed)
        .count();
    let window_failures: Vec<&Outcome> = failures(&outcomes)
        .into_iter()
        .filter(|o| o.started < removed)
        .collect();
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started >= removed).collect();
    eprintln!(
        "kill window: {} of {in_window} requests failed before the removal was acked; {} after",
        window_failures.len(),
        after.len()
    );
    for failure in &window_failures {
        eprintln!("  failed in the window: {failure:?}");
    }
    let samples = mesh.web.metric_samples().await;
    for name in ["convoy_retries_total", "convoy_retries_skipped_total"] {
        for sample in samples.matching(name, &[("service", "orders")]) {
            eprintln!("  web: {name}{:?} {}", sample.labels, sample.value);
        }
    }
    assert!(after.len() >= 10, "{}", after.len());
    assert!(
        after
            .iter()
            .all(|o| o.ok() && o.result.as_ref().is_ok_and(|(_, u)| u == "orders-0")),
        "{:#?}",
        after.iter().filter(|o| !o.ok()).collect::<Vec<_>>()
    );
    // Without a retry policy a request may fail where the dead endpoint could still be
    // picked, but the balancer steers away after its first failure: a handful at most.
    assert!(window_failures.len() <= 10, "{window_failures:#?}");
}

// 7. A new sidecar receives traffic once the callers know it.
#[tokio::test]
async fn a_new_sidecar_receives_traffic() {
    let mut mesh = Mesh::start(&[("orders.yaml", ORDERS)], 2).await;
    let before = mesh.cp.status().await.version;
    mesh.add_orders().await;
    let status = mesh.cp.wait_converged(4).await;
    assert!(status.version > before);
    let new = status.of(&mesh.orders[2]);
    assert_eq!(new.service, "orders");
    let event = mesh.cp.history().await.event(status.version).clone();
    assert_eq!(event.kind, "endpoints", "{event:?}");
    assert!(
        event
            .summary
            .contains(&format!("joined orders {}", mesh.orders[2].inbound())),
        "{event:?}"
    );
    let endpoints =
        mesh.web.config_json().await["config"]["mesh"]["services"]["orders"]["endpoints"].clone();
    assert_eq!(endpoints.as_array().map(Vec::len), Some(3), "{endpoints}");

    for proto in BOTH {
        let replies = mesh
            .client(proto)
            .send_many(60, 3, |i| get(&format!("/spread/{i}")))
            .await;
        assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    }
    let per_app: Vec<usize> = mesh.apps.iter().map(|a| received(a, "/spread/")).collect();
    eprintln!("requests per orders app after the third joined: {per_app:?}");
    assert_eq!(per_app.iter().sum::<usize>(), 120);
    assert!(
        per_app[2] > 0,
        "the new sidecar's app got nothing: {per_app:?}"
    );
    let seen = mesh.apps[2].last();
    assert_eq!(seen.header("host"), Some("orders"));
}

// 8. A rollback restores an earlier version everywhere (by the API, then the command line).
#[tokio::test]
async fn a_rollback_restores_an_earlier_version_everywhere() {
    let beta = EchoServer::start("beta").await;
    let mesh = Mesh::with_beta_route(&beta).await;
    let version_a = mesh.cp.status().await.version;
    assert_eq!(mesh.answered_by("/beta/a").await, ["beta", "beta"]);

    let version_b = mesh
        .push("orders.yaml", "services:\n  orders:\n    timeout: 3s\n", 2)
        .await;
    assert_eq!(mesh.answered_by("/beta/b").await, ["orders-0", "orders-0"]);

    // By the API.
    let rolled = mesh
        .cp
        .rollback(version_a, "alice")
        .await
        .expect("the rollback is accepted");
    assert_eq!(rolled, version_b + 1);
    mesh.cp
        .wait_status("the rollback acked by all", |s| {
            s.version == rolled && s.converged(2)
        })
        .await;
    for sidecar in mesh.sidecars() {
        assert_eq!(config_version(sidecar).await, rolled.to_string());
    }
    assert_eq!(mesh.answered_by("/beta/rolled").await, ["beta", "beta"]);
    let history = mesh.cp.history().await;
    let event = history.event(rolled);
    assert_eq!(
        (event.kind.as_str(), event.author.as_str()),
        ("rollback", "alice"),
        "{event:?}"
    );
    assert!(
        event
            .summary
            .starts_with(&format!("rollback to version {version_a}: changed orders")),
        "{event:?}"
    );
    assert_eq!(
        mesh.cp.rollback(9999, "alice").await.map_err(|e| e.0),
        Err(404)
    );

    // By the command line, back to B.
    let out = mesh
        .cp
        .cli(&["rollback", &version_b.to_string(), "--author", "bob"])
        .await;
    assert!(out.status.success(), "{out:?}");
    let again = rolled + 1;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some(
            format!("published version {again} with the configuration of version {version_b}")
                .as_str()
        )
    );
    mesh.cp
        .wait_status("the second rollback acked by all", |s| {
            s.version == again && s.converged(2)
        })
        .await;
    assert_eq!(
        mesh.answered_by("/beta/again").await,
        ["orders-0", "orders-0"]
    );
    let history = mesh.cp.history().await;
    let event = history.event(again);
    assert_eq!(
        (event.kind.as_str(), event.author.as_str()),
        ("rollback", "bob"),
        "{event:?}"
    );
    let out = mesh.cp.cli(&["history"]).await;
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("rollback"), "{table}");

    // What each app received: A, B, A, B.
    assert_eq!(received(&beta, "/beta/"), 4);
    assert_eq!(received(&mesh.apps[0], "/beta/"), 4);
    let rolled_status: Status = mesh.cp.status().await;
    assert!(rolled_status.last_rejected.is_none());
}
