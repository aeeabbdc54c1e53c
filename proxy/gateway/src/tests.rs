//! The gateway's request path as a whole, with gateways built from the model types and a real
//! upstream on loopback.

use super::*;
use arc_swap::ArcSwap;
use convoy_config::{
    parse_proxy_config, ConsumerKey, ConsumerRateLimit, Cors, Gateway, GatewayPath, GatewayRoute,
    HeaderEdits, HeaderMatch, Rewrite, RouteSet, RouteSetMatch, ServiceName,
};
use convoy_proxy_core::body;
use convoy_proxy_core::context::RequestContext;
use convoy_stack::snapshot::Snapshot;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceExt;

/// An HTTP/1 upstream that answers with what it received: path, host, a few headers, and the
/// body's length.
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = hyper::service::service_fn(
                |request: http::Request<hyper::body::Incoming>| async move {
                    let (parts, incoming) = request.into_parts();
                    let length = incoming
                        .collect()
                        .await
                        .map(|b| b.to_bytes().len())
                        .unwrap_or(0);
                    let mut response = http::Response::new(body::empty());
                    let h = response.headers_mut();
                    h.insert("x-seen-path", parts.uri.path().parse().unwrap());
                    h.insert("x-seen-length", length.into());
                    h.insert("server", "upstream".parse().unwrap());
                    for name in ["host", "x-convoy-consumer", "x-from", "cookie"] {
                        if let Some(v) = parts.headers.get(name) {
                            h.insert(
                                http::HeaderName::from_bytes(format!("x-seen-{name}").as_bytes())
                                    .unwrap(),
                                v.clone(),
                            );
                        }
                    }
                    Ok::<_, std::convert::Infallible>(response)
                },
            );
            tokio::spawn(async move {
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), answer)
                    .await
            });
        }
    });
    addr
}

fn route(name: &str, path: GatewayPath, service: &str) -> GatewayRoute {
    GatewayRoute {
        name: name.into(),
        host: None,
        path,
        methods: Vec::new(),
        headers: Vec::new(),
        service: ServiceName::new(service).unwrap(),
        rewrite: None,
        request_headers: HeaderEdits::default(),
        response_headers: HeaderEdits::default(),
        max_body_bytes: Gateway::DEFAULT_MAX_BODY_BYTES,
        timeout: None,
        retry: None,
        auth: None,
        rate_limit: None,
    }
}

fn gateway() -> Gateway {
    let mut orders = route(
        "orders",
        GatewayPath::Prefix("/web/orders".into()),
        "orders",
    );
    orders.rewrite = Some(Rewrite::StripPrefix("/web".into()));
    orders.request_headers = HeaderEdits {
        add: vec![("x-from".parse().unwrap(), "gateway".parse().unwrap())],
        remove: vec!["cookie".parse().unwrap()],
    };
    orders.response_headers = HeaderEdits {
        add: vec![(
            "cache-control".parse().unwrap(),
            "no-store".parse().unwrap(),
        )],
        remove: vec!["server".parse().unwrap()],
    };
    orders.max_body_bytes = 10;
    orders.methods = vec![Method::GET, Method::POST];
    let mut limited = route(
        "limited",
        GatewayPath::Exact("/web/limited".into()),
        "orders",
    );
    limited.rate_limit = Some(ConsumerRateLimit {
        requests_per_second: 1,
        burst: 1,
        per: ConsumerKey::Consumer,
    });
    let mut secret = route(
        "secret",
        GatewayPath::Prefix("/web/secret".into()),
        "orders",
    );
    secret.auth = Some(convoy_config::RouteAuth {
        methods: vec![convoy_config::AuthMethod::ApiKey {
            header: "x-api-key".parse().unwrap(),
        }],
        allow: None,
    });
    let mut mobile = route(
        "mobile-orders",
        GatewayPath::Regex(regex::Regex::new("/m/[a-z]+").unwrap()),
        "orders",
    );
    mobile.rewrite = Some(Rewrite::ReplacePrefix {
        from: "/m".into(),
        to: "/api/v2".into(),
    });
    Gateway {
        name: ServiceName::new("edge").unwrap(),
        listeners: Vec::new(),
        api_keys: Vec::new(),
        jwt_providers: Vec::new(),
        consumer_header: Gateway::DEFAULT_CONSUMER_HEADER.parse().unwrap(),
        route_sets: vec![
            RouteSet {
                name: "mobile".into(),
                matches: RouteSetMatch::Header(HeaderMatch {
                    name: "x-client".parse().unwrap(),
                    value: "mobile".into(),
                }),
                cors: None,
                routes: vec![mobile],
            },
            RouteSet {
                name: "web".into(),
                matches: RouteSetMatch::PathPrefix("/web".into()),
                cors: Some(Cors {
                    allow_origins: vec!["https://app.example.com".into()],
                    allow_methods: vec![Method::GET, Method::POST],
                    allow_headers: vec!["authorization".parse().unwrap()],
                    expose_headers: vec!["x-seen-path".parse().unwrap()],
                    max_age: Duration::from_secs(600),
                    allow_credentials: false,
                }),
                routes: vec![orders, limited, secret],
            },
        ],
    }
}

