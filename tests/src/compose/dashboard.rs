//! Reading the queries of the demo's Grafana dashboard (`examples/compose/observability/`).

use serde_json::Value;
use std::collections::BTreeSet;

/// Every `expr` of every panel (rows' nested panels included), in order.
pub fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut exprs = Vec::new();
    collect(dashboard.get("panels"), &mut exprs);
    exprs
}

fn collect(panels: Option<&Value>, exprs: &mut Vec<String>) {
    for panel in panels.and_then(Value::as_array).into_iter().flatten() {
        for target in panel
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(expr) = target.get("expr").and_then(Value::as_str) {
                exprs.push(expr.to_owned());
            }
        }
        collect(panel.get("panels"), exprs);
    }
}

/// The metric names (`convoy_…`) the dashboard's queries use, as exported (a histogram's
/// `_bucket` series by that name).
pub fn dashboard_metrics(dashboard: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for expr in dashboard_exprs(dashboard) {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("convoy_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            // Part of a longer identifier (a label name like `x_convoy_y`) is no metric.
            let preceded = rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !preceded {
                names.insert(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_metrics_in_nested_panels() {
        let dashboard = json!({"panels": [
            {"type": "row", "panels": [{"targets": [{"expr": "sum(rate(convoy_a_total[1m]))"}]}]},
            {"targets": [
                {"expr": "histogram_quantile(0.5, sum by (le) (rate(convoy_b_seconds_bucket[1m])))"},
                {"expr": "max(my_convoy_c) / convoy_d"}
            ]}
        ]});
        assert_eq!(dashboard_exprs(&dashboard).len(), 3);
        assert_eq!(
            dashboard_metrics(&dashboard),
            BTreeSet::from([
                "convoy_a_total".to_owned(),
                "convoy_b_seconds_bucket".to_owned(),
                "convoy_d".to_owned()
            ])
        );
    }
}
