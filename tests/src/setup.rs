//! Common starting points: the sidecar of app `web` calling one service, an echo upstream
//! behind it, or an echo app behind `web`'s own sidecar.

use crate::config::{endpoints, ConfigYaml};
use crate::proxy::{Proxy, ProxyBuilder};
use crate::upstream::EchoServer;
use std::net::SocketAddr;

/// A builder for the sidecar of `web` with one `meshed: false` service, `service`, whose
/// endpoints are the plain servers at `addrs`. Add flags, then [`ProxyBuilder::start`].
pub fn proxy_to_plain(service: &str, addrs: &[SocketAddr]) -> ProxyBuilder {
    Proxy::builder(
        &ConfigYaml::new("web")
            .plain_service(service, addrs)
            .render(),
    )
}

/// A builder for the sidecar of `web` with one meshed service, `service`, whose endpoints are
/// `addrs` (sidecars' inbound listeners). Add flags, then [`ProxyBuilder::start`].
pub fn proxy_to_meshed(service: &str, addrs: &[SocketAddr]) -> ProxyBuilder {
    Proxy::builder(
        &ConfigYaml::new("web")
            .meshed_service(service, addrs)
            .render(),
    )
}

/// Starts an echo upstream named `name` and the sidecar of `web` calling it as the plain
/// service `name` (see [`proxy_to_plain`]).
pub async fn proxy_to_echo(name: &str) -> (EchoServer, Proxy) {
    let upstream = EchoServer::start(name).await;
    let proxy = proxy_to_plain(name, &[upstream.addr()]).start().await;
    (upstream, proxy)
}

/// Starts the sidecar of `web` calling the plain (`meshed: false`) service `orders` at `addrs`,
/// with the extra service fields `policy` (YAML at zero indentation: `retry`, `timeout`,
/// `circuit_breaker`, `routes`, ...).
pub async fn web_to_orders(addrs: &[SocketAddr], policy: &str) -> Proxy {
    Proxy::start(
        &ConfigYaml::new("web")
            .service(
                "orders",
                &format!("meshed: false\n{}\n{policy}", endpoints(addrs)),
            )
            .render(),
    )
    .await
}

/// Starts an echo app named `web-app` and the sidecar of `web` in front of it, whose own
/// service's section (`services.web`) is `web` (YAML at zero indentation): for inbound
/// policies such as rate limits and faults.
pub async fn web_in_front_of_echo(web: &str) -> (EchoServer, Proxy) {
    let app = EchoServer::start("web-app").await;
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .app(app.addr())
            .service("web", web)
            .render(),
    )
    .await;
    (app, proxy)
}
