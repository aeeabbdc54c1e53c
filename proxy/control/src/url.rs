//! Where the control plane's sidecar API is (`--control-plane`).

use std::fmt;

/// Where the control plane's sidecar API is: `https://HOST:PORT`, optionally with a path prefix
/// (the API's paths are appended to it). `HOST:PORT` alone means `https://HOST:PORT`; the API
/// runs over TLS only, so `http://` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneUrl {
    host: String,
    port: u16,
    authority: String,
    prefix: String,
}

impl ControlPlaneUrl {
    /// Parses and checks a control plane URL: `https` only.
    pub fn parse(text: &str) -> Result<Self, String> {
        let full = if text.contains("://") {
            text.to_owned()
        } else {
            format!("https://{text}")
        };
        let uri: http::Uri = full
            .parse()
            .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") => {
                return Err(format!(
                    "`{text}`: the control plane's API runs over TLS only; use https://"
                ))
            }
            Some(other) => {
                return Err(format!(
                    "`{text}`: scheme `{other}` is not supported; use https://HOST:PORT"
                ))
            }
            None => return Err(format!("`{text}` has no scheme; use https://HOST:PORT")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{text}` has no host; use https://HOST:PORT"))?;
        if authority.as_str().contains('@') {
            return Err(format!("`{text}`: user information is not supported"));
        }
        if uri.query().is_some() {
            return Err(format!("`{text}`: a query is not supported"));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(format!("`{text}` has no host; use https://HOST:PORT"));
        }
        Ok(ControlPlaneUrl {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(443),
            authority: authority.as_str().to_owned(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The host to connect to (an IPv6 address without brackets).
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (443 when the URL names none).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The absolute URI of one API path (`/v1/stream`) on this control plane.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("https://{}{}{path}", self.authority, self.prefix)
    }
}

impl fmt::Display for ControlPlaneUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}{}", self.authority, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_plane_urls() {
        let url = ControlPlaneUrl::parse("https://127.0.0.1:4200").unwrap();
        assert_eq!((url.host(), url.port()), ("127.0.0.1", 4200));
        assert_eq!(
            url.endpoint("/v1/stream"),
            "https://127.0.0.1:4200/v1/stream"
        );
        let url = ControlPlaneUrl::parse("cp.mesh:4200/convoy/").unwrap();
        assert_eq!(url.to_string(), "https://cp.mesh:4200/convoy");
        assert_eq!(
            url.endpoint("/v1/stream"),
            "https://cp.mesh:4200/convoy/v1/stream"
        );
        let url = ControlPlaneUrl::parse("https://[::1]:4200").unwrap();
        assert_eq!((url.host(), url.port()), ("::1", 4200));
        assert_eq!(ControlPlaneUrl::parse("https://cp").unwrap().port(), 443);
        for bad in [
            "ftp://cp:4200",
            "https://",
            "https://cp:4200/?x=1",
            "not a url",
        ] {
            assert!(ControlPlaneUrl::parse(bad).is_err(), "{bad}");
        }
        let error = ControlPlaneUrl::parse("http://cp:4200").unwrap_err();
        assert!(
            error.contains("runs over TLS only; use https://"),
            "{error}"
        );
    }
}
