//! What the operator can do while the demo runs: keys typed on stdin (one per line) and
//! `--script` steps at set times, both turned into [`Action`]s.

use std::fmt;
use std::io::BufRead;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::flags::{parse_duration, parse_rate};

/// One thing to do to the running demo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Action {
    /// Kill every payments app; their sidecars stay up.
    StopPayments,
    /// Start the payments apps that are not running.
    StartPayments,
    /// Double the request rate.
    Faster,
    /// Halve the request rate.
    Slower,
    /// Send this many requests per second.
    Rate(f64),
    /// Flip payments' flakiness (restarting running payments apps).
    ToggleFlaky,
    /// Turn payments' flakiness on or off (restarting running payments apps if it changes).
    Flaky(bool),
    /// End the demo, with its summary.
    Quit,
}

/// The hint shown under the table when stdin is a terminal.
pub(crate) const KEYS: &str =
    "type + Enter: s stop payments, r restart them, +/- rate ×2/÷2, f flaky, q quit";

/// The script words, for error messages.
const WORDS: &str =
    "stop-payments, start-payments, faster, slower, rate=N, flaky=on|off, toggle-flaky, quit";

impl Action {
    /// A line typed on stdin: a key (`s`, `r`, `+`, `-`, `f`, `q`) or a script word.
    /// `None` for a blank line.
    pub(crate) fn from_line(line: &str) -> Result<Option<Action>, String> {
        let line = line.trim();
        Ok(Some(match line {
            "" => return Ok(None),
            "s" | "S" => Action::StopPayments,
            "r" | "R" => Action::StartPayments,
            "+" | "=" => Action::Faster,
            "-" | "_" => Action::Slower,
            "f" | "F" => Action::ToggleFlaky,
            "q" | "Q" => Action::Quit,
            word => Action::from_word(word).map_err(|_| {
                format!("unknown command `{line}`: type s, r, +, -, f or q, then Enter")
            })?,
        }))
    }

    /// A `--script` word such as `stop-payments` or `rate=200`.
    pub(crate) fn from_word(word: &str) -> Result<Action, String> {
        let word = word.trim();
        if let Some(rate) = word.strip_prefix("rate=") {
            return parse_rate(rate).map(Action::Rate);
        }
        Ok(match word {
            "stop-payments" => Action::StopPayments,
            "start-payments" => Action::StartPayments,
            "faster" => Action::Faster,
            "slower" => Action::Slower,
            "toggle-flaky" => Action::ToggleFlaky,
            "flaky=on" => Action::Flaky(true),
            "flaky=off" => Action::Flaky(false),
            "quit" => Action::Quit,
            _ => return Err(format!("unknown action `{word}` (use {WORDS})")),
        })
    }
}

/// One scripted action and when, counted from the start of traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Step {
    pub(crate) at: Duration,
    pub(crate) action: Action,
}

/// Actions at set times, for tests and scripted demos (`--script`), e.g.
/// `5s:stop-payments,15s:start-payments,25s:rate=200`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Script {
    steps: Vec<Step>,
}

impl Script {
    /// Parses comma-separated `TIME:ACTION` steps; they run in time order.
    pub(crate) fn parse(text: &str) -> Result<Script, String> {
        let mut steps = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (at, action) = part
                .split_once(':')
                .ok_or_else(|| format!("`{part}` is not TIME:ACTION, like 5s:stop-payments"))?;
            steps.push(Step {
                at: parse_duration(at)?,
                action: Action::from_word(action)?,
            });
        }
        if steps.is_empty() {
            return Err("expected TIME:ACTION steps, like 5s:stop-payments".to_owned());
        }
        // Stable: steps at the same time keep their order.
        steps.sort_by_key(|s| s.at);
        Ok(Script { steps })
    }

    /// The steps, in time order.
    pub(crate) fn steps(&self) -> &[Step] {
        &self.steps
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::StopPayments => write!(f, "stop-payments"),
            Action::StartPayments => write!(f, "start-payments"),
            Action::Faster => write!(f, "faster"),
            Action::Slower => write!(f, "slower"),
            Action::Rate(rate) => write!(f, "rate={rate}"),
            Action::ToggleFlaky => write!(f, "toggle-flaky"),
            Action::Flaky(on) => write!(f, "flaky={}", if *on { "on" } else { "off" }),
            Action::Quit => write!(f, "quit"),
        }
    }
}

/// Lines read from stdin by a detached thread, so that a blocked read never holds up
/// the demo's exit (tokio's own stdin would). The channel closes at end of input, when
/// stdin is `/dev/null`, or if the thread cannot start: then there are no controls.
pub(crate) fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = std::thread::Builder::new()
        .name("convoy-demo-stdin".to_owned())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_words() {
        assert_eq!(Action::from_line("s\n"), Ok(Some(Action::StopPayments)));
        assert_eq!(Action::from_line(" r "), Ok(Some(Action::StartPayments)));
        assert_eq!(Action::from_line("+"), Ok(Some(Action::Faster)));
        assert_eq!(Action::from_line("-"), Ok(Some(Action::Slower)));
        assert_eq!(Action::from_line("f"), Ok(Some(Action::ToggleFlaky)));
        assert_eq!(Action::from_line("q"), Ok(Some(Action::Quit)));
        assert_eq!(Action::from_line(""), Ok(None));
        assert_eq!(Action::from_line("rate=200"), Ok(Some(Action::Rate(200.0))));
        assert!(Action::from_line("x").unwrap_err().contains("unknown"));
    }

    #[test]
    fn scripts_are_sorted_by_time() {
        let script = Script::parse("10s:start-payments, 5s:stop-payments,12s:rate=200,").unwrap();
        let steps: Vec<(u64, String)> = script
            .steps()
            .iter()
            .map(|s| (s.at.as_secs(), s.action.to_string()))
            .collect();
        assert_eq!(
            steps,
            [
                (5, "stop-payments".to_owned()),
                (10, "start-payments".to_owned()),
                (12, "rate=200".to_owned())
            ]
        );
        let all = "0:faster,1s:slower,2s:flaky=off,3s:flaky=on,4s:toggle-flaky,5s:quit";
        assert_eq!(Script::parse(all).unwrap().steps().len(), 6);
    }

    #[test]
    fn bad_scripts_are_rejected() {
        for (bad, needle) in [
            ("", "expected TIME:ACTION"),
            ("5s", "not TIME:ACTION"),
            ("5:stop-payments", "missing unit"),
            ("5s:explode", "unknown action `explode`"),
            ("5s:rate=0", "must be within"),
        ] {
            let err = Script::parse(bad).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }
}
