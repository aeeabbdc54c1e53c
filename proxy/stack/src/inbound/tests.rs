//! The inbound stack as a whole: a proven peer, a forged client id, tricky paths.

use super::*;
use convoy_config::{parse_proxy_config, SpiffeId};
use convoy_identity::{Peer, CLIENT_ID_HEADER};
use convoy_proxy_core::body;
use convoy_proxy_core::context::RequestContext;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tower::ServiceExt;

/// An HTTP/1 app on loopback that answers with the path and client id it received.
async fn app() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = hyper::service::service_fn(|request: http::Request<_>| async move {
                let client_id = request.headers().get(CLIENT_ID_HEADER).cloned();
                let mut response = http::Response::new(body::empty());
                let path = request.uri().path().parse().unwrap();
                response.headers_mut().insert("x-seen-path", path);
                if let Some(id) = client_id {
                    response.headers_mut().insert("x-seen-client-id", id);
                }
                Ok::<_, std::convert::Infallible>(response)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer),
            );
        }
    });
    addr
}

/// Sends `path` through the inbound stack of `payments` (with `policy`) as `peer`, with a
/// forged client id.
async fn send(
    policy: &str,
    peer: Peer,
    method: http::Method,
    path: &str,
) -> convoy_proxy_core::Response {
    let yaml = format!(
        "sidecar: {{ service: payments, app: \"{}\" }}\nservices:\n  payments:\n{policy}",
        app().await
    );
    let config = parse_proxy_config(&yaml, std::path::Path::new("t.yaml")).unwrap();
    let metrics = Metrics::new();
    let snapshot = Snapshot::build(config, "v1".into(), "t".into(), &metrics);
    let stack = stack(
        Arc::new(ArcSwap::from_pointee(snapshot)),
        &Limits::default(),
        &metrics,
    );
    let mut request = http::Request::new(body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = path.parse().unwrap();
    request.headers_mut().insert(
        CLIENT_ID_HEADER,
        "spiffe://convoy.local/service/admin".parse().unwrap(),
    );
    RequestContext::of_mut(&mut request).peer = Some(peer);
    stack.oneshot(request).await.unwrap()
}

fn web() -> Peer {
    Peer::Authenticated(SpiffeId::parse("spiffe://convoy.local/service/web").unwrap())
}

const POLICY: &str = "    authorization:\n      allow:\n        - { from: [web], methods: [GET], path_prefix: /api }\n";

#[tokio::test]
async fn an_allowed_caller_reaches_the_app_with_its_proven_identity() {
    let response = send(POLICY, web(), http::Method::GET, "/x/../api//items").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-seen-path"], "/api/items");
    assert_eq!(
        response.headers()["x-seen-client-id"],
        "spiffe://convoy.local/service/web",
        "the forged id was replaced"
    );
    // Without a policy too; an unauthenticated caller gets no id, and not the forged one.
    let response = send(
        "    endpoints: []\n",
        Peer::Unauthenticated,
        http::Method::GET,
        "/",
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-seen-client-id").is_none());
}

#[tokio::test]
async fn a_refused_request_is_answered_by_the_proxy() {
    let response = send(POLICY, web(), http::Method::GET, "/api/../admin").await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()[convoy_proxy_core::error::X_CONVOY_ERROR],
        "forbidden: caller spiffe://convoy.local/service/web may not GET /admin on service payments: no rule allows it"
    );
    assert!(response.headers().get("x-seen-path").is_none());
    let response = send(POLICY, web(), http::Method::GET, "/api%2Fitems").await;
    assert_eq!(response.status(), 400);
}
