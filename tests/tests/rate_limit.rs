//! Inbound rate limits: a limit holds under overload, callers are counted apart, and a route's
//! limit stays on its route. Refusals are 429s with `Retry-After` and the RateLimit headers,
//! and never reach the app.

use convoy_tests::client::empty;
use convoy_tests::{web_in_front_of_echo, HttpClient, Proto, Reply, BOTH};
use std::time::Duration;
use tokio::time::Instant;

/// A 429 from `rule` (`rate`/s) refusing `scope` (`in total`, `for caller <name>`).
fn assert_limited(reply: &Reply, rule: &str, rate: u32, scope: &str) {
    assert_eq!(reply.status, 429, "{reply:?}");
    let message = format!("rate limited: {rate}/s {scope} (rule {rule})");
    assert_eq!(reply.convoy_error(), Some(message.as_str()), "{reply:?}");
    assert_eq!(reply.text(), format!("{message}\n"));
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in whole seconds: {reply:?}"));
    assert!(retry_after >= 1, "{reply:?}");
    let policy = format!("\"{rule}\";q={rate};w=1");
    assert_eq!(reply.header("ratelimit-policy"), Some(policy.as_str()));
    let remaining = format!("\"{rule}\";r=0;t={retry_after}");
    assert_eq!(reply.header("ratelimit"), Some(remaining.as_str()));
}

fn get(
    client: &HttpClient,
    path: &str,
    caller: Option<&str>,
) -> http::Request<convoy_tests::client::Body> {
    let mut request = client.request("web", path);
    if let Some(caller) = caller {
        request = request.header("x-caller", caller);
    }
    request.body(empty()).expect("a valid request")
}

const RATE: u32 = 100;
const BURST: u32 = 20;

