//! `convoy-bench compare`: the same open-loop load through several topologies built on
//! loopback (direct, Convoy sidecars, HAProxy, nginx), interleaved over rounds so that drift
//! on the machine affects them alike; latency added over direct, the knee, CPU per request
//! and memory of the proxies; written as results.md, results.json and latency.svg.

pub mod backend;
mod output;
mod pki;
mod procs;
mod topology;

use std::path::{Path, PathBuf};
use std::time::Duration;

use convoy_harness::binary;
use serde::Serialize;

use self::procs::{have_taskset, pin_self, ticks_per_second};
use self::topology::{Env, Kind, Running, Tool};
use crate::cli::{CompareArgs, LoadArgs};
use crate::load::measure;
use crate::report::{ErrorCounts, Stats};

/// Why a comparison could not be run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompareError(pub String);

/// The highest added p99 at which a rate still counts as sustained (the knee's criterion).
const KNEE_ADDED_P99_US: i64 = 1_000;

/// Latency percentiles in µs (absolute, or added over direct: then they may be negative).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Percentiles {
    /// Median.
    pub(crate) p50: i64,
    /// 90th percentile.
    pub(crate) p90: i64,
    /// 99th percentile.
    pub(crate) p99: i64,
    /// 99.9th percentile.
    pub(crate) p99_9: i64,
}

impl Percentiles {
    fn of(stats: &Stats) -> Option<Percentiles> {
        let at = |q| stats.quantile_us(q).map(|v| v as i64);
        Some(Percentiles {
            p50: at(0.5)?,
            p90: at(0.9)?,
            p99: at(0.99)?,
            p99_9: at(0.999)?,
        })
    }

    /// Each percentile's median over `rounds` (the upper middle one for an even count): a
    /// round disturbed by something else on the machine moves it little, unlike a pooled
    /// histogram, where one bad round sets the tail.
    fn median_of(rounds: &[Percentiles]) -> Option<Percentiles> {
        if rounds.is_empty() {
            return None;
        }
        let median = |pick: fn(&Percentiles) -> i64| {
            let mut values: Vec<i64> = rounds.iter().map(pick).collect();
            values.sort_unstable();
            values[values.len() / 2]
        };
        Some(Percentiles {
            p50: median(|p| p.p50),
            p90: median(|p| p.p90),
            p99: median(|p| p.p99),
            p99_9: median(|p| p.p99_9),
        })
    }

    fn minus(self, base: Percentiles) -> Percentiles {
        Percentiles {
            p50: self.p50 - base.p50,
            p90: self.p90 - base.p90,
            p99: self.p99 - base.p99,
            p99_9: self.p99_9 - base.p99_9,
        }
    }
}

/// One rate of the knee sweep, for one topology.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KneePoint {
    /// Requests per second offered.
    pub(crate) rate: f64,
    /// Responses per second achieved.
    pub(crate) achieved_rate: f64,
    /// p99 in µs.
    pub(crate) p99_us: Option<i64>,
    /// p99 added over direct at the same rate, µs.
    pub(crate) added_p99_us: Option<i64>,
    /// Errors of every kind.
    pub(crate) errors: u64,
    /// Whether the rate was sustained: no errors, ≥ 95 % achieved, added p99 ≤ 1 ms.
    pub(crate) ok: bool,
}

/// The knee of one topology.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Knee {
    /// The highest rate of the sweep sustained, it and every lower one (`None`: not even the
    /// first).
    pub(crate) rate: Option<f64>,
    /// True when the sweep ended because the direct path itself failed the rate (the load
    /// generator's limit, not the proxy's): the knee is at least `rate`.
    pub(crate) at_least: bool,
    /// Every rate tried.
    pub(crate) sweep: Vec<KneePoint>,
}

/// Memory of one proxy (all its processes: nginx's master and worker together).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Memory {
    /// `convoy-proxy A`, `haproxy B`, ...
    pub(crate) proxy: String,
    /// VmRSS once it answered, before any load, KiB.
    pub(crate) idle_rss_kib: u64,
    /// VmHWM at the end of the run (the peak under load), KiB.
    pub(crate) peak_rss_kib: u64,
}

