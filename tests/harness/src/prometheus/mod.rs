//! The Prometheus text exposition format (version 0.0.4), as `/metrics` serves it: samples
//! by name and labels, and their sums.
//!
//! Only samples are kept: `# HELP` / `# TYPE` lines are skipped, since every caller already
//! knows which series it wants and how to read them.

mod parse;

use std::collections::BTreeSet;

pub use parse::ParseError;

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
pub struct Samples {
    samples: Vec<Sample>,
}

impl Samples {
    /// Parses a whole scrape; the first malformed sample line is an error.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        Ok(Samples {
            samples: parse::samples(text)?,
        })
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
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter_map(|s| s.label(label).map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_and_values() {
        let s = Samples::parse(
            "# HELP x y\nx_total{a=\"1\",b=\"q\\\"z\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 2\n",
        )
        .unwrap();
        assert_eq!(s.sum("x_total", &[("a", "1")]), 3.0);
        assert_eq!(s.samples()[0].label("b").unwrap(), "q\"z");
        assert_eq!(s.sum("up", &[]), 1.0);
        assert_eq!(s.sum("h_bucket", &[("le", "+Inf")]), 2.0);
    }

    #[test]
    fn requests_sums_one_direction_service_and_class() {
        let s = Samples::parse(concat!(
            "convoy_requests_total{direction=\"outbound\",service=\"a\",status_class=\"2xx\",code=\"200\"} 2\n",
            "convoy_requests_total{direction=\"outbound\",service=\"a\",status_class=\"2xx\",code=\"204\"} 1\n",
            "convoy_requests_total{direction=\"inbound\",service=\"a\",status_class=\"2xx\"} 5\n",
        ))
        .unwrap();
        assert_eq!(s.requests("outbound", "a", "2xx"), 3.0);
        assert_eq!(s.requests("inbound", "a", "2xx"), 5.0);
        assert_eq!(s.requests("outbound", "a", "5xx"), 0.0);
    }

    #[test]
    fn parses_samples_and_skips_comments() {
        let text = "# HELP up Whether up.\n# TYPE up gauge\n\nup 1\nconvoy_x{a=\"1\",b=\"two\"} 2.5 1700000000000\n";
        let exposition = Samples::parse(text).unwrap();
        assert_eq!(exposition.samples().len(), 2);
        assert_eq!(exposition.samples()[0].name, "up");
        assert_eq!(exposition.samples()[0].value, 1.0);
        let x = &exposition.samples()[1];
        assert_eq!(x.label("a"), Some("1"));
        assert_eq!(x.label("b"), Some("two"));
        assert_eq!(x.value, 2.5);
    }

    #[test]
    fn matching_ignores_label_order_and_extra_labels() {
        let text = concat!(
            "r{service=\"web\",direction=\"inbound\",status_class=\"2xx\"} 3\n",
            "r{status_class=\"5xx\",direction=\"inbound\",service=\"web\"} 1\n",
            "r{direction=\"outbound\",service=\"web\",status_class=\"2xx\"} 9\n",
            "r{direction=\"inbound\",service=\"orders\",status_class=\"2xx\"} 9\n",
        );
        let exposition = Samples::parse(text).unwrap();
        let total: f64 = exposition
            .matching("r", &[("direction", "inbound"), ("service", "web")])
            .map(|s| s.value)
            .sum();
        assert_eq!(total, 4.0);
    }

    #[test]
    fn label_values_of_one_name() {
        let s = Samples::parse("r{service=\"b\"} 1\nr{service=\"a\"} 1\nq{service=\"c\"} 1\nr 2\n")
            .unwrap();
        let values: Vec<String> = s.label_values("r", "service").into_iter().collect();
        assert_eq!(values, ["a", "b"]);
    }
}
