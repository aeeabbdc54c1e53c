//! Command-line flags of `convoy-bench` and the parsers of their values.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use http::Uri;

/// Convoy's load generator: constant-rate, open-loop HTTP load with latency percentiles.
#[derive(Debug, Parser)]
#[command(name = "convoy-bench", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send requests to URL at a constant rate, whether or not earlier ones have finished,
    /// and report latency percentiles measured from each request's scheduled send time.
    Load(LoadArgs),
    /// Build each topology on loopback (direct, Convoy sidecars, HAProxy, nginx), run the same
    /// open-loop load through each in turn over several rounds, and write a comparison
    /// (results.md, results.json, latency.svg).
    Compare(CompareArgs),
    /// Serve the comparison's backend on its own (every request answered with 1 KiB, HTTP/1.1
    /// and HTTP/2), for profiling a proxy in front of it with other tools; runs until Ctrl-C.
    Backend(BackendArgs),
}

/// Flags of `convoy-bench backend`.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: std::net::SocketAddr,
}

/// Flags of `convoy-bench compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Requests per second of the latency rounds.
    #[arg(long, default_value = "2000", value_parser = parse_rate)]
    pub(crate) rate: f64,

    /// How long each topology is loaded in each round.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Rounds: every topology takes its turn once per round, so drift affects all alike.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,

    /// The ascending rates of the knee sweep (comma-separated, requests per second).
    #[arg(long, default_value = "1000,1500,2000,3000,4000,6000,8000,12000", value_delimiter = ',', value_parser = parse_rate)]
    pub(crate) knee_rates: Vec<f64>,

    /// How long each topology is loaded at each rate of the knee sweep.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) knee_duration: Duration,

    /// Runs at each rate of the knee sweep before a topology counts as past its knee: a rate is
    /// sustained when any one of them keeps added p99 within the bound (others on a shared
    /// machine only ever add latency).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(crate) knee_tries: u32,

    /// HTTP/1.1 connections of the load generator, for every topology.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) connections: u32,

    /// A smoke test: 1 round of 1s at 500 req/s, no knee sweep.
    #[arg(long)]
    pub(crate) quick: bool,

    /// Only these topologies (comma-separated names; `direct`, the baseline, always runs):
    /// direct, convoy-1, convoy-2, convoy-2-mtls, haproxy-1, haproxy-2-mtls, nginx-1,
    /// nginx-2-mtls.
    #[arg(long, value_delimiter = ',')]
    pub(crate) only: Option<Vec<String>>,

    /// Where `convoy-proxy` and `convoy-control-plane` are; default: beside this executable.
    #[arg(long)]
    pub(crate) bin_dir: Option<PathBuf>,

    /// The HAProxy executable.
    #[arg(long, default_value = "/usr/sbin/haproxy")]
    pub(crate) haproxy: PathBuf,

    /// The nginx executable.
    #[arg(long, default_value = "/usr/sbin/nginx")]
    pub(crate) nginx: PathBuf,

    /// Do not pin the generator and the proxies to different CPUs with taskset.
    #[arg(long)]
    pub(crate) no_pin: bool,

    /// Also put results.md's table and notes into this Markdown file, between the lines
    /// `<!-- convoy-bench compare: begin -->` and `<!-- convoy-bench compare: end -->`.
    #[arg(long)]
    pub(crate) readme: Option<PathBuf>,

    /// The results folder (results.md, results.json, latency.svg).
    #[arg(long, default_value = "benches/results")]
    pub(crate) out: PathBuf,
}

