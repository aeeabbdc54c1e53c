//! Scraping every sidecar's admin `/metrics` and turning two scrapes into table rows.
//!
//! A service's request stats, rate-limit and authorization refusals come from its own
//! sidecars (inbound);
//! its retries and ejected endpoints from its callers' sidecars, which make those calls;
//! the version each sidecar runs from its own `convoy_config_version`. Each scrape also reads
//! the gateway's admin `/metrics` (its requests, refusals and version: the first row), and
//! asks the control plane (over TLS) for the version it publishes and the last change it
//! refused.

use std::time::Duration;

use http::StatusCode;
use tokio::time::Instant;

use serde::Deserialize;

use super::api::Api;
use super::topology::{Mesh, GATEWAY};
use crate::client::{self, HttpClient};
use crate::metrics::{
    counter_rate, GatewayCounters, PolicyCounters, ServiceCounters, ServiceStats,
};
use convoy_harness::prometheus::Samples;

/// A scrape slower than this is reported as failed rather than stalling the table.
const SCRAPE_TIMEOUT: Duration = Duration::from_millis(800);

/// The gauge of the control-plane version a sidecar has in force (0 before the first).
const CONFIG_VERSION: &str = "convoy_config_version";

/// What the demo reads from one sidecar's scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sidecar {
    /// Inbound requests to its own service.
    pub(crate) inbound: ServiceCounters,
    /// What its policies did (inbound and outbound).
    pub(crate) policy: PolicyCounters,
    /// The mesh version it runs (`convoy_config_version`), if it exports one.
    pub(crate) version: Option<u64>,
}

impl Sidecar {
    /// What the demo reads from a scrape of the sidecar of `service`.
    pub(crate) fn from_exposition(e: &Samples, service: &str) -> Self {
        Sidecar {
            inbound: ServiceCounters::from_exposition(e, service),
            policy: PolicyCounters::from_exposition(e),
            version: config_version(e),
        }
    }
}

/// The mesh version in a scrape (`convoy_config_version`), if exported.
fn config_version(e: &Samples) -> Option<u64> {
    // A gauge holding a whole number: the cast is exact.
    e.matching(CONFIG_VERSION, &[])
        .next()
        .map(|s| s.value.max(0.0) as u64)
}

/// What the demo reads from the gateway's scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gateway {
    pub(crate) counters: GatewayCounters,
    /// The mesh version it runs, if it exports one.
    pub(crate) version: Option<u64>,
}

impl Gateway {
    /// What the demo reads from a scrape of the gateway [`GATEWAY`].
    pub(crate) fn from_exposition(e: &Samples) -> Self {
        Gateway {
            counters: GatewayCounters::from_exposition(e, GATEWAY),
            version: config_version(e),
        }
    }
}

/// The control plane's `GET /v1/status`, as far as the demo reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ControlPlane {
    /// The version it publishes.
    pub(crate) version: u64,
    /// The last change of the mesh directory that did not validate, until one does again.
    pub(crate) last_rejected: Option<Rejected>,
    /// Every sidecar it knows.
    pub(crate) sidecars: Vec<Registered>,
}

/// A change of the mesh directory the control plane refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Rejected {
    /// `file:line:column: field.path: message`.
    pub(crate) error: String,
}

/// A sidecar the control plane knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Registered {
    /// Its inbound address, an endpoint of its service.
    pub(crate) address: String,
    pub(crate) connected: bool,
    /// The last version it applied.
    pub(crate) acked_version: Option<u64>,
}

impl ControlPlane {
    /// Asks the control plane for its status.
    pub(crate) async fn status(api: &Api) -> Result<ControlPlane, String> {
        let url = format!("{}/v1/status", api.url());
        match api.get("/v1/status", SCRAPE_TIMEOUT).await {
            Ok((StatusCode::OK, body)) => {
                serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
            }
            Ok((status, _)) => Err(format!("GET {url} answered {status}")),
            Err(e) => Err(format!("GET {url}: {e}")),
        }
    }