async fn stack_for(gateway: Gateway) -> BoxCloneService<Request, Response, Infallible> {
    let yaml = format!(
        "sidecar: {{ service: edge, app: 127.0.0.1:1 }}\nservices:\n  orders:\n    endpoints: [\"{}\"]\n",
        upstream().await
    );
    let mut config = parse_proxy_config(&yaml, std::path::Path::new("t.yaml")).unwrap();
    config.mesh.gateways.insert(gateway.name.clone(), gateway);
    let metrics = Metrics::new();
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::build(
        config,
        "v1".into(),
        "t".into(),
        &metrics,
    )));
    let state = Arc::new(GatewayState::new(
        ServiceName::new("edge").unwrap(),
        snapshot,
        metrics.registry(),
    ));
    let gateway_metrics = GatewayMetrics::new(metrics.registry());
    stack(state, &Limits::default(), &metrics, gateway_metrics)
}

async fn send(
    stack: &BoxCloneService<Request, Response, Infallible>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Response {
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = path.parse().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    RequestContext::of_mut(&mut request).client_addr = Some("10.0.0.1:5555".parse().unwrap());
    stack.clone().oneshot(request).await.unwrap()
}

use convoy_proxy_core::Body;

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn routes_rewrite_and_edit_headers_by_route_set() {
    let stack = stack_for(gateway()).await;
    let ok = send(
        &stack,
        Method::GET,
        "/web/orders/1",
        &[("cookie", "a=b"), ("x-convoy-consumer", "admin")],
        body::empty(),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(header(&ok, "x-seen-path"), "/orders/1");
    assert_eq!(header(&ok, "x-seen-host"), "orders");
    assert_eq!(header(&ok, "x-seen-x-from"), "gateway");
    assert_eq!(header(&ok, "x-seen-cookie"), "");
    assert_eq!(
        header(&ok, "x-seen-x-convoy-consumer"),
        "",
        "forged consumer"
    );
    assert_eq!(header(&ok, "cache-control"), "no-store");
    assert_eq!(header(&ok, "server"), "");

    let mobile = send(
        &stack,
        Method::GET,
        "/m/orders",
        &[("x-client", "mobile")],
        body::empty(),
    )
    .await;
    assert_eq!(header(&mobile, "x-seen-path"), "/api/v2/orders");
    // The regex must match the whole path.
    let partial = send(
        &stack,
        Method::GET,
        "/m/orders/1",
        &[("x-client", "mobile")],
        body::empty(),
    )
    .await;
    assert_eq!(partial.status(), StatusCode::NOT_FOUND);

    let none = send(&stack, Method::GET, "/other", &[], body::empty()).await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(&none, "x-convoy-error"),
        "no route: no route set matches /other"
    );
    let wrong_method = send(&stack, Method::DELETE, "/web/orders/1", &[], body::empty()).await;
    assert_eq!(
        header(&wrong_method, "x-convoy-error"),
        "no route: route set web has no route for DELETE /web/orders/1"
    );
    // Route set prefixes are whole segments.
    let webby = send(&stack, Method::GET, "/webby/orders", &[], body::empty()).await;
    assert_eq!(webby.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cors_preflights_are_answered_and_responses_get_the_headers() {
    let stack = stack_for(gateway()).await;
    let preflight = send(
        &stack,
        Method::OPTIONS,
        "/web/orders/1",
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "Authorization"),
        ],
        body::empty(),
    )
    .await;
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert_eq!(
        header(&preflight, "access-control-allow-methods"),
        "GET, POST"
    );
    assert_eq!(header(&preflight, "access-control-max-age"), "600");
    let evil = send(
        &stack,
        Method::OPTIONS,
        "/web/orders/1",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ],
        body::empty(),
    )
    .await;
    assert_eq!(evil.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&evil, "access-control-allow-origin"), "");
    let simple = send(
        &stack,
        Method::GET,
        "/web/orders/1",
        &[("origin", "https://app.example.com")],
        body::empty(),
    )
    .await;
    assert_eq!(
        header(&simple, "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert_eq!(
        header(&simple, "access-control-expose-headers"),
        "x-seen-path"
    );
}

