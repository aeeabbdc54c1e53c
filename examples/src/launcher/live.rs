//! The live view: every second, scrape the sidecars and the control plane and redraw the
//! table; meanwhile, carry out the operator's keys and the `--script` steps. Edits of the
//! mesh YAML need nothing from here: the control plane publishes them and the table shows
//! the new version.

use std::io::IsTerminal;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::children::{Children, Log};
use super::control::{self, Action, Step};
use super::mesh_dir::{self, file_of};
use super::scrape::{ControlPlane, Scraper, Snapshot};
use super::table::{self, Screen};
use super::topology::FLAKY;
use super::traffic::Traffic;
use super::{shown, Launch};
use crate::flags::check_rate;
use crate::shutdown::Stop;

/// What the live view needs to know about the run.
pub(crate) struct Run<'a> {
    pub(crate) scraper: &'a Scraper,
    pub(crate) launch: &'a Launch<'a>,
    pub(crate) traffic: &'a Traffic,
    pub(crate) started: Instant,
    pub(crate) until: Option<Instant>,
    pub(crate) entry: &'static str,
    pub(crate) script: &'a [Step],
}

/// What the operator changed so far.
struct State {
    /// Whether the flaky service's apps fail `--failure-rate` of their requests.
    flaky: bool,
    /// The last action's outcome, and when (seconds into the run).
    last: Option<(f64, String)>,
}

/// Whether the loop goes on.
enum Flow {
    Continue,
    Quit,
}

/// Shows the table once a second until Ctrl-C/SIGTERM, `q`, a `quit` step or the deadline;
/// fails if a child process dies meanwhile (other than one stopped on purpose).
pub(crate) async fn show(
    run: &Run<'_>,
    baseline: Snapshot,
    children: &mut Children,
    stop: &mut Stop,
) -> anyhow::Result<()> {
    let mut screen = Screen::new();
    let mut previous = baseline;
    let mut state = State {
        flaky: true,
        last: None,
    };
    let interactive = std::io::stdin().is_terminal();
    let mut stdin = Some(control::stdin_lines());
    let mut script = run.script.iter();
    let mut next_step = script.next();
    let second = Duration::from_secs(1);
    let mut ticks = tokio::time::interval_at(run.started + second, second);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = async {
        match run.until {
            Some(until) => tokio::time::sleep_until(until).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        let step_due = async {
            match next_step {
                Some(step) => tokio::time::sleep_until(run.started + step.at).await,
                None => std::future::pending().await,
            }
        };
        let action = tokio::select! {
            // The tick wins a tie with the deadline, so the last second is shown too.
            biased;
            _ = ticks.tick() => None,
            () = stop.requested() => return Ok(()),
            () = &mut deadline => return Ok(()),
            () = step_due => {
                let action = next_step.map(|s| s.action);
                next_step = script.next();
                action
            }
            line = next_line(&mut stdin) => {
                if interactive {
                    screen.typed_line();
                }
                match line.map(|l| Action::from_line(&l)) {
                    Some(Ok(action)) => action,
                    Some(Err(message)) => {
                        state.last = Some((run.seconds(), message));
                        continue;
                    }
                    None => {
                        stdin = None; // End of input: no more controls.
                        continue;
                    }
                }
            }
        };
        if let Some(action) = action {
            if let Flow::Quit = apply(run, action, children, &mut state).await? {
                return Ok(());
            }
            continue;
        }
        children.check()?;
        let current = run.scraper.scrape().await;
        let mut block = table::render(
            &run.title(&state, children, &current.control_plane),
            &run.scraper.rows(&previous, &current),
        );
        if let Some((at, message)) = &state.last {
            // Later lines of a message are indented under the first.
            let message = message.replace('\n', "\n    ");
            block.push_str(&format!("at {at:.0}s: {message}\n"));
        }
        if interactive && stdin.is_some() {
            block.push_str(control::KEYS);
            block.push('\n');
        }
        screen.show(&block);
        previous = current;
    }
}

/// The next line typed, or `None` once stdin is closed (then never again).
async fn next_line(stdin: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match stdin {
        Some(lines) => lines.recv().await,
        None => std::future::pending().await,
    }
}

impl Run<'_> {
    fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// `convoy-demo: 12s elapsed, 50 req/s into web, Ctrl-C to stop`, a line on the flaky
    /// service's apps and the mesh version (with the last refused edit, if any).
    fn title(
        &self,
        state: &State,
        children: &Children,
        control_plane: &Result<ControlPlane, String>,
    ) -> String {
        let hint = if self.until.is_some() {
            ""
        } else {
            ", Ctrl-C to stop"
        };
        format!(
            "convoy-demo: {:.0}s elapsed, {} req/s into {}{hint}\n{}\n{}",
            self.seconds(),
            self.traffic.rate(),
            self.entry,
            self.flaky_apps(state, children),
            mesh_line(self.launch, control_plane, true)
        )
    }

    /// How the flaky service's apps are doing.
    fn flaky_apps(&self, state: &State, children: &Children) -> String {
        let (running, total) = self.running(children);
        let failing = if state.flaky {
            format!(
                "failing {}% of requests",
                percent(self.launch.mesh.knobs.failure_rate)
            )
        } else {
            "failing no requests".to_owned()
        };
        match running {
            0 => format!("{FLAKY} apps: stopped"),
            _ => format!("{FLAKY} apps: {running}/{total} running, {failing}"),
        }
    }

    /// How many apps of the flaky service run, of how many.
    fn running(&self, children: &Children) -> (usize, usize) {
        let mesh = self.launch.mesh;
        let running = mesh
            .instances(FLAKY)
            .filter(|n| children.is_running(&Launch::app_label(n)))
            .count();
        (running, mesh.instances(FLAKY).count())
    }
}