/// 300 requests/s offered for 10 s to a 100/s limit, open loop: each request is sent on its
/// schedule, whether or not earlier ones were answered.
async fn overload(proto: Proto) {
    const OFFERED: u32 = 3 * RATE;
    const PERIOD: Duration = Duration::from_secs(10);
    let (app, proxy) = web_in_front_of_echo(&format!(
        "rate_limit: {{ requests_per_second: {RATE}, burst: {BURST} }}"
    ))
    .await;
    let client = HttpClient::new(proto, proxy.inbound());
    let total = OFFERED * PERIOD.as_secs() as u32;
    let start = Instant::now();
    let mut last_sent = start;
    let mut sends = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until(start + PERIOD * i / total).await;
        last_sent = Instant::now();
        let client = client.clone();
        sends.push(tokio::spawn(async move {
            client.send(get(&client, "/load", None)).await
        }));
    }
    let span = last_sent - start;
    let mut admitted = 0;
    let mut limited = 0;
    for send in sends {
        let reply = send.await.expect("the request task");
        if reply.status == 200 {
            admitted += 1;
        } else {
            assert_limited(&reply, "web:total", RATE, "in total");
            limited += 1;
        }
    }
    assert_eq!(admitted + limited, total);
    let expected = f64::from(BURST) + f64::from(RATE) * span.as_secs_f64();
    let tolerance = 0.05 * f64::from(RATE) * span.as_secs_f64();
    assert!(
        (f64::from(admitted) - expected).abs() <= tolerance,
        "{proto:?}: {admitted} admitted in {span:?}, expected {expected:.0} ± {tolerance:.0}"
    );
    assert_eq!(
        app.count(),
        admitted as usize,
        "{proto:?}: the app saw exactly the admitted"
    );
    let samples = proxy.metric_samples().await;
    let counted = samples.sum(
        "convoy_rate_limited_total",
        &[("service", "web"), ("rule", "web:total")],
    );
    assert_eq!(counted, f64::from(limited), "{proto:?}");
    assert_eq!(
        samples.requests("inbound", "web", "4xx"),
        f64::from(limited)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_holds_under_three_times_its_rate() {
    // Both protocols at once, each against its own sidecar: one 10 s period for the two.
    tokio::join!(overload(Proto::Http1), overload(Proto::Http2));
}

/// Sends as `caller` from `workers` loops, each waiting for its answer, until `until`; the
/// replies.
async fn flood(client: &HttpClient, caller: &str, workers: usize, until: Instant) -> Vec<Reply> {
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, caller) = (client.clone(), caller.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            while Instant::now() < until {
                replies.push(client.send(get(&client, "/flood", Some(&caller))).await);
            }
            replies
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.extend(task.await.expect("a flood task"));
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_limited_apart() {
    let (app, proxy) = web_in_front_of_echo(
        "rate_limit: { requests_per_second: 20, burst: 5, per: caller, caller_header: x-caller }",
    )
    .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.inbound());
        let (flooder, quiet) = (format!("flood-{proto:?}"), format!("quiet-{proto:?}"));
        let before = app.count();
        let start = Instant::now();
        let until = start + Duration::from_secs(2);
        let flooding = {
            let (client, flooder) = (client.clone(), flooder.clone());
            tokio::spawn(async move { flood(&client, &flooder, 8, until).await })
        };
        // Meanwhile the quiet caller sends 10 a second, half its limit.
        let mut quiet_replies = Vec::new();
        while Instant::now() < until {
            quiet_replies.push(client.send(get(&client, "/quiet", Some(&quiet))).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let flood_replies = flooding.await.expect("the flood");
        let elapsed = start.elapsed().as_secs_f64();
        for reply in &quiet_replies {
            assert_eq!(reply.status, 200, "{proto:?}: the quiet caller: {reply:?}");
        }
        let flood_admitted = flood_replies.iter().filter(|r| r.status == 200).count();
        for reply in flood_replies.iter().filter(|r| r.status != 200) {
            assert_limited(reply, "web:caller", 20, &format!("for caller {flooder}"));
        }
        assert!(
            flood_replies.len() > flood_admitted * 2,
            "{proto:?}: a flood, mostly refused: {} sent, {flood_admitted} admitted",
            flood_replies.len()
        );
        assert!(
            flood_admitted as f64 <= 5.0 + 20.0 * elapsed + 2.0,
            "{proto:?}: {flood_admitted} admitted in {elapsed:.1}s"
        );
        assert_eq!(
            app.count() - before,
            flood_admitted + quiet_replies.len(),
            "{proto:?}: only admitted requests reach the app"
        );
    }
}

#[tokio::test]
async fn a_route_limit_applies_to_its_route_only() {
    let limited_route = |prefix: &str| {
        format!(
            "  - match: {{ path_prefix: {prefix} }}\n    rate_limit: {{ requests_per_second: 1, burst: 3 }}\n"
        )
    };
    let (app, proxy) = web_in_front_of_echo(&format!(
        "routes:\n{}{}",
        limited_route("/http1/limited"),
        limited_route("/http2/limited")
    ))
    .await;
    for (index, proto) in BOTH.into_iter().enumerate() {
        let client = HttpClient::new(proto, proxy.inbound());
        let prefix = format!("/{proto:?}").to_lowercase();
        let before = app.count();
        let started = Instant::now();
        let mut admitted = 0;
        for _ in 0..10 {
            let reply = client
                .send(get(&client, &format!("{prefix}/limited/x"), None))
                .await;
            if reply.status == 200 {
                admitted += 1;
            } else {
                assert_limited(&reply, &format!("web/routes[{index}]:total"), 1, "in total");
            }
        }
        // The burst, plus one a second for however long the ten took.
        let refilled = started.elapsed().as_secs() as usize;
        assert!(
            (3..=3 + refilled).contains(&admitted),
            "{proto:?}: {admitted} admitted"
        );
        for path in ["/free", "/limited", &format!("{prefix}/other")] {
            for _ in 0..10 {
                let reply = client.get("web", path).await;
                assert_eq!(reply.status, 200, "{proto:?} {path}: {reply:?}");
            }
        }
        assert_eq!(app.count() - before, admitted + 30, "{proto:?}");
    }
}
