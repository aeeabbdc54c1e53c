//! gRPC end to end: HTTP/2 all the way, length-prefixed messages, trailers preserved.

use convoy_tests::requests::say_hello;
use convoy_tests::upstream::{grpc_messages, GrpcServer, CUSTOM_TRAILER};
use convoy_tests::{endpoints, ConfigYaml, Proxy, Reply};
use http::Version;

/// The headers every call here adds to the usual gRPC ones.
const GRPC_TIMEOUT: &[(&str, &str)] = &[("grpc-timeout", "5S")];

/// The sidecar of `web`, calling the gRPC service `greeter` through sidecar `b`.
async fn web_calling_greeter_via(b: &Proxy) -> Proxy {
    Proxy::start(
        &ConfigYaml::new("web")
            .service(
                "greeter",
                &format!("protocol: grpc\n{}", endpoints(&[b.inbound()])),
            )
            .render(),
    )
    .await
}

fn assert_grpc_ok(reply: &Reply, name: &str) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.header("content-type"), Some("application/grpc"));
    let messages = grpc_messages(&reply.body);
    assert_eq!(messages.len(), 1, "{reply:?}");
    assert_eq!(messages[0], format!("reply:{name}").as_bytes());
    let trailers = reply.trailers.as_ref().expect("trailers reach the client");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    assert_eq!(trailers.get(CUSTOM_TRAILER).unwrap(), "kept");
}

fn assert_server_saw_grpc(server: &GrpcServer) {
    let seen = server.seen().pop().expect("the gRPC server got the call");
    assert_eq!(seen.version, Version::HTTP_2);
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri.path(), "/helloworld.Greeter/SayHello");
    assert_eq!(seen.header("content-type"), Some("application/grpc"));
    assert_eq!(
        seen.header("te"),
        Some("trailers"),
        "gRPC servers require TE: trailers"
    );
    assert_eq!(seen.header("host"), Some("greeter"));
    assert_eq!(seen.header("grpc-timeout"), Some("5S"));
}

#[tokio::test]
async fn grpc_through_two_sidecars_keeps_trailers() {
    let server = GrpcServer::start().await;
    let b = Proxy::start(
        &ConfigYaml::new("greeter")
            .app(server.addr())
            .app_protocol("http2")
            .render(),
    )
    .await;
    let a = web_calling_greeter_via(&b).await;
    for name in ["world", "again"] {
        let reply = say_hello(a.outbound(), name, GRPC_TIMEOUT).await;
        assert_grpc_ok(&reply, name);
    }
    assert_server_saw_grpc(&server);
}

#[tokio::test]
async fn a_grpc_sidecar_speaks_http2_to_its_app_by_default() {
    // No app_protocol: listing the sidecar's own service as `protocol: grpc` implies HTTP/2.
    let server = GrpcServer::start().await;
    let b = Proxy::start(
        &ConfigYaml::new("greeter")
            .app(server.addr())
            .service("greeter", "protocol: grpc")
            .render(),
    )
    .await;
    let a = web_calling_greeter_via(&b).await;
    assert_grpc_ok(
        &say_hello(a.outbound(), "default", GRPC_TIMEOUT).await,
        "default",
    );
    assert_server_saw_grpc(&server);
}

#[tokio::test]
async fn grpc_to_a_plain_grpc_server() {
    // `meshed: false` with `protocol: grpc`: the endpoint is a gRPC server, spoken to over HTTP/2.
    let server = GrpcServer::start().await;
    let a = Proxy::start(
        &ConfigYaml::new("web")
            .service(
                "greeter",
                &format!(
                    "protocol: grpc\nmeshed: false\n{}",
                    endpoints(&[server.addr()])
                ),
            )
            .render(),
    )
    .await;
    assert_grpc_ok(
        &say_hello(a.outbound(), "plain", GRPC_TIMEOUT).await,
        "plain",
    );
    assert_server_saw_grpc(&server);
}
