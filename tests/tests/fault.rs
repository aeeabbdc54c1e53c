//! Inbound fault injection: aborts answer without the app, delays hold requests back, shares
//! follow the percentages, a route's fault overrides the service's, and the metrics count them.

use convoy_tests::{web_in_front_of_echo, HttpClient, Proxy, Reply, BOTH};
use std::time::{Duration, Instant};

fn assert_aborted(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{reply:?}");
    let message = reply.convoy_error().unwrap_or_default();
    assert!(
        message.starts_with(&format!("fault injected: abort with {status}")),
        "{reply:?}"
    );
    assert_eq!(reply.text(), format!("{message}\n"));
}

async fn injected(proxy: &Proxy, kind: &str) -> f64 {
    proxy.metric_samples().await.sum(
        "convoy_faults_injected_total",
        &[("service", "web"), ("kind", kind)],
    )
}

#[tokio::test]
async fn an_abort_of_every_request_never_reaches_the_app() {
    let (app, proxy) =
        web_in_front_of_echo("fault: { abort: { status: 503, percent: 100 } }").await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.inbound());
        for _ in 0..20 {
            assert_aborted(&client.get("web", "/x").await, 503);
        }
    }
    assert_eq!(app.count(), 0);
    assert_eq!(injected(&proxy, "abort").await, 40.0);
    assert_eq!(injected(&proxy, "delay").await, 0.0);
}

#[tokio::test]
async fn half_the_requests_are_aborted_at_fifty_percent() {
    let (app, proxy) = web_in_front_of_echo("fault: { abort: { status: 500, percent: 50 } }").await;
    let mut aborted = 0;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.inbound());
        for _ in 0..200 {
            let reply = client.get("web", "/x").await;
            if reply.status == 200 {
                assert_eq!(reply.header("x-upstream"), Some("web-app"));
            } else {
                assert_aborted(&reply, 500);
                aborted += 1;
            }
        }
    }
    assert!((140..=260).contains(&aborted), "{aborted} of 400 aborted");
    assert_eq!(app.count(), 400 - aborted);
    assert_eq!(injected(&proxy, "abort").await, aborted as f64);
}

#[tokio::test]
async fn a_delay_holds_every_request_back() {
    let (app, proxy) =
        web_in_front_of_echo("fault: { delay: { duration: 200ms, percent: 100 } }").await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.inbound());
        for _ in 0..5 {
            let start = Instant::now();
            let reply = client.get("web", "/x").await;
            let took = start.elapsed();
            assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
            assert!(
                (Duration::from_millis(200)..Duration::from_secs(2)).contains(&took),
                "{proto:?}: took {took:?}"
            );
        }
    }
    assert_eq!(app.count(), 10);
    assert_eq!(injected(&proxy, "delay").await, 10.0);
}

#[tokio::test]
async fn a_route_fault_overrides_the_services() {
    let (app, proxy) = web_in_front_of_echo(concat!(
        "fault: { abort: { status: 503, percent: 100 } }\n",
        "routes:\n",
        "  - match: { path_prefix: /delayed }\n",
        "    fault: { delay: { duration: 100ms, percent: 100 } }\n",
    ))
    .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.inbound());
        let start = Instant::now();
        let reply = client.get("web", "/delayed/x").await;
        assert_eq!(
            reply.status, 200,
            "{proto:?}: the route has no abort: {reply:?}"
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_aborted(&client.get("web", "/other").await, 503);
    }
    assert_eq!(app.count(), 2);
    assert_eq!(injected(&proxy, "delay").await, 2.0);
    assert_eq!(injected(&proxy, "abort").await, 2.0);
}

#[tokio::test]
async fn the_rate_limit_refuses_before_faults_are_injected() {
    let (app, proxy) = web_in_front_of_echo(concat!(
        "rate_limit: { requests_per_second: 1, burst: 2, per: caller, caller_header: x-caller }\n",
        "fault: { abort: { status: 503, percent: 100 } }\n",
    ))
    .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.inbound());
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let request = client
                .request("web", "/x")
                .header("x-caller", format!("{proto:?}"))
                .body(convoy_tests::client::empty())
                .unwrap();
            statuses.push(client.send(request).await.status.as_u16());
        }
        // Admitted ones meet the fault; refused ones never get that far.
        assert_eq!(&statuses[..2], [503, 503], "{proto:?}");
        assert!(
            statuses[2..].iter().all(|s| *s == 429 || *s == 503),
            "{proto:?}: {statuses:?}"
        );
        assert!(statuses[2..].contains(&429), "{proto:?}: {statuses:?}");
    }
    assert_eq!(app.count(), 0);
}
