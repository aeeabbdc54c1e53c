//! What a run measured, and how it is shown: a table for people, one JSON object for tools.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Why a request did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The TCP connection (or the HTTP/2 handshake) could not be made.
    Connect,
    /// No response within `--timeout` of the scheduled send time.
    Timeout,
    /// A response with a 5xx status.
    Status5xx,
    /// A response with a 4xx status.
    Status4xx,
    /// Anything else: a reset connection, a protocol error, a broken body.
    Other,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A response arrived (whole body read) `latency` after the scheduled send time;
    /// `error` is set for a 4xx or 5xx status.
    Response {
        /// From the scheduled send time to the end of the response body.
        latency: Duration,
        /// `Status4xx` or `Status5xx`, or `None` for any other status.
        error: Option<ErrorKind>,
    },
    /// No response: connect error, timeout or other.
    Failed(ErrorKind),
}

/// Error counts by kind; the JSON object `errors`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ErrorCounts {
    /// Every error below, summed.
    pub(crate) total: u64,
    /// TCP connect (or HTTP/2 handshake) failures.
    pub(crate) connect: u64,
    /// Requests not answered within `--timeout` of their scheduled time.
    pub(crate) timeout: u64,
    /// Responses with a 5xx status.
    pub(crate) status_5xx: u64,
    /// Responses with a 4xx status.
    pub(crate) status_4xx: u64,
    /// Resets, protocol errors, broken bodies.
    pub(crate) other: u64,
}

impl ErrorCounts {
    fn add(&mut self, kind: ErrorKind) {
        self.total += 1;
        match kind {
            ErrorKind::Connect => self.connect += 1,
            ErrorKind::Timeout => self.timeout += 1,
            ErrorKind::Status5xx => self.status_5xx += 1,
            ErrorKind::Status4xx => self.status_4xx += 1,
            ErrorKind::Other => self.other += 1,
        }
    }
}

/// The running tally of a load run: a latency histogram (µs, 3 significant digits) and
/// error counts.
#[derive(Debug)]
pub(crate) struct Stats {
    latency_us: Histogram<u64>,
    responses: u64,
    errors: ErrorCounts,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// An empty tally.
    pub(crate) fn new() -> Self {
        Stats {
            // 1 µs to one hour, 3 significant digits; larger values are clamped.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
            responses: 0,
            errors: ErrorCounts::default(),
        }
    }

    /// Counts one finished request.
    pub(crate) fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Response { latency, error } => {
                self.responses += 1;
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency_us.saturating_record(micros.max(1));
                if let Some(kind) = error {
                    self.errors.add(kind);
                }
            }
            Outcome::Failed(kind) => self.errors.add(kind),
        }
    }

    /// Adds another run's tally to this one.
    pub(crate) fn merge(&mut self, other: &Stats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of the same bounds");
        self.responses += other.responses;
        let (a, b) = (&mut self.errors, &other.errors);
        a.total += b.total;
        a.connect += b.connect;
        a.timeout += b.timeout;
        a.status_5xx += b.status_5xx;
        a.status_4xx += b.status_4xx;
        a.other += b.other;
    }

    /// The latency at quantile `q` (0..=1) in µs, or `None` when nothing was answered.
    pub(crate) fn quantile_us(&self, q: f64) -> Option<u64> {
        (!self.latency_us.is_empty()).then(|| self.latency_us.value_at_quantile(q))
    }

    /// The error counts so far.
    pub(crate) fn error_counts(&self) -> ErrorCounts {
        self.errors
    }

    /// Responses so far (any status).
    pub(crate) fn responses(&self) -> u64 {
        self.responses
    }

    /// Errors so far, of every kind.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.total
    }
}

/// Latency percentiles in µs from each request's scheduled send time, over every response
/// (any status); the JSON object `latency_us`. Each is `null` when nothing was answered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Latency {
    /// Median.
    pub(crate) p50: Option<u64>,
    /// 90th percentile.
    pub(crate) p90: Option<u64>,
    /// 99th percentile.
    pub(crate) p99: Option<u64>,
    /// 99.9th percentile.
    pub(crate) p99_9: Option<u64>,
    /// The slowest response.
    pub(crate) max: Option<u64>,
    /// The mean, rounded to 1 µs.
    pub(crate) mean: Option<u64>,
}

/// The result of one `load` run; serialized as the `--json` output. Field names are stable.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    /// The URL loaded.
    pub(crate) url: String,
    /// `"http1"` or `"http2"`.
    pub(crate) protocol: &'static str,
    /// `--connections`.
    pub(crate) connections: u32,
    /// `--rate`: requests scheduled per second.
    pub(crate) target_rate: f64,
    /// `--duration` in seconds: how long requests were scheduled for.
    pub(crate) duration_s: f64,
    /// `--body-size`: the POST body's bytes, or 0 for GET.
    pub(crate) body_bytes: usize,
    /// Requests sent on schedule (fewer than rate × duration only when interrupted).
    pub(crate) requests: u64,
    /// Requests answered with any status (4xx and 5xx included).
    pub(crate) responses: u64,
    /// Responses per second over `elapsed_s`.
    pub(crate) achieved_rate: f64,
    /// From the first scheduled send to the last request finished, in seconds.
    pub(crate) elapsed_s: f64,
    /// Latency percentiles of the responses.
    pub(crate) latency_us: Latency,
    /// Errors by kind.
    pub(crate) errors: ErrorCounts,
}

