//! Route matching: the first route whose path and headers match picks a weighted backend.

use convoy_config::{Route, Service, ServiceName};
use rand::Rng;

/// The backend service for a request to `service` with this path and headers: the chosen
/// backend of the first matching route, or `service` itself when no route matches.
pub fn select_backend<'a>(
    service: &'a Service,
    path: &str,
    headers: &http::HeaderMap,
) -> &'a ServiceName {
    select(service, path, headers).1
}

/// The first route of `service` matching this path and headers, with its index.
pub fn matching_route<'a>(
    service: &'a Service,
    path: &str,
    headers: &http::HeaderMap,
) -> Option<(usize, &'a Route)> {
    service
        .routes
        .iter()
        .enumerate()
        .find(|(_, r)| matches(r, path, headers))
}

/// The index of the matching route (if any) and the backend service chosen by weight.
pub fn select<'a>(
    service: &'a Service,
    path: &str,
    headers: &http::HeaderMap,
) -> (Option<usize>, &'a ServiceName) {
    match matching_route(service, path, headers) {
        Some((index, route)) => (
            Some(index),
            pick_weighted(route, rand::rng().random_range(0..total_weight(route))),
        ),
        None => (None, &service.name),
    }
}

fn matches(route: &Route, path: &str, headers: &http::HeaderMap) -> bool {
    route.path.matches(path)
        && route.headers.iter().all(|h| {
            headers
                .get_all(&h.name)
                .iter()
                .any(|v| v.as_bytes() == h.value.as_bytes())
        })
}

fn total_weight(route: &Route) -> u64 {
    // Validation guarantees at least one positive weight.
    route
        .backends
        .iter()
        .map(|b| u64::from(b.weight))
        .sum::<u64>()
        .max(1)
}

fn pick_weighted(route: &Route, mut ticket: u64) -> &ServiceName {
    for backend in &route.backends {
        let weight = u64::from(backend.weight);
        if ticket < weight {
            return &backend.service;
        }
        ticket -= weight;
    }
    &route.backends[route.backends.len() - 1].service
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::parse_proxy_config;
    use std::path::Path;

    fn service() -> Service {
        let yaml = "sidecar: { service: web, app: 127.0.0.1:1 }\nservices:\n  v2: {}\n  canary: {}\n  orders:\n    routes:\n      - match: { path_prefix: /v2/ }\n        backends: [{ service: v2, weight: 1 }, { service: orders, weight: 3 }]\n      - match: { headers: { x-canary: \"yes\" } }\n        backends: [{ service: canary }]\n";
        parse_proxy_config(yaml, Path::new("t.yaml"))
            .unwrap()
            .mesh
            .services["orders"]
            .clone()
    }

    #[test]
    fn first_matching_route_wins_and_default_is_the_service() {
        let s = service();
        let mut h = http::HeaderMap::new();
        assert_eq!(select_backend(&s, "/v1/x", &h).as_str(), "orders");
        h.insert("x-canary", "yes".parse().unwrap());
        assert_eq!(select_backend(&s, "/v1/x", &h).as_str(), "canary");
    }

    #[test]
    fn weights_split_by_ticket() {
        let s = service();
        let route = &s.routes[0];
        assert_eq!(total_weight(route), 4);
        let picks: Vec<&str> = (0..4).map(|t| pick_weighted(route, t).as_str()).collect();
        assert_eq!(picks, ["v2", "orders", "orders", "orders"]);
    }
}
