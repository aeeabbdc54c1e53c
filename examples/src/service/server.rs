//! Accept loop with graceful shutdown, serving HTTP/1.1 and h2c on one port.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::handler::Handler;
use super::ServiceArgs;
use crate::shutdown;

/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves until SIGTERM or SIGINT, then lets open connections finish.
pub async fn run(args: ServiceArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    // Handlers first: whoever reads the line below may signal at once.
    let stop = shutdown::signal();
    // Printed on stdout so tests and scripts using port 0 can find the service.
    println!("convoy-demo-service {} listening on {local}", args.name);

    let handler = Arc::new(Handler::new(&args));
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);

    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Usually fd exhaustion: back off instead of spinning.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let handler = handler.clone();
            async move { handler.handle(req).await }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        // Connection errors are the client's business (resets, bad preface).
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }

    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("gave up waiting for open connections after {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}