/// What the run was asked to do, echoed in the summary.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The URL loaded.
    pub(crate) url: String,
    /// Whether HTTP/2 was spoken.
    pub(crate) http2: bool,
    /// Connections used.
    pub(crate) connections: u32,
    /// Target requests per second.
    pub(crate) rate: f64,
    /// How long requests were scheduled for.
    pub(crate) duration: Duration,
    /// POST body size, 0 for GET.
    pub(crate) body_bytes: usize,
}

impl Summary {
    /// Summarizes `stats` of a run of `plan` that sent `requests` and took `elapsed`.
    pub(crate) fn new(plan: &Plan, stats: &Stats, requests: u64, elapsed: Duration) -> Summary {
        let h = &stats.latency_us;
        let answered = !h.is_empty();
        let at = |q: f64| answered.then(|| h.value_at_quantile(q));
        let elapsed_s = elapsed.as_secs_f64();
        Summary {
            url: plan.url.clone(),
            protocol: if plan.http2 { "http2" } else { "http1" },
            connections: plan.connections,
            target_rate: plan.rate,
            duration_s: plan.duration.as_secs_f64(),
            body_bytes: plan.body_bytes,
            requests,
            responses: stats.responses,
            achieved_rate: if elapsed_s > 0.0 {
                stats.responses as f64 / elapsed_s
            } else {
                0.0
            },
            elapsed_s,
            latency_us: Latency {
                p50: at(0.50),
                p90: at(0.90),
                p99: at(0.99),
                p99_9: at(0.999),
                max: answered.then(|| h.max()),
                mean: answered.then(|| h.mean().round() as u64),
            },
            errors: stats.errors,
        }
    }

    /// The table printed without `--json`.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        let e = &self.errors;
        let l = &self.latency_us;
        let method = if self.body_bytes > 0 {
            format!("POST {} B", self.body_bytes)
        } else {
            "GET".to_owned()
        };
        let _ = writeln!(
            out,
            "{method} {}: {} req/s for {}s over {} {} connection(s)",
            self.url,
            self.target_rate,
            self.duration_s,
            self.connections,
            if self.protocol == "http2" {
                "HTTP/2"
            } else {
                "HTTP/1.1"
            }
        );
        let _ = writeln!(
            out,
            "requests   {} sent, {} answered, {} errors",
            self.requests, self.responses, e.total
        );
        let _ = writeln!(
            out,
            "achieved   {:.1} req/s over {:.2}s (target {})",
            self.achieved_rate, self.elapsed_s, self.target_rate
        );
        let _ = writeln!(out, "latency    from each request's scheduled send time");
        for (name, value) in [
            ("p50", l.p50),
            ("p90", l.p90),
            ("p99", l.p99),
            ("p99.9", l.p99_9),
            ("max", l.max),
            ("mean", l.mean),
        ] {
            let _ = writeln!(out, "  {name:<8} {}", micros(value));
        }
        let _ = writeln!(
            out,
            "errors     connect {}, timeout {}, 5xx {}, 4xx {}, other {}",
            e.connect, e.timeout, e.status_5xx, e.status_4xx, e.other
        );
        out
    }
}

/// `812 µs`, `12.34 ms`, `1.502 s`, or `-` when nothing was measured.
fn micros(value: Option<u64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(us) if us < 1_000 => format!("{us} µs"),
        Some(us) if us < 1_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        Some(us) => format!("{:.3} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            url: "http://127.0.0.1:1/".to_owned(),
            http2: false,
            connections: 1,
            rate: 10.0,
            duration: Duration::from_secs(1),
            body_bytes: 0,
        }
    }

    #[test]
    fn percentiles_and_errors() {
        let mut stats = Stats::new();
        for ms in 1..=100 {
            stats.record(Outcome::Response {
                latency: Duration::from_millis(ms),
                error: None,
            });
        }
        stats.record(Outcome::Response {
            latency: Duration::from_millis(1),
            error: Some(ErrorKind::Status5xx),
        });
        stats.record(Outcome::Failed(ErrorKind::Connect));
        let s = Summary::new(&plan(), &stats, 102, Duration::from_secs(1));
        assert_eq!(s.responses, 101);
        assert_eq!(s.errors.total, 2);
        assert_eq!((s.errors.connect, s.errors.status_5xx), (1, 1));
        let l = s.latency_us;
        assert!(l.p50 <= l.p99 && l.p99 <= l.max);
        assert!(l.max.unwrap().abs_diff(100_000) <= 100, "{l:?}");
        assert!(s.to_text().contains("connect 1"));
    }

    #[test]
    fn nothing_answered_shows_no_percentiles() {
        let s = Summary::new(&plan(), &Stats::new(), 0, Duration::from_secs(1));
        assert_eq!(s.latency_us.p50, None);
        let json = serde_json::to_value(&s).expect("serializable");
        assert!(json["latency_us"]["p50"].is_null());
        assert!(s.to_text().contains("p50      -"));
    }

    #[test]
    fn readable_durations() {
        assert_eq!(micros(Some(812)), "812 µs");
        assert_eq!(micros(Some(12_345)), "12.35 ms");
        assert_eq!(micros(Some(1_502_000)), "1.502 s");
    }
}