/// Carries out one action and notes what happened for the table's footer.
async fn apply(
    run: &Run<'_>,
    action: Action,
    children: &mut Children,
    state: &mut State,
) -> anyhow::Result<Flow> {
    let launch = run.launch;
    let mesh = launch.mesh;
    let knobs = &mesh.knobs;
    // The policies in force now, for the messages (`None` while the YAML does not validate).
    let policies = launch.mesh_dir.load();
    let message = match action {
        Action::Quit => return Ok(Flow::Quit),
        Action::StopPayments => {
            let mut stopped = 0;
            for node in mesh.instances(FLAKY) {
                if children.stop(&Launch::app_label(node)).await {
                    stopped += 1;
                }
            }
            if stopped == 0 {
                format!("the {FLAKY} apps are already stopped")
            } else {
                match policies.as_ref().map(|m| mesh_dir::outlier(m, FLAKY)) {
                    Some(Some(od)) => format!(
                        "killed the {FLAKY} apps; their sidecars stay up. orders' sidecar\n\
                         ejects an endpoint after {} failures in a row; with all ejected the\n\
                         circuit is open: it answers 503 at once, without trying",
                        od.consecutive_failures
                    ),
                    Some(None) => format!(
                        "killed the {FLAKY} apps; their sidecars stay up and answer 502\n\
                         ({} has no circuit_breaker now: nothing gets ejected)",
                        file_of(FLAKY)
                    ),
                    None => format!("killed the {FLAKY} apps; their sidecars stay up"),
                }
            }
        }
        Action::StartPayments => {
            let mut started = 0;
            for node in mesh.instances(FLAKY) {
                if !children.is_running(&Launch::app_label(node)) {
                    launch.start_app(children, node, state.flaky, Log::Append)?;
                    started += 1;
                }
            }
            if started == 0 {
                format!("the {FLAKY} apps are already running")
            } else {
                match policies.as_ref().and_then(|m| mesh_dir::outlier(m, FLAKY)) {
                    Some(od) => format!(
                        "started the {FLAKY} apps. An ejected endpoint returns when its\n\
                         ejection ({:?}, then up to {:?}) ends and a probe request succeeds",
                        od.base_ejection, od.max_ejection
                    ),
                    None => format!("started the {FLAKY} apps"),
                }
            }
        }
        Action::Faster | Action::Slower | Action::Rate(_) => {
            let old = run.traffic.rate();
            let new = match action {
                Action::Faster => old * 2.0,
                Action::Slower => old / 2.0,
                Action::Rate(rate) => rate,
                _ => old,
            };
            match check_rate(new) {
                Ok(new) => {
                    run.traffic.set_rate(new);
                    match policies.as_ref().map(|m| mesh_dir::rate_limit(m, "orders")) {
                        Some(Some(limit)) => format!(
                            "rate {old} → {new} req/s; orders' sidecar lets in {} req/s\n\
                             (bursts of {} more), and answers 429 over that",
                            limit.requests_per_second, limit.burst
                        ),
                        Some(None) => format!(
                            "rate {old} → {new} req/s; {} sets no rate limit now",
                            file_of("orders")
                        ),
                        None => format!("rate {old} → {new} req/s"),
                    }
                }
                Err(e) => format!("rate stays {old} req/s: {e}"),
            }
        }
        Action::ToggleFlaky | Action::Flaky(_) => {
            let flaky = match action {
                Action::Flaky(on) => on,
                _ => !state.flaky,
            };
            let failing = if flaky {
                format!("fail {}% of requests", percent(knobs.failure_rate))
            } else {
                "fail no requests".to_owned()
            };
            if flaky == state.flaky {
                format!("the {FLAKY} apps already {failing}")
            } else {
                state.flaky = flaky;
                // One at a time, so the other instance takes the traffic meanwhile.
                let mut restarted = 0;
                for node in mesh.instances(FLAKY) {
                    if children.stop(&Launch::app_label(node)).await {
                        launch.start_app(children, node, flaky, Log::Append)?;
                        restarted += 1;
                    }
                }
                if restarted == 0 {
                    format!("the {FLAKY} apps will {failing} once started")
                } else {
                    format!("restarted the {FLAKY} apps to {failing}")
                }
            }
        }
    };
    state.last = Some((run.seconds(), message));
    Ok(Flow::Continue)
}

