//! Cumulative histograms and quantile estimates, as Prometheus' `histogram_quantile`.

/// A cumulative histogram: `(upper bound, observations <= bound)`, sorted by bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Histogram {
    /// Builds a histogram from `(le, cumulative count)` pairs in any order; pairs with the
    /// same bound (from series that differ in other labels) are added up.
    pub(crate) fn new(buckets: impl IntoIterator<Item = (f64, f64)>, sum: f64, count: f64) -> Self {
        let mut merged: Vec<(f64, f64)> = Vec::new();
        let mut sorted: Vec<(f64, f64)> =
            buckets.into_iter().filter(|(le, _)| !le.is_nan()).collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (le, n) in sorted {
            match merged.last_mut() {
                Some(last) if last.0 == le => last.1 += n,
                _ => merged.push((le, n)),
            }
        }
        Self {
            buckets: merged,
            sum,
            count,
        }
    }

    /// The `(upper bound, cumulative count)` pairs, sorted by bound.
    pub(crate) fn buckets(&self) -> &[(f64, f64)] {
        &self.buckets
    }

    /// Number of observations (the `_count` series).
    pub(crate) fn count(&self) -> f64 {
        self.count
    }

    /// Sum of all observations (the `_sum` series).
    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }

    /// Observations made since `earlier`. If any counter went down, the process restarted
    /// between the scrapes, so everything in `self` is new.
    pub(crate) fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |le: f64| {
            earlier
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, n)| *n)
        };
        let buckets: Vec<(f64, f64)> = self
            .buckets
            .iter()
            .map(|&(le, n)| (le, n - before(le)))
            .collect();
        let reset = self.count < earlier.count || buckets.iter().any(|(_, n)| *n < 0.0);
        if reset {
            return self.clone();
        }
        Histogram {
            buckets,
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }

    /// Estimates the `q`-quantile (0..=1) by linear interpolation within the bucket that
    /// holds it, assuming the lowest bucket starts at 0. Like Prometheus, a quantile that
    /// falls in the `+Inf` bucket is reported as the highest finite bound.
    ///
    /// `None` when there are no observations, no `+Inf` bucket, or `q` is out of range.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&q) || self.buckets.len() < 2 {
            return None;
        }
        let (top, _) = *self.buckets.last()?;
        if top != f64::INFINITY {
            return None;
        }
        // Counts scraped mid-update can dip slightly; treat them as monotonic.
        let mut buckets = self.buckets.clone();
        for i in 1..buckets.len() {
            buckets[i].1 = buckets[i].1.max(buckets[i - 1].1);
        }
        let observations = buckets.last()?.1;
        if observations <= 0.0 {
            return None;
        }
        let mut rank = q * observations;
        let index = buckets.iter().position(|(_, n)| *n >= rank)?;
        if index == buckets.len() - 1 {
            return Some(buckets[index - 1].0);
        }
        let (end, mut in_bucket) = buckets[index];
        if index == 0 && end <= 0.0 {
            return Some(end);
        }
        let mut start = 0.0;
        if index > 0 {
            let (prev_le, prev_n) = buckets[index - 1];
            start = prev_le;
            in_bucket -= prev_n;
            rank -= prev_n;
        }
        if in_bucket <= 0.0 {
            return Some(start);
        }
        Some(start + (end - start) * (rank / in_bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a quantile");
        assert!(
            (actual - expected).abs() < 1e-9,
            "got {actual}, expected {expected}"
        );
    }

    #[test]
    fn interpolates_within_bucket() {
        // 10 observations <= 0.01, 10 more in (0.01, 0.05], none above.
        let h = Histogram::new(
            [(0.01, 10.0), (0.05, 20.0), (0.1, 20.0), (INF, 20.0)],
            0.5,
            20.0,
        );
        close(h.quantile(0.5), 0.01);
        close(h.quantile(0.25), 0.005);
        close(h.quantile(0.75), 0.03);
        close(h.quantile(1.0), 0.05);
        close(h.quantile(0.0), 0.0);
    }

    #[test]
    fn quantile_in_inf_bucket_is_highest_finite_bound() {
        let h = Histogram::new([(0.1, 1.0), (1.0, 2.0), (INF, 10.0)], 50.0, 10.0);
        close(h.quantile(0.99), 1.0);
    }

    #[test]
    fn unsorted_and_duplicate_bounds_are_merged() {
        let h = Histogram::new([(INF, 2.0), (0.1, 1.0), (INF, 2.0), (0.1, 1.0)], 0.0, 4.0);
        assert_eq!(h.buckets(), [(0.1, 2.0), (INF, 4.0)]);
    }

    #[test]
    fn no_answer_without_data_or_inf_bucket() {
        assert_eq!(Histogram::default().quantile(0.5), None);
        let empty = Histogram::new([(0.1, 0.0), (INF, 0.0)], 0.0, 0.0);
        assert_eq!(empty.quantile(0.5), None);
        let no_inf = Histogram::new([(0.1, 1.0), (1.0, 2.0)], 0.0, 2.0);
        assert_eq!(no_inf.quantile(0.5), None);
        let h = Histogram::new([(0.1, 1.0), (INF, 1.0)], 0.0, 1.0);
        assert_eq!(h.quantile(1.5), None);
    }

    #[test]
    fn since_subtracts_and_detects_resets() {
        let earlier = Histogram::new([(0.01, 5.0), (0.1, 8.0), (INF, 8.0)], 0.2, 8.0);
        let later = Histogram::new([(0.01, 5.0), (0.1, 18.0), (INF, 18.0)], 1.2, 18.0);
        let delta = later.since(&earlier);
        assert_eq!(delta.buckets(), [(0.01, 0.0), (0.1, 10.0), (INF, 10.0)]);
        assert_eq!(delta.count(), 10.0);
        assert!((delta.sum() - 1.0).abs() < 1e-9);
        // All ten new observations lie in (0.01, 0.1]: the median is halfway.
        close(delta.quantile(0.5), 0.055);

        let restarted = Histogram::new([(0.01, 1.0), (0.1, 1.0), (INF, 1.0)], 0.001, 1.0);
        assert_eq!(restarted.since(&later), restarted);
    }
}
