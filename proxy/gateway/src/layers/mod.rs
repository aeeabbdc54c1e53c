//! The gateway's own layers between CORS and the outbound calls, one concern each: the forged
//! consumer removed, the route required, the body limit, the consumer's rate limit, rewrites
//! and header edits, and the hand-over to the route's service. Each passes a request no route
//! took on untouched ([`crate::runtime::Selection::routed`]); [`RequireRoute`] refuses
//! those before the others see them.

mod body_limit;
mod consumer_limit;
mod dispatch;
mod edits;
mod require_route;
mod strip_consumer;

pub(crate) use body_limit::BodyLimitLayer;
pub(crate) use consumer_limit::ConsumerLimit;
pub(crate) use dispatch::dispatch;
#[cfg(test)]
pub(crate) use edits::rewritten;
pub(crate) use edits::EditsLayer;
pub(crate) use require_route::RequireRoute;
pub(crate) use strip_consumer::strip_consumer;