    /// Whether every sidecar at `addresses` is connected and runs the version in force.
    pub(crate) fn converged<'a>(&self, mut addresses: impl Iterator<Item = &'a str>) -> bool {
        addresses.all(|address| {
            self.sidecars.iter().any(|s| {
                s.address == address && s.connected && s.acked_version == Some(self.version)
            })
        })
    }
}

/// Every sidecar at one moment (or why it could not be read), in the mesh's node order,
/// the gateway, and the control plane's status.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) at: Instant,
    pub(crate) sidecars: Vec<Result<Sidecar, String>>,
    pub(crate) gateway: Result<Gateway, String>,
    pub(crate) control_plane: Result<ControlPlane, String>,
}

impl Snapshot {
    /// For a scrape taken before any traffic: a sidecar that could not be read yet
    /// has counted nothing, so later deltas can still be computed.
    pub(crate) fn or_zero(mut self) -> Self {
        for sidecar in &mut self.sidecars {
            if sidecar.is_err() {
                *sidecar = Ok(Sidecar::default());
            }
        }
        if self.gateway.is_err() {
            self.gateway = Ok(Gateway::default());
        }
        self
    }
}

/// Endpoints ejected by the callers' outlier detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ejected {
    /// Of a service: how many of its endpoints.
    Count { ejected: usize, total: usize },
    /// Of one instance: whether it is.
    One(bool),
}

/// One row of the table: the gateway, a service or one of its instances, over an interval.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// The gateway (`edge`), the service, or the instance (`payments-1`).
    pub(crate) label: String,
    /// An instance of the service in the row above.
    pub(crate) instance: bool,
    /// Inbound stats from its own sidecar(s); the gateway's from its own metrics, its
    /// success being the share of 2xx (its refusals count against it).
    pub(crate) stats: Result<ServiceStats, String>,
    /// Retries per second its callers' sidecars sent it; `None` if nothing calls it
    /// through a sidecar (or a caller could not be read).
    pub(crate) retries_per_second: Option<f64>,
    /// `None` without outlier detection on its calls.
    pub(crate) ejected: Option<Ejected>,
    /// Requests per second its own sidecar(s) (or the gateway) refused with 429.
    pub(crate) limited_per_second: Option<f64>,
    /// Requests per second its own sidecar(s) refused by authorization (403); the gateway's
    /// 401s and 403s.
    pub(crate) denied_per_second: Option<f64>,
    /// The lowest and highest mesh version its own sidecar(s) run now; `None` if one could
    /// not be read or exports none.
    pub(crate) version: Option<(u64, u64)>,
}

/// What one instance's own sidecar counted over an interval (or several, added up).
#[derive(Debug, Clone, Default)]
struct Own {
    /// Inbound requests.
    delta: ServiceCounters,
    /// Refused with 429, per second.
    limited: f64,
    /// Refused by authorization, per second.
    denied: f64,
}

impl Own {
    fn plus(&self, other: &Own) -> Own {
        Own {
            delta: self.delta.plus(&other.delta),
            limited: self.limited + other.limited,
            denied: self.denied + other.denied,
        }
    }
}

/// Where one service lives in the mesh.
struct Service {
    name: &'static str,
    /// `(label, node index, endpoint as callers name it)` of each instance.
    instances: Vec<(String, usize, String)>,
    /// Node indices of the sidecars that call it.
    callers: Vec<usize>,
    /// Whether its callers eject its failing endpoints.
    outlier: bool,
}

