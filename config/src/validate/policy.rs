//! Validating policy sections: timeouts, retries, circuit breaking, rate limits, faults.

use super::primitives::*;
use crate::error::closest;
use crate::model::*;
use crate::raw;
use std::time::Duration;

fn fraction(path: &str, value: f64, max: f64) -> Result<f64> {
    if !(0.0..=max).contains(&value) || value.is_nan() {
        return Err(invalid(
            path,
            format!("must be within 0..={max}, got {value}"),
        ));
    }
    Ok(value)
}

/// A service's timeouts.
pub(super) fn timeouts(path: &str, raw: &raw::Service) -> Result<Timeouts> {
    let d = Timeouts::default();
    let f = Section(path);
    Ok(Timeouts {
        request: f.optional_duration("timeout", raw.timeout.as_deref())?,
        connect: f.duration("connect_timeout", raw.connect_timeout.as_deref(), d.connect)?,
        idle: f.duration("idle_timeout", raw.idle_timeout.as_deref(), d.idle)?,
    })
}

/// A request timeout (of a route).
pub(super) fn request_timeout(path: &str, text: Option<&str>) -> Result<Option<Duration>> {
    text.map(|t| positive_duration(path, Some(t), Duration::ZERO))
        .transpose()
}

const GRPC_CODES: [&str; 17] = [
    "ok",
    "cancelled",
    "unknown",
    "invalid-argument",
    "deadline-exceeded",
    "not-found",
    "already-exists",
    "permission-denied",
    "resource-exhausted",
    "failed-precondition",
    "aborted",
    "out-of-range",
    "unimplemented",
    "internal",
    "unavailable",
    "data-loss",
    "unauthenticated",
];

/// A retry policy.
pub(super) fn retry(path: &str, raw: &raw::Retry) -> Result<RetryPolicy> {
    let mut on = Vec::new();
    let mut statuses = Vec::new();
    let mut grpc_codes = Vec::new();
    match &raw.on {
        None => on.extend([
            RetryOn::GatewayError,
            RetryOn::ConnectFailure,
            RetryOn::Reset,
            RetryOn::RefusedStream,
        ]),
        Some(list) => {
            for (i, item) in list.iter().enumerate() {
                let p = format!("{path}.on[{i}]");
                match item {
                    raw::WordOrNumber::Number(n) => {
                        statuses.push(in_range(&p, Some(*n), 100..=599, 0)? as u16);
                    }
                    raw::WordOrNumber::Word(word) => {
                        if let Some(code) = word.strip_prefix("grpc-") {
                            let index = GRPC_CODES.iter().position(|c| *c == code).ok_or_else(|| {
                                invalid(&p, format!("`{word}` is not a gRPC status such as grpc-unavailable"))
                                    .with_hint(closest(code, GRPC_CODES).map(|c| format!("grpc-{c}")))
                            })?;
                            grpc_codes.push(index as u32);
                            continue;
                        }
                        on.push(one_of(
                            &p,
                            word,
                            &[
                                ("5xx", RetryOn::Status5xx),
                                ("gateway-error", RetryOn::GatewayError),
                                ("connect-failure", RetryOn::ConnectFailure),
                                ("reset", RetryOn::Reset),
                                ("refused-stream", RetryOn::RefusedStream),
                            ],
                        )?);
                    }
                }
            }
        }
    }
    let f = Section(path);
    let budget_default = RetryBudget::default();
    let budget = match &raw.budget {
        None => budget_default,
        Some(b) => {
            let budget = Section(&f.path("budget"));
            RetryBudget {
                ratio: fraction(
                    &budget.path("ratio"),
                    b.ratio.unwrap_or(budget_default.ratio),
                    1.0,
                )?,
                min_per_second: budget.number(
                    "min_per_second",
                    b.min_per_second,
                    0..=100_000,
                    u64::from(budget_default.min_per_second),
                )? as u32,
                window: budget.duration("window", b.window.as_deref(), budget_default.window)?,
            }
        }
    };
    let backoff = Section(&f.path("backoff"));
    let raw_backoff = |pick: fn(&raw::Backoff) -> Option<&str>| raw.backoff.as_ref().and_then(pick);
    let backoff_base = backoff.duration(
        "base",
        raw_backoff(|b| b.base.as_deref()),
        Duration::from_millis(25),
    )?;
    let backoff_max = backoff.duration(
        "max",
        raw_backoff(|b| b.max.as_deref()),
        Duration::from_millis(250).max(backoff_base),
    )?;
    if backoff_max < backoff_base {
        return Err(invalid(
            &backoff.path("max"),
            "must not be less than backoff.base",
        ));
    }
    let non_idempotent = raw.non_idempotent.unwrap_or(false);
    if !grpc_codes.is_empty() && !non_idempotent {
        // Otherwise the policy would silently never retry: every gRPC call is a POST.
        return Err(invalid(
            &format!("{path}.on"),
            "gRPC calls are POSTs, which are only retried when they never reached the app; set `non_idempotent: true` to retry them on gRPC status",
        ));
    }
    Ok(RetryPolicy {
        attempts: f.number("attempts", raw.attempts, 1..=10, 2)? as u32,
        per_try_timeout: f.optional_duration("per_try_timeout", raw.per_try_timeout.as_deref())?,
        on,
        statuses,
        grpc_codes,
        backoff_base,
        backoff_max,
        retry_after_max: f.duration(
            "retry_after_max",
            raw.retry_after_max.as_deref(),
            Duration::from_secs(1),
        )?,
        non_idempotent,
        budget,
    })
}

