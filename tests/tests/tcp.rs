//! `protocol: tcp` services: bytes forwarded both ways, connections spread over the endpoints.

use convoy_tests::data::{Checksum, Pattern};
use convoy_tests::upstream::TcpEchoServer;
use convoy_tests::{endpoints, within, ConfigYaml, Proxy, STEP_TIMEOUT};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn echo_round_trip(addr: SocketAddr, payload: &[u8]) {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the TCP listener");
    let (mut reader, mut writer) = stream.split();
    let write = async {
        writer.write_all(payload).await.unwrap();
        writer.shutdown().await.unwrap();
    };
    let read = async {
        let mut back = Vec::with_capacity(payload.len());
        reader.read_to_end(&mut back).await.unwrap();
        back
    };
    let ((), back) = within(STEP_TIMEOUT, "TCP echo", async {
        tokio::join!(write, read)
    })
    .await;
    assert_eq!(back.len(), payload.len());
    let (mut sent, mut received) = (Checksum::default(), Checksum::default());
    sent.update(payload);
    received.update(&back);
    assert_eq!(sent, received, "the bytes came back changed");
}

/// A sidecar whose TCP service `db` listens on its own port and forwards to `addrs`.
async fn start(addrs: &[SocketAddr]) -> Proxy {
    Proxy::start(
        &ConfigYaml::new("web")
            .service(
                "db",
                &format!("protocol: tcp\nlisten: 127.0.0.1:0\n{}", endpoints(addrs)),
            )
            .render(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_echo_through_a_tcp_service() {
    let server = TcpEchoServer::start().await;
    let proxy = start(&[server.addr()]).await;
    echo_round_trip(proxy.tcp("db"), b"hello through convoy\n").await;
    let big = Pattern::new(9).chunk(4 * 1024 * 1024);
    echo_round_trip(proxy.tcp("db"), &big).await;
    let samples = proxy.metric_samples().await;
    assert_eq!(
        samples.sum(
            "convoy_tcp_connections_total",
            &[("service", "db"), ("result", "ok")]
        ),
        2.0
    );
}

#[tokio::test]
async fn connections_reach_both_tcp_endpoints() {
    let first = TcpEchoServer::start().await;
    let second = TcpEchoServer::start().await;
    let proxy = start(&[first.addr(), second.addr()]).await;
    const CONNECTIONS: usize = 20;
    for i in 0..CONNECTIONS {
        echo_round_trip(proxy.tcp("db"), format!("connection {i}\n").as_bytes()).await;
    }
    let counts = [first.connections(), second.connections()];
    assert_eq!(counts.iter().sum::<usize>(), CONNECTIONS);
    assert!(
        counts.iter().all(|n| *n > 0),
        "one TCP endpoint got no connection: {counts:?}"
    );
}

#[tokio::test]
async fn an_unreachable_tcp_endpoint_closes_the_client_and_is_counted() {
    let dead = convoy_harness::ports::closed_port();
    let proxy = start(&[dead]).await;
    let mut stream = TcpStream::connect(proxy.tcp("db")).await.unwrap();
    let mut buf = [0u8; 16];
    let n = within(
        STEP_TIMEOUT,
        "the proxy to close the client",
        stream.read(&mut buf),
    )
    .await
    .unwrap_or(0);
    assert_eq!(n, 0, "nothing comes back from a dead endpoint");
    let samples = proxy.metric_samples().await;
    assert_eq!(
        samples.sum(
            "convoy_tcp_connections_total",
            &[("service", "db"), ("result", "connect_error")]
        ),
        1.0
    );
}
