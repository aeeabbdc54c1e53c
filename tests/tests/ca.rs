//! The control plane as the mesh CA, end to end: the real `convoy-control-plane` binary, CSRs
//! made with rcgen the way a sidecar makes them, and HTTPS clients (ours with rustls, and
//! `curl`) that verify the API's certificate against the generated `ca.pem`.
//!
//! Issued certificates are checked with two verifiers: rustls/webpki (chain, validity, key
//! usage) and `openssl verify` (an independent implementation, when it is installed).

use convoy_harness::tls::{client_config, roots};
use convoy_tests::client::ClientError;
use convoy_tests::control_plane::{ApiClient, ControlPlane};
use convoy_tests::{HttpClient, Proto, Reply, STEP_TIMEOUT};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One service; the mesh of every test here.
const ORDERS: &str = "services:\n  orders:\n    timeout: 2s\n";

/// The identity of `service` in the default trust domain.
fn spiffe(service: &str) -> String {
    format!("spiffe://convoy.local/service/{service}")
}

/// A CSR (PEM) asking for the URI SANs `uris` and the DNS names `dns`, signed by a new
/// ECDSA P-256 key: what a sidecar sends.
fn csr(uris: &[&str], dns: &[&str]) -> (KeyPair, String) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key");
    let mut params = CertificateParams::default();
    params.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI((*u).try_into().expect("an IA5 URI")))
        .chain(
            dns.iter()
                .map(|d| SanType::DnsName((*d).try_into().expect("an IA5 name"))),
        )
        .collect();
    let pem = params
        .serialize_request(&key)
        .expect("a CSR")
        .pem()
        .expect("PEM");
    (key, pem)
}

/// `POST /v1/certificate` as sidecar `id` of `service` with `token`.
async fn ask(cp: &ControlPlane, token: Option<&str>, id: &str, service: &str, csr: &str) -> Reply {
    let body = json!({ "id": id, "service": service, "csr": csr });
    cp.api_client()
        .post_json("/v1/certificate", token, &body)
        .await
}

/// A new CA of our own (not the mesh's): certificate PEM and key PEM.
fn other_ca() -> (String, String) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("a self-signed CA");
    (cert.pem(), key.serialize_pem())
}

fn first_cert(pem: &str) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM")
}

/// Verifies `leaf` against the anchors of `ca_file` with webpki as a client certificate and
/// as a server certificate (chain, validity, extended key usage).
fn webpki_verify(ca_file: &Path, leaf: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(roots(ca_file).expect("the anchors of the CA file"));
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .expect("a client verifier");
    client_verifier.verify_client_cert(leaf, &[], UnixTime::now())?;
    let parsed = rustls::server::ParsedCertificate::try_from(leaf)?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &roots,
        &[],
        UnixTime::now(),
        provider.signature_verification_algorithms.all,
    )
}

/// `openssl verify -purpose <purpose>` of `leaf_pem` against `ca_file`: whether it verified;
/// `None` without openssl.
fn openssl_verify(ca_file: &Path, leaf_pem: &str, purpose: &str) -> Option<bool> {
    let openssl = convoy_tests::tools::require("openssl", "Debian package `openssl`")?;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, leaf_pem).expect("write the leaf");
    let out = Command::new(openssl)
        .args(["verify", "-purpose", purpose, "-CAfile"])
        .arg(ca_file)
        .arg(&leaf)
        .output()
        .expect("run openssl verify");
    Some(out.status.success())
}

