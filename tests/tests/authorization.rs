//! Authorization, path normalization and the identity header, end to end without TLS.
//!
//! Sidecars started from a static `--config` have no identities, so every inbound caller is
//! unauthenticated: a policy denies them all, whatever it allows (rules that allow named
//! services are exercised with proven identities in the proxy's unit tests and the mTLS tests).
//! What these tests show: once a service has a policy, unauthenticated callers get a 403 that
//! names them and the app receives nothing; paths are normalized before authorization and
//! routing, and the upstream receives the normalized path; encoded slashes are refused; a
//! forged `x-convoy-client-id` never reaches an app; decisions are counted.

use convoy_tests::client::empty;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{endpoints, ConfigYaml, HttpClient, Proxy, Reply, BOTH};

/// The header through which the sidecar tells its app who called.
const CLIENT_ID: &str = "x-convoy-client-id";

/// The policy of `payments` in these tests: it names callers, never "unauthenticated".
const POLICY: &str = concat!(
    "authorization:\n",
    "  allow:\n",
    "    - web\n",
    "    - from: [\"*\"]\n",
    "      methods: [GET]\n",
    "      path_prefix: /public/\n",
);

/// The app `payments-app` behind the sidecar of `payments`, whose own section is `payments`;
/// and the sidecar of `web` calling `payments` through it (a meshed service).
async fn payments(payments: &str) -> (EchoServer, Proxy, Proxy) {
    let app = EchoServer::start("payments-app").await;
    let sidecar = Proxy::start(
        &ConfigYaml::new("payments")
            .app(app.addr())
            .service("payments", payments)
            .render(),
    )
    .await;
    let web = Proxy::start(
        &ConfigYaml::new("web")
            .meshed_service("payments", &[sidecar.inbound()])
            .render(),
    )
    .await;
    (app, sidecar, web)
}

fn assert_forbidden(reply: &Reply, method: &str, path: &str) {
    let message = format!(
        "forbidden: caller unauthenticated (plaintext) may not {method} {path} on service payments: no rule allows it"
    );
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(reply.convoy_error(), Some(message.as_str()), "{reply:?}");
    assert_eq!(reply.text(), format!("{message}\n"));
}

/// A 400 for `sent`: an encoded slash or backslash, or a backslash (some servers read it as
/// a slash).
fn assert_bad_path(reply: &Reply, sent: &str) {
    let reason = if sent.contains('\\') {
        "backslash in path"
    } else {
        "encoded slash in path"
    };
    assert_eq!(reply.status, 400, "{sent}: {reply:?}");
    let message = format!("bad request: {reason}");
    assert_eq!(reply.convoy_error(), Some(message.as_str()), "{sent}");
}

#[tokio::test]
async fn once_a_service_has_a_policy_unauthenticated_callers_are_denied() {
    let (app, sidecar, web) = payments(POLICY).await;
    for proto in BOTH {
        // Straight to the inbound listener, and through the caller's sidecar: plaintext both.
        for addr in [sidecar.inbound(), web.outbound()] {
            let client = HttpClient::new(proto, addr);
            // `*` means any mesh identity, not anyone: the public rule does not allow it either.
            let reply = client.get("payments", "/public/item?id=1").await;
            assert_forbidden(&reply, "GET", "/public/item");
            let request = client
                .request("payments", "/pay")
                .method("POST")
                .body(empty())
                .unwrap();
            assert_forbidden(&client.send(request).await, "POST", "/pay");
        }
    }
    assert_eq!(app.count(), 0, "the app received nothing");

    // An empty allow list is a policy too.
    let (app, sidecar, _web) = payments("authorization: { allow: [] }").await;
    let reply = HttpClient::new(BOTH[0], sidecar.inbound())
        .get("payments", "/")
        .await;
    assert_forbidden(&reply, "GET", "/");
    assert_eq!(app.count(), 0);
}

#[tokio::test]
async fn without_a_policy_every_caller_passes() {
    let (app, sidecar, web) = payments("mtls: permissive").await;
    for proto in BOTH {
        for addr in [sidecar.inbound(), web.outbound()] {
            let reply = HttpClient::new(proto, addr).get("payments", "/pay").await;
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(reply.upstream(), "payments-app");
        }
    }
    assert_eq!(app.count(), 4);
    let samples = sidecar.metric_samples().await;
    assert_eq!(
        samples.sum("convoy_authorization_total", &[]),
        0.0,
        "no policy, no decisions"
    );
}

#[tokio::test]
async fn authorization_sees_the_normalized_path() {
    let (app, sidecar, web) = payments(POLICY).await;
    let tricks = [
        ("/public/../admin", "/admin"),
        ("/%2e%2e/admin", "/admin"),
        ("/public/%2E%2E/admin", "/admin"),
        ("//admin", "/admin"),
        ("/public//..//admin/./x", "/admin/x"),
        ("/%61dmin", "/admin"),
    ];
    for proto in BOTH {
        for addr in [sidecar.inbound(), web.outbound()] {
            let client = HttpClient::new(proto, addr);
            for (sent, normalized) in tricks {
                let reply = client.get("payments", sent).await;
                assert_forbidden(&reply, "GET", normalized);
            }
            for sent in [
                "/public%2F..%2Fadmin",
                "/public/..%5cadmin",
                "/a%2fb",
                "/public/..\\admin",
            ] {
                let reply = client.get("payments", sent).await;
                assert_bad_path(&reply, sent);
            }
        }
    }
    assert_eq!(app.count(), 0);
}