/// Knows where each sidecar serves its metrics and which series make which row.
pub(crate) struct Scraper {
    client: HttpClient,
    targets: Vec<(&'static str, String)>,
    /// The gateway's `/metrics`.
    gateway: String,
    control_plane: Api,
    services: Vec<Service>,
}

impl Scraper {
    /// Scrapes the sidecars and the gateway of `mesh` (plain HTTP admin) with `client`, and
    /// asks the control plane through `control_plane`.
    pub(crate) fn new(client: HttpClient, control_plane: Api, mesh: &Mesh) -> Self {
        let targets = mesh
            .nodes
            .iter()
            .map(|n| (n.spec.name, format!("http://{}/metrics", n.addrs.admin)))
            .collect();
        let mut services: Vec<Service> = Vec::new();
        for (index, node) in mesh.nodes.iter().enumerate() {
            let instance = (node.label(), index, node.addrs.inbound.to_string());
            if let Some(service) = services.iter_mut().find(|s| s.name == node.spec.name) {
                service.instances.push(instance);
                continue;
            }
            services.push(Service {
                name: node.spec.name,
                instances: vec![instance],
                callers: mesh
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.spec.calls.contains(&node.spec.name))
                    .map(|(i, _)| i)
                    .collect(),
                outlier: node.spec.outlier_detection,
            });
        }
        Self {
            client,
            targets,
            gateway: format!("http://{}/metrics", mesh.gateway.admin),
            control_plane,
            services,
        }
    }

    /// Scrapes every sidecar and the gateway.
    pub(crate) async fn scrape(&self) -> Snapshot {
        let at = Instant::now();
        let mut sidecars = Vec::with_capacity(self.targets.len());
        // A few loopback GETs: doing them in turn keeps this simple and still fast.
        for (service, url) in &self.targets {
            let sidecar = self
                .metrics(url)
                .await
                .map(|e| Sidecar::from_exposition(&e, service));
            sidecars.push(sidecar);
        }
        let gateway = self
            .metrics(&self.gateway)
            .await
            .map(|e| Gateway::from_exposition(&e));
        let control_plane = ControlPlane::status(&self.control_plane).await;
        Snapshot {
            at,
            sidecars,
            gateway,
            control_plane,
        }
    }

    /// `GET url` of a `/metrics`, parsed.
    async fn metrics(&self, url: &str) -> Result<Samples, String> {
        match client::get(&self.client, url, &[], SCRAPE_TIMEOUT).await {
            Ok((StatusCode::OK, body)) => {
                Samples::parse(&String::from_utf8_lossy(&body)).map_err(|e| e.to_string())
            }
            Ok((status, _)) => Err(format!("GET {url} answered {status}")),
            Err(e) => Err(format!("GET {url}: {e}")),
        }
    }

    /// The gateway's row: what it answered (of any route), its 429s as `limit/s` and its
    /// 401s and 403s as `denied/s`; it retries nothing in the demo and ejects nothing.
    fn gateway_row(earlier: &Snapshot, later: &Snapshot, elapsed: Duration) -> Row {
        let delta = match (&earlier.gateway, &later.gateway) {
            (Ok(before), Ok(after)) => Ok(after.counters.since(&before.counters)),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        };
        let per_second = |n: f64| n / elapsed.as_secs_f64().max(f64::EPSILON);
        Row {
            label: GATEWAY.to_owned(),
            instance: false,
            stats: delta
                .as_ref()
                .map(|d| d.stats(elapsed))
                .map_err(Clone::clone),
            retries_per_second: None,
            ejected: None,
            limited_per_second: delta.as_ref().ok().map(|d| per_second(d.limited)),
            denied_per_second: delta.as_ref().ok().map(|d| per_second(d.denied)),
            version: later
                .gateway
                .as_ref()
                .ok()
                .and_then(|g| g.version)
                .map(|v| (v, v)),
        }
    }

