//! Sends the one request and renders the answer as `curl` would.

use std::fmt::Write as _;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use super::FetchArgs;
use crate::client::{self, error_chain};

/// What came back: the status and the text to print (the body, after the head with `-i`).
#[derive(Debug)]
pub struct Outcome {
    /// The response's status.
    pub(crate) status: StatusCode,
    /// What to write to stdout.
    pub output: Vec<u8>,
}

impl Outcome {
    /// The process's exit status: 0 below 400, 22 (as `curl --fail`) from 400 on.
    pub fn exit_code(&self) -> u8 {
        if self.status.as_u16() < 400 {
            0
        } else {
            22
        }
    }
}

/// Sends the request the flags describe; `Err` says why no answer came.
pub async fn run(args: &FetchArgs) -> Result<Outcome, String> {
    let mut request = Request::builder()
        .method(args.method.clone())
        .uri(args.url.clone());
    for (name, value) in &args.headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::<Bytes>::default())
        .map_err(|e| format!("building the request: {e}"))?;
    let what = format!("{} {}", args.method, args.url);
    let client = client::http1();
    let exchange = async {
        let response = client.request(request).await.map_err(|e| error_chain(&e))?;
        let head = render_head(&response);
        let (status, body) = client::read_all(response).await?;
        Ok::<_, String>((status, head, body))
    };
    let (status, head, body) = tokio::time::timeout(args.timeout, exchange)
        .await
        .map_err(|_| format!("{what}: no answer within {:?}", args.timeout))?
        .map_err(|e| format!("{what}: {e}"))?;
    let mut output = Vec::with_capacity(head.len() + body.len());
    if args.include {
        output.extend_from_slice(head.as_bytes());
    }
    output.extend_from_slice(&body);
    Ok(Outcome { status, output })
}

/// `HTTP/1.1 403 Forbidden`, the headers, and the empty line, as `curl -i` prints them.
fn render_head<B>(response: &http::Response<B>) -> String {
    let mut head = format!("{:?} {}\r\n", response.version(), response.status());
    for (name, value) in response.headers() {
        let _ = write!(
            head,
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    head.push_str("\r\n");
    head
}