/// The results of one topology.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TopologyResult {
    /// `direct`, `convoy-1`, ...
    pub(crate) name: String,
    /// The path a request takes.
    pub(crate) description: String,
    /// Requests sent in the latency rounds.
    pub(crate) requests: u64,
    /// Errors in the latency rounds.
    pub(crate) errors: ErrorCounts,
    /// Latency, µs: each percentile's median over the rounds (each round's percentile is
    /// taken from that round's requests).
    pub(crate) latency_us: Option<Percentiles>,
    /// Latency added over direct, µs: `latency_us` minus direct's (`None` for direct).
    pub(crate) added_us: Option<Percentiles>,
    /// Latency over every request of every round pooled in one histogram, µs (a single
    /// disturbed round sets its tail).
    pub(crate) pooled_latency_us: Option<Percentiles>,
    /// Each round's latency, µs, in round order.
    pub(crate) rounds_latency_us: Vec<Percentiles>,
    /// The knee (`None` without a sweep, and for direct).
    pub(crate) knee: Option<Knee>,
    /// CPU seconds (user + system) of its proxies' processes per 1,000 requests of the
    /// latency rounds, in milliseconds (`None` for direct).
    pub(crate) cpu_ms_per_1k: Option<f64>,
    /// Memory of each proxy, first hop first.
    pub(crate) memory: Vec<Memory>,
}

/// Everything written to results.json.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Results {
    /// The day of the run, UTC (YYYY-MM-DD).
    pub(crate) date: String,
    /// `git rev-parse --short HEAD`, if it answered.
    pub(crate) commit: Option<String>,
    /// The CPU model from /proc/cpuinfo.
    pub(crate) cpu_model: String,
    /// CPUs this process could use at the start.
    pub(crate) cpus: usize,
    /// How the processes were pinned.
    pub(crate) pinning: String,
    /// Versions of the third-party proxies used.
    pub(crate) versions: Vec<String>,
    /// Requests per second of the latency rounds.
    pub(crate) rate: f64,
    /// Seconds per topology per round.
    pub(crate) duration_s: f64,
    /// Rounds.
    pub(crate) rounds: u32,
    /// HTTP/1.1 connections of the load generator.
    pub(crate) connections: u32,
    /// The backend's response body, bytes.
    pub(crate) body_bytes: usize,
    /// The knee sweep's rates (empty: no sweep).
    pub(crate) knee_rates: Vec<f64>,
    /// Seconds per topology per rate of the sweep.
    pub(crate) knee_duration_s: f64,
    /// Runs at a rate before a topology counts as past its knee.
    pub(crate) knee_tries: u32,
    /// Topologies left out, and why.
    pub(crate) skipped: Vec<String>,
    /// The topologies, in the order of the table.
    pub(crate) topologies: Vec<TopologyResult>,
}

