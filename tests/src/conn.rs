//! Single HTTP connections (no pool), for tests about one connection: absolute-form requests,
//! connection limits, GOAWAY and connection close.

use crate::client::{Body, ClientError, Reply};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How the connection's driver task ended.
pub(crate) type DriverResult = Result<(), hyper::Error>;

async fn tcp(addr: SocketAddr) -> TokioIo<TcpStream> {
    let stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    TokioIo::new(stream)
}

/// One HTTP/1.1 connection. Requests are sent exactly as built: an absolute URI stays in
/// absolute form, and no `Host` header is added.
#[derive(Debug)]
pub struct H1Conn {
    sender: http1::SendRequest<Body>,
}

impl H1Conn {
    /// Connects to `addr` and performs the (trivial) HTTP/1 handshake.
    pub async fn connect(addr: SocketAddr) -> H1Conn {
        let (sender, connection) = http1::handshake(tcp(addr).await)
            .await
            .expect("HTTP/1 handshake");
        tokio::spawn(connection);
        H1Conn { sender }
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&mut self, request: http::Request<Body>) -> Result<Reply, ClientError> {
        self.sender
            .ready()
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))?;
        Reply::collect(response).await
    }
}

/// One HTTP/2 (prior knowledge) connection; clone [`H2Conn::sender`] to send concurrently.
#[derive(Debug)]
pub struct H2Conn {
    sender: http2::SendRequest<Body>,
    driver: JoinHandle<DriverResult>,
}

impl H2Conn {
    /// Connects to `addr` and performs the HTTP/2 handshake.
    pub async fn connect(addr: SocketAddr) -> H2Conn {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), tcp(addr).await)
            .await
            .expect("HTTP/2 handshake");
        H2Conn {
            sender,
            driver: tokio::spawn(connection),
        }
    }

    /// A handle to send requests on this connection.
    pub fn sender(&self) -> H2Sender {
        H2Sender(self.sender.clone())
    }

    /// Waits for the connection to end (the server closed it), keeping the sender alive so
    /// the close is not of the client's making.
    pub async fn closed(self) -> DriverResult {
        let H2Conn { sender, driver } = self;
        let result = driver.await.expect("the driver task does not panic");
        drop(sender);
        result
    }
}

/// Sends requests on one [`H2Conn`].
#[derive(Debug, Clone)]
pub struct H2Sender(http2::SendRequest<Body>);

impl H2Sender {
    /// Sends one request and reads the whole response.
    pub async fn send(&self, request: http::Request<Body>) -> Result<Reply, ClientError> {
        let mut sender = self.0.clone();
        sender
            .ready()
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))?;
        Reply::collect(response).await
    }
}
