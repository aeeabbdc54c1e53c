//! Load spread over the endpoints of one service.

use convoy_tests::upstream::EchoServer;
use convoy_tests::{proxy_to_plain, HttpClient, Proxy, BOTH};
use futures_util::StreamExt;

const REQUESTS: usize = 600;
const IN_FLIGHT: usize = 16;

/// Three echo servers, `one`, `two` and `three`, as the endpoints of plain service `pool`.
async fn pool_of_three() -> ([EchoServer; 3], Proxy) {
    let servers = [
        EchoServer::start("one").await,
        EchoServer::start("two").await,
        EchoServer::start("three").await,
    ];
    let addrs: Vec<_> = servers.iter().map(EchoServer::addr).collect();
    let proxy = proxy_to_plain("pool", &addrs).start().await;
    (servers, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_load_spreads_over_three_endpoints() {
    let (servers, proxy) = pool_of_three().await;
    for proto in BOTH {
        let before: Vec<usize> = servers.iter().map(EchoServer::count).collect();
        let client = HttpClient::new(proto, proxy.outbound());
        let statuses: Vec<u16> = futures_util::stream::iter(0..REQUESTS)
            .map(|i| {
                let client = client.clone();
                async move { client.get("pool", &format!("/r/{i}")).await.status.as_u16() }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        assert!(
            statuses.iter().all(|s| *s == 200),
            "{proto:?}: {statuses:?}"
        );
        let got: Vec<usize> = servers
            .iter()
            .zip(&before)
            .map(|(s, b)| s.count() - b)
            .collect();
        eprintln!("{proto:?}: requests per endpoint {got:?}");
        assert_eq!(got.iter().sum::<usize>(), REQUESTS);
        // A fair share is a third; every endpoint gets at least 15% (90 of 600).
        for (server, n) in servers.iter().zip(&got) {
            assert!(
                *n * 100 >= REQUESTS * 15,
                "{proto:?}: endpoint {} got {n} of {REQUESTS} requests; all: {got:?}",
                server.name()
            );
        }
    }
}

#[tokio::test]
async fn sequential_requests_reach_every_endpoint() {
    // One request at a time: the balancer must still try every endpoint, not stick to the
    // first one that answered.
    let (servers, proxy) = pool_of_three().await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for _ in 0..30 {
            assert_eq!(client.get("pool", "/").await.status, 200);
        }
    }
    let got: Vec<usize> = servers.iter().map(EchoServer::count).collect();
    assert!(
        got.iter().all(|n| *n > 0),
        "an endpoint got no request: {got:?}"
    );
}

#[tokio::test]
async fn a_dead_endpoint_is_avoided_after_it_fails() {
    let alive = EchoServer::start("alive").await;
    let dead = convoy_harness::ports::closed_port();
    let proxy = proxy_to_plain("pool", &[dead, alive.addr()]).start().await;
    let mut failed = 0;
    const REQUESTS: usize = 40;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for _ in 0..REQUESTS / 2 {
            let reply = client.get("pool", "/").await;
            match reply.status.as_u16() {
                200 => {}
                502 => failed += 1,
                other => panic!("unexpected {other}: {reply:?}"),
            }
        }
    }
    // Without retries a request sent to the dead endpoint fails; the balancer must learn from
    // that and not keep choosing it.
    assert!(
        failed <= 2,
        "{failed} of {REQUESTS} requests went to the dead endpoint"
    );
}
