//! `convoy-bench load`: constant-rate, open-loop load.
//!
//! An OS thread keeps the schedule: request `i` is due at `start + i / rate`, and is handed
//! to the tokio runtime at that time whether or not earlier requests have finished
//! (`std::thread::sleep` has tens of µs of slack; tokio's 1 ms timer would swamp
//! sub-millisecond latencies). Each of the C connections takes the next due request when
//! it is free, so a request that waits for a connection has the wait in its latency, which
//! is measured from the scheduled time: a stall cannot hide behind the requests it delayed
//! (no coordinated omission).

mod conn;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use self::conn::{exchange, Conn, Target};
use crate::cli::LoadArgs;
use crate::report::{ErrorKind, Outcome, Plan, Stats, Summary};

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The URL's host did not resolve.
    #[error("cannot resolve {authority}: {source}")]
    Resolve {
        /// `host:port` from the URL.
        authority: String,
        /// What the resolver said.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// One request due at `scheduled`.
#[derive(Debug, Clone, Copy)]
struct Job {
    scheduled: Instant,
}

/// What the workers, the pacer and the progress line share.
struct Shared {
    stats: Mutex<Stats>,
    sent: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn record(&self, outcome: Outcome) {
        self.stats
            .lock()
            .expect("stats not poisoned")
            .record(outcome);
    }
}

/// Runs `convoy-bench load` and prints the report on stdout (progress on stderr).
pub fn run(args: LoadArgs) -> Result<(), LoadError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    let summary = runtime.block_on(load(&args))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).expect("a summary serializes")
        );
    } else {
        print!("{}", summary.to_text());
    }
    Ok(())
}

/// Runs the load and summarizes it (progress lines on stderr).
pub(crate) async fn load(args: &LoadArgs) -> Result<Summary, LoadError> {
    Ok(measure(args, true).await?.summary)
}

/// One finished load run: its summary and the raw tally behind it (to merge runs).
#[derive(Debug)]
pub(crate) struct Measured {
    /// What `load` reports.
    pub(crate) summary: Summary,
    /// The histogram and counts the summary was made from.
    pub(crate) stats: Stats,
}

