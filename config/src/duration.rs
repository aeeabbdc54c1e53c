//! Human durations such as `250ms`, `2s`, `1m30s`.

use std::time::Duration;

/// Parses a duration written as one or more `<integer><unit>` parts, with units
/// `ms`, `s`, `m` and `h` (`250ms`, `2s`, `1m`, `1m30s`). A bare `0` means zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let expected = || format!("expected a duration such as 250ms, 2s or 1m, got `{text}`");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(expected());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(expected());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| expected())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => value
                .checked_mul(60)
                .map(Duration::from_secs)
                .ok_or_else(expected)?,
            "h" => value
                .checked_mul(3600)
                .map(Duration::from_secs)
                .ok_or_else(expected)?,
            _ => return Err(expected()),
        };
        rest = &rest[unit_len..];
        total = total.checked_add(part).ok_or_else(expected)?;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it (`1m30s`, `250ms`, `0s`).
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}

/// Serializes a duration the way it is written in YAML (`250ms`, `2s`), for the model's
/// `Serialize` (`/config`, the control plane's views).
pub(crate) fn serialize_duration<S: serde::Serializer>(
    d: &Duration,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_each_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "2", "s", "2x", "1.5s", "-1s", "2 s", "ms2"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(millis in 0u64..10_000_000_000) {
            let d = Duration::from_millis(millis);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
