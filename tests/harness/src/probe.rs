//! Waiting until a child answers over plain HTTP/1.1: `/ready` on an admin listener, an app's
//! health check, or a request through a whole chain of proxies.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::child::Child;
use crate::child::{wait_until, POLL_INTERVAL};
use crate::error::WaitError;

/// How long one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET path` on a new connection to `addr`, until it answers 200.
#[derive(Debug, Clone)]
pub struct Probe {
    addr: SocketAddr,
    path: String,
    host: String,
    interval: Duration,
}

impl Probe {
    /// `GET path` on `addr`, with `Host: addr`, tried every 10 ms.
    pub fn get(addr: SocketAddr, path: &str) -> Probe {
        Probe {
            addr,
            path: path.to_owned(),
            host: addr.to_string(),
            interval: POLL_INTERVAL,
        }
    }

    /// `GET /ready` on the admin listener `admin`.
    pub(crate) fn ready(admin: SocketAddr) -> Probe {
        Probe::get(admin, "/ready")
    }

    /// With `Host: host` instead (the service a sidecar routes to).
    pub fn host(mut self, host: &str) -> Probe {
        self.host = host.to_owned();
        self
    }

    /// Tried every `interval` instead.
    pub fn every(mut self, interval: Duration) -> Probe {
        self.interval = interval;
        self
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// One try: the status line of the answer (`HTTP/1.1 200 OK`), read to the end of the
    /// connection (`connection: close`) within 2 s.
    async fn status_line(&self) -> std::io::Result<String> {
        let exchange = async {
            let mut stream = TcpStream::connect(self.addr).await?;
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.path, self.host
            );
            stream.write_all(request.as_bytes()).await?;
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await?;
            let text = String::from_utf8_lossy(&reply);
            Ok(text.lines().next().unwrap_or("(empty reply)").to_owned())
        };
        tokio::time::timeout(TRY_TIMEOUT, exchange)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    /// One try: the status code of the answer.
    async fn status(&self) -> std::io::Result<u16> {
        let line = self.status_line().await?;
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not an HTTP status line: {line:?}"),
                )
            })
    }

    /// Tries until the answer is 200, for up to `limit`, while every one of `watched` keeps
    /// running.
    pub async fn wait_ok(
        &self,
        watched: &mut [&mut Child],
        limit: Duration,
    ) -> Result<(), WaitError> {
        let what = format!("GET {} (Host: {}) answering 200", self.url(), self.host);
        wait_until(&what, watched, limit, self.interval, async || {
            match self.status().await {
                Ok(200) => Ok(()),
                Ok(status) => Err(format!("answered {status}")),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }
}

impl Child {
    /// Waits up to `limit` until `GET /ready` on its admin listener `admin` answers 200; fails
    /// early if it exits.
    pub async fn wait_ready(
        &mut self,
        admin: std::net::SocketAddr,
        limit: Duration,
    ) -> Result<(), WaitError> {
        Probe::ready(admin).wait_ok(&mut [self], limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve_once(answer: &'static str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = [0; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_the_status_code() {
        let addr =
            serve_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(Probe::ready(addr).status().await.unwrap(), 503);
        let err = Probe::ready(addr)
            .wait_ok(&mut [], Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("answered 503"), "{err}");
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        Probe::get(ok, "/live")
            .wait_ok(&mut [], Duration::from_secs(1))
            .await
            .unwrap();
    }
}