    /// The gateway's row, then one per service, each followed by one per instance of a
    /// service that has several.
    pub(crate) fn rows(&self, earlier: &Snapshot, later: &Snapshot) -> Vec<Row> {
        let elapsed = later.at.duration_since(earlier.at);
        let pair = |i: usize| match (&earlier.sidecars[i], &later.sidecars[i]) {
            (Ok(before), Ok(after)) => Ok((before, after)),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        };
        let mut rows = vec![Self::gateway_row(earlier, later, elapsed)];
        for service in &self.services {
            let name = service.name;
            // Inbound: each instance's delta, then added up (a restarted sidecar is then
            // handled per instance).
            let instances: Vec<Result<Own, String>> = service
                .instances
                .iter()
                .map(|(_, i, _)| {
                    pair(*i).map(|(before, after)| Own {
                        delta: after.inbound.since(&before.inbound),
                        limited: counter_rate(
                            before.policy.rate_limited(name),
                            after.policy.rate_limited(name),
                            elapsed,
                        ),
                        denied: counter_rate(
                            before.policy.denied(),
                            after.policy.denied(),
                            elapsed,
                        ),
                    })
                })
                .collect();
            let total = instances.iter().try_fold(Own::default(), |sum, own| {
                Ok::<_, String>(sum.plus(own.as_ref().map_err(Clone::clone)?))
            });
            // Outbound: what the callers' sidecars did calling it.
            let retries = if service.callers.is_empty() {
                None
            } else {
                service
                    .callers
                    .iter()
                    .map(|i| {
                        pair(*i).ok().map(|(before, after)| {
                            counter_rate(
                                before.policy.retries(name),
                                after.policy.retries(name),
                                elapsed,
                            )
                        })
                    })
                    .sum::<Option<f64>>()
            };
            let ejected_now = |endpoint: &str| -> Option<bool> {
                if !service.outlier {
                    return None;
                }
                let mut any = false;
                for caller in &service.callers {
                    let sidecar = later.sidecars[*caller].as_ref().ok()?;
                    any |= sidecar.policy.is_ejected(name, endpoint);
                }
                Some(any)
            };
            let version_of = |i: usize| later.sidecars[i].as_ref().ok()?.version;
            let versions: Option<Vec<u64>> = service
                .instances
                .iter()
                .map(|(_, i, _)| version_of(*i))
                .collect();
            let flags: Option<Vec<bool>> = service
                .instances
                .iter()
                .map(|(_, _, endpoint)| ejected_now(endpoint))
                .collect();
            rows.push(Row {
                label: name.to_owned(),
                instance: false,
                stats: total
                    .as_ref()
                    .map(|own| ServiceStats::over(&own.delta, elapsed))
                    .map_err(Clone::clone),
                retries_per_second: retries,
                ejected: flags.as_ref().map(|flags| Ejected::Count {
                    ejected: flags.iter().filter(|f| **f).count(),
                    total: flags.len(),
                }),
                limited_per_second: total.as_ref().ok().map(|own| own.limited),
                denied_per_second: total.as_ref().ok().map(|own| own.denied),
                version: versions
                    .as_ref()
                    .and_then(|v| Some((v.iter().copied().min()?, v.iter().copied().max()?))),
            });
            if service.instances.len() > 1 {
                for (index, ((label, node, _), own)) in
                    service.instances.iter().zip(&instances).enumerate()
                {
                    rows.push(Row {
                        label: label.clone(),
                        instance: true,
                        stats: own
                            .as_ref()
                            .map(|own| ServiceStats::over(&own.delta, elapsed))
                            .map_err(Clone::clone),
                        retries_per_second: None,
                        ejected: flags.as_ref().map(|flags| Ejected::One(flags[index])),
                        limited_per_second: own.as_ref().ok().map(|own| own.limited),
                        denied_per_second: own.as_ref().ok().map(|own| own.denied),
                        version: version_of(*node).map(|v| (v, v)),
                    });
                }
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sidecar of `mesh` read at `at`, none of them having counted anything yet.
    fn nothing_counted(mesh: &Mesh, at: Instant) -> Snapshot {
        Snapshot {
            at,
            sidecars: vec![Ok(Sidecar::default()); mesh.nodes.len()],
            gateway: Err("not yet".to_owned()),
            control_plane: Err("not asked".to_owned()),
        }
    }

    /// A scrape of node `node` of `mesh` with `requests` inbound requests (`errors` of them
    /// 5xx) and the given policy series.
    fn sidecar(mesh: &Mesh, node: usize, requests: u32, errors: u32, policy: &str) -> Sidecar {
        let service = mesh.nodes[node].spec.name;
        let ok = requests - errors;
        let text = format!(
            "convoy_requests_total{{direction=\"inbound\",service=\"{service}\",status_class=\"2xx\"}} {ok}\n\
             convoy_requests_total{{direction=\"inbound\",service=\"{service}\",status_class=\"5xx\"}} {errors}\n\
             {policy}"
        );
        Sidecar::from_exposition(&Samples::parse(&text).unwrap(), service)
    }

    #[test]
    fn rows_combine_own_and_caller_sidecars() {
        let mesh = Mesh::for_tests();
        let scraper = Scraper::new(
            client::http1(),
            Api::for_tests(mesh.control_plane.listen),
            &mesh,
        );
        let start = Instant::now();
        let earlier = nothing_counted(&mesh, start).or_zero();
        let one = mesh.nodes[2].addrs.inbound;
        let orders_policy = format!(
            "convoy_retries_total{{service=\"payments\",reason=\"5xx\"}} 20\n\
             convoy_rate_limited_total{{service=\"orders\",rule=\"orders:total\"}} 6\n\
             convoy_endpoint_ejected{{service=\"payments\",endpoint=\"{one}\"}} 1\n"
        );
        let later = Snapshot {
            at: start + Duration::from_secs(2),
            sidecars: vec![
                Ok(sidecar(
                    &mesh,
                    0,
                    100,
                    0,
                    "convoy_retries_total{service=\"orders\",reason=\"gateway-error\"} 2\n\
                     convoy_config_version 7\n",
                )),
                Ok(sidecar(&mesh, 1, 100, 2, &orders_policy)),
                Ok(sidecar(
                    &mesh,
                    2,
                    60,
                    12,
                    "convoy_config_version 6\n\
                     convoy_authorization_total{caller=\"spiffe://demo.convoy/service/web\",rule=\"default-deny\",result=\"deny\"} 3\n\
                     convoy_authorization_total{caller=\"spiffe://demo.convoy/service/orders\",rule=\"allow[0]\",result=\"allow\"} 40\n",
                )),
                Err("down".to_owned()),
            ],
            gateway: Ok(Gateway::from_exposition(
                &Samples::parse(
                    "convoy_config_version 7\n\
                     convoy_gateway_requests_total{gateway=\"edge\",status=\"200\"} 8\n\
                     convoy_gateway_requests_total{gateway=\"edge\",status=\"401\"} 2\n\
                     convoy_gateway_requests_total{gateway=\"edge\",status=\"429\"} 2\n",
                )
                .unwrap(),
            )),
            control_plane: Err("not asked".to_owned()),
        };
        let all = scraper.rows(&earlier, &later);
        let (edge, rows) = all.split_first().unwrap();
        assert_eq!(edge.label, "edge");
        let stats = edge.stats.as_ref().unwrap();
        assert_eq!(stats.requests_per_second, 6.0);
        assert_eq!(stats.success_ratio, Some(8.0 / 12.0), "2xx only");
        assert_eq!(edge.denied_per_second, Some(1.0));
        assert_eq!(edge.limited_per_second, Some(1.0));
        assert_eq!((edge.retries_per_second, edge.ejected), (None, None));
        assert_eq!(edge.version, Some((7, 7)));
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            ["web", "orders", "payments", "payments-1", "payments-2"]
        );
        let web = &rows[0];
        assert_eq!(web.stats.as_ref().unwrap().requests_per_second, 50.0);
        assert_eq!(
            web.retries_per_second, None,
            "nothing calls web via a sidecar"
        );
        assert_eq!(web.ejected, None);
        assert_eq!(web.limited_per_second, Some(0.0));
        assert_eq!(web.denied_per_second, Some(0.0));
        assert_eq!(web.version, Some((7, 7)));
        assert_eq!(rows[1].version, None, "orders exports no version");
        let orders = &rows[1];
        assert_eq!(orders.retries_per_second, Some(1.0), "from web's sidecar");
        assert_eq!(orders.limited_per_second, Some(3.0), "from its own sidecar");
        assert_eq!(orders.ejected, None, "web does not eject orders");
        let payments = &rows[2];
        assert_eq!(
            payments.retries_per_second,
            Some(10.0),
            "from orders' sidecar"
        );
        assert_eq!(
            payments.ejected,
            Some(Ejected::Count {
                ejected: 1,
                total: 2
            })
        );
        assert_eq!(payments.stats, Err("down".to_owned()));
        assert_eq!(
            payments.denied_per_second, None,
            "payments-2 could not be read"
        );
        let first = &rows[3];
        assert!(first.instance);
        assert_eq!(first.stats.as_ref().unwrap().success_ratio, Some(0.8));
        assert_eq!(first.ejected, Some(Ejected::One(true)));
        assert_eq!(first.denied_per_second, Some(1.5), "its own denials only");
        assert_eq!(rows[4].ejected, Some(Ejected::One(false)));
        assert_eq!(rows[4].stats, Err("down".to_owned()));
        assert_eq!(payments.version, None, "payments-2 could not be read");
        assert_eq!(first.version, Some((6, 6)));
        assert_eq!(rows[4].version, None);
    }

    #[test]
    fn instances_add_up_to_their_service() {
        let mesh = Mesh::for_tests();
        let scraper = Scraper::new(
            client::http1(),
            Api::for_tests(mesh.control_plane.listen),
            &mesh,
        );
        let start = Instant::now();
        let earlier = nothing_counted(&mesh, start);
        let later = Snapshot {
            at: start + Duration::from_secs(1),
            sidecars: vec![
                Ok(Sidecar::default()),
                Ok(Sidecar::default()),
                Ok(sidecar(
                    &mesh,
                    2,
                    30,
                    6,
                    "convoy_config_version 6\n\
                     convoy_authorization_total{rule=\"default-deny\",result=\"deny\"} 3\n",
                )),
                Ok(sidecar(
                    &mesh,
                    3,
                    10,
                    0,
                    "convoy_config_version 7\n\
                     convoy_authorization_total{rule=\"default-deny\",result=\"deny\"} 1\n",
                )),
            ],
            gateway: Err("down".to_owned()),
            control_plane: Err("not asked".to_owned()),
        };
        let rows = scraper.rows(&earlier, &later);
        assert_eq!(rows[0].stats, Err("not yet".to_owned()), "the gateway");
        let rows = &rows[1..];
        let payments = rows[2].stats.as_ref().unwrap();
        assert_eq!(payments.requests_per_second, 40.0);
        assert_eq!(payments.success_ratio, Some(0.85));
        assert_eq!(
            rows[2].ejected,
            Some(Ejected::Count {
                ejected: 0,
                total: 2
            })
        );
        assert_eq!(rows[2].version, Some((6, 7)), "one instance is behind");
        assert_eq!(rows[2].denied_per_second, Some(4.0));
        assert_eq!(rows[4].denied_per_second, Some(1.0));
        assert_eq!(rows[3].version, Some((6, 6)));
        assert_eq!(rows[4].version, Some((7, 7)));
    }

    #[test]
    fn control_plane_status_and_convergence() {
        let status: ControlPlane = serde_json::from_str(
            r#"{"version": 5, "last_rejected": {"time": "t", "error": "a.yaml:1:1: no"},
                "sidecars": [
                  {"id": "a", "service": "web", "address": "127.0.0.1:1", "connected": true,
                   "connected_since": "t", "acked_version": 5, "last_nack": null},
                  {"id": "b", "service": "orders", "address": "127.0.0.1:2", "connected": true,
                   "connected_since": "t", "acked_version": 4, "last_nack": null}]}"#,
        )
        .unwrap();
        assert_eq!(status.version, 5);
        assert_eq!(
            status.last_rejected.as_ref().unwrap().error,
            "a.yaml:1:1: no"
        );
        assert!(status.converged(["127.0.0.1:1"].into_iter()));
        assert!(!status.converged(["127.0.0.1:1", "127.0.0.1:2"].into_iter()));
        assert!(!status.converged(["127.0.0.1:3"].into_iter()));
    }
}