/// Flags of `convoy-bench load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The URL to load (`http://HOST:PORT/PATH`; plain HTTP only).
    #[arg(env = "CONVOY_BENCH_URL", value_parser = parse_url)]
    pub(crate) url: Uri,

    /// Requests per second, kept constant (open loop), e.g. `200` or `0.5`.
    #[arg(long, env = "CONVOY_BENCH_RATE", value_parser = parse_rate)]
    pub(crate) rate: f64,

    /// How long to send, e.g. `10s`, `1m`, `500ms`.
    #[arg(long, env = "CONVOY_BENCH_DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Connections to spread the load over; a request waits for a free one (HTTP/1.1),
    /// and that wait counts in its latency.
    #[arg(long, env = "CONVOY_BENCH_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) connections: u32,

    /// Speak HTTP/2 (prior knowledge, h2c): requests are multiplexed over each connection.
    #[arg(long, env = "CONVOY_BENCH_HTTP2")]
    pub(crate) http2: bool,

    /// Send a POST with a body of this size (`64`, `1KiB`, `1MiB`, `10kB`) instead of a GET.
    #[arg(long, env = "CONVOY_BENCH_BODY_SIZE", value_parser = parse_size)]
    pub(crate) body_size: Option<usize>,

    /// The Host header (HTTP/1.1) or `:authority` (HTTP/2) to send instead of the URL's, e.g.
    /// the service name a sidecar routes on.
    #[arg(long, env = "CONVOY_BENCH_HOST")]
    pub(crate) host: Option<String>,

    /// A request not answered within this time of its scheduled send time counts as a timeout.
    #[arg(long, env = "CONVOY_BENCH_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,

    /// Print one JSON object (see `benches/README.md` for its fields) instead of a table.
    #[arg(long, env = "CONVOY_BENCH_JSON")]
    pub(crate) json: bool,
}

/// Parses a URL to load: `http://` with a host; `https://` is refused with a reason.
pub(crate) fn parse_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("invalid URL `{text}`: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(format!("`{text}`: https is not supported yet; use http://")),
        _ => {
            return Err(format!(
                "`{text}`: expected an http:// URL, like http://127.0.0.1:8080/"
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{text}`: the URL has no host"));
    }
    Ok(uri)
}

/// Parses a request rate within `0.01..=1000000` requests per second.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate `{text}`: expected requests per second, like 200"))?;
    if (0.01..=1_000_000.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "must be within 0.01..=1000000 requests per second, got {text}"
        ))
    }
}

/// Parses a positive duration such as `10s`, `1m`, `1m30s` or `250ms`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let value = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration `{text}`: {e} (use a unit, like 10s or 1m)"))?;
    if value.is_zero() {
        return Err(format!("invalid duration `{text}`: must be more than zero"));
    }
    Ok(value)
}

/// Parses a size in bytes: a bare number, or with `B`, `KiB`, `MiB`, `kB`/`KB` or `MB`.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: usize = number
        .parse()
        .map_err(|_| format!("invalid size `{text}`: expected bytes, like 64 or 1KiB"))?;
    let multiplier = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "Ki" => 1 << 10,
        "MiB" | "Mi" => 1 << 20,
        "kB" | "KB" | "k" => 1_000,
        "MB" | "M" => 1_000_000,
        other => {
            return Err(format!(
                "invalid size `{text}`: unknown unit `{other}` (use B, KiB, MiB, kB, MB)"
            ))
        }
    };
    let bytes = value
        .checked_mul(multiplier)
        .filter(|b| *b <= 1 << 30)
        .ok_or_else(|| format!("invalid size `{text}`: at most 1GiB"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["convoy-bench", "load"].iter().chain(args))
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("64B"), Ok(64));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("10kB"), Ok(10_000));
        assert!(parse_size("1.5KiB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("2GiB").is_err());
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn urls() {
        assert!(parse_url("http://127.0.0.1:8080/x?y=1").is_ok());
        assert!(parse_url("https://example.com/")
            .unwrap_err()
            .contains("https"));
        assert!(parse_url("127.0.0.1:8080").is_err());
    }

    #[test]
    fn flags_with_defaults() {
        let cli = parse(&["http://127.0.0.1:1/", "--rate", "50"]).expect("valid flags");
        let Command::Load(args) = cli.command else {
            panic!("a load command")
        };
        assert_eq!(args.rate, 50.0);
        assert_eq!(args.duration, Duration::from_secs(10));
        assert_eq!(args.connections, 10);
        assert!(!args.http2 && !args.json);
        assert_eq!(args.body_size, None);
    }

    #[test]
    fn bad_flags_are_named() {
        let error = parse(&["http://127.0.0.1:1/", "--rate", "fast"]).unwrap_err();
        assert!(error.to_string().contains("--rate"), "{error}");
        let error =
            parse(&["http://127.0.0.1:1/", "--rate", "1", "--connections", "0"]).unwrap_err();
        assert!(error.to_string().contains("--connections"), "{error}");
        assert!(
            parse(&["http://127.0.0.1:1/"]).is_err(),
            "--rate is required"
        );
    }
}
