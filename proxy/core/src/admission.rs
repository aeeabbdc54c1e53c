//! The shape every refusing policy shares: look at the request, then either pass it on
//! untouched or answer with an error, before the inner service sees it.

use crate::error::ProxyError;
use crate::{Request, Response};
use futures_util::future::{ready, Either, Ready};
use std::task::{Context, Poll};

/// A policy that admits a request or refuses it with the error to answer.
pub trait Admission {
    /// `Ok` lets the request through; `Err` refuses it (the inner service never sees it).
    fn admit(&self, request: &Request) -> Result<(), ProxyError>;
}

/// Runs an [`Admission`] in front of `inner`. No box: an admitted request's future is the
/// inner service's own.
#[derive(Debug, Clone)]
pub struct Admit<A, S> {
    admission: A,
    inner: S,
}

impl<A, S> Admit<A, S> {
    /// `admission` in front of `inner`.
    pub fn new(admission: A, inner: S) -> Self {
        Admit { admission, inner }
    }
}

/// Layer for [`Admit`], for an admission that holds all it needs (a copy goes in front of each
/// inner service).
#[derive(Debug, Clone)]
pub struct AdmitLayer<A> {
    admission: A,
}

impl<A> AdmitLayer<A> {
    /// Runs `admission` in front of the inner service.
    pub fn new(admission: A) -> Self {
        AdmitLayer { admission }
    }
}

impl<A: Clone, S> tower::Layer<S> for AdmitLayer<A> {
    type Service = Admit<A, S>;
    fn layer(&self, inner: S) -> Self::Service {
        Admit::new(self.admission.clone(), inner)
    }
}

impl<A, S> tower::Service<Request> for Admit<A, S>
where
    A: Admission,
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = Either<S::Future, Ready<Result<Response, ProxyError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.admission.admit(&request) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(refused) => Either::Right(ready(Err(refused))),
        }
    }
}