/// `curl` over HTTPS: its exit code and stdout (`None` without curl).
fn curl(args: &[&str]) -> Option<(Option<i32>, String)> {
    let curl = convoy_tests::tools::require("curl", "Debian package `curl`")?;
    let out = Command::new(curl)
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl");
    Some((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}

/// Runs `convoy-control-plane serve` over a one-service mesh with `--ca-dir ca_dir` and
/// `args`, expecting it to exit within [`STEP_TIMEOUT`]: its exit code and stderr.
fn serve_until_exit(ca_dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mesh = tempfile::tempdir().expect("a mesh directory");
    std::fs::write(mesh.path().join("orders.yaml"), ORDERS).expect("write the mesh");
    let mut command = convoy_harness::command(convoy_harness::binary::require(
        convoy_harness::binary::CONTROL_PLANE,
    ));
    command
        .arg("serve")
        .arg("--config-dir")
        .arg(mesh.path())
        .args(["--listen", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .arg("--ca-dir")
        .arg(ca_dir)
        .args(args);
    let exited = convoy_harness::run_until_exit(command, STEP_TIMEOUT);
    (exited.status.code(), exited.stderr)
}

/// The lines of an `x-convoy-error` refusal: status and reason.
fn refusal(reply: &Reply) -> (u16, String) {
    (
        reply.status.as_u16(),
        reply
            .convoy_error()
            .unwrap_or("(no x-convoy-error)")
            .to_owned(),
    )
}

/// A good CSR gets a certificate for exactly its service's identity, for `--cert-ttl`,
/// chaining to `ca.pem` as a client and as a server certificate; the status shows when it
/// expires and the metrics count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_csr_is_issued_a_certificate_that_chains_to_the_anchor() {
    let cp = ControlPlane::start_with(&[("orders.yaml", ORDERS)], &["--cert-ttl", "90m"]).await;
    let token = cp.join_token();
    // The sidecar registers first, so the status can show its certificate.
    let hello = json!({"type": "hello", "id": "orders-1", "service": "orders", "address": "127.0.0.1:4143"});
    let mut stream = cp
        .api_client()
        .open_stream(Some(&token), &hello.to_string())
        .await
        .unwrap_or_else(|r| panic!("stream refused: {r:?}"));
    assert!(stream.snapshot_within(STEP_TIMEOUT).await.is_some());

    let orders = spiffe("orders");
    let (key, request) = csr(&[&orders], &[]);
    let reply = ask(&cp, Some(&token), "orders-1", "orders", &request).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer: Value = serde_json::from_slice(&reply.body).expect("JSON");
    let ca_pem = std::fs::read_to_string(cp.ca_file()).expect("ca.pem");
    assert_eq!(answer["trust_bundle"], ca_pem.as_str());
    assert_eq!(answer["trust_domain"], "convoy.local");
    let certificate = answer["certificate"].as_str().expect("a certificate");
    let leaf = first_cert(certificate);

    webpki_verify(&cp.ca_file(), &leaf).expect("the certificate chains to ca.pem");
    for purpose in ["sslclient", "sslserver"] {
        if let Some(verified) = openssl_verify(&cp.ca_file(), certificate, purpose) {
            assert!(verified, "openssl verify -purpose {purpose} failed");
        }
    }

    let (_, x509) = x509_parser::parse_x509_certificate(&leaf).expect("X.509");
    let sans = x509
        .subject_alternative_name()
        .expect("a valid SAN extension")
        .expect("SANs")
        .value;
    assert_eq!(
        sans.general_names,
        [x509_parser::extensions::GeneralName::URI(orders.as_str())],
        "exactly the one URI SAN"
    );
    let eku = x509.extended_key_usage().expect("EKU").expect("EKU").value;
    assert!(eku.client_auth && eku.server_auth, "{eku:?}");
    assert!(!x509.is_ca());
    assert_eq!(
        x509.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw(),
        "the CSR's key"
    );
    let validity = x509.validity();
    let lifetime = validity.not_after.timestamp() - validity.not_before.timestamp();
    assert_eq!(
        lifetime,
        90 * 60 + 60,
        "--cert-ttl, and one minute of backdating"
    );

    let status = cp
        .wait_status("the certificate's expiry", |s| {
            s.sidecars.iter().any(|s| s.certificate_expires.is_some())
        })
        .await;
    let expires = status.sidecars[0]
        .certificate_expires
        .clone()
        .unwrap_or_default();
    let shown = humantime::parse_rfc3339(&expires).expect("RFC 3339");
    let not_after = std::time::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(validity.not_after.timestamp()).unwrap_or(0));
    assert_eq!(shown, not_after, "{expires}");
    let table = cp.cli(&["status"]).await;
    assert!(String::from_utf8_lossy(&table.stdout).contains(&expires[..19]));

    let metrics = cp.metric_samples().await;
    assert_eq!(
        metrics.sum(
            "convoy_cp_certificates_issued_total",
            &[("service", "orders")]
        ),
        1.0
    );
}

/// A per-service token admits its own service only; no token, a garbage one, or a bearer of
/// nothing is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_do_not_admit_the_service_are_refused() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    std::fs::create_dir_all(cp.ca_dir().join("tokens")).expect("the tokens directory");
    std::fs::write(cp.ca_dir().join("tokens/orders"), "orders-only-token\n").expect("a token");

    let (_, for_web) = csr(&[&spiffe("web")], &[]);
    let reply = ask(&cp, Some("orders-only-token"), "web-1", "web", &for_web).await;
    assert_eq!(
        refusal(&reply),
        (401, "join token refused for service web".to_owned())
    );
    let (_, for_orders) = csr(&[&spiffe("orders")], &[]);
    let reply = ask(
        &cp,
        Some("orders-only-token"),
        "orders-1",
        "orders",
        &for_orders,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");

    let reply = ask(&cp, None, "orders-1", "orders", &for_orders).await;
    assert_eq!(refusal(&reply), (401, "join token missing".to_owned()));
    assert_eq!(reply.text(), "join token missing\n", "a one-line body");
    let reply = ask(&cp, Some("garbage"), "orders-1", "orders", &for_orders).await;
    assert_eq!(
        refusal(&reply),
        (401, "join token refused for service orders".to_owned())
    );
    // A token of another scheme, or none after `Bearer`, is no token.
    let client = cp.api_client();
    for authorization in ["Basic b3JkZXJzOng=", "Bearer"] {
        let request = client
            .request("POST", "/v1/certificate")
            .header("authorization", authorization)
            .body(convoy_tests::client::full(
                json!({"id": "o", "service": "orders", "csr": for_orders}).to_string(),
            ))
            .expect("a request");
        let reply = client.send(request).await;
        assert_eq!(
            refusal(&reply),
            (401, "join token missing".to_owned()),
            "{authorization}"
        );
    }

    let metrics = cp.metric_samples().await;
    let refused = |reason: &str| {
        metrics.sum(
            "convoy_cp_certificate_requests_refused_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(refused("bad_token"), 2.0);
    assert_eq!(refused("no_token"), 3.0);
}

/// Deleting the token file revokes the token at once: the very next request is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_token_file_is_refused_at_once() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let token = cp.join_token();
    let (_, request) = csr(&[&spiffe("orders")], &[]);
    assert_eq!(
        ask(&cp, Some(&token), "o-1", "orders", &request)
            .await
            .status,
        200
    );
    std::fs::remove_file(cp.join_token_file()).expect("delete the token file");
    let reply = ask(&cp, Some(&token), "o-1", "orders", &request).await;
    assert_eq!(
        refusal(&reply),
        (401, "join token refused for service orders".to_owned())
    );
    // New streams too.
    let hello =
        json!({"type": "hello", "id": "o-1", "service": "orders", "address": "127.0.0.1:4143"});
    let refused = cp
        .api_client()
        .open_stream(Some(&token), &hello.to_string())
        .await
        .expect_err("the stream is refused");
    assert_eq!(
        refusal(&refused),
        (401, "join token refused for service orders".to_owned())
    );
}

/// A CSR asking for another identity, or for more than its own, is 403 and names both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csr_for_another_identity_is_forbidden() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let token = cp.join_token();
    let payments = spiffe("payments");
    let (_, request) = csr(&[&payments], &[]);
    let reply = ask(&cp, Some(&token), "orders-1", "orders", &request).await;
    assert_eq!(
        refusal(&reply),
        (
            403,
            format!(
                "the CSR asks for URI {payments}; this sidecar may only have {}",
                spiffe("orders")
            )
        )
    );
    let (_, request) = csr(&[&spiffe("orders")], &["orders.internal"]);
    let reply = ask(&cp, Some(&token), "orders-1", "orders", &request).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.text().contains("DNS orders.internal"), "{reply:?}");
    let (_, request) = csr(&["spiffe://other.domain/service/orders"], &[]);
    let reply = ask(&cp, Some(&token), "orders-1", "orders", &request).await;
    assert_eq!(reply.status, 403, "another trust domain: {reply:?}");

    let metrics = cp.metric_samples().await;
    assert_eq!(
        metrics.sum(
            "convoy_cp_certificate_requests_refused_total",
            &[("reason", "wrong_identity")]
        ),
        3.0
    );
}

/// A CSR that is not one, a CSR with a broken signature, a P-384 key, and a body that is not
/// the request are 400s that say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_a_bad_request() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let token = cp.join_token();
    let reply = ask(&cp, Some(&token), "orders-1", "orders", "garbage").await;
    assert_eq!(
        refusal(&reply),
        (
            400,
            "bad CSR: not a PEM block `CERTIFICATE REQUEST`".to_owned()
        )
    );

    let (_, good) = csr(&[&spiffe("orders")], &[]);
    let der = CertificateDer::from_pem_slice(good.as_bytes()).map(|_| ());
    assert!(der.is_err(), "a CSR is not a certificate");
    let mut bytes =
        rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(good.as_bytes())
            .expect("the CSR's DER")
            .as_ref()
            .to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = pem("CERTIFICATE REQUEST", &bytes);
    let reply = ask(&cp, Some(&token), "orders-1", "orders", &tampered).await;
    assert_eq!(
        refusal(&reply),
        (400, "bad CSR: its signature does not verify".to_owned())
    );

    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("a P-384 key");
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::URI(
        spiffe("orders").as_str().try_into().expect("IA5"),
    )];
    let request = params
        .serialize_request(&p384)
        .expect("a CSR")
        .pem()
        .expect("PEM");
    let reply = ask(&cp, Some(&token), "orders-1", "orders", &request).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(
        refusal(&reply)
            .1
            .starts_with("bad CSR: the key must be ECDSA P-256 or Ed25519"),
        "{reply:?}"
    );

    let client = cp.api_client();
    let reply = client
        .post_json(
            "/v1/certificate",
            Some(&token),
            &json!({"service": "orders"}),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(refusal(&reply).1.contains("missing field"), "{reply:?}");
    let reply = client
        .post_json(
            "/v1/certificate",
            Some(&token),
            &json!({"id": "o", "service": "Orders!", "csr": good}),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let huge = "x".repeat(70 * 1024);
    let reply = client
        .post_json(
            "/v1/certificate",
            Some(&token),
            &json!({"id": "o", "service": "orders", "csr": huge}),
        )
        .await;
    assert_eq!(reply.status, 400, "more than 64 KiB: {reply:?}");
}

/// The PEM block `label` of `der`.
fn pem(label: &str, der: &[u8]) -> String {
    // Encode with the same alphabet PEM uses, by hand: the test must not trust the code
    // under test to write its own input.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                body.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                body.push('=');
            }
        }
    }
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The CA is generated on the first start (the key and the token private to the owner), and
/// the same anchor is used after a restart: certificates issued before still verify, and the
/// token still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anchor_is_generated_on_first_start_and_reused_after_a_restart() {
    let mut cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let mode = |path: PathBuf| {
        std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(cp.ca_dir().join("ca.key")), 0o600);
    assert_eq!(mode(cp.join_token_file()), 0o600);
    let token = cp.join_token();
    assert_eq!(token.len(), 43, "32 random bytes in base64url");
    let anchor = std::fs::read_to_string(cp.ca_file()).expect("ca.pem");
    let key = std::fs::read_to_string(cp.ca_dir().join("ca.key")).expect("ca.key");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    let anchor_der = first_cert(&anchor);
    let (_, x509) = x509_parser::parse_x509_certificate(&anchor_der).expect("X.509");
    let constraints = x509
        .basic_constraints()
        .expect("valid")
        .expect("present")
        .value;
    assert!(constraints.ca);
    assert_eq!(constraints.path_len_constraint, Some(0));

    let (_, request) = csr(&[&spiffe("orders")], &[]);
    let before = ask(&cp, Some(&token), "o-1", "orders", &request).await;
    assert_eq!(before.status, 200);
    let issued: Value = serde_json::from_slice(&before.body).expect("JSON");

    cp.restart().await;
    assert_eq!(
        std::fs::read_to_string(cp.ca_file()).expect("ca.pem"),
        anchor
    );
    assert_eq!(
        std::fs::read_to_string(cp.ca_dir().join("ca.key")).expect("ca.key"),
        key
    );
    assert_eq!(cp.join_token(), token);
    let leaf = first_cert(issued["certificate"].as_str().unwrap_or_default());
    webpki_verify(&cp.ca_file(), &leaf).expect("issued before the restart, still trusted");
    let after = ask(&cp, Some(&token), "o-1", "orders", &request).await;
    assert_eq!(
        after.status, 200,
        "the same token, the same anchor: {after:?}"
    );
    let generated = cp.log().matches("generated a new trust anchor").count();
    assert_eq!(generated, 1, "generated once, loaded on the restart");
}

