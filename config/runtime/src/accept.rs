//! The accept loop every listener of both binaries runs.

use crate::Drain;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How long accepting pauses after an error such as running out of file descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Accepts on `listener` until `drain` is signalled, and runs `serve` for each connection
/// (TCP_NODELAY set) as a task of the drain, so shutdown waits for it.
///
/// With `limit`, at most that many connections are served at once: at the limit, accepting
/// pauses and new clients wait in the kernel's backlog. An accept error (out of file
/// descriptors and the like) is logged with `name` and accepting pauses briefly instead of
/// spinning.
pub async fn accept_until_drained<F, Fut>(
    listener: TcpListener,
    name: &str,
    drain: &Drain,
    limit: Option<Arc<Semaphore>>,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let permit = match &limit {
            Some(limit) => tokio::select! {
                permit = limit.clone().acquire_owned() => permit.ok(),
                () = drain.signal.cancelled() => break,
            },
            None => None,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(listener = name, %error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = drain.signal.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = serve(stream, peer);
        drain.tasks.spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    tracing::debug!(listener = name, "stopped accepting");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_each_connection_until_drained_and_waits_for_them() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let drain = Drain::default();
        let accepting = tokio::spawn({
            let drain = drain.clone();
            async move {
                accept_until_drained(listener, "test", &drain, None, |mut stream, _| async move {
                    let _ = stream.write_all(b"hello").await;
                })
                .await;
            }
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        drain.signal.cancel();
        accepting.await.unwrap();
        drain.tasks.close();
        drain.tasks.wait().await;
    }

    #[tokio::test]
    async fn at_the_limit_new_connections_wait() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let drain = Drain::default();
        let (release, released) = tokio::sync::watch::channel(false);
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepting = tokio::spawn({
            let (drain, served) = (drain.clone(), served.clone());
            async move {
                let limit = Some(Arc::new(Semaphore::new(1)));
                accept_until_drained(listener, "test", &drain, limit, |_stream, _| {
                    served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut released = released.clone();
                    async move {
                        let _ = released.wait_for(|r| *r).await;
                    }
                })
                .await;
            }
        });
        let _first = TcpStream::connect(addr).await.unwrap();
        let _second = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
        release.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2);
        drain.signal.cancel();
        accepting.await.unwrap();
    }
}
