//! The backend every topology ends at: a small hyper server in the bench process answering
//! every request with 1 KiB, and the wait until a request goes through a whole topology.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use convoy_harness::{Child, Probe};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::procs::{procs_error, Proc, START_TIMEOUT};
use super::CompareError;

/// The size of every response body.
pub(crate) const BODY_BYTES: usize = 1024;

/// Starts the backend on `127.0.0.1:0` (HTTP/1.1 and HTTP/2) and returns its address.
pub(crate) async fn start() -> Result<SocketAddr, CompareError> {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts the backend on `addr` (HTTP/1.1 and HTTP/2) and returns the bound address; it
/// serves until the runtime ends.
pub(crate) async fn start_on(addr: SocketAddr) -> Result<SocketAddr, CompareError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| CompareError(format!("bind the backend on {addr}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CompareError(e.to_string()))?;
    let body = Bytes::from(vec![b'x'; BODY_BYTES]);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/octet-stream")
                                .body(Full::new(body))
                                .expect("a valid response"),
                        )
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// `convoy-bench backend`: the backend on `addr` in a one-thread runtime, until Ctrl-C.
pub fn serve(addr: SocketAddr) -> Result<(), CompareError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CompareError(format!("start the async runtime: {e}")))?;
    runtime.block_on(async {
        let bound = start_on(addr).await?;
        eprintln!("convoy-bench backend: listening on {bound} (every response {BODY_BYTES} bytes)");
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| CompareError(format!("wait for Ctrl-C: {e}")))
    })
}

/// Sends `GET /` with `Host: host` to `addr` until a 200 comes back (through the whole
/// chain), while checking that `procs` are still running.
pub(crate) async fn wait_answering(
    addr: SocketAddr,
    host: &str,
    procs: &mut [Proc],
) -> Result<(), CompareError> {
    let probe = Probe::get(addr, "/")
        .host(host)
        .every(Duration::from_millis(50));
    let mut watched: Vec<&mut Child> = procs.iter_mut().map(Proc::child_mut).collect();
    match probe.wait_ok(&mut watched, START_TIMEOUT).await {
        Ok(()) => Ok(()),
        Err(e) => Err(procs_error(e, procs.iter())),
    }
}