#[tokio::test]
async fn routing_sees_the_normalized_path_and_the_upstream_receives_it() {
    let orders = EchoServer::start("orders").await;
    let admin = EchoServer::start("admin").await;
    let web = Proxy::start(
        &ConfigYaml::new("web")
            .service(
                "orders",
                &format!(
                    "meshed: false\n{}\nroutes:\n  - match: {{ path_prefix: /admin/ }}\n    backends: [{{ service: admin }}]\n",
                    endpoints(&[orders.addr()])
                ),
            )
            .plain_service("admin", &[admin.addr()])
            .render(),
    )
    .await;
    let cases = [
        ("/public/../admin/users", "admin", "/admin/users"),
        (
            "/%2e%2e/admin/users?q=/../x",
            "admin",
            "/admin/users?q=/../x",
        ),
        ("//admin//users", "admin", "/admin/users"),
        ("/admin/./users/../keys", "admin", "/admin/keys"),
        ("/%41dmin/x", "orders", "/Admin/x"),
        ("/admin/../public/x", "orders", "/public/x"),
        ("/public/%7euser/%c3%a9", "orders", "/public/~user/%C3%A9"),
    ];
    for proto in BOTH {
        let client = HttpClient::new(proto, web.outbound());
        for (sent, upstream, received) in cases {
            let reply = client.get("orders", sent).await;
            assert_eq!(reply.status, 200, "{proto:?} {sent}: {reply:?}");
            assert_eq!(reply.upstream(), upstream, "{proto:?} {sent}");
            let seen = if upstream == "admin" {
                admin.last()
            } else {
                orders.last()
            };
            assert_eq!(
                seen.uri.path_and_query().unwrap().as_str(),
                received,
                "{proto:?} {sent}"
            );
        }
        let before = orders.count() + admin.count();
        for sent in [
            "/admin%2Fusers",
            "/public/..%2Fadmin/users",
            "/x%5C..%5Cadmin",
            "/x\\..\\admin",
        ] {
            assert_bad_path(&client.get("orders", sent).await, sent);
        }
        assert_eq!(orders.count() + admin.count(), before, "refused, not sent");
    }
    let samples = web.metric_samples().await;
    assert_eq!(samples.requests("outbound", "orders", "4xx"), 8.0);
}

#[tokio::test]
async fn the_app_receives_the_normalized_path() {
    let (app, sidecar, web) = payments("endpoints: []").await;
    for proto in BOTH {
        for addr in [sidecar.inbound(), web.outbound()] {
            let reply = HttpClient::new(proto, addr)
                .get("payments", "/a/../b//c/%2e/d?x=%2e%2e")
                .await;
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(
                app.last().uri.path_and_query().unwrap().as_str(),
                "/b/c/d?x=%2e%2e",
                "{proto:?}: the query is left as it was"
            );
        }
    }
}

#[tokio::test]
async fn a_forged_client_id_is_stripped_in_both_directions() {
    let (app, sidecar, web) = payments("endpoints: []").await;
    let forged = "spiffe://convoy.local/service/admin";
    for proto in BOTH {
        for addr in [sidecar.inbound(), web.outbound()] {
            let client = HttpClient::new(proto, addr);
            let request = client
                .request("payments", "/whoami")
                .header(CLIENT_ID, forged)
                .header("x-kept", "yes")
                .body(empty())
                .unwrap();
            let reply = client.send(request).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            let seen = app.last();
            assert_eq!(seen.header(CLIENT_ID), None, "{proto:?} via {addr}");
            assert_eq!(seen.header("x-kept"), Some("yes"));
        }
    }
    // Outbound to a plain service: the header is removed before it leaves the sidecar too.
    let plain = EchoServer::start("plain").await;
    let web = Proxy::start(
        &ConfigYaml::new("web")
            .plain_service("plain", &[plain.addr()])
            .render(),
    )
    .await;
    let client = HttpClient::new(BOTH[0], web.outbound());
    let request = client
        .request("plain", "/")
        .header(CLIENT_ID, forged)
        .body(empty())
        .unwrap();
    assert_eq!(client.send(request).await.status, 200);
    assert_eq!(plain.last().header(CLIENT_ID), None);
}

#[tokio::test]
async fn decisions_are_counted_by_caller_and_rule() {
    let (_app, sidecar, _web) = payments(POLICY).await;
    let client = HttpClient::new(BOTH[1], sidecar.inbound());
    for path in ["/public/x", "/admin", "/public/../admin"] {
        assert_eq!(client.get("payments", path).await.status, 403);
    }
    assert_bad_path(&client.get("payments", "/a%2Fb").await, "/a%2Fb");
    let samples = sidecar.metric_samples().await;
    assert_eq!(
        samples.sum(
            "convoy_authorization_total",
            &[
                ("caller", "unauthenticated"),
                ("rule", "default-deny"),
                ("result", "deny"),
            ],
        ),
        3.0,
        "a refused path is not an authorization decision"
    );
    assert_eq!(
        samples.sum("convoy_authorization_total", &[("result", "allow")]),
        0.0
    );
    assert_eq!(samples.requests("inbound", "payments", "4xx"), 4.0);
}