/// A CA directory the control plane cannot use stops it at start with a message naming the
/// file: a key that is not the certificate's, half a pair, a certificate that is not a CA.
#[test]
fn an_unusable_anchor_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().expect("a CA directory");
    let (a_cert, _) = other_ca();
    let (_, b_key) = other_ca();
    let cert = dir.path().join("ca.pem");
    let key = dir.path().join("ca.key");
    std::fs::write(&cert, &a_cert).expect("write ca.pem");
    std::fs::write(&key, &b_key).expect("write ca.key");
    let (code, stderr) = serve_until_exit(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "convoy-control-plane: {} is not the private key of {}: the trust anchor's two files do not match",
            key.display(),
            cert.display()
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("join-token").exists(), "nothing generated");

    std::fs::remove_file(&key).expect("remove ca.key");
    let (code, stderr) = serve_until_exit(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} exists but {} does not",
            cert.display(),
            key.display()
        )),
        "{stderr}"
    );

    let leaf_key = KeyPair::generate().expect("a key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&leaf_key)
        .expect("a leaf");
    std::fs::write(&cert, leaf.pem()).expect("write ca.pem");
    std::fs::write(&key, leaf_key.serialize_pem()).expect("write ca.key");
    let (code, stderr) = serve_until_exit(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is not a CA certificate"), "{stderr}");

    // An anchor named by flags is never generated.
    let missing = dir.path().join("mine.pem");
    let (code, stderr) = serve_until_exit(
        &dir.path().join("elsewhere"),
        &[
            "--ca-cert",
            &missing.display().to_string(),
            "--ca-key",
            "mine.key",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: not found", missing.display())),
        "{stderr}"
    );
}

/// An operator's own anchor (`--ca-cert`/`--ca-key` elsewhere) signs the certificates and the
/// API's certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_anchor_is_used() {
    let own = tempfile::tempdir().expect("a directory");
    let (cert_pem, key_pem) = other_ca();
    let cert = own.path().join("root.pem");
    let key = own.path().join("root.key");
    std::fs::write(&cert, &cert_pem).expect("write the certificate");
    std::fs::write(&key, &key_pem).expect("write the key");
    let cp = ControlPlane::start_with(
        &[("orders.yaml", ORDERS)],
        &[
            "--ca-cert",
            &cert.display().to_string(),
            "--ca-key",
            &key.display().to_string(),
        ],
    )
    .await;
    assert!(
        !cp.ca_file().exists(),
        "nothing generated in the CA directory"
    );
    // No token yet: the operator writes one.
    std::fs::create_dir_all(cp.ca_dir()).expect("the CA directory");
    std::fs::write(cp.join_token_file(), "operator-token\n").expect("a token");
    let client = ApiClient::new(cp.api(), &cert);
    let (_, request) = csr(&[&spiffe("orders")], &[]);
    let body = json!({ "id": "o-1", "service": "orders", "csr": request });
    let reply = client
        .post_json("/v1/certificate", Some("operator-token"), &body)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer: Value = serde_json::from_slice(&reply.body).expect("JSON");
    webpki_verify(
        &cert,
        &first_cert(answer["certificate"].as_str().unwrap_or_default()),
    )
    .expect("signed by the operator's anchor");
    assert_eq!(
        answer["trust_bundle"].as_str().map(first_cert),
        Some(first_cert(&cert_pem))
    );
}

/// A new `bundle.pem` is a new version: sidecars' streams get a snapshot whose `trust` lists
/// both anchors, and the history says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bundle_is_published_as_a_new_version() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let hello = json!({"type": "hello", "id": "orders-1", "service": "orders", "address": "127.0.0.1:4143"});
    let mut stream = cp
        .api_client()
        .open_stream(Some(&cp.join_token()), &hello.to_string())
        .await
        .unwrap_or_else(|r| panic!("stream refused: {r:?}"));
    let first = stream
        .snapshot_within(STEP_TIMEOUT)
        .await
        .expect("a snapshot");
    let anchor = std::fs::read_to_string(cp.ca_file()).expect("ca.pem");
    assert_eq!(
        first["trust"],
        json!({"trust_domain": "convoy.local", "bundle": anchor})
    );

    let (next_anchor, _) = other_ca();
    std::fs::write(cp.ca_dir().join("bundle.pem"), &next_anchor).expect("write bundle.pem");
    let pushed = stream
        .snapshot_within(STEP_TIMEOUT)
        .await
        .expect("a snapshot with the new bundle");
    assert!(pushed["version"].as_u64() > first["version"].as_u64());
    let bundle = pushed["trust"]["bundle"].as_str().unwrap_or_default();
    let anchors: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(bundle.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM certificates");
    assert_eq!(anchors, [first_cert(&anchor), first_cert(&next_anchor)]);
    assert_eq!(pushed["mesh"], first["mesh"], "only the trust changed");

    let history = cp.history().await;
    let event = history.events.last().expect("an event");
    assert_eq!(
        (
            event.kind.as_str(),
            event.author.as_str(),
            event.summary.as_str()
        ),
        ("trust", "ca-dir", "trust bundle changed: 2 anchors")
    );
    assert_eq!(Some(event.version), pushed["version"].as_u64());
    let metrics = cp.metric_samples().await;
    assert_eq!(metrics.sum("convoy_cp_trust_anchors", &[]), 2.0);

    // A broken bundle.pem changes nothing and is counted.
    std::fs::write(cp.ca_dir().join("bundle.pem"), "not a certificate").expect("write");
    let deadline = Instant::now() + STEP_TIMEOUT;
    while cp
        .metric_samples()
        .await
        .sum("convoy_cp_ca_reload_errors_total", &[])
        < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the broken bundle was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        cp.status().await.version,
        event.version,
        "nothing published"
    );
}

