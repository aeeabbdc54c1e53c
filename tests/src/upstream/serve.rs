//! The accept loop shared by the HTTP upstreams: HTTP/1.1 and h2c (auto-detected) on every
//! connection; everything stops when the server handle is dropped.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

/// The response body type of the upstream servers.
pub(crate) type ServerBody = UnsyncBoxBody<Bytes, crate::client::BoxError>;

/// A running server: its address, its connection count, and its tasks (aborted on drop).
#[derive(Debug)]
pub(crate) struct Serving {
    pub(crate) addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Serving {
    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        for task in self.tasks.lock().expect("not poisoned").drain(..) {
            task.abort();
        }
    }
}

/// A listener on `127.0.0.1:0` for an upstream server.
pub(crate) async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an upstream server")
}

/// Binds `127.0.0.1:0` and serves `handler` on every connection.
pub(crate) async fn spawn_http<F, Fut>(handler: F) -> Serving
where
    F: Fn(http::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<ServerBody>> + Send + 'static,
{
    spawn_http_on(bind_loopback().await, handler)
}

/// Serves `handler` on every connection `listener` accepts.
pub(crate) fn spawn_http_on<F, Fut>(listener: TcpListener, handler: F) -> Serving
where
    F: Fn(http::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<ServerBody>> + Send + 'static,
{
    let addr = listener.local_addr().expect("a bound address");
    let connections = Arc::new(AtomicUsize::new(0));
    let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
    let accept = {
        let (connections, tasks) = (connections.clone(), tasks.clone());
        tokio::spawn(async move {
            let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                connections.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let builder = builder.clone();
                let task = tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let response = handler(request);
                        async move { Ok::<_, Infallible>(response.await) }
                    });
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                let mut tasks = tasks.lock().expect("not poisoned");
                tasks.retain(|t| !t.is_finished());
                tasks.push(task.abort_handle());
            }
        })
    };
    tasks
        .lock()
        .expect("not poisoned")
        .push(accept.abort_handle());
    Serving {
        addr,
        connections,
        tasks,
    }
}