/// Runs `convoy-bench compare`: builds the topologies, measures, writes and prints.
pub fn run(mut args: CompareArgs) -> Result<(), CompareError> {
    if args.quick {
        args.rounds = 1;
        args.duration = Duration::from_secs(1);
        args.rate = 500.0;
        args.knee_rates.clear();
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = !args.no_pin && cpus >= 2 && have_taskset();
    let pinning = if pin {
        pin_self(0)?;
        "load generator and backend pinned to CPU 0, proxies (and the control plane) to CPU 1 (taskset)".to_owned()
    } else if args.no_pin {
        "not pinned (--no-pin)".to_owned()
    } else {
        format!("not pinned ({cpus} CPU(s) or no taskset)")
    };
    eprintln!("convoy-bench compare: {pinning}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CompareError(format!("start the async runtime: {e}")))?;
    let mut results = runtime.block_on(compare(&args, pin.then_some(1)))?;
    results.cpus = cpus;
    results.pinning = pinning;
    output::write(&args.out, &results)?;
    if let Some(readme) = &args.readme {
        output::update_readme(readme, &args.out, &results)?;
    }
    print!("{}", output::table(&results));
    eprintln!(
        "convoy-bench compare: wrote results.md, results.json and latency.svg in {}",
        args.out.display()
    );
    Ok(())
}

/// The directory of the running executable (where cargo puts the other binaries too).
fn default_bin_dir() -> Option<PathBuf> {
    convoy_harness::binary::bin_dir().ok()
}

/// The topologies asked for, with the ones that cannot run and why.
fn select(args: &CompareArgs, bin_dir: &Path) -> Result<(Vec<Kind>, Vec<String>), CompareError> {
    let mut kinds: Vec<Kind> = match &args.only {
        None => Kind::ALL.to_vec(),
        Some(names) => {
            let mut kinds = vec![Kind::Direct];
            for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let kind = Kind::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| {
                        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                        CompareError(format!(
                            "--only: unknown topology `{name}`; known: {}",
                            known.join(", ")
                        ))
                    })?;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            kinds.sort_by_key(|k| Kind::ALL.iter().position(|a| a == k));
            kinds
        }
    };
    let mut skipped = Vec::new();
    let missing = |path: &Path| !path.is_file();
    for (tool, path, what) in [
        (
            Tool::Haproxy,
            &args.haproxy,
            "HAProxy (Debian: apt-get install haproxy)",
        ),
        (
            Tool::Nginx,
            &args.nginx,
            "nginx (Debian: apt-get install nginx-light)",
        ),
    ] {
        if missing(path) && kinds.iter().any(|k| k.tool() == Some(tool)) {
            let names: Vec<&str> = kinds
                .iter()
                .filter(|k| k.tool() == Some(tool))
                .map(|k| k.name())
                .collect();
            let why = format!(
                "{}: {} not found at {}; install {what} or pass its path",
                names.join(", "),
                path.display(),
                path.display()
            );
            eprintln!("convoy-bench compare: skipping {why}");
            skipped.push(why);
            kinds.retain(|k| k.tool() != Some(tool));
        }
    }
    let need = |name: &str| -> Result<PathBuf, CompareError> {
        binary::find_in(bin_dir, name).map_err(|missing| {
            CompareError(format!(
                "{missing}; build it first: cargo build --release -p convoy-proxy -p convoy-control-plane -p convoy-bench (or pass --bin-dir)"
            ))
        })
    };
    if kinds.iter().any(|k| k.tool() == Some(Tool::Convoy)) {
        need(binary::PROXY)?;
    }
    if kinds.contains(&Kind::Convoy2Mtls) {
        need(binary::CONTROL_PLANE)?;
    }
    Ok((kinds, skipped))
}

/// The load of one run through `t`.
fn load_args(t: &Running, rate: f64, duration: Duration, connections: u32) -> LoadArgs {
    LoadArgs {
        url: format!("http://{}/", t.front)
            .parse()
            .expect("a valid URL from an address"),
        rate,
        duration,
        connections,
        http2: false,
        body_size: None,
        host: Some(t.host.to_owned()),
        timeout: Duration::from_secs(5),
        json: false,
    }
}

async fn run_load(
    t: &Running,
    rate: f64,
    duration: Duration,
    connections: u32,
) -> Result<crate::load::Measured, CompareError> {
    measure(&load_args(t, rate, duration, connections), false)
        .await
        .map_err(|e| CompareError(format!("{}: {e}", t.kind.name())))
}

async fn compare(args: &CompareArgs, proxy_cpu: Option<usize>) -> Result<Results, CompareError> {
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => default_bin_dir().ok_or_else(|| {
            CompareError("cannot tell where this executable is; pass --bin-dir".to_owned())
        })?,
    };
    let (kinds, skipped) = select(args, &bin_dir)?;
    let scratch =
        tempfile::tempdir().map_err(|e| CompareError(format!("a temporary directory: {e}")))?;
    let env = Env {
        proxy_bin: bin_dir.join(binary::PROXY),
        control_plane_bin: bin_dir.join(binary::CONTROL_PLANE),
        haproxy: args.haproxy.clone(),
        nginx: args.nginx.clone(),
        backend: backend::start().await?,
        dir: scratch.path().to_path_buf(),
        pki: pki::generate(scratch.path())?,
        cpu: proxy_cpu,
    };

    let mut running = Vec::new();
    let mut idle = Vec::new();
    for kind in &kinds {
        eprintln!(
            "convoy-bench compare: starting {} ({})",
            kind.name(),
            kind.describe()
        );
        let t = topology::start(*kind, &env).await?;
        idle.push(
            t.proxies
                .iter()
                .map(procs::Proc::rss_kib)
                .collect::<Vec<_>>(),
        );
        running.push(t);
    }

    // Warm every path (pools, first handshakes) before measuring.
    let warm = if args.quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(1)
    };
    for t in &running {
        run_load(t, args.rate, warm, args.connections).await?;
    }

    let ticks = ticks_per_second();
    let mut stats: Vec<Stats> = running.iter().map(|_| Stats::new()).collect();
    let mut requests = vec![0_u64; running.len()];
    let mut cpu = vec![0.0_f64; running.len()];
    let mut per_round: Vec<Vec<Percentiles>> = running.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds {
        for (i, t) in running.iter_mut().enumerate() {
            for p in t.proxies.iter_mut().chain(t.helpers.iter_mut()) {
                p.check_alive()?;
            }
            let before: f64 = t.proxies.iter().map(|p| p.cpu_seconds(ticks)).sum();
            let measured = run_load(t, args.rate, args.duration, args.connections).await?;
            let after: f64 = t.proxies.iter().map(|p| p.cpu_seconds(ticks)).sum();
            cpu[i] += after - before;
            requests[i] += measured.summary.requests;
            stats[i].merge(&measured.stats);
            per_round[i].extend(Percentiles::of(&measured.stats));
            let l = measured.summary.latency_us;
            eprintln!(
                "round {round}/{}: {:<15} {} answered, {} errors, p50 {} µs, p99 {} µs",
                args.rounds,
                t.kind.name(),
                measured.summary.responses,
                measured.summary.errors.total,
                l.p50.unwrap_or(0),
                l.p99.unwrap_or(0)
            );
        }
    }

    let knees = knee_sweep(args, &running).await?;

    let direct = Percentiles::median_of(&per_round[0]);
    let topologies = running
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let latency = Percentiles::median_of(&per_round[i]);
            let proxied = t.kind != Kind::Direct;
            TopologyResult {
                name: t.kind.name().to_owned(),
                description: t.kind.describe().to_owned(),
                requests: requests[i],
                errors: stats[i].error_counts(),
                latency_us: latency,
                added_us: match (proxied, latency, direct) {
                    (true, Some(l), Some(d)) => Some(l.minus(d)),
                    _ => None,
                },
                pooled_latency_us: Percentiles::of(&stats[i]),
                rounds_latency_us: per_round[i].clone(),
                knee: knees[i].clone(),
                cpu_ms_per_1k: (proxied && requests[i] > 0)
                    .then(|| cpu[i] * 1000.0 / requests[i] as f64 * 1000.0),
                memory: t
                    .proxies
                    .iter()
                    .zip(&idle[i])
                    .map(|(p, idle)| Memory {
                        proxy: p.label.clone(),
                        idle_rss_kib: *idle,
                        peak_rss_kib: p.peak_rss_kib(),
                    })
                    .collect(),
            }
        })
        .collect();
    let mut versions = Vec::new();
    if kinds.iter().any(|k| k.tool() == Some(Tool::Haproxy)) {
        versions.push(output::version_of(&env.haproxy, "-v"));
    }
    if kinds.iter().any(|k| k.tool() == Some(Tool::Nginx)) {
        versions.push(output::version_of(&env.nginx, "-v"));
    }
    Ok(Results {
        date: output::today(),
        commit: output::commit(),
        cpu_model: output::cpu_model(),
        cpus: 0,
        pinning: String::new(),
        versions,
        rate: args.rate,
        duration_s: args.duration.as_secs_f64(),
        rounds: args.rounds,
        connections: args.connections,
        body_bytes: backend::BODY_BYTES,
        knee_rates: args.knee_rates.clone(),
        knee_duration_s: args.knee_duration.as_secs_f64(),
        knee_tries: args.knee_tries,
        skipped,
        topologies,
    })
}