/// Circuit breaking; outlier detection is on when the section is present.
pub(super) fn circuit_breaker(
    path: &str,
    raw: Option<&raw::CircuitBreaker>,
) -> Result<CircuitBreaker> {
    let d = CircuitBreaker::default();
    let Some(raw) = raw else { return Ok(d) };
    let f = Section(path);
    let count = |field: &str, value: Option<u64>, min: u64, default: u32| -> Result<u32> {
        Ok(f.number(field, value, min..=1_000_000, u64::from(default))? as u32)
    };
    let od = OutlierDetection::default();
    let consecutive = f.number(
        "consecutive_failures",
        raw.consecutive_failures,
        0..=10_000,
        u64::from(od.consecutive_failures),
    )?;
    let outlier = if consecutive == 0 {
        None
    } else {
        let base_ejection = f.duration(
            "base_ejection",
            raw.base_ejection.as_deref(),
            od.base_ejection,
        )?;
        let max_ejection = f.duration(
            "max_ejection",
            raw.max_ejection.as_deref(),
            od.max_ejection.max(base_ejection),
        )?;
        if max_ejection < base_ejection {
            return Err(invalid(
                &f.path("max_ejection"),
                "must not be less than base_ejection",
            ));
        }
        Some(OutlierDetection {
            consecutive_failures: consecutive as u32,
            base_ejection,
            max_ejection,
            max_ejection_percent: f.number(
                "max_ejection_percent",
                raw.max_ejection_percent,
                0..=100,
                u64::from(od.max_ejection_percent),
            )? as u32,
        })
    };
    Ok(CircuitBreaker {
        max_connections: count("max_connections", raw.max_connections, 1, d.max_connections)?,
        max_pending_requests: count(
            "max_pending_requests",
            raw.max_pending_requests,
            0,
            d.max_pending_requests,
        )?,
        max_requests: count("max_requests", raw.max_requests, 1, d.max_requests)?,
        max_retries: count("max_retries", raw.max_retries, 0, d.max_retries)?,
        outlier,
    })
}

/// Rate limit rules, named `<name>` (and `<name>#<i>` in a list).
pub(super) fn rate_limits(
    path: &str,
    name: &str,
    raw: Option<&raw::OneOrMany<raw::RateLimit>>,
) -> Result<Vec<RateLimitRule>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let many = matches!(raw, raw::OneOrMany::Many(_));
    let mut rules = Vec::new();
    for (i, rule) in raw.as_slice().iter().enumerate() {
        let p = if many {
            format!("{path}[{i}]")
        } else {
            path.to_owned()
        };
        let rps = in_range(
            &format!("{p}.requests_per_second"),
            Some(rule.requests_per_second),
            1..=10_000_000,
            0,
        )? as u32;
        let burst = in_range(
            &format!("{p}.burst"),
            rule.burst,
            1..=10_000_000,
            u64::from(rps),
        )? as u32;
        let per = match rule.per.as_deref() {
            None | Some("total") => {
                if rule.caller_header.is_some() {
                    return Err(invalid(
                        &format!("{p}.caller_header"),
                        "only `per: caller` rules take `caller_header`",
                    )
                    .at_key());
                }
                RateLimitKey::Total
            }
            Some("caller") => RateLimitKey::Caller {
                header: rule
                    .caller_header
                    .as_deref()
                    .map(|h| {
                        http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                            invalid(
                                &format!("{p}.caller_header"),
                                format!("`{h}` is not a valid header name"),
                            )
                        })
                    })
                    .transpose()?,
            },
            Some(other) => {
                return Err(invalid(
                    &format!("{p}.per"),
                    format!("`{other}` is not one of total, caller"),
                )
                .with_hint(closest(other, ["total", "caller"])))
            }
        };
        let kind = if matches!(per, RateLimitKey::Total) {
            "total"
        } else {
            "caller"
        };
        let rule_name = if many {
            format!("{name}#{i}:{kind}")
        } else {
            format!("{name}:{kind}")
        };
        rules.push(RateLimitRule {
            name: rule_name,
            requests_per_second: rps,
            burst,
            per,
        });
    }
    Ok(rules)
}

/// The inbound policies of a service or route at `path`: its rate limits (rules named after
/// `rule_name`) and its fault.
pub(super) fn inbound(
    path: &str,
    rule_name: &str,
    rate_limit: Option<&raw::OneOrMany<raw::RateLimit>>,
    raw_fault: Option<&raw::Fault>,
) -> Result<(Vec<RateLimitRule>, Option<Fault>)> {
    let rules = rate_limits(&format!("{path}.rate_limit"), rule_name, rate_limit)?;
    let fault = raw_fault
        .map(|f| fault(&format!("{path}.fault"), f))
        .transpose()?;
    Ok((rules, fault))
}

/// A fault section.
pub(super) fn fault(path: &str, raw: &raw::Fault) -> Result<Fault> {
    let delay = match &raw.delay {
        None => None,
        Some(d) => Some(FaultDelay {
            duration: positive_duration(
                &format!("{path}.delay.duration"),
                Some(&d.duration),
                Duration::ZERO,
            )?,
            percent: fraction(&format!("{path}.delay.percent"), d.percent, 100.0)?,
        }),
    };
    let abort = match &raw.abort {
        None => None,
        Some(a) => Some(FaultAbort {
            status: in_range(
                &format!("{path}.abort.status"),
                Some(a.status),
                400..=599,
                0,
            )? as u16,
            percent: fraction(&format!("{path}.abort.percent"), a.percent, 100.0)?,
        }),
    };
    Ok(Fault { delay, abort })
}
