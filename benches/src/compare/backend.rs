//! The backend every topology ends at: a small hyper server in the bench process answering
//! every request with 1 KiB, and a readiness probe.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::procs::{Proc, START_TIMEOUT};
use super::CompareError;

/// The size of every response body.
pub(crate) const BODY_BYTES: usize = 1024;

/// Starts the backend on `127.0.0.1:0` (HTTP/1.1 and HTTP/2) and returns its address.
pub(crate) async fn start() -> Result<SocketAddr, CompareError> {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts the backend on `addr` (HTTP/1.1 and HTTP/2) and returns the bound address; it
/// serves until the runtime ends.
pub async fn start_on(addr: SocketAddr) -> Result<SocketAddr, CompareError> {
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
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        for p in procs.iter_mut() {
            p.check_alive()?;
        }
        let last = match probe(addr, host).await {
            Ok(status) if status.starts_with("HTTP/1.1 200") => return Ok(()),
            Ok(status) => status,
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            let logs: Vec<String> = procs
                .iter()
                .map(|p| format!("--- {} ---\n{}", p.label, p.log_tail()))
                .collect();
            return Err(CompareError(format!(
                "{addr} (Host: {host}) did not answer 200 within {START_TIMEOUT:?}; last: {last}\n{}",
                logs.join("\n")
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One request on a new connection; the status line.
async fn probe(addr: SocketAddr, host: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut reply))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let text = String::from_utf8_lossy(&reply);
    Ok(text.lines().next().unwrap_or("(empty reply)").to_owned())
}