/// The ascending sweep: at each rate, direct then every topology still sustaining the rates
/// below; a topology drops out at the first rate it does not sustain.
async fn knee_sweep(
    args: &CompareArgs,
    running: &[Running],
) -> Result<Vec<Option<Knee>>, CompareError> {
    let mut knees: Vec<Option<Knee>> = running
        .iter()
        .map(|t| {
            (t.kind != Kind::Direct && !args.knee_rates.is_empty()).then(|| Knee {
                rate: None,
                at_least: false,
                sweep: Vec::new(),
            })
        })
        .collect();
    let mut alive: Vec<bool> = knees.iter().map(Option::is_some).collect();
    for &rate in &args.knee_rates {
        if !alive.iter().any(|a| *a) {
            break;
        }
        let base = run_load(&running[0], rate, args.knee_duration, args.connections).await?;
        let base_ok = base.summary.errors.total == 0 && base.summary.achieved_rate >= 0.95 * rate;
        eprintln!(
            "knee {rate} req/s: direct p99 {} µs{}",
            base.summary.latency_us.p99.unwrap_or(0),
            if base_ok {
                ""
            } else {
                " (direct itself falls short: the sweep ends here)"
            }
        );
        if !base_ok {
            for (knee, a) in knees.iter_mut().zip(&alive) {
                if let (Some(knee), true) = (knee, a) {
                    knee.at_least = true;
                }
            }
            break;
        }
        let base_p99 = base.summary.latency_us.p99.map(|v| v as i64);
        for (i, t) in running.iter().enumerate().skip(1) {
            if !alive[i] {
                continue;
            }
            // Up to `knee_tries` runs at this rate: interference from elsewhere only ever adds
            // latency, so one run within the bound shows the rate is sustained.
            let mut tries = 0;
            let (m, p99, added, ok) = loop {
                tries += 1;
                let m = run_load(t, rate, args.knee_duration, args.connections).await?;
                let p99 = m.summary.latency_us.p99.map(|v| v as i64);
                let added = p99.zip(base_p99).map(|(a, b)| a - b);
                let ok = m.summary.errors.total == 0
                    && m.summary.achieved_rate >= 0.95 * rate
                    && added.is_some_and(|a| a <= KNEE_ADDED_P99_US);
                if ok || tries >= args.knee_tries {
                    break (m, p99, added, ok);
                }
            };
            eprintln!(
                "knee {rate} req/s: {:<15} p99 {} µs, added {} µs, errors {}, try {tries}{}",
                t.kind.name(),
                p99.unwrap_or(0),
                added.unwrap_or(0),
                m.summary.errors.total,
                if ok { "" } else { "  ← past the knee" }
            );
            let knee = knees[i]
                .as_mut()
                .expect("a knee for every proxied topology");
            knee.sweep.push(KneePoint {
                rate,
                achieved_rate: m.summary.achieved_rate,
                p99_us: p99,
                added_p99_us: added,
                errors: m.summary.errors.total,
                ok,
            });
            if ok {
                knee.rate = Some(rate);
            } else {
                alive[i] = false;
            }
        }
    }
    for (knee, a) in knees.iter_mut().zip(&alive) {
        // Every rate of the sweep sustained: the knee is above the last one.
        if let (Some(knee), true) = (knee, a) {
            if knee.rate == args.knee_rates.last().copied() {
                knee.at_least = true;
            }
        }
    }
    Ok(knees)
}