/// The widest line shown above the table, so that it fits an 80-column terminal.
const WIDTH: usize = 79;

/// `mesh: version 7 (edits of examples/demo/mesh/*.yaml apply within a second)` (the hint
/// only while `live`), and the last edit the control plane refused, if any, cut to one line.
pub(crate) fn mesh_line(
    launch: &Launch<'_>,
    control_plane: &Result<ControlPlane, String>,
    live: bool,
) -> String {
    let status = match control_plane {
        Ok(status) => status,
        Err(e) => return fit(&format!("mesh: control plane not answering: {e}")),
    };
    let version = status.version;
    match &status.last_rejected {
        None if live => fit(&format!(
            "mesh: version {version} (edits of {}/*.yaml apply within a second)",
            shown(&launch.mesh_dir.path)
        )),
        None => format!("mesh: version {version}"),
        // The error names the file.
        Some(rejected) => format!(
            "mesh: version {version}; the last edit was REFUSED, version {version} stays:\n{}",
            fit(&launch
                .mesh_dir
                .shorten(rejected.error.lines().next().unwrap_or("")))
        ),
    }
}

/// `text` cut to [`WIDTH`] characters, ending in `…` when cut.
fn fit(text: &str) -> String {
    if text.chars().count() <= WIDTH {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(WIDTH - 1).collect();
    cut.push('…');
    cut
}

/// `0.2` as `20`, `0.025` as `2.5`.
fn percent(fraction: f64) -> f64 {
    (fraction * 1000.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut() {
        assert_eq!(fit("short"), "short");
        let long = "x".repeat(200);
        let cut = fit(&long);
        assert_eq!(cut.chars().count(), WIDTH);
        assert!(cut.ends_with('…'));
    }
}
