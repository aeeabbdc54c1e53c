//! Reading the text format line by line: names, label sets with escapes, values and
//! optional timestamps.

use std::fmt;

use super::Sample;

/// A malformed line, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the scraped text.
    pub(crate) line: usize,
    /// What was wrong with it.
    pub(crate) message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metrics line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Every sample line of `text`; the first malformed one is an error.
pub(super) fn samples(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line).map_err(|message| ParseError {
            line: index + 1,
            message,
        })?;
        samples.push(sample);
    }
    Ok(samples)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let mut cursor = Cursor(line);
    let name = cursor
        .identifier()
        .ok_or("expected a metric name")?
        .to_owned();
    cursor.skip_whitespace();
    let labels = if cursor.eat('{') {
        parse_labels(&mut cursor)?
    } else {
        Vec::new()
    };
    cursor.skip_whitespace();
    let value = cursor.token();
    let value = parse_value(value).ok_or_else(|| format!("invalid sample value `{value}`"))?;
    cursor.skip_whitespace();
    let timestamp = cursor.token();
    if !timestamp.is_empty() && timestamp.parse::<i64>().is_err() {
        return Err(format!("invalid timestamp `{timestamp}`"));
    }
    cursor.skip_whitespace();
    if !cursor.0.is_empty() {
        return Err(format!("unexpected trailing text `{}`", cursor.0));
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// Parses the label set after the opening `{`; a trailing comma is allowed.
fn parse_labels(cursor: &mut Cursor<'_>) -> Result<Vec<(String, String)>, String> {
    let mut labels = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.eat('}') {
            return Ok(labels);
        }
        let name = cursor
            .identifier()
            .ok_or("expected a label name")?
            .to_owned();
        cursor.skip_whitespace();
        if !cursor.eat('=') {
            return Err(format!("expected `=` after label `{name}`"));
        }
        cursor.skip_whitespace();
        let value = cursor
            .quoted()
            .ok_or_else(|| format!("expected a quoted value for label `{name}`"))?;
        labels.push((name, value));
        cursor.skip_whitespace();
        if !cursor.eat(',') && !cursor.0.starts_with('}') {
            return Err("expected `,` or `}` in label set".to_owned());
        }
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// The unread rest of a line.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        self.0 = self.0.trim_start();
    }

    fn eat(&mut self, c: char) -> bool {
        match self.0.strip_prefix(c) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    fn identifier(&mut self) -> Option<&'a str> {
        let end = self
            .0
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(self.0.len());
        let (ident, rest) = self.0.split_at(end);
        if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        self.0 = rest;
        Some(ident)
    }

    /// A double-quoted label value with `\\`, `\"` and `\n` escapes.
    fn quoted(&mut self) -> Option<String> {
        let mut chars = self.0.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.0 = &self.0[1 + i + 1..];
                    return Some(value);
                }
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                _ => value.push(c),
            }
        }
        None
    }

    /// Everything up to the next whitespace.
    fn token(&mut self) -> &'a str {
        let end = self.0.find(char::is_whitespace).unwrap_or(self.0.len());
        let (token, rest) = self.0.split_at(end);
        self.0 = rest;
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_escapes_spaces_and_trailing_comma() {
        let text = r#"m { path = "/a,b}\"c\\d\ne" , le="+Inf", } +Inf"#;
        let sample = &samples(text).unwrap()[0];
        assert_eq!(sample.label("path"), Some("/a,b}\"c\\d\ne"));
        assert_eq!(sample.label("le"), Some("+Inf"));
        assert_eq!(sample.value, f64::INFINITY);
    }

    #[test]
    fn special_and_scientific_values() {
        let text = "a NaN\nb -Inf\nc 1.5e-3\nd{} 7";
        let values: Vec<f64> = samples(text).unwrap().iter().map(|s| s.value).collect();
        assert!(values[0].is_nan());
        assert_eq!(values[1..], [f64::NEG_INFINITY, 0.0015, 7.0]);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        for (text, needle) in [
            ("ok 1\nbad{a=1} 2", "quoted value"),
            ("ok 1\nbad{a=\"1\" 2", "`,` or `}`"),
            ("ok 1\nbad abc", "invalid sample value"),
            ("ok 1\nbad 1 2 3", "trailing"),
            ("ok 1\n{a=\"1\"} 2", "metric name"),
        ] {
            let err = samples(text).unwrap_err();
            assert_eq!(err.line, 2, "{text:?}");
            assert!(err.message.contains(needle), "{text:?}: {err}");
        }
    }
}
