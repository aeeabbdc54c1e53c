//! Command-line flags of `convoy-http`.

use std::time::Duration;

use clap::Parser;
use http::{HeaderName, HeaderValue, Method, Uri};

use crate::flags::parse_duration;

/// Fetch one URL and print the answer: a tiny curl for the compose demo's images, which have no
/// shell. Exit status 0 for a status below 400, 22 for 400 and above (as `curl --fail`), 1 when
/// no answer came (connection refused, timeout), 2 for bad flags.
#[derive(Debug, Clone, Parser)]
#[command(name = "convoy-http", version)]
pub struct FetchArgs {
    /// The URL, `http://HOST[:PORT]/PATH` (plain HTTP/1.1; `https://` is not supported).
    #[arg(value_parser = parse_url)]
    pub(crate) url: Uri,

    /// The request method.
    #[arg(short = 'X', long, default_value = "GET", value_parser = parse_method)]
    pub(crate) method: Method,

    /// A request header, `Name: value` (repeatable). `Host` replaces the URL's host in the
    /// `Host` header, so `-H 'Host: payments' http://127.0.0.1:4140/` calls payments through
    /// a sidecar's outbound listener.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,

    /// Print the status line and the response headers before the body (as `curl -i`).
    #[arg(short = 'i', long)]
    pub(crate) include: bool,

    /// Give up when the whole exchange takes longer than this.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
}

/// Accepts `http://host[:port][/path]` only.
fn parse_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("invalid URL `{text}`: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "unsupported scheme `{other}` in `{text}`: only http:// URLs"
            ))
        }
        None => {
            return Err(format!(
                "`{text}` is not a URL: write http://HOST[:PORT]/PATH"
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{text}` names no host"));
    }
    Ok(uri)
}

fn parse_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.as_bytes()).map_err(|_| format!("invalid method `{text}`"))
}

/// Parses `Name: value` into a header; the name is checked, the value trimmed.
pub(crate) fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("invalid header `{text}`: expected `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("invalid header name `{}`", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("invalid value for header `{name}`"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<FetchArgs, clap::Error> {
        FetchArgs::try_parse_from(std::iter::once("convoy-http").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_and_headers() {
        let args = parse(&["-i", "-H", "Host: payments", "http://127.0.0.1:4140/x?y=1"]).unwrap();
        assert_eq!(args.method, Method::GET);
        assert!(args.include);
        assert_eq!(args.headers[0].0, "host");
        assert_eq!(args.headers[0].1, "payments");
        assert_eq!(args.url.path_and_query().unwrap().as_str(), "/x?y=1");
        assert_eq!(args.timeout, Duration::from_secs(10));
    }

    #[test]
    fn bad_input_is_named() {
        let err = parse(&["https://example.com/"]).unwrap_err().to_string();
        assert!(err.contains("unsupported scheme `https`"), "{err}");
        let err = parse(&["localhost:4191"]).unwrap_err().to_string();
        assert!(
            err.contains("unsupported scheme `localhost`") || err.contains("not a URL"),
            "{err}"
        );
        let err = parse(&["/ready"]).unwrap_err().to_string();
        assert!(err.contains("not a URL"), "{err}");
        let err = parse(&["-H", "nocolon", "http://a/"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected `Name: value`"), "{err}");
        let err = parse(&["-H", "bad name: x", "http://a/"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid header name `bad name`"), "{err}");
        let err = parse(&["-X", "G T", "http://a/"]).unwrap_err().to_string();
        assert!(err.contains("invalid method"), "{err}");
    }
}
