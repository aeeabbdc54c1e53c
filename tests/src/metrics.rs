//! Reading the Prometheus text exposition of `/metrics`.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (with `_bucket`, `_sum` or `_count` for histogram series).
    pub name: String,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Every sample of one scrape.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// Parses the text format; comment lines are skipped. Panics on a line it cannot read.
    pub fn parse(text: &str) -> Samples {
        Samples(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| parse_line(l).unwrap_or_else(|| panic!("unreadable metric line {l:?}")))
                .collect(),
        )
    }

    /// The samples named `name` whose labels include every pair of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The sum of the samples [`Samples::matching`]; 0 when there are none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The `convoy_requests_total` count of one `direction` (`inbound`, `outbound`), `service`
    /// and `status_class` (`2xx`, `4xx`, ...).
    pub fn requests(&self, direction: &str, service: &str, status_class: &str) -> f64 {
        self.sum(
            "convoy_requests_total",
            &[
                ("direction", direction),
                ("service", service),
                ("status_class", status_class),
            ],
        )
    }

    /// Every value label `label` takes on samples named `name`.
    pub fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series.to_owned(), BTreeMap::new()),
        Some((name, rest)) => (name.to_owned(), parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

fn parse_labels(mut text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if text.is_empty() {
            return Some(labels);
        }
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim().to_owned(), value);
        text = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_and_values() {
        let s = Samples::parse(
            "# HELP x y\nx_total{a=\"1\",b=\"q\\\"z\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 2\n",
        );
        assert_eq!(s.sum("x_total", &[("a", "1")]), 3.0);
        assert_eq!(s.0[0].labels["b"], "q\"z");
        assert_eq!(s.sum("up", &[]), 1.0);
        assert_eq!(s.sum("h_bucket", &[("le", "+Inf")]), 2.0);
    }

    #[test]
    fn requests_sums_one_direction_service_and_class() {
        let s = Samples::parse(concat!(
            "convoy_requests_total{direction=\"outbound\",service=\"a\",status_class=\"2xx\",code=\"200\"} 2\n",
            "convoy_requests_total{direction=\"outbound\",service=\"a\",status_class=\"2xx\",code=\"204\"} 1\n",
            "convoy_requests_total{direction=\"inbound\",service=\"a\",status_class=\"2xx\"} 5\n",
        ));
        assert_eq!(s.requests("outbound", "a", "2xx"), 3.0);
        assert_eq!(s.requests("inbound", "a", "2xx"), 5.0);
        assert_eq!(s.requests("outbound", "a", "5xx"), 0.0);
    }
}
