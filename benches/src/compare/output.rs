//! The comparison written out: a Markdown table (printed, and in results.md with the run's
//! circumstances), results.json, and latency.svg (plotters' SVG backend).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use plotters::prelude::*;

use super::{CompareError, Knee, Percentiles, Results};

/// The Markdown table of the results.
pub(crate) fn table(r: &Results) -> String {
    let mut out = String::new();
    out.push_str(
        "| topology | p50 | p90 | p99 | p99.9 | added p50 | added p90 | added p99 | added p99.9 | knee (req/s) | CPU ms / 1k req | idle RSS (MiB) | peak RSS (MiB) | errors |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for t in &r.topologies {
        let abs = |f: fn(&Percentiles) -> i64| {
            t.latency_us
                .as_ref()
                .map_or("-".to_owned(), |p| f(p).to_string())
        };
        let added = |f: fn(&Percentiles) -> i64| {
            t.added_us
                .as_ref()
                .map_or("-".to_owned(), |p| format!("{:+}", f(p)))
        };
        let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
        let idle: Vec<String> = t.memory.iter().map(|m| mib(m.idle_rss_kib)).collect();
        let peak: Vec<String> = t.memory.iter().map(|m| mib(m.peak_rss_kib)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.name,
            abs(|p| p.p50),
            abs(|p| p.p90),
            abs(|p| p.p99),
            abs(|p| p.p99_9),
            added(|p| p.p50),
            added(|p| p.p90),
            added(|p| p.p99),
            added(|p| p.p99_9),
            knee_text(t.knee.as_ref()),
            t.cpu_ms_per_1k
                .map_or("-".to_owned(), |c| format!("{c:.1}")),
            dash_if_empty(idle.join(" / ")),
            dash_if_empty(peak.join(" / ")),
            t.errors.total,
        );
    }
    out
}

