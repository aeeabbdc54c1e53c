//! 8 MiB bodies streamed both ways (upload and download), through one sidecar and through two,
//! over HTTP/1.1 and HTTP/2: byte counts and checksums match end to end.

use convoy_tests::data::{pattern_body, pattern_checksum, Checksum};
use convoy_tests::upstream::StreamingServer;
use convoy_tests::{proxy_to_meshed, proxy_to_plain, ConfigYaml, HttpClient, Proxy, BOTH};
use http_body_util::BodyExt;
use std::net::SocketAddr;

const SIZE: usize = 8 * 1024 * 1024;

async fn upload(client: &HttpClient, seed: u64) {
    let request = client
        .request("files", "/upload")
        .method("POST")
        .body(pattern_body(seed, SIZE, 16 * 1024))
        .unwrap();
    let reply = client.send(request).await;
    assert_eq!(reply.status, 200, "{:?}: {reply:?}", client.proto());
    assert_eq!(
        reply.header("x-received-bytes"),
        Some(SIZE.to_string().as_str())
    );
    assert_eq!(
        reply.header("x-received-checksum"),
        Some(format!("{:016x}", pattern_checksum(seed, SIZE)).as_str()),
        "{:?}: the upstream received other bytes than were sent",
        client.proto()
    );
}

async fn download(client: &HttpClient, seed: u64) {
    let request = client
        .request("files", &format!("/download?bytes={SIZE}&seed={seed}"))
        .body(convoy_tests::client::empty())
        .unwrap();
    let response = convoy_tests::within(
        convoy_tests::STEP_TIMEOUT,
        "download response head",
        client.try_send_head(request),
    )
    .await
    .expect("download request");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut bytes, mut frames, mut sum) = (0usize, 0usize, Checksum::default());
    convoy_tests::within(convoy_tests::STEP_TIMEOUT, "download body", async {
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("download body frame");
            if let Some(data) = frame.data_ref() {
                bytes += data.len();
                frames += 1;
                sum.update(data);
            }
        }
    })
    .await;
    assert_eq!(bytes, SIZE, "{:?}: download length", client.proto());
    assert_eq!(
        sum.value(),
        pattern_checksum(seed, SIZE),
        "{:?}: download checksum",
        client.proto()
    );
    assert!(frames > 1, "the body arrived in one piece: not streamed");
}

async fn both_ways(outbound: SocketAddr, server: &StreamingServer) {
    for (i, proto) in BOTH.into_iter().enumerate() {
        let client = HttpClient::new(proto, outbound);
        let seed = 100 + i as u64;
        upload(&client, seed).await;
        download(&client, seed).await;
    }
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 2);
    for upload in uploads {
        assert_eq!(upload.bytes, SIZE as u64);
        assert!(
            upload.frames > 1,
            "the upload arrived in one piece: not streamed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_through_one_sidecar() {
    let server = StreamingServer::start().await;
    let proxy = proxy_to_plain("files", &[server.addr()]).start().await;
    both_ways(proxy.outbound(), &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_through_two_sidecars() {
    let server = StreamingServer::start().await;
    let b = Proxy::start(&ConfigYaml::new("files").app(server.addr()).render()).await;
    let a = proxy_to_meshed("files", &[b.inbound()]).start().await;
    both_ways(a.outbound(), &server).await;
}
