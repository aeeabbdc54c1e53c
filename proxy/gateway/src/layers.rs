//! The gateway's own steps between CORS and the outbound calls: route required, body limit,
//! rate limit, rewrites and header edits, and the hand-over to the route's service.

use super::runtime::Selection;
use super::step::{Before, Step};
use convoy_identity::CLIENT_ID_HEADER;
use convoy_policy::rate_limit::Caller;
use convoy_proxy_core::call::Call;
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::path::with_path;
use convoy_proxy_core::{Request, Response};
use convoy_stack::outbound::Target;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Removes the consumer header and the client id header a client sent: only the gateway sets
/// them.
#[derive(Debug, Clone)]
pub struct StripConsumer;

impl Step for StripConsumer {
    type State = ();
    fn before(&self, mut request: Request) -> Before<()> {
        let header = request
            .extensions()
            .get::<Selection>()
            .map(Selection::consumer_header);
        if let Some(header) = header {
            request.headers_mut().remove(header);
        }
        request.headers_mut().remove(CLIENT_ID_HEADER);
        Before::Continue(request, ())
    }
}

/// Refuses requests no route took with 404.
#[derive(Debug, Clone)]
pub struct RequireRoute;

impl Step for RequireRoute {
    type State = ();
    fn before(&self, request: Request) -> Before<()> {
        let Some(selection) = request.extensions().get::<Selection>() else {
            return Before::Refuse(ProxyError::NoGatewayRoute {
                reason: "no gateway".into(),
            });
        };
        if selection.route().is_some() {
            return Before::Continue(request, ());
        }
        let path: String = request
            .uri()
            .path()
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(128)
            .collect();
        let reason = match (&selection.gateway.config, selection.route_set()) {
            (None, _) => format!("gateway {} is not configured", selection.gateway.name),
            (Some(_), None) => format!("no route set matches {path}"),
            (Some(_), Some(set)) => format!(
                "route set {} has no route for {} {path}",
                set.name,
                request.method()
            ),
        };
        Before::Refuse(ProxyError::NoGatewayRoute { reason })
    }
}

/// Refuses bodies larger than the route's `max_body_bytes` with 413: by `content-length`
/// before anything is sent, and while a body without one streams.
#[derive(Debug, Clone)]
pub struct BodyLimit;

impl Step for BodyLimit {
    /// The limit, the route, and whether the streamed body went over.
    type State = Option<(u64, String, Arc<AtomicBool>)>;

    fn before(&self, request: Request) -> Before<Self::State> {
        let Some(route) = request
            .extensions()
            .get::<Selection>()
            .and_then(Selection::route)
        else {
            return Before::Continue(request, None);
        };
        let limit = route.config.max_body_bytes;
        let name = route.config.name.clone();
        let length = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = length.filter(|l| *l > limit) {
            return Before::Refuse(ProxyError::PayloadTooLarge {
                what: format!("content-length {length}"),
                limit,
                route: name,
            });
        }
        let over = Arc::new(AtomicBool::new(false));
        let flag = over.clone();
        let request = request.map(move |body| {
            Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
                .map_err(move |error| {
                    if error.is::<LengthLimitError>() {
                        flag.store(true, Ordering::Relaxed);
                    }
                    error
                })
                .boxed_unsync()
        });
        Before::Continue(request, Some((limit, name, over)))
    }

    fn after(
        &self,
        state: Self::State,
        result: Result<Response, ProxyError>,
    ) -> Result<Response, ProxyError> {
        match (state, result) {
            (Some((limit, route, over)), Err(_)) if over.load(Ordering::Relaxed) => {
                Err(ProxyError::PayloadTooLarge {
                    what: "body".into(),
                    limit,
                    route,
                })
            }
            (_, result) => result,
        }
    }
}

/// The route's rate limit: per consumer (the consumer header authentication set, else the
/// client's address), per client address, or in total; 429 when over.
#[derive(Debug, Clone)]
pub struct ConsumerLimit;

