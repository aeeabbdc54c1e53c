//! Graceful drain on SIGTERM: requests in flight finish, new connections are refused, `/ready`
//! turns 503, HTTP/2 clients get GOAWAY, and the process exits 0 within its grace period.

use convoy_tests::conn::H2Conn;
use convoy_tests::requests::get;
use convoy_tests::upstream::{Behaviour, EchoServer};
use convoy_tests::{proxy_to_plain, within, ConfigYaml, HttpClient, Proto, Proxy};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How long the upstream takes to answer: the window in which the drain is observed.
const UPSTREAM_DELAY: Duration = Duration::from_millis(2500);
const GRACE: Duration = Duration::from_secs(10);
const PER_PROTOCOL: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_in_flight_and_exits_zero() {
    let upstream = EchoServer::with("orders", Behaviour::default().delay(UPSTREAM_DELAY)).await;
    let mut proxy = proxy_to_plain("orders", &[upstream.addr()])
        .arg("--grace-period")
        .arg("10s")
        .start()
        .await;

    // Slow requests in flight: over HTTP/1.1 (one connection each) and over one HTTP/2 connection.
    let mut in_flight = Vec::new();
    for i in 0..PER_PROTOCOL {
        let client = HttpClient::new(Proto::Http1, proxy.outbound());
        in_flight.push(tokio::spawn(async move {
            client.try_send(get(&format!("/h1/{i}"))).await
        }));
    }
    let h2 = H2Conn::connect(proxy.outbound()).await;
    for i in 0..PER_PROTOCOL {
        let sender = h2.sender();
        in_flight.push(tokio::spawn(async move {
            sender.send(get(&format!("/h2/{i}"))).await
        }));
    }
    upstream.wait_for(2 * PER_PROTOCOL).await;

    let signalled = Instant::now();
    proxy.sigterm();

    // /ready turns 503 while the requests are still in flight.
    within(Duration::from_secs(5), "/ready to answer 503", async {
        loop {
            if proxy.admin_get("/ready").await.0 == 503 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // New connections are refused.
    within(
        Duration::from_secs(5),
        "new connections to be refused",
        async {
            while TcpStream::connect(proxy.outbound()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
    let drain_seen = signalled.elapsed();
    assert!(
        in_flight.iter().all(|t| !t.is_finished()),
        "the drain must be observed while requests are in flight; took {drain_seen:?}"
    );

    // The HTTP/2 connection got GOAWAY while its streams are in flight: a new stream on it is
    // refused and reaches nothing. (Between a server's first GOAWAY and its final one, one
    // round trip later, new streams may still be accepted; the pause lets that window pass.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = h2.sender().send(get("/h2/late")).await;
    assert!(
        late.is_err(),
        "a stream opened after GOAWAY was served: {late:?}"
    );
    assert!(
        in_flight.iter().all(|t| !t.is_finished()),
        "GOAWAY must come while the streams are in flight"
    );

    for task in in_flight {
        let reply = within(Duration::from_secs(10), "a request in flight", task)
            .await
            .expect("the request task does not panic")
            .expect("a request in flight at SIGTERM completes");
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("x-upstream"), Some("orders"));
    }
    assert_eq!(
        upstream.count(),
        2 * PER_PROTOCOL,
        "nothing after GOAWAY reached the upstream"
    );

    // The HTTP/2 connection closes once its streams are done.
    within(
        Duration::from_secs(5),
        "the HTTP/2 connection to close",
        h2.closed(),
    )
    .await
    .expect("the HTTP/2 connection closes cleanly");

    let status = proxy.wait_exit(GRACE).await;
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < GRACE,
        "exited after the grace period: the drain did not finish by itself"
    );
    let log = proxy.log();
    assert!(log.contains("drained"), "{log}");
}

#[tokio::test]
async fn an_idle_proxy_exits_at_once_on_sigterm() {
    let mut proxy = Proxy::start(&ConfigYaml::new("web").render()).await;
    // An idle keep-alive connection must not hold the drain.
    let client = HttpClient::new(Proto::Http1, proxy.outbound());
    assert_eq!(client.get("nosuch", "/").await.status, 404);
    let h2 = H2Conn::connect(proxy.outbound()).await;
    let signalled = Instant::now();
    proxy.sigterm();
    let status = proxy.wait_exit(GRACE).await;
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "an idle proxy took {:?} to drain",
        signalled.elapsed()
    );
    drop(h2);
}

#[tokio::test]
async fn a_request_outlasting_the_grace_period_does_not_hold_the_exit() {
    let upstream = EchoServer::with(
        "orders",
        Behaviour::default().delay(Duration::from_secs(60)),
    )
    .await;
    let mut proxy = proxy_to_plain("orders", &[upstream.addr()])
        .arg("--grace-period")
        .arg("1s")
        .start()
        .await;
    let client = HttpClient::new(Proto::Http1, proxy.outbound());
    let stuck = tokio::spawn(async move { client.try_send(get("/stuck")).await });
    upstream.wait_for(1).await;
    let signalled = Instant::now();
    proxy.sigterm();
    // Grace period 1s: the process is gone well within 5s (a behaviour bound).
    let status = proxy.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "exited after {:?}, before the grace period was over",
        signalled.elapsed()
    );
    let outcome = within(Duration::from_secs(5), "the stuck request to end", stuck)
        .await
        .expect("the task does not panic");
    assert!(outcome.is_err(), "the stuck request was cut: {outcome:?}");
    assert!(proxy.log().contains("grace period over"), "{}", proxy.log());
}