/// Rotating the anchor: a new pair in place of the old signs from then on, and the API's own
/// certificate follows, so clients trusting only the new anchor connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_anchor_signs_and_the_api_certificate_follows() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;
    let token = cp.join_token();
    let old = std::fs::read_to_string(cp.ca_file()).expect("ca.pem");
    let (new_cert, new_key) = other_ca();
    // The new anchor first in the bundle, then in place of the old one (key first: a half
    // written pair is never used), the old one kept in the bundle.
    std::fs::write(cp.ca_dir().join("bundle.pem"), &new_cert).expect("write bundle.pem");
    let new_file = cp.ca_dir().join("new.pem");
    std::fs::write(&new_file, &new_cert).expect("write new.pem");
    std::fs::write(cp.ca_dir().join("ca.key"), &new_key).expect("write ca.key");
    std::fs::write(cp.ca_file(), &new_cert).expect("write ca.pem");
    std::fs::write(cp.ca_dir().join("bundle.pem"), &old).expect("write bundle.pem");

    let only_new = ApiClient::new(cp.api(), &new_file);
    let (_, request) = csr(&[&spiffe("orders")], &[]);
    let body = json!({ "id": "o-1", "service": "orders", "csr": request });
    let deadline = Instant::now() + STEP_TIMEOUT;
    let reply = loop {
        match only_new
            .try_send(
                only_new
                    .request("POST", "/v1/certificate")
                    .header("authorization", format!("Bearer {token}"))
                    .body(convoy_tests::client::full(body.to_string()))
                    .expect("a request"),
            )
            .await
        {
            Ok(reply) => break reply,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the API never presented a certificate of the new anchor: {e}"),
        }
    };
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer: Value = serde_json::from_slice(&reply.body).expect("JSON");
    let leaf = first_cert(answer["certificate"].as_str().unwrap_or_default());
    webpki_verify(&new_file, &leaf).expect("signed by the new anchor");
    let bundle = answer["trust_bundle"].as_str().unwrap_or_default();
    assert_eq!(
        CertificateDer::pem_slice_iter(bundle.as_bytes()).count(),
        2,
        "the new anchor and the old: {bundle}"
    );
}