#[tokio::test]
async fn the_gateways_own_answers_get_the_cors_headers_once() {
    let stack = stack_for(gateway()).await;
    let origin = ("origin", "https://app.example.com");
    // Refused by the route, the body limit and authentication: one error mapping, then CORS.
    let no_route = send(
        &stack,
        Method::DELETE,
        "/web/orders/1",
        &[origin],
        body::empty(),
    )
    .await;
    let too_large = send(
        &stack,
        Method::POST,
        "/web/orders",
        &[origin, ("content-length", "11")],
        body::full("12345678901"),
    )
    .await;
    let refused = send(
        &stack,
        Method::GET,
        "/web/secret",
        &[origin, ("x-api-key", "k")],
        body::empty(),
    )
    .await;
    for (response, status) in [
        (&no_route, StatusCode::NOT_FOUND),
        (&too_large, StatusCode::PAYLOAD_TOO_LARGE),
        (&refused, StatusCode::UNAUTHORIZED),
    ] {
        assert_eq!(response.status(), status);
        assert_ne!(header(response, "x-convoy-error"), "");
        assert_eq!(
            header(response, "access-control-allow-origin"),
            "https://app.example.com"
        );
        assert_eq!(response.headers().get_all("vary").iter().count(), 1);
    }
    // The 413 closes the connection, with CORS as without.
    assert_eq!(header(&too_large, "connection"), "close");
    // A preflight carries its own headers, not the response headers on top.
    let preflight = send(
        &stack,
        Method::OPTIONS,
        "/web/orders/1",
        &[origin, ("access-control-request-method", "GET")],
        body::empty(),
    )
    .await;
    assert_eq!(preflight.headers().get_all("vary").iter().count(), 1);
    assert_eq!(header(&preflight, "access-control-expose-headers"), "");
    // Other origins get none.
    let other = send(
        &stack,
        Method::DELETE,
        "/web/orders/1",
        &[("origin", "https://evil.example")],
        body::empty(),
    )
    .await;
    assert_eq!(header(&other, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let stack = stack_for(gateway()).await;
    let small = send(
        &stack,
        Method::POST,
        "/web/orders",
        &[("content-length", "5")],
        body::full("12345"),
    )
    .await;
    assert_eq!(small.status(), StatusCode::OK);
    assert_eq!(header(&small, "x-seen-length"), "5");
    let declared = send(
        &stack,
        Method::POST,
        "/web/orders",
        &[("content-length", "11")],
        body::full("12345678901"),
    )
    .await;
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        header(&declared, "x-convoy-error"),
        "payload too large: content-length 11 exceeds the limit of 10 bytes on route orders"
    );
    // A streamed body (no content-length) that goes over.
    let chunks = futures_util::stream::iter((0..4).map(|_| {
        Ok::<_, convoy_proxy_core::BoxError>(http_body::Frame::data(bytes::Bytes::from_static(
            b"12345",
        )))
    }));
    let streamed = body::boxed(http_body_util::StreamBody::new(chunks));
    let streamed = send(&stack, Method::POST, "/web/orders", &[], streamed).await;
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        header(&streamed, "x-convoy-error"),
        "payload too large: body exceeds the limit of 10 bytes on route orders"
    );
}

#[tokio::test]
async fn rate_limits_count_consumers_apart_and_answer_429() {
    let stack = stack_for(gateway()).await;
    let first = send(&stack, Method::GET, "/web/limited", &[], body::empty()).await;
    assert_eq!(first.status(), StatusCode::OK);
    // A forged consumer header does not make a new consumer: it is removed first.
    let second = send(
        &stack,
        Method::GET,
        "/web/limited",
        &[("x-convoy-consumer", "someone-else")],
        body::empty(),
    )
    .await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&second, "retry-after"), "1");
    assert_eq!(
        header(&second, "ratelimit-policy"),
        "\"limited:consumer\";q=1;w=1"
    );
    assert_eq!(
        header(&second, "x-convoy-error"),
        "rate limited: 1/s for caller 10.0.0.1 (rule limited:consumer)"
    );
}

#[tokio::test]
async fn an_unknown_api_key_is_refused_with_401() {
    let stack = stack_for(gateway()).await;
    let refused = send(
        &stack,
        Method::GET,
        "/web/secret",
        &[("x-api-key", "k")],
        body::empty(),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn rewrites() {
    let strip = Rewrite::StripPrefix("/web".into());
    assert_eq!(layers::rewritten("/web/orders", &strip).unwrap(), "/orders");
    assert_eq!(layers::rewritten("/web", &strip).unwrap(), "/");
    let replace = Rewrite::ReplacePrefix {
        from: "/web/".into(),
        to: "/api".into(),
    };
    assert_eq!(layers::rewritten("/web/x", &replace).unwrap(), "/api/x");
    assert!(runtime::under_prefix("/web/x", "/web"));
    assert!(!runtime::under_prefix("/webx", "/web"));
    let _ = HeaderMap::new();
}
