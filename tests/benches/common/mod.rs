//! What the benches share: an open-loop load generator and percentiles.

use convoy_tests::HttpClient;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends `rate` requests a second for `seconds`, each on schedule whether or not earlier ones
/// finished; returns each latency (µs, from the scheduled time) and the number of failures.
///
/// The schedule is kept by an OS thread (`thread::sleep` has tens of µs of slack, tokio's timer
/// a whole millisecond, which would swamp the differences measured here); each request runs
/// as a task on the runtime.
pub(crate) async fn open_loop(
    client: &HttpClient,
    host: &str,
    path: &str,
    headers: &[(&str, String)],
    rate: u32,
    seconds: u64,
) -> (Vec<u64>, u64) {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let total = u64::from(rate) * seconds;
    let results = Arc::new(Mutex::new((Vec::with_capacity(total as usize), 0_u64)));
    let runtime = tokio::runtime::Handle::current();
    let (client, host, path) = (client.clone(), host.to_owned(), path.to_owned());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    let pacer_results = results.clone();
    let pacer = std::thread::spawn(move || {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let scheduled = start + period * i as u32;
            if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let client = client.clone();
            let results = pacer_results.clone();
            let mut request = client.request(&host, &path);
            for (name, value) in &headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let request = request
                .body(convoy_tests::client::empty())
                .expect("a valid request");
            tasks.push(runtime.spawn(async move {
                let ok = matches!(client.try_send(request).await, Ok(reply) if reply.status == 200);
                let latency = scheduled.elapsed().as_micros() as u64;
                let mut results = results.lock().expect("not poisoned");
                if ok {
                    results.0.push(latency);
                } else {
                    results.1 += 1;
                }
            }));
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || pacer.join().expect("the pacer"))
        .await
        .expect("the pacer's join");
    for task in tasks {
        let _ = task.await;
    }
    let results = results.lock().expect("not poisoned");
    (results.0.clone(), results.1)
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// The flags every bench takes: `--rate R` (open-loop requests/s), `--seconds S` per run,
/// `--rounds N` (topologies or routes take turns N times), `--connections C`.
pub(crate) struct Args {
    pub(crate) rate: u32,
    pub(crate) seconds: u64,
    pub(crate) rounds: usize,
    pub(crate) connections: usize,
}

impl Args {
    /// The command line's flags over `defaults`; panics with the flag's name on a bad value.
    pub(crate) fn parse(defaults: Args) -> Args {
        let mut args = defaults;
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < argv.len() {
            let value = || {
                argv.get(i + 1)
                    .unwrap_or_else(|| panic!("{} needs a value", argv[i]))
                    .parse::<u64>()
                    .unwrap_or_else(|e| panic!("{}: {e}", argv[i]))
            };
            match argv[i].as_str() {
                "--rate" => args.rate = value() as u32,
                "--seconds" => args.seconds = value(),
                "--rounds" => args.rounds = value() as usize,
                "--connections" => args.connections = value() as usize,
                // `cargo bench` passes `--bench`.
                "--bench" => {
                    i += 1;
                    continue;
                }
                other => panic!("unknown argument {other}"),
            }
            i += 2;
        }
        args
    }
}