fn dash_if_empty(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

fn knee_text(knee: Option<&Knee>) -> String {
    match knee {
        None => "-".to_owned(),
        Some(Knee { rate: None, .. }) => format!(
            "< {}",
            knee.and_then(|k| k.sweep.first()).map_or(0.0, |p| p.rate)
        ),
        Some(Knee {
            rate: Some(rate),
            at_least,
            ..
        }) => format!("{}{rate}", if *at_least { "≥ " } else { "" }),
    }
}

/// results.md: the circumstances of the run, the table, and what the columns mean.
pub(crate) fn markdown(r: &Results) -> String {
    let mut out = String::from("# convoy-bench compare\n\n");
    let _ = writeln!(
        out,
        "- date: {} · commit: {} · CPU: {} ({} CPUs available)",
        r.date,
        r.commit.as_deref().unwrap_or("unknown"),
        r.cpu_model,
        r.cpus
    );
    let _ = writeln!(out, "- pinning: {}", r.pinning);
    let _ = writeln!(
        out,
        "- load: {} req/s open loop, {} HTTP/1.1 connections, GET, {} B responses; {} round(s) × {} s per topology, interleaved",
        r.rate, r.connections, r.body_bytes, r.rounds, r.duration_s
    );
    if r.knee_rates.is_empty() {
        out.push_str("- knee: no sweep\n");
    } else {
        let rates: Vec<String> = r.knee_rates.iter().map(|x| x.to_string()).collect();
        let _ = writeln!(
            out,
            "- knee sweep: {} req/s, {} s each, up to {} run(s) per rate; the knee is the highest rate (it and all below) with added p99 ≤ 1 ms, no errors and ≥ 95 % achieved in one of its runs",
            rates.join(", "),
            r.knee_duration_s,
            r.knee_tries
        );
    }
    out.push_str("- one worker thread each: convoy-proxy `--worker-threads 1`, HAProxy `nbthread 1`, nginx `worker_processes 1`\n");
    if !r.versions.is_empty() {
        let _ = writeln!(out, "- versions: {}", r.versions.join("; "));
    }
    for s in &r.skipped {
        let _ = writeln!(out, "- skipped {s}");
    }
    out.push('\n');
    out.push_str(&table(r));
    out.push_str(
        "\nLatencies in µs from each request's scheduled send time: each percentile is the median \
         over the rounds of that round's percentile (results.json also has every round, and all \
         rounds pooled); *added* is the topology's percentile minus direct's. CPU: user + system time of the topology's proxy \
         processes (not the control plane) per 1,000 requests of the latency rounds. RSS per proxy \
         (`A / B`: first hop / second hop; nginx: master + worker): idle is VmRSS before any load, \
         peak is VmHWM after the whole run.\n\n",
    );
    for t in &r.topologies {
        let _ = writeln!(out, "- `{}`: {}", t.name, t.description);
    }
    out.push_str("\n![latency percentiles per topology](latency.svg)\n");
    out
}

/// The markers of the block [`update_readme`] replaces.
const BEGIN: &str = "<!-- convoy-bench compare: begin -->";
const END: &str = "<!-- convoy-bench compare: end -->";

/// Replaces the block between [`BEGIN`] and [`END`] of `readme` with results.md's text (its
/// title left out; the chart linked relative to the README).
pub(crate) fn update_readme(readme: &Path, out: &Path, r: &Results) -> Result<(), CompareError> {
    let text = std::fs::read_to_string(readme)
        .map_err(|e| CompareError(format!("read {}: {e}", readme.display())))?;
    // The markers count only as whole lines (a mention of them in the text is not one).
    let line_at = |marker: &str| {
        text.match_indices(marker).map(|(at, _)| at).find(|&at| {
            (at == 0 || text[..at].ends_with('\n')) && text[at + marker.len()..].starts_with('\n')
        })
    };
    let (Some(begin), Some(end)) = (line_at(BEGIN), line_at(END)) else {
        return Err(CompareError(format!(
            "--readme {}: no `{BEGIN}` … `{END}` block to replace",
            readme.display()
        )));
    };
    if end < begin {
        return Err(CompareError(format!(
            "--readme {}: `{END}` comes before `{BEGIN}`",
            readme.display()
        )));
    }
    let body = markdown(r);
    let body = body
        .split_once("\n\n")
        .map_or(body.as_str(), |(_, rest)| rest);
    let chart = readme
        .parent()
        .and_then(|dir| pathdiff(out, dir))
        .unwrap_or_else(|| out.display().to_string());
    let body = body.replace("](latency.svg)", &format!("]({chart}/latency.svg)"));
    let updated = format!("{}{BEGIN}\n{body}{}", &text[..begin], &text[end..]);
    std::fs::write(readme, updated)
        .map_err(|e| CompareError(format!("write {}: {e}", readme.display())))
}

/// `path` relative to `base` when it lies under it (`benches/results` from `benches` is
/// `results`).
fn pathdiff(path: &Path, base: &Path) -> Option<String> {
    let path = std::path::absolute(path).ok()?;
    let base = std::path::absolute(base).ok()?;
    Some(path.strip_prefix(base).ok()?.display().to_string())
}

/// Writes results.md, results.json and latency.svg into `dir`.
pub(crate) fn write(dir: &Path, r: &Results) -> Result<(), CompareError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CompareError(format!("create {}: {e}", dir.display())))?;
    let put = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| CompareError(format!("write {}: {e}", dir.join(name).display())))
    };
    put("results.md", &markdown(r))?;
    put(
        "results.json",
        &(serde_json::to_string_pretty(r).expect("results serialize") + "\n"),
    )?;
    svg(&dir.join("latency.svg"), r).map_err(|e| CompareError(format!("draw latency.svg: {e}")))
}

/// latency.svg: p50..p99.9 of every topology, one line each.
fn svg(path: &Path, r: &Results) -> Result<(), Box<dyn std::error::Error>> {
    const NAMES: [&str; 4] = ["p50", "p90", "p99", "p99.9"];
    let series: Vec<(&str, [i64; 4])> = r
        .topologies
        .iter()
        .filter_map(|t| {
            let p = t.latency_us?;
            Some((t.name.as_str(), [p.p50, p.p90, p.p99, p.p99_9]))
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "latency at {} req/s by topology (µs, from the scheduled send time)",
        r.rate
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.2_f64..3.2_f64, 0_f64..top)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..4.0).contains(&i) {
                NAMES[i as usize].to_owned()
            } else {
                String::new()
            }
        })
        .y_desc("µs")
        .draw()?;
    for (i, (name, values)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(x, y)| (x as f64, *y as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Today (UTC) as YYYY-MM-DD.
pub(crate) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `git rev-parse --short HEAD`, if git answers.
pub(crate) fn commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The first `model name` of /proc/cpuinfo.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The first line `program flag` prints (on stdout or stderr).
pub(crate) fn version_of(program: &Path, flag: &str) -> String {
    Command::new(program)
        .arg(flag)
        .output()
        .ok()
        .and_then(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| format!("{} (version unknown)", program.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
