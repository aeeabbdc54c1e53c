//! Parsers for command-line values shared by the demo binaries.

use std::time::Duration;

/// Parses a duration such as `0`, `250us`, `5ms`, `1.5s`, `2m` or `1h`.
///
/// A unit is required unless the value is zero, so `5` is not silently read as
/// seconds when milliseconds were meant.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("invalid duration `{text}`: expected a number with a unit, like 5ms or 1s")
    })?;
    let seconds_per_unit = match unit.trim() {
        "" if value == 0.0 => 0.0,
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "" => {
            return Err(format!(
                "invalid duration `{text}`: missing unit (ns, us, ms, s, m, h)"
            ))
        }
        other => {
            return Err(format!(
                "invalid duration `{text}`: unknown unit `{other}` (use ns, us, ms, s, m, h)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("invalid duration `{text}`: out of range"))
}

/// Parses a fraction within `0..=1`, such as a failure rate.
pub(crate) fn parse_ratio(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|_| {
        format!("invalid number `{text}`: expected a fraction within 0..=1, like 0.05")
    })?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be within 0..=1, got {text}"))
    }
}

/// Parses a request rate in requests per second, within `0.01..=100000`.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate `{text}`: expected requests per second, like 50"))?;
    check_rate(value)
}

/// Accepts a request rate within `0.01..=100000` requests per second.
pub(crate) fn check_rate(value: f64) -> Result<f64, String> {
    if (0.01..=100_000.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "must be within 0.01..=100000 requests per second, got {value}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("100ns"), Ok(Duration::from_nanos(100)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn durations_rejected() {
        for bad in ["", "5", "ms", "-1s", "1 parsec", "1d", "1.2.3s", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
    }

    #[test]
    fn ratios_within_bounds() {
        assert_eq!(parse_ratio("0"), Ok(0.0));
        assert_eq!(parse_ratio("0.05"), Ok(0.05));
        assert_eq!(parse_ratio("1"), Ok(1.0));
        assert_eq!(
            parse_ratio("1.5"),
            Err("must be within 0..=1, got 1.5".to_owned())
        );
        assert!(parse_ratio("-0.1").is_err());
        assert!(parse_ratio("NaN").is_err());
        assert!(parse_ratio("half").is_err());
    }

    #[test]
    fn rates_positive() {
        assert_eq!(parse_rate("50"), Ok(50.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert_eq!(parse_rate("100000"), Ok(100_000.0));
        for bad in ["0", "-1", "1e-9", "1e9", "inf", "NaN", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
