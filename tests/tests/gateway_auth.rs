//! Gateway authentication end to end: a `convoy-proxy --gateway` in front of an echo `orders`
//! service, with API keys and HS256 JWTs from a JWKS file (the algorithms and every refusal
//! are unit-tested in `proxy/gateway/src/auth/tests.rs`); the 401s with their challenges, the
//! 403 of `allow`, the consumer header the service sees, JWKS rotation, and the
//! `hash-api-key` helper.

use base64::Engine as _;
use convoy_harness::{binary, Child, ProxyAddrs, Spawn};
use convoy_tests::upstream::EchoServer;
use convoy_tests::{HttpClient, Proto};
use http::{header, Request};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "convoy-demo";
const SECRET: &[u8] = b"the gateway's shared HMAC secret";
const MOBILE_KEY: &str = "mobile-app-key-0123456789";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn write_jwks(path: &Path, kid: &str, secret: &[u8]) {
    let jwks = json!({"keys": [{"kty": "oct", "kid": kid, "alg": "HS256", "k": b64(secret)}]});
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, jwks.to_string()).expect("write the JWKS");
    std::fs::rename(&tmp, path).expect("replace the JWKS");
}

fn epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn token(kid: &str, secret: &[u8], claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    encode(&header, &claims, &EncodingKey::from_secret(secret)).expect("encode a JWT")
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": epoch() + 300})
}