/// Runs the load; with `progress`, a line on stderr once a second.
pub(crate) async fn measure(args: &LoadArgs, progress_lines: bool) -> Result<Measured, LoadError> {
    let target = Arc::new(target(args).await?);
    let shared = Arc::new(Shared {
        stats: Mutex::new(Stats::new()),
        sent: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    let jobs_rx = Arc::new(tokio::sync::Mutex::new(jobs_rx));
    let mut workers = JoinSet::new();
    for _ in 0..args.connections {
        workers.spawn(worker(
            target.clone(),
            jobs_rx.clone(),
            shared.clone(),
            args.timeout,
        ));
    }

    let start = Instant::now();
    let total = (args.rate * args.duration.as_secs_f64()).ceil() as u64;
    let pacer = {
        let (shared, rate) = (shared.clone(), args.rate);
        std::thread::spawn(move || pace(start, rate, total, &jobs_tx, &shared))
    };
    let progress = progress_lines.then(|| tokio::spawn(progress(start, shared.clone())));
    let pacer_done = tokio::task::spawn_blocking(move || pacer.join());
    tokio::pin!(pacer_done);
    tokio::select! {
        _ = &mut pacer_done => {}
        _ = tokio::signal::ctrl_c() => {
            eprintln!("convoy-bench: interrupted; finishing the requests already sent (Ctrl-C again to quit)");
            shared.stop.store(true, Ordering::Relaxed);
            tokio::spawn(async {
                let _ = tokio::signal::ctrl_c().await;
                std::process::exit(130);
            });
            let _ = pacer_done.await;
        }
    }
    // The pacer dropped the queue's sender: the workers finish what is queued and stop.
    while workers.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    if let Some(progress) = progress {
        progress.abort();
    }

    let plan = Plan {
        url: args.url.to_string(),
        http2: args.http2,
        connections: args.connections,
        rate: args.rate,
        duration: args.duration,
        body_bytes: args.body_size.unwrap_or(0),
    };
    let stats = std::mem::take(&mut *shared.stats.lock().expect("stats not poisoned"));
    let summary = Summary::new(&plan, &stats, shared.sent.load(Ordering::Relaxed), elapsed);
    Ok(Measured { summary, stats })
}

/// Resolves the URL and builds what every request needs.
async fn target(args: &LoadArgs) -> Result<Target, LoadError> {
    let url = &args.url;
    let host = url.host().unwrap_or_default();
    let port = url.port_u16().unwrap_or(80);
    let authority = format!("{host}:{port}");
    let resolve_error = |source| LoadError::Resolve {
        authority: authority.clone(),
        source,
    };
    let addr: SocketAddr = tokio::net::lookup_host(&authority)
        .await
        .map_err(resolve_error)?
        .next()
        .ok_or_else(|| resolve_error(std::io::ErrorKind::NotFound.into()))?;
    let (url, authority) = match &args.host {
        Some(host) => (with_authority(url, host), host.clone()),
        None => (
            url.clone(),
            url.authority()
                .map_or_else(|| authority.clone(), |a| a.to_string()),
        ),
    };
    let path = url
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .expect("a parsed URL's path is a valid URI");
    Ok(Target {
        addr,
        http2: args.http2,
        url,
        path,
        authority,
        body: args.body_size.map(|n| Bytes::from(vec![b'x'; n])),
    })
}

/// `url` with its authority replaced by `host` (the `--host` of HTTP/2 requests).
fn with_authority(url: &http::Uri, host: &str) -> http::Uri {
    let mut parts = url.clone().into_parts();
    parts.authority = host.parse().ok().or(parts.authority);
    http::Uri::from_parts(parts).unwrap_or_else(|_| url.clone())
}

/// The schedule, on an OS thread: hands job `i` to the workers at `start + i / rate`.
fn pace(start: Instant, rate: f64, total: u64, jobs: &mpsc::UnboundedSender<Job>, shared: &Shared) {
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        // Sleep in slices so that an interrupt is noticed even at a low rate.
        while let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(wait.min(Duration::from_millis(100)));
        }
        if shared.stop.load(Ordering::Relaxed) || jobs.send(Job { scheduled }).is_err() {
            return;
        }
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// One connection: takes the next due job whenever it is free. Over HTTP/1.1 it carries
/// one request at a time; over HTTP/2 it multiplexes them (each on its own task).
async fn worker(
    target: Arc<Target>,
    jobs: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    shared: Arc<Shared>,
    timeout: Duration,
) {
    let mut conn: Option<Conn> = None;
    let mut in_flight = JoinSet::new();
    loop {
        let job = jobs.lock().await.recv().await;
        let Some(job) = job else { break };
        while in_flight.try_join_next().is_some() {}
        let deadline = tokio::time::Instant::from_std(job.scheduled + timeout);
        let ready = tokio::time::timeout_at(deadline, ready_conn(&mut conn, &target)).await;
        let outcome = match ready {
            Err(_) => Outcome::Failed(ErrorKind::Timeout),
            Ok(Err(kind)) => Outcome::Failed(kind),
            Ok(Ok(Conn::Http2(sender))) => {
                let mut conn = Conn::Http2(sender.clone());
                let (target, shared) = (target.clone(), shared.clone());
                in_flight.spawn(async move {
                    let request = target.request();
                    let sent = exchange(&mut conn, request, job.scheduled);
                    let outcome = tokio::time::timeout_at(deadline, sent)
                        .await
                        .unwrap_or(Outcome::Failed(ErrorKind::Timeout));
                    shared.record(outcome);
                });
                continue;
            }
            Ok(Ok(open @ Conn::Http1(_))) => {
                let sent = exchange(open, target.request(), job.scheduled);
                tokio::time::timeout_at(deadline, sent)
                    .await
                    .unwrap_or(Outcome::Failed(ErrorKind::Timeout))
            }
        };
        if matches!(outcome, Outcome::Failed(_)) {
            // Whatever the connection's state, start afresh for the next request.
            conn = None;
        }
        shared.record(outcome);
    }
    while in_flight.join_next().await.is_some() {}
}

/// The worker's connection, ready for a request: reused while it lasts, else a new one.
async fn ready_conn<'a>(
    conn: &'a mut Option<Conn>,
    target: &Target,
) -> Result<&'a mut Conn, ErrorKind> {
    if let Some(open) = conn {
        if !open.ready().await {
            *conn = None;
        }
    }
    if conn.is_none() {
        *conn = Some(Conn::open(target).await?);
    }
    Ok(conn.as_mut().expect("just opened"))
}

/// Once a second on stderr: requests sent, achieved rate, errors so far.
async fn progress(start: Instant, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    loop {
        tick.tick().await;
        let elapsed = start.elapsed().as_secs_f64();
        let (responses, errors) = {
            let stats = shared.stats.lock().expect("stats not poisoned");
            (stats.responses(), stats.errors())
        };
        let sent = shared.sent.load(Ordering::Relaxed);
        let _ = writeln!(
            std::io::stderr(),
            "convoy-bench: {elapsed:>5.1}s  sent {sent}  answered {responses}  {:.1} req/s  errors {errors}",
            responses as f64 / elapsed
        );
    }
}