/// The API speaks only TLS: a plaintext HTTP request gets no HTTP answer, while curl with
/// `--cacert ca.pem` (hostname verification on) gets the status, over HTTP/1.1 and HTTP/2;
/// without the CA curl refuses the certificate. The CLI verifies it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_https_only() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)]).await;

    let plaintext = HttpClient::new(Proto::Http1, cp.api())
        .try_send(
            http::Request::get("http://control-plane/v1/status")
                .body(convoy_tests::client::empty())
                .expect("a request"),
        )
        .await;
    assert!(
        matches!(plaintext, Err(ClientError::Send(_))),
        "plaintext HTTP got an answer: {plaintext:?}"
    );
    let mut raw = tokio::net::TcpStream::connect(cp.api())
        .await
        .expect("connect");
    raw.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(STEP_TIMEOUT, raw.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    let ca = cp.ca_file().display().to_string();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/v1/status", cp.api().port());
        let resolve = format!("localhost:{}:127.0.0.1", cp.api().port());
        for version in ["--http1.1", "--http2"] {
            if let Some((code, out)) =
                curl(&["--resolve", &resolve, version, "--cacert", &ca, &url])
            {
                assert_eq!(code, Some(0), "curl {version} {url}: {out}");
                let status: Value = serde_json::from_str(&out).expect("the status as JSON");
                assert_eq!(status["version"], 1, "{out}");
            }
        }
    }
    let url = format!("https://127.0.0.1:{}/v1/status", cp.api().port());
    if let Some((code, out)) = curl(&[&url]) {
        assert_eq!(code, Some(60), "an unknown CA: {out}");
    }

    // Our own client, offering both protocols: ALPN picks h2.
    let h2 = client_config(
        roots(&cp.ca_file()).expect("the anchors of ca.pem"),
        &[b"h2", b"http/1.1"],
    );
    let tcp = tokio::net::TcpStream::connect(cp.api())
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(h2)
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("a name"),
            tcp,
        )
        .await
        .expect("a handshake verified for localhost");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let out = cp.cli(&["status"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (other, _) = other_ca();
    let wrong = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(wrong.path(), other).expect("write");
    let out = tokio::process::Command::new(convoy_harness::binary::require(
        convoy_harness::binary::CONTROL_PLANE,
    ))
    .args(["status", "--url", &cp.url(), "--ca-file"])
    .arg(wrong.path())
    .env_remove("CONVOY_CA_FILE")
    .output()
    .await
    .expect("run status");
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        error.contains("cannot reach the control plane") && error.contains("certificate"),
        "{error}"
    );

    let metrics = cp.metric_samples().await;
    assert!(metrics.sum("convoy_cp_api_tls_handshake_failures_total", &[]) >= 2.0);
}
