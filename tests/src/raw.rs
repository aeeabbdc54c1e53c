//! Raw TCP clients for what well-behaved HTTP clients never send: requests without `Host`,
//! oversized or half-sent heads, connections held open on purpose.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
}

impl RawResponse {
    /// The first header of this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How reading a response failed.
#[derive(Debug)]
pub enum RawError {
    /// Nothing complete arrived within the limit.
    Timeout,
    /// The peer closed the connection first; what had arrived.
    Closed(Vec<u8>),
    /// A socket error.
    Io(std::io::Error),
    /// The bytes are not an HTTP/1 response.
    Malformed(String),
}

/// One TCP connection with a read buffer.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr`; panics if that fails.
    pub async fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Sends `bytes` and reads one response; panics if sending fails or no complete response
    /// arrives within 10 s.
    pub async fn round_trip(&mut self, bytes: &[u8]) -> RawResponse {
        self.send(bytes).await.expect("send the request");
        self.read_response(Duration::from_secs(10))
            .await
            .expect("a response")
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response within `limit`. Safe to call again after a timeout: bytes read so
    /// far stay buffered.
    pub async fn read_response(&mut self, limit: Duration) -> Result<RawResponse, RawError> {
        match tokio::time::timeout(limit, self.read_response_inner()).await {
            Ok(result) => result,
            Err(_) => Err(RawError::Timeout),
        }
    }

    async fn read_response_inner(&mut self) -> Result<RawResponse, RawError> {
        loop {
            if let Some(response) = parse(&mut self.buf)? {
                return Ok(response);
            }
            if self.fill().await.map_err(RawError::Io)? == 0 {
                return Err(RawError::Closed(std::mem::take(&mut self.buf)));
            }
        }
    }

    /// Waits until the peer closes the connection (end of stream or reset), discarding what it
    /// sends; how long that took, or `None` if it was still open after `limit`.
    pub async fn wait_closed(&mut self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let closed = async {
            loop {
                match self.fill().await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => self.buf.clear(),
                }
            }
        };
        tokio::time::timeout(limit, closed)
            .await
            .ok()
            .map(|()| started.elapsed())
    }
}

/// Parses one complete response off the front of `buf`, removing it; `None` if incomplete.
fn parse(buf: &mut Vec<u8>) -> Result<Option<RawResponse>, RawError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RawError::Malformed(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let rest = &buf[head_end + 4..];
    // The body's length, to take it off the buffer (no test reads a raw body).
    let used = if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| RawError::Malformed(format!("bad content-length {len}")))?;
        if rest.len() < len {
            return Ok(None);
        }
        len
    } else if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        match chunked_length(rest)? {
            Some(used) => used,
            None => return Ok(None),
        }
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        0
    } else {
        // Delimited by close: only complete once the caller saw end of stream.
        return Ok(None);
    };
    buf.drain(..head_end + 4 + used);
    Ok(Some(RawResponse { status, headers }))
}

/// The length of a chunked body at the front of `rest`, final CRLF included; `None` if
/// incomplete.
fn chunked_length(mut rest: &[u8]) -> Result<Option<usize>, RawError> {
    let total = rest.len();
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| RawError::Malformed(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // No trailers expected from the proxy on HTTP/1: just the final CRLF.
            let Some(end) = find(rest, b"\r\n") else {
                return Ok(None);
            };
            rest = &rest[end + 2..];
            return Ok(Some(total - rest.len()));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        rest = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Connects to `addr` (a TCP echo, directly or through a proxy), sends `payload`, closes the
/// write half and reads everything that comes back until the peer closes (within
/// [`crate::STEP_TIMEOUT`]); what came back.
pub async fn echo_round_trip(addr: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.write_all(payload).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut back = Vec::new();
    crate::within(
        crate::STEP_TIMEOUT,
        "the echo",
        stream.read_to_end(&mut back),
    )
    .await
    .unwrap();
    back
}
