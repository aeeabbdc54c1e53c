//! A gateway run by the control plane (`--gateway --control-plane`): it takes its routes from
//! the mesh directory, calls mesh services over mTLS with its own identity
//! (`spiffe://convoy.local/service/edge`), passes the services' authorization only as itself,
//! registers no endpoint, and its routes get the resilience policies.

use convoy_harness::ports::closed_port;
use convoy_tests::upstream::{Behaviour, EchoServer, Flaky};
use convoy_tests::{ControlPlane, HttpClient, Proto, Proxy};
use std::net::SocketAddr;

const MESH: &str = r#"
services:
  orders:
    authorization: { allow: [edge] }     # only the gateway may call orders
  payments:
    authorization: { allow: [web] }      # the gateway may not
gateways:
  edge:
    listeners:
      - address: 127.0.0.1:4180          # moved by --gateway-addr
    route_sets:
      - name: api
        routes:
          - name: orders
            match: { path_prefix: /orders }
            service: orders
            retry: { attempts: 3, on: [5xx] }
          - name: payments
            match: { path_prefix: /payments }
            service: payments
"#;

/// The gateway `edge`, run by `cp`, its first listener on a free port.
async fn gateway(cp: &ControlPlane) -> (Proxy, SocketAddr) {
    let mut edge = cp
        .sidecar_builder(&cp.url(), "edge", closed_port())
        .arg("--gateway")
        .arg("--gateway-addr")
        .arg("127.0.0.1:0")
        .start_bound()
        .await;
    edge.wait_ready().await;
    edge.reload_addrs();
    let addr = edge.addrs().gateway[0];
    (edge, addr)
}

#[tokio::test]
async fn a_gateway_calls_mesh_services_over_mtls_as_itself() {
    let cp = ControlPlane::start(&[("mesh.yaml", MESH)]).await;
    let orders_app = EchoServer::start("orders").await;
    let payments_app = EchoServer::start("payments").await;
    let _orders = cp.sidecar("orders", orders_app.addr()).await;
    let _payments = cp.sidecar("payments", payments_app.addr()).await;
    let (edge, addr) = gateway(&cp).await;
    cp.wait_converged(3).await;

    for proto in [Proto::Http1, Proto::Http2] {
        let client = HttpClient::new(proto, addr);
        let reply = client.get("api.example.com", "/orders/1").await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(reply.upstream(), "orders");
        // The app learns the caller from its sidecar, which read the gateway's certificate.
        assert_eq!(
            orders_app.last().header("x-convoy-client-id"),
            Some("spiffe://convoy.local/service/edge")
        );
        let reply = client.get("api.example.com", "/payments/1").await;
        assert_eq!(reply.status, 403, "{proto:?}: {reply:?}");
        assert_eq!(
            reply.convoy_error(),
            Some(
                "forbidden: caller spiffe://convoy.local/service/edge may not GET /payments/1 \
                 on service payments: no rule allows it"
            )
        );
    }
    assert_eq!(
        payments_app.count(),
        0,
        "payments' app received a refused call"
    );

    // The gateway's hop was mutual TLS, and the gateway is no endpoint of any service.
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains(
            "convoy_tls_handshakes_total{direction=\"outbound\",reason=\"ok\",result=\"ok\"}"
        ),
        "{metrics}"
    );
    let status = cp.status().await;
    assert_eq!(status.sidecars.len(), 3, "{status:?}");
    let history = cp.history().await;
    assert!(
        !format!("{history:?}").contains("joined edge"),
        "the gateway registered an endpoint: {history:?}"
    );
}

#[tokio::test]
async fn a_routes_retries_hide_a_flaky_service() {
    let cp = ControlPlane::start(&[("mesh.yaml", MESH)]).await;
    // A quarter of requests fail; three attempts nearly always find a good one.
    let orders_app = EchoServer::with(
        "orders",
        Behaviour::default().flaky(Flaky::status(503).percent(25.0)),
    )
    .await;
    let _orders = cp.sidecar("orders", orders_app.addr()).await;
    let (edge, addr) = gateway(&cp).await;
    cp.wait_converged(2).await;

    let client = HttpClient::new(Proto::Http1, addr);
    let mut ok = 0;
    for i in 0..40 {
        let reply = client.get("api", &format!("/orders/{i}")).await;
        if reply.status == 200 {
            ok += 1;
        }
    }
    assert!(ok >= 38, "{ok} of 40 succeeded through retries");
    assert!(
        orders_app.count() > 40,
        "no retries: {}",
        orders_app.count()
    );
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains("convoy_gateway_requests_total{consumer=\"_anonymous\",gateway=\"edge\",route=\"orders\",route_set=\"api\",status=\"200\"}"),
        "{metrics}"
    );
}