/// The SHA-256 of a key in hex, by the proxy's own helper.
fn hash_with_cli(input: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(binary::require(binary::PROXY))
        .arg("hash-api-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn convoy-proxy hash-api-key");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write the key");
    let out = child.wait_with_output().expect("wait for hash-api-key");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running gateway: `convoy-proxy --gateway --config FILE`, killed when dropped (its log is
/// printed if the test is failing).
struct Gateway {
    /// Declared before the directory its log is in: dropped (and its log printed) first.
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Gateway {
    async fn start(orders: SocketAddr, mobile_key_sha256: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("a temporary directory");
        write_jwks(&dir.path().join("jwks.json"), "k1", SECRET);
        // `jwks` relative to the YAML file's directory.
        let yaml = format!(
            r#"sidecar:
  service: edge
  listen: {{ outbound: 127.0.0.1:0, inbound: 127.0.0.1:0, admin: 127.0.0.1:0 }}
services:
  orders:
    meshed: false
    endpoints: ["{orders}"]
gateways:
  edge:
    listeners:
      - address: 127.0.0.1:0
    api_keys:
      - {{ name: mobile-app, key_sha256: {mobile_key_sha256} }}
    jwt_providers:
      - {{ name: auth0, jwks: jwks.json, issuer: "{ISSUER}", audience: {AUDIENCE}, clock_skew: 5s }}
    route_sets:
      - name: api
        routes:
          - name: admin
            match: {{ path_prefix: /admin }}
            service: orders
            auth: {{ methods: [{{ jwt: auth0 }}, {{ api_key: {{ header: x-api-key }} }}], allow: [mobile-app] }}
          - name: orders
            match: {{ path_prefix: /orders }}
            service: orders
            auth: {{ methods: [{{ jwt: auth0 }}, {{ api_key: {{ header: x-api-key }} }}] }}
          - name: public
            service: orders
"#
        );
        let config = dir.path().join("edge.yaml");
        std::fs::write(&config, yaml).expect("write the config");
        let mut child = Spawn::new(
            "convoy-proxy --gateway",
            binary::require(binary::PROXY),
            dir.path().join("proxy.log"),
        )
        .arg("--gateway")
        .arg("--config")
        .arg(&config)
        .bound_addrs_file(dir.path().join("bound-addrs.json"))
        .start()
        .expect("spawn convoy-proxy --gateway");
        let limit = Duration::from_secs(10);
        let started = Instant::now();
        let bound = child.wait_bound::<ProxyAddrs>(limit).await;
        let addrs = child.or_fail(bound);
        let ready = child
            .wait_ready(addrs.admin, limit.saturating_sub(started.elapsed()))
            .await;
        child.or_fail(ready);
        Gateway {
            child,
            dir,
            addr: addrs.gateway[0],
        }
    }

    fn log(&self) -> String {
        self.child.log()
    }

    fn jwks(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> convoy_tests::Reply {
        let client = HttpClient::new(Proto::Http1, self.addr);
        let mut request = Request::get(format!("http://api.example.com{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        client
            .send(
                request
                    .body(convoy_tests::client::empty())
                    .expect("a request"),
            )
            .await
    }
}

async fn setup() -> (EchoServer, Gateway) {
    let orders = EchoServer::start("orders").await;
    let (ok, hash, stderr) = hash_with_cli(format!("{MOBILE_KEY}\n").as_bytes());
    assert!(ok, "hash-api-key failed: {stderr}");
    let gateway = Gateway::start(orders.addr(), hash.trim()).await;
    (orders, gateway)
}

fn challenges(reply: &convoy_tests::Reply) -> Vec<String> {
    reply
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("a text challenge").to_owned())
        .collect()
}

#[tokio::test]
async fn requests_without_credentials_are_refused_with_challenges() {
    let (orders, gateway) = setup().await;
    let reply = gateway.get("/orders/1", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.convoy_error(), Some("unauthenticated: no credential"));
    assert_eq!(
        challenges(&reply),
        [
            r#"Bearer realm="edge""#,
            r#"ApiKey realm="edge", header="x-api-key""#
        ]
    );
    // A route without auth takes anyone, and nobody can claim a consumer there.
    let reply = gateway
        .get("/public", &[("x-convoy-consumer", "mobile-app")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        orders.count(),
        1,
        "only the public request reached the service"
    );
    assert_eq!(orders.last().header("x-convoy-consumer"), None);
}

#[tokio::test]
async fn api_keys_and_tokens_name_the_consumer_to_the_service() {
    let (orders, gateway) = setup().await;
    let reply = gateway
        .get(
            "/orders/1",
            &[("x-api-key", MOBILE_KEY), ("x-convoy-consumer", "admin")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        orders.last().header("x-convoy-consumer"),
        Some("mobile-app")
    );

    let bearer = format!("Bearer {}", token("k1", SECRET, claims("user-42")));
    let reply = gateway
        .get(
            "/orders/2",
            &[("authorization", &bearer), ("x-convoy-consumer", "admin")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(orders.last().header("x-convoy-consumer"), Some("user-42"));
    assert_eq!(orders.count(), 2);
}

#[tokio::test]
async fn bad_credentials_get_precise_401s() {
    let (orders, gateway) = setup().await;
    let reply = gateway.get("/orders/1", &[("x-api-key", "guessed")]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.convoy_error(),
        Some("unauthenticated: unknown API key")
    );
    assert_eq!(
        challenges(&reply),
        [
            r#"ApiKey realm="edge", header="x-api-key", error="invalid_key", error_description="unknown API key""#
        ]
    );

    let mut expired = claims("user-42");
    expired["exp"] = json!(epoch() - 60);
    let bearer = format!("Bearer {}", token("k1", SECRET, expired));
    let reply = gateway
        .get("/orders/1", &[("authorization", &bearer)])
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.convoy_error(), Some("unauthenticated: token expired"));
    assert_eq!(
        challenges(&reply),
        [r#"Bearer realm="edge", error="invalid_token", error_description="token expired""#]
    );

    let mut other = claims("user-42");
    other["aud"] = json!("another-api");
    let bearer = format!("Bearer {}", token("k1", SECRET, other));
    let reply = gateway
        .get("/orders/1", &[("authorization", &bearer)])
        .await;
    assert_eq!(
        reply.convoy_error(),
        Some("unauthenticated: wrong audience")
    );

    let bearer = format!(
        "Bearer {}",
        token("k1", b"not the secret", claims("user-42"))
    );
    let reply = gateway
        .get("/orders/1", &[("authorization", &bearer)])
        .await;
    assert_eq!(reply.convoy_error(), Some("unauthenticated: bad signature"));

    let none = format!(
        "Bearer {}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims("user-42").to_string().as_bytes())
    );
    let reply = gateway.get("/orders/1", &[("authorization", &none)]).await;
    assert_eq!(
        reply.convoy_error(),
        Some("unauthenticated: unsupported alg none")
    );
    assert_eq!(orders.count(), 0, "no refused request reached the service");
    // Neither keys nor tokens are logged.
    let log = gateway.log();
    assert!(
        !log.contains("guessed") && !log.contains(&bearer[7..]),
        "{log}"
    );
}

#[tokio::test]
async fn consumers_not_allowed_on_a_route_get_403() {
    let (orders, gateway) = setup().await;
    let bearer = format!("Bearer {}", token("k1", SECRET, claims("user-42")));
    let reply = gateway.get("/admin/x", &[("authorization", &bearer)]).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.convoy_error(),
        Some("forbidden: consumer user-42 may not use route admin")
    );
    assert!(reply.headers.get(header::WWW_AUTHENTICATE).is_none());
    let reply = gateway.get("/admin/x", &[("x-api-key", MOBILE_KEY)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(orders.count(), 1);
}

#[tokio::test]
async fn a_rotated_jwks_file_is_picked_up() {
    let (_orders, gateway) = setup().await;
    let old = format!("Bearer {}", token("k1", SECRET, claims("user-42")));
    let new = format!(
        "Bearer {}",
        token("k2", b"the rotated secret", claims("user-42"))
    );
    assert_eq!(
        gateway
            .get("/orders/1", &[("authorization", &old)])
            .await
            .status,
        200
    );
    let reply = gateway.get("/orders/1", &[("authorization", &new)]).await;
    assert_eq!(
        reply.convoy_error(),
        Some("unauthenticated: unknown key id")
    );

    write_jwks(&gateway.jwks(), "k2", b"the rotated secret");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = gateway.get("/orders/1", &[("authorization", &new)]).await;
        if reply.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new key was not taken: {:?}",
            reply.convoy_error()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = gateway.get("/orders/1", &[("authorization", &old)]).await;
    assert_eq!(
        reply.convoy_error(),
        Some("unauthenticated: unknown key id")
    );
}

#[test]
fn hash_api_key_prints_the_sha256_in_hex() {
    let (ok, out, _) = hash_with_cli(b"test\n");
    assert!(ok);
    assert_eq!(
        out,
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
    );
    let (ok, out, err) = hash_with_cli(b"");
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("empty key"), "{err}");
}
