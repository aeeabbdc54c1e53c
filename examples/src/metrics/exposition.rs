//! A parser for the Prometheus text exposition format (version 0.0.4).
//!
//! Only samples are kept: `# HELP` / `# TYPE` lines are skipped, since the demo
//! already knows which series it wants and how to read them.

use std::fmt;

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, including any `_bucket` / `_sum` / `_count` suffix.
    pub name: String,
    /// Label pairs in the order they appeared, with escapes resolved.
    pub labels: Vec<(String, String)>,
    /// The sample value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// All samples of one scrape, in exposition order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    samples: Vec<Sample>,
}

/// A malformed line, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the scraped text.
    pub line: usize,
    /// What was wrong with it.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metrics line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Exposition {
    /// Parses a whole scrape; the first malformed sample line is an error.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
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
        Ok(Self { samples })
    }

    /// Every sample, in exposition order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Samples named `name` that carry all of `labels` (other labels may be present).
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
    }
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
    fn parses_samples_and_skips_comments() {
        let text = "# HELP up Whether up.\n# TYPE up gauge\n\nup 1\nconvoy_x{a=\"1\",b=\"two\"} 2.5 1700000000000\n";
        let exposition = Exposition::parse(text).unwrap();
        assert_eq!(exposition.samples().len(), 2);
        assert_eq!(exposition.samples()[0].name, "up");
        assert_eq!(exposition.samples()[0].value, 1.0);
        let x = &exposition.samples()[1];
        assert_eq!(x.label("a"), Some("1"));
        assert_eq!(x.label("b"), Some("two"));
        assert_eq!(x.value, 2.5);
    }

    #[test]
    fn labels_with_escapes_spaces_and_trailing_comma() {
        let text = r#"m { path = "/a,b}\"c\\d\ne" , le="+Inf", } +Inf"#;
        let exposition = Exposition::parse(text).unwrap();
        let sample = &exposition.samples()[0];
        assert_eq!(sample.label("path"), Some("/a,b}\"c\\d\ne"));
        assert_eq!(sample.label("le"), Some("+Inf"));
        assert_eq!(sample.value, f64::INFINITY);
    }

    #[test]
    fn special_and_scientific_values() {
        let text = "a NaN\nb -Inf\nc 1.5e-3\nd{} 7";
        let exposition = Exposition::parse(text).unwrap();
        let values: Vec<f64> = exposition.samples().iter().map(|s| s.value).collect();
        assert!(values[0].is_nan());
        assert_eq!(values[1..], [f64::NEG_INFINITY, 0.0015, 7.0]);
    }

    #[test]
    fn matching_ignores_label_order_and_extra_labels() {
        let text = concat!(
            "r{service=\"web\",direction=\"inbound\",status_class=\"2xx\"} 3\n",
            "r{status_class=\"5xx\",direction=\"inbound\",service=\"web\"} 1\n",
            "r{direction=\"outbound\",service=\"web\",status_class=\"2xx\"} 9\n",
            "r{direction=\"inbound\",service=\"orders\",status_class=\"2xx\"} 9\n",
        );
        let exposition = Exposition::parse(text).unwrap();
        let total: f64 = exposition
            .matching("r", &[("direction", "inbound"), ("service", "web")])
            .map(|s| s.value)
            .sum();
        assert_eq!(total, 4.0);
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
            let err = Exposition::parse(text).unwrap_err();
            assert_eq!(err.line, 2, "{text:?}");
            assert!(err.message.contains(needle), "{text:?}: {err}");
        }
    }
}
