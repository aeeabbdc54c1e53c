//! Rendering per-service stats as a small text table, redrawn in place on a terminal.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use super::scrape::{Ejected, Row};

/// Formats the title (one or more lines), a header and one row per service (and
/// instance). A row is 79 characters wide, so it fits an 80-column terminal.
pub(crate) fn render(title: &str, rows: &[Row]) -> String {
    let mut out = format!("{title}\n");
    let _ = writeln!(
        out,
        "{:<12} {:>5} {:>7} {:>5} {:>5} {:>7} {:>7} {:>7} {:>8} {:>7}",
        "service",
        "req/s",
        "success",
        "p50ms",
        "p99ms",
        "retry/s",
        "ejected",
        "limit/s",
        "denied/s",
        "version"
    );
    for row in rows {
        let label = if row.instance {
            format!("  {}", row.label)
        } else {
            row.label.clone()
        };
        let s = match &row.stats {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(out, "{label:<12} metrics unavailable: {e}");
                continue;
            }
        };
        let success = s
            .success_ratio
            .map_or("-".to_owned(), |r| format!("{:.2}%", r * 100.0));
        let ms = |q: Option<f64>| q.map_or("-".to_owned(), |secs| compact(secs * 1000.0));
        let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.1}"));
        let ejected = match row.ejected {
            None => "-".to_owned(),
            Some(Ejected::Count { ejected, total }) => format!("{ejected}/{total}"),
            Some(Ejected::One(true)) => "yes".to_owned(),
            Some(Ejected::One(false)) => "no".to_owned(),
        };
        let _ = writeln!(
            out,
            "{label:<12} {:>5} {success:>7} {:>5} {:>5} {:>7} {ejected:>7} {:>7} {:>8} {:>7}",
            compact(s.requests_per_second),
            ms(s.p50),
            ms(s.p99),
            rate(row.retries_per_second),
            rate(row.limited_per_second),
            rate(row.denied_per_second),
            version(row.version),
        );
    }
    out
}

/// `12.3` with one decimal, but `1234` without: at most 5 characters below 100 000.
fn compact(value: f64) -> String {
    if value < 999.95 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// `7`, or `6..7` while the sidecars of a service run different versions.
fn version(range: Option<(u64, u64)>) -> String {
    match range {
        None => "-".to_owned(),
        Some((low, high)) if low == high => low.to_string(),
        Some((low, high)) => format!("{low}..{high}"),
    }
}

/// Stdout that redraws the previous block on a terminal and appends otherwise
/// (so logs and CI output stay plain lines).
pub(crate) struct Screen {
    tty: bool,
    drawn_lines: usize,
}

impl Screen {
    pub(crate) fn new() -> Self {
        Self {
            tty: std::io::stdout().is_terminal(),
            drawn_lines: 0,
        }
    }

    /// The operator typed a line on the terminal, which echoed it below the block: the
    /// next redraw goes up over it too.
    pub(crate) fn typed_line(&mut self) {
        if self.tty && self.drawn_lines > 0 {
            self.drawn_lines += 1;
        }
    }

    /// Replaces the previous block (terminal) or prints after it.
    pub(crate) fn show(&mut self, block: &str) {
        let mut stdout = std::io::stdout().lock();
        if self.tty && self.drawn_lines > 0 {
            // Cursor up over the previous block, then clear to the end of the screen.
            let _ = write!(stdout, "\x1b[{}A\r\x1b[J", self.drawn_lines);
        } else if !self.tty && self.drawn_lines > 0 {
            let _ = writeln!(stdout);
        }
        let _ = write!(stdout, "{block}");
        let _ = stdout.flush();
        self.drawn_lines = block.lines().count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ServiceStats;

    fn row(label: &str, instance: bool, stats: Result<ServiceStats, String>) -> Row {
        Row {
            label: label.to_owned(),
            instance,
            stats,
            retries_per_second: None,
            ejected: None,
            limited_per_second: None,
            denied_per_second: None,
            version: None,
        }
    }

    #[test]
    fn rows_show_rate_success_latency_and_policies() {
        let stats = ServiceStats {
            requests: 50.0,
            requests_per_second: 50.0,
            success_ratio: Some(0.95),
            p50: Some(0.0123),
            p99: None,
        };
        let rows = [
            row("web", false, Ok(stats.clone())),
            row("orders", false, Err("down".to_owned())),
            Row {
                retries_per_second: Some(12.04),
                ejected: Some(Ejected::Count {
                    ejected: 1,
                    total: 2,
                }),
                limited_per_second: Some(0.0),
                denied_per_second: Some(1.04),
                version: Some((6, 7)),
                ..row("payments", false, Ok(stats.clone()))
            },
            Row {
                ejected: Some(Ejected::One(true)),
                version: Some((12345, 12345)),
                ..row(
                    "payments-1",
                    true,
                    Ok(ServiceStats {
                        requests_per_second: 1234.5,
                        p99: Some(2.0),
                        ..stats
                    }),
                )
            },
        ];
        let table = render("title", &rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "title");
        let header: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            header,
            [
                "service", "req/s", "success", "p50ms", "p99ms", "retry/s", "ejected", "limit/s",
                "denied/s", "version"
            ]
        );
        let web: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            web,
            ["web", "50.0", "95.00%", "12.3", "-", "-", "-", "-", "-", "-"]
        );
        assert_eq!(lines[3], "orders       metrics unavailable: down");
        let payments: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(
            payments,
            ["payments", "50.0", "95.00%", "12.3", "-", "12.0", "1/2", "0.0", "1.0", "6..7"]
        );
        assert!(lines[5].starts_with("  payments-1 "), "{}", lines[5]);
        let instance: Vec<&str> = lines[5].split_whitespace().collect();
        assert_eq!(instance[1], "1234", "no decimal when it would not fit");
        assert_eq!(instance[4], "2000");
        assert_eq!(instance[6], "yes");
        assert_eq!(instance[9], "12345");
        // Columns line up with the header, within 80 columns.
        assert_eq!(lines[1].len(), 79);
        assert_eq!(lines[1].len(), lines[2].len());
        assert_eq!(lines[1].len(), lines[4].len());
        assert_eq!(lines[1].len(), lines[5].len());
    }
}
