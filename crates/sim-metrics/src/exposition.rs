//! What a target exposes on `/metrics`, built from plain values.

use crate::store::StoreError;

/// One exposed sample: a metric name, the sample's own labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct ExposedSample {
    /// Metric name, for example `vllm:num_requests_waiting` or `..._bucket`.
    pub name: String,
    /// The sample's own labels (target labels are added at ingestion).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// Builds the sample list of one scrape, following the Prometheus exposition rules for
/// counters, gauges and classic histograms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    samples: Vec<ExposedSample>,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// A counter. `name` is the full series name, conventionally ending in `_total`.
    pub fn counter(&mut self, name: &str, labels: &[(&str, &str)], total: f64) -> &mut Exposition {
        self.push(name, labels, None, total);
        self
    }

    /// A gauge.
    pub fn gauge(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Exposition {
        self.push(name, labels, None, value);
        self
    }

    /// A classic histogram named `name`: series `name_bucket{le=...}` (cumulative, with a
    /// final `le="+Inf"`), `name_sum` and `name_count`.
    ///
    /// `upper_bounds` are the finite bucket bounds, strictly increasing. `counts` holds
    /// the number of observations per bucket, not cumulated: `counts[i]` fell in
    /// `(upper_bounds[i-1], upper_bounds[i]]`, and the extra last entry counts those above
    /// the last bound. So `counts.len() == upper_bounds.len() + 1`. Bounds are rendered
    /// the way Prometheus 3 normalises `le` values (`1.0`, `0.005`, `+Inf`).
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        upper_bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) -> Result<&mut Exposition, StoreError> {
        let bad = |msg: &str| StoreError::BadHistogram {
            name: name.to_string(),
            msg: msg.to_string(),
        };
        if counts.len() != upper_bounds.len() + 1 {
            return Err(bad(&format!(
                "{} bounds need {} counts (one per bucket plus the overflow), got {}",
                upper_bounds.len(),
                upper_bounds.len() + 1,
                counts.len()
            )));
        }
        if upper_bounds.iter().any(|b| !b.is_finite()) {
            return Err(bad(
                "bucket bounds must be finite; +Inf is added automatically",
            ));
        }
        if upper_bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("bucket bounds must be strictly increasing"));
        }
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, c) in counts.iter().enumerate() {
            cumulative += c;
            let le = upper_bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| format_le(*b));
            self.push(&bucket, labels, Some(&le), cumulative as f64);
        }
        self.push(&format!("{name}_sum"), labels, None, sum);
        self.push(&format!("{name}_count"), labels, None, cumulative as f64);
        Ok(self)
    }

    /// The samples, in the order they were added.
    pub fn samples(&self) -> &[ExposedSample] {
        &self.samples
    }

    fn push(&mut self, name: &str, labels: &[(&str, &str)], le: Option<&str>, value: f64) {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(le) = le {
            l.push(("le".to_string(), le.to_string()));
        }
        self.samples.push(ExposedSample {
            name: name.to_string(),
            labels: l,
            value,
        });
    }
}

/// Formats a bucket bound like Prometheus 3 normalises `le`: integers get a `.0`.
fn format_le(b: f64) -> String {
    if b.fract() == 0.0 && b.abs() < 1e15 {
        format!("{b:.1}")
    } else {
        format!("{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_inf_sum_and_count() {
        let mut ex = Exposition::new();
        ex.histogram(
            "ttft_seconds",
            &[("model", "m")],
            &[0.1, 1.0],
            &[2, 3, 1],
            4.5,
        )
        .unwrap();
        let got: Vec<String> = ex
            .samples()
            .iter()
            .map(|s| {
                let le = s
                    .labels
                    .iter()
                    .find(|(k, _)| k == "le")
                    .map(|(_, v)| v.as_str());
                format!("{} {:?} {}", s.name, le, s.value)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "ttft_seconds_bucket Some(\"0.1\") 2",
                "ttft_seconds_bucket Some(\"1.0\") 5",
                "ttft_seconds_bucket Some(\"+Inf\") 6",
                "ttft_seconds_sum None 4.5",
                "ttft_seconds_count None 6",
            ]
        );
    }

    #[test]
    fn malformed_histograms_are_errors() {
        let mut ex = Exposition::new();
        let e = ex.histogram("h", &[], &[1.0], &[1], 0.0).unwrap_err();
        assert!(e.to_string().contains("need 2 counts"), "{e}");
        let e = ex
            .histogram("h", &[], &[2.0, 1.0], &[1, 1, 1], 0.0)
            .unwrap_err();
        assert!(e.to_string().contains("increasing"), "{e}");
        assert!(ex.samples().is_empty());
    }
}