impl Step for ConsumerLimit {
    type State = ();
    fn before(&self, request: Request) -> Before<()> {
        let Some(limiter) = request
            .extensions()
            .get::<Selection>()
            .and_then(Selection::route)
            .and_then(|r| r.limiter.as_ref())
        else {
            return Before::Continue(request, ());
        };
        let caller = Caller {
            identity: None,
            ip: RequestContext::of(&request)
                .and_then(|context| context.client_addr)
                .map(|addr| addr.ip()),
        };
        match limiter.check(request.headers(), caller) {
            Ok(()) => Before::Continue(request, ()),
            Err(limited) => Before::Refuse(ProxyError::RateLimited(limited)),
        }
    }
}

/// The path with `rewrite` applied (an emptied path becomes `/`).
pub fn rewritten(path: &str, rewrite: &convoy_config::Rewrite) -> Option<String> {
    let (from, to) = match rewrite {
        convoy_config::Rewrite::StripPrefix(prefix) => (prefix.as_str(), ""),
        convoy_config::Rewrite::ReplacePrefix { from, to } => (from.as_str(), to.as_str()),
    };
    let rest = path.strip_prefix(from.trim_end_matches('/'))?;
    let mut out = format!("{}{rest}", to.trim_end_matches('/'));
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    Some(out)
}

/// The route's path rewrite and request header edits on the way in, its response header edits
/// on the way out.
#[derive(Debug, Clone)]
pub struct Edits;

impl Step for Edits {
    type State = Option<Selection>;

    fn before(&self, mut request: Request) -> Before<Self::State> {
        let Some(selection) = request.extensions().get::<Selection>().cloned() else {
            return Before::Continue(request, None);
        };
        let Some(route) = selection.route() else {
            return Before::Continue(request, None);
        };
        if let Some(rewrite) = &route.config.rewrite {
            if let Some(uri) = rewritten(request.uri().path(), rewrite)
                .and_then(|path| with_path(request.uri(), &path))
            {
                *request.uri_mut() = uri;
            }
        }
        let edits = &route.config.request_headers;
        let headers = request.headers_mut();
        for name in &edits.remove {
            headers.remove(name);
        }
        for (name, value) in &edits.add {
            headers.insert(name.clone(), value.clone());
        }
        Before::Continue(request, Some(selection))
    }

    fn after(
        &self,
        state: Self::State,
        result: Result<Response, ProxyError>,
    ) -> Result<Response, ProxyError> {
        let mut response = result?;
        if let Some(route) = state.as_ref().and_then(Selection::route) {
            let edits = &route.config.response_headers;
            let headers = response.headers_mut();
            for name in &edits.remove {
                headers.remove(name);
            }
            for (name, value) in &edits.add {
                headers.insert(name.clone(), value.clone());
            }
        }
        Ok(response)
    }
}

/// Hands the request to the outbound calls as if the local app had called the route's
/// service: [`Target`] names the service (the upstream's `Host`), [`Call`] carries the
/// policies; the backend is picked by the service's own routes, with the gateway route's timeout and retry over the
/// service's.
#[derive(Debug, Clone)]
pub struct Dispatch;

impl Step for Dispatch {
    type State = ();
    fn before(&self, mut request: Request) -> Before<()> {
        let Some(selection) = request.extensions().get::<Selection>().cloned() else {
            return Before::Continue(request, ());
        };
        let Some(route) = selection.route() else {
            return Before::Continue(request, ());
        };
        let snapshot = selection.gateway.snapshot.clone();
        let name = route.config.service.as_str();
        let service = snapshot.service(name).cloned();
        let mut backend = None;
        if let Some(service) = &service {
            let (index, backend_name) = convoy_stack::outbound::select(
                &service.config,
                request.uri().path(),
                request.headers(),
            );
            let chosen = snapshot
                .service(backend_name.as_str())
                .unwrap_or(service)
                .clone();
            let policy = route
                .policy
                .clone()
                .unwrap_or_else(|| service.policy(index));
            RequestContext::of_mut(&mut request).call = Some(Call {
                policy,
                limits: chosen.limits.clone(),
            });
            backend = Some(chosen);
        }
        request.extensions_mut().insert(Target {
            snapshot,
            authority: Some(name.to_owned()),
            service,
            backend,
        });
        Before::Continue(request, ())
    }
}
