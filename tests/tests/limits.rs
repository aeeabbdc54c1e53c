//! Limits on what clients may send and hold: header count and size (431), the header read
//! timeout for slow clients, and the connection limit.

use convoy_tests::client::empty;
use convoy_tests::raw::{RawConn, RawError};
use convoy_tests::upstream::EchoServer;
use convoy_tests::{ConfigYaml, HttpClient, Proto, Proxy};
use std::time::Duration;

async fn start(max_connections: &str) -> (EchoServer, Proxy) {
    let upstream = EchoServer::start("orders").await;
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .limit("header_read_timeout", "1s")
            .limit("max_header_count", "20")
            .limit("max_header_bytes", "16KiB")
            .limit("idle_timeout", "60s")
            .limit("max_concurrent_streams", "100")
            .limit("max_connections", max_connections)
            .plain_service("orders", &[upstream.addr()])
            .render(),
    )
    .await;
    (upstream, proxy)
}

fn request_with_headers(count: usize, value_len: usize) -> Vec<u8> {
    let mut request = String::from("GET /limits HTTP/1.1\r\nHost: orders\r\n");
    for i in 0..count {
        request.push_str(&format!("x-h{i}: {}\r\n", "v".repeat(value_len)));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

#[tokio::test]
async fn too_many_headers_is_431_over_http1_and_http2() {
    let (upstream, proxy) = start("100").await;

    // HTTP/1.1: exactly the limit (Host plus 19) passes, one more is refused. Headers the
    // proxy adds itself (traceparent) do not count against the client.
    let mut conn = RawConn::connect(proxy.outbound()).await;
    let ok = conn.round_trip(&request_with_headers(19, 8)).await;
    assert_eq!(ok.status, 200, "HTTP/1.1 at the limit: {ok:?}");
    for extra in [20, 40] {
        let mut conn = RawConn::connect(proxy.outbound()).await;
        let response = conn.round_trip(&request_with_headers(extra, 8)).await;
        assert_eq!(
            response.status,
            431,
            "HTTP/1.1, {} headers: {response:?}",
            extra + 1
        );
    }

    // HTTP/2: `:authority` is not a header field; 20 pass, 21 and 40 are refused.
    let client = HttpClient::new(Proto::Http2, proxy.outbound());
    for (count, status) in [(20, 200), (21, 431), (40, 431)] {
        let mut request = client.request("orders", "/limits");
        for i in 0..count {
            request = request.header(format!("x-h{i}"), "v");
        }
        let reply = client.send(request.body(empty()).unwrap()).await;
        assert_eq!(reply.status, status, "HTTP/2, {count} headers: {reply:?}");
        if status == 431 {
            assert_eq!(
                reply.convoy_error(),
                Some(format!("too many headers: {count}, the limit is 20").as_str())
            );
        }
    }
    assert_eq!(
        upstream.count(),
        2,
        "only the requests within the limit got through"
    );
}

#[tokio::test]
async fn too_large_header_block_is_431() {
    let (upstream, proxy) = start("100").await;
    let mut conn = RawConn::connect(proxy.outbound()).await;
    let response = conn.round_trip(&request_with_headers(1, 20 * 1024)).await;
    assert_eq!(response.status, 431, "HTTP/1.1: {response:?}");

    let client = HttpClient::new(Proto::Http2, proxy.outbound());
    let request = client
        .request("orders", "/limits")
        .header("x-big", "v".repeat(20 * 1024))
        .body(empty())
        .unwrap();
    let reply = client.send(request).await;
    assert_eq!(reply.status, 431, "HTTP/2: {reply:?}");
    assert_eq!(upstream.count(), 0);
    // The HTTP/2 connection stays usable for well-formed requests.
    assert_eq!(client.get("orders", "/after").await.status, 200);
}

#[tokio::test]
async fn a_client_stalling_in_the_request_head_is_cut_after_header_read_timeout() {
    let (upstream, proxy) = start("100").await;
    let mut conn = RawConn::connect(proxy.outbound()).await;
    conn.send(b"GET /slow HTTP/1.1\r\nHost: orders\r\nx-half: ")
        .await
        .unwrap();
    // header_read_timeout is 1s: the connection must be closed well before 5s (a behaviour
    // bound, with room for a loaded machine), and not at once.
    let closed_after = conn
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("the stalled connection was still open after 5s");
    assert!(
        closed_after >= Duration::from_millis(500),
        "closed after {closed_after:?}: sooner than the 1s header read timeout"
    );
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn max_connections_holds_further_connections_until_one_closes() {
    let (upstream, proxy) = start("2").await;
    let get = b"GET /held HTTP/1.1\r\nHost: orders\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = RawConn::connect(proxy.outbound()).await;
        let response = conn.round_trip(get).await;
        assert_eq!(response.status, 200);
        held.push(conn); // kept open (keep-alive)
    }
    let mut third = RawConn::connect(proxy.outbound()).await;
    third.send(get).await.unwrap();
    match third.read_response(Duration::from_millis(700)).await {
        Err(RawError::Timeout) => {}
        other => panic!("a third connection was served while two were open: {other:?}"),
    }
    assert_eq!(upstream.count(), 2);

    drop(held.pop());
    let response = third
        .read_response(Duration::from_secs(10))
        .await
        .expect("served once a slot is free");
    assert_eq!(response.status, 200);
    assert_eq!(upstream.count(), 3);

    // The connection still held keeps working.
    let mut first = held.pop().unwrap();
    let response = first.round_trip(get).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn idle_connections_are_closed_but_busy_ones_are_not() {
    let upstream = EchoServer::with(
        "orders",
        convoy_tests::upstream::Behaviour::default().delay(Duration::from_millis(1500)),
    )
    .await;
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .limit("idle_timeout", "500ms")
            .plain_service("orders", &[upstream.addr()])
            .render(),
    )
    .await;
    // A connection that never sends anything is closed after the idle timeout.
    let mut idle = RawConn::connect(proxy.outbound()).await;
    let closed_after = idle
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("an idle connection is closed");
    assert!(
        closed_after >= Duration::from_millis(400),
        "{closed_after:?}"
    );

    // A connection whose request takes three idle timeouts to answer is kept until it is answered.
    let mut busy = RawConn::connect(proxy.outbound()).await;
    busy.send(b"GET /slow HTTP/1.1\r\nHost: orders\r\n\r\n")
        .await
        .unwrap();
    let response = busy
        .read_response(Duration::from_secs(10))
        .await
        .expect("the slow request is answered");
    assert_eq!(response.status, 200, "{response:?}");
    // ...and closed once it has been idle again.
    assert!(busy.wait_closed(Duration::from_secs(5)).await.is_some());
}
