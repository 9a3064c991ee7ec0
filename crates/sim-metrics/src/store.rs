//! The series store and the scrape semantics that fill it.

use std::collections::{BTreeMap, VecDeque};

use sim_des::{SimDuration, SimTime, stream_id};

use crate::exposition::ExposedSample;
use crate::labels::{Labels, METRIC_NAME};

/// Errors from writing to the [`Store`] or building an exposition.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A sample is older than the newest sample already in its series.
    #[error("out-of-order sample for {series} at {t}: the series already has a sample at {last}")]
    OutOfOrder {
        /// The series written to.
        series: Labels,
        /// The rejected sample's time.
        t: SimTime,
        /// The newest time already stored.
        last: SimTime,
    },
    /// A second, different sample for the same series at the same time.
    #[error("duplicate sample for {series} at {t}")]
    Duplicate {
        /// The series written to.
        series: Labels,
        /// The time written twice.
        t: SimTime,
    },
    /// A histogram given to the exposition builder was malformed.
    #[error("histogram {name}: {msg}")]
    BadHistogram {
        /// The histogram's base name.
        name: String,
        /// What was wrong.
        msg: String,
    },
}

/// One stored point. `None` is a staleness marker: the series ended here.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    t: SimTime,
    v: Option<f64>,
}

/// The samples of one series, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Series {
    points: VecDeque<Point>,
}

fn ns(t: SimTime) -> i64 {
    i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)
}

impl Series {
    /// The value an instant selector sees at `at_ns`: the newest point in
    /// `(at_ns - lookback_ns, at_ns]`, unless that point is a staleness marker.
    pub(crate) fn instant(&self, at_ns: i64, lookback_ns: i64) -> Option<f64> {
        let idx = self.points.partition_point(|p| ns(p.t) <= at_ns);
        let p = self.points.get(idx.checked_sub(1)?)?;
        if ns(p.t) <= at_ns.saturating_sub(lookback_ns) {
            return None;
        }
        p.v
    }

    /// Appends the real samples in the left-open, right-closed window `(lo_ns, hi_ns]`
    /// to `out` as `(time_ns, value)`. Staleness markers are skipped.
    pub(crate) fn range(&self, lo_ns: i64, hi_ns: i64, out: &mut Vec<(i64, f64)>) {
        let start = self.points.partition_point(|p| ns(p.t) <= lo_ns);
        let end = self.points.partition_point(|p| ns(p.t) <= hi_ns);
        for p in self.points.range(start..end.max(start)) {
            if let Some(v) = p.v {
                out.push((ns(p.t), v));
            }
        }
    }

    fn prune_before(&mut self, cutoff: SimTime) {
        while self.points.front().is_some_and(|p| p.t < cutoff) {
            self.points.pop_front();
        }
    }
}

/// What the store remembers about one scrape target.
#[derive(Clone, Debug, Default)]
struct Target {
    /// The exposed `(name, labels)` of the last successful scrape, in exposition order.
    exposed: Vec<(String, Vec<(String, String)>)>,
    /// The series each of those became, in the same order. They get staleness markers
    /// when a later scrape omits them, fails, or the target goes away.
    series: Vec<Labels>,
}

/// An in-memory time-series database with Prometheus's scrape and staleness semantics.
///
/// Samples are appended in time order per series. Samples older than `retention` before
/// the newest sample written anywhere are dropped, and series with no samples left are
/// removed, so memory stays bounded in long runs.
#[derive(Clone, Debug)]
pub struct Store {
    retention: SimDuration,
    newest: SimTime,
    last_sweep: SimTime,
    /// Series grouped by metric name, then keyed by the full label set.
    metrics: BTreeMap<String, BTreeMap<Labels, Series>>,
    targets: BTreeMap<Labels, Target>,
}

impl Store {
    /// An empty store that keeps `retention` of history (for example one hour).
    pub fn new(retention: SimDuration) -> Store {
        Store {
            retention,
            newest: SimTime::ZERO,
            last_sweep: SimTime::ZERO,
            metrics: BTreeMap::new(),
            targets: BTreeMap::new(),
        }
    }

    /// Appends one sample to the series `labels` (which should carry `__name__`).
    ///
    /// Writing the same value twice at the same time is a no-op, as in Prometheus.
    pub fn append(&mut self, labels: &Labels, t: SimTime, value: f64) -> Result<(), StoreError> {
        self.push(labels, Point { t, v: Some(value) })
    }

    /// Writes a staleness marker: instant selectors stop returning `labels` from `t` on,
    /// until a newer sample arrives.
    pub fn append_stale(&mut self, labels: &Labels, t: SimTime) -> Result<(), StoreError> {
        self.push(labels, Point { t, v: None })
    }

    /// Records a successful scrape of `target` at `t`.
    ///
    /// Each exposed sample becomes a series whose labels are the sample's own labels plus
    /// the target's labels and `__name__`. An exposed label that clashes with a target
    /// label is renamed to `exported_<name>` (Prometheus with `honor_labels: false`).
    /// Series the previous scrape had but this one lacks get a staleness marker, and
    /// `up{<target labels>}` is set to 1.
    pub fn ingest_scrape(
        &mut self,
        t: SimTime,
        target: &Labels,
        samples: &[ExposedSample],
    ) -> Result<(), StoreError> {
        let mut previous = self
            .targets
            .get_mut(target)
            .map(std::mem::take)
            .unwrap_or_default();
        let same_shape = previous.exposed.len() == samples.len()
            && previous
                .exposed
                .iter()
                .zip(samples)
                .all(|((n, l), s)| *n == s.name && *l == s.labels);
        let result = if same_shape {
            // The usual case: the same series as last time, so reuse their label sets.
            previous
                .series
                .iter()
                .zip(samples)
                .try_for_each(|(labels, s)| self.append(labels, t, s.value))
        } else {
            self.ingest_new_shape(t, target, samples, &mut previous)
        };
        match self.targets.get_mut(target) {
            Some(slot) => *slot = previous,
            None => {
                self.targets.insert(target.clone(), previous);
            }
        }
        result?;
        self.append(&up_labels(target), t, 1.0)
    }

    /// Scrape ingestion when the set of exposed series changed: builds the label sets,
    /// checks for duplicates and writes staleness markers for the series that vanished.
    fn ingest_new_shape(
        &mut self,
        t: SimTime,
        target: &Labels,
        samples: &[ExposedSample],
        previous: &mut Target,
    ) -> Result<(), StoreError> {
        let mut written = Vec::with_capacity(samples.len());
        for s in samples {
            let labels = series_labels(target, s);
            self.append(&labels, t, s.value)?;
            written.push(labels);
        }
        let mut sorted: Vec<&Labels> = written.iter().collect();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(StoreError::Duplicate {
                series: w[0].clone(),
                t,
            });
        }
        let gone: Vec<Labels> = previous
            .series
            .iter()
            .filter(|l| sorted.binary_search(l).is_err())
            .cloned()
            .collect();
        for l in &gone {
            self.stale_if_present(l, t)?;
        }
        *previous = Target {
            exposed: samples
                .iter()
                .map(|s| (s.name.clone(), s.labels.clone()))
                .collect(),
            series: written,
        };
        Ok(())
    }

    /// Records a failed scrape of `target` at `t`: every series of its last successful
    /// scrape gets a staleness marker, and `up{<target labels>}` is set to 0.
    pub fn scrape_failed(&mut self, t: SimTime, target: &Labels) -> Result<(), StoreError> {
        let previous = self
            .targets
            .insert(target.clone(), Target::default())
            .unwrap_or_default();
        for gone in &previous.series {
            self.stale_if_present(gone, t)?;
        }
        self.append(&up_labels(target), t, 0.0)
    }

    /// Records that `target` went away at `t` (pod deleted): every series of its last
    /// scrape and its `up` series get staleness markers. Unknown targets are ignored.
    pub fn mark_target_stale(&mut self, t: SimTime, target: &Labels) -> Result<(), StoreError> {
        let Some(previous) = self.targets.remove(target) else {
            return Ok(());
        };
        for gone in &previous.series {
            self.stale_if_present(gone, t)?;
        }
        self.stale_if_present(&up_labels(target), t)
    }

    /// Whether any series of metric `name` is held (what the Prometheus Adapter's relist,
    /// a series query, discovers).
    pub fn has_metric(&self, name: &str) -> bool {
        self.metrics.get(name).is_some_and(|m| !m.is_empty())
    }

    /// Number of series currently held.
    pub fn series_count(&self) -> usize {
        self.metrics.values().map(BTreeMap::len).sum()
    }

    /// Number of points (samples and staleness markers) currently held.
    pub fn sample_count(&self) -> usize {
        self.metrics
            .values()
            .flat_map(BTreeMap::values)
            .map(|s| s.points.len())
            .sum()
    }

    /// Series whose metric name is `name` (all series when `None`) and whose labels pass
    /// `keep`, in label order.
    pub(crate) fn select<'a>(
        &'a self,
        name: Option<&str>,
        keep: impl Fn(&Labels) -> bool + 'a,
    ) -> impl Iterator<Item = (&'a Labels, &'a Series)> + 'a {
        let groups: Vec<&BTreeMap<Labels, Series>> = match name {
            Some(n) => self.metrics.get(n).into_iter().collect(),
            None => self.metrics.values().collect(),
        };
        groups
            .into_iter()
            .flat_map(|g| g.iter())
            .filter(move |(l, _)| keep(l))
    }

    fn stale_if_present(&mut self, labels: &Labels, t: SimTime) -> Result<(), StoreError> {
        let present = self
            .metrics
            .get(labels.metric_name().unwrap_or(""))
            .is_some_and(|g| g.contains_key(labels));
        if present {
            self.append_stale(labels, t)?;
        }
        Ok(())
    }

    fn push(&mut self, labels: &Labels, p: Point) -> Result<(), StoreError> {
        let name = labels.metric_name().unwrap_or("");
        let group = match self.metrics.get_mut(name) {
            Some(g) => g,
            None => self.metrics.entry(name.to_string()).or_default(),
        };
        let series = match group.get_mut(labels) {
            Some(s) => s,
            None => group.entry(labels.clone()).or_default(),
        };
        if let Some(last) = series.points.back() {
            if p.t < last.t {
                return Err(StoreError::OutOfOrder {
                    series: labels.clone(),
                    t: p.t,
                    last: last.t,
                });
            }
            if p.t == last.t {
                let same = match (last.v, p.v) {
                    (Some(a), Some(b)) => a.to_bits() == b.to_bits(),
                    (None, None) => true,
                    _ => false,
                };
                return if same {
                    Ok(())
                } else {
                    Err(StoreError::Duplicate {
                        series: labels.clone(),
                        t: p.t,
                    })
                };
            }
        }
        series.points.push_back(p);
        if p.t > self.newest {
            self.newest = p.t;
        }
        let cutoff = SimTime(
            self.newest
                .as_nanos()
                .saturating_sub(self.retention.as_nanos()),
        );
        series.prune_before(cutoff);
        self.maybe_sweep(cutoff);
        Ok(())
    }

    /// Drops expired points and empty series from the whole store, at most once per
    /// quarter of the retention period of simulated time.
    fn maybe_sweep(&mut self, cutoff: SimTime) {
        let every = (self.retention.as_nanos() / 4).max(1_000_000_000);
        if self.newest.as_nanos() < self.last_sweep.as_nanos().saturating_add(every) {
            return;
        }
        self.last_sweep = self.newest;
        for group in self.metrics.values_mut() {
            group.retain(|_, s| {
                s.prune_before(cutoff);
                !s.points.is_empty()
            });
        }
        self.metrics.retain(|_, g| !g.is_empty());
    }
}

fn up_labels(target: &Labels) -> Labels {
    target.with(METRIC_NAME, "up")
}

fn series_labels(target: &Labels, s: &ExposedSample) -> Labels {
    let mut pairs: Vec<(String, String)> = s
        .labels
        .iter()
        .filter(|(k, _)| k != METRIC_NAME)
        .map(|(k, v)| {
            if target.get(k).is_some() {
                (format!("exported_{k}"), v.clone())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    pairs.extend(target.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs.push((METRIC_NAME.to_string(), s.name.clone()));
    Labels::new(pairs)
}

/// The fixed phase of a scrape target inside its scrape interval.
///
/// Prometheus scrapes each target at times congruent to a hash of the target (mixed with
/// a per-server seed) modulo the interval, so different pods are scraped at different,
/// stable points of each interval. This derives the same kind of offset from
/// `target_key` (for example the target's label set rendered as text) and `seed`, in
/// whole milliseconds (Prometheus timestamps are milliseconds). The result is in
/// `[0, interval)`; an interval shorter than 1 ms gives zero.
pub fn scrape_offset(target_key: &str, interval: SimDuration, seed: u64) -> SimDuration {
    let interval_ms = interval.as_nanos() / 1_000_000;
    if interval_ms == 0 {
        return SimDuration::ZERO;
    }
    let h = stream_id(target_key);
    let mut x = (h as u64) ^ ((h >> 64) as u64) ^ seed;
    // A 64-bit finaliser so that nearby keys land far apart.
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    SimDuration::from_millis(x % interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Exposition;

    fn secs(s: u64) -> SimTime {
        SimTime::from_secs(s)
    }

    #[test]
    fn retention_drops_old_points_and_empty_series() {
        let mut st = Store::new(SimDuration::from_secs(60));
        let a = Labels::metric("a", &[]);
        let b = Labels::metric("b", &[]);
        st.append(&b, secs(0), 1.0).unwrap();
        for i in 0..20 {
            st.append(&a, secs(i * 15), i as f64).unwrap();
        }
        // Only samples in [285 - 60, 285] remain for `a`; `b` is swept away.
        assert_eq!(st.sample_count(), 5);
        assert_eq!(st.series_count(), 1);
    }

    #[test]
    fn out_of_order_and_duplicates_are_errors() {
        let mut st = Store::new(SimDuration::from_secs(3600));
        let a = Labels::metric("a", &[]);
        st.append(&a, secs(10), 1.0).unwrap();
        st.append(&a, secs(10), 1.0).unwrap();
        assert!(matches!(
            st.append(&a, secs(10), 2.0),
            Err(StoreError::Duplicate { .. })
        ));
        let e = st.append(&a, secs(5), 2.0).unwrap_err();
        assert!(e.to_string().contains("out-of-order"), "{e}");
    }

    #[test]
    fn scrapes_write_up_and_staleness() {
        let mut st = Store::new(SimDuration::from_secs(3600));
        let target = Labels::new([("job", "vllm"), ("pod", "p1")]);
        let mut ex = Exposition::new();
        ex.gauge("q", &[("model", "m")], 3.0);
        ex.gauge("r", &[], 1.0);
        st.ingest_scrape(secs(0), &target, ex.samples()).unwrap();
        let mut ex2 = Exposition::new();
        ex2.gauge("q", &[("model", "m")], 4.0);
        st.ingest_scrape(secs(15), &target, ex2.samples()).unwrap();
        let find = |st: &Store, name: &str| -> Vec<Point> {
            st.select(Some(name), |_| true)
                .flat_map(|(_, s)| s.points.iter().copied())
                .collect()
        };
        // `r` vanished from the second scrape, so it ends with a marker at 15 s.
        assert_eq!(find(&st, "r").last().unwrap().v, None);
        st.scrape_failed(secs(30), &target).unwrap();
        assert_eq!(find(&st, "q").last().unwrap().v, None);
        let up: Vec<Option<f64>> = find(&st, "up").iter().map(|p| p.v).collect();
        assert_eq!(up, vec![Some(1.0), Some(1.0), Some(0.0)]);
        st.mark_target_stale(secs(45), &target).unwrap();
        assert_eq!(find(&st, "up").last().unwrap().v, None);
    }

    #[test]
    fn clashing_labels_are_renamed() {
        let target = Labels::new([("pod", "p1")]);
        let s = ExposedSample {
            name: "m".into(),
            labels: vec![("pod".into(), "inner".into())],
            value: 1.0,
        };
        let l = series_labels(&target, &s);
        assert_eq!(l.get("exported_pod"), Some("inner"));
        assert_eq!(l.get("pod"), Some("p1"));
    }

    #[test]
    fn scrape_offsets_are_stable_and_spread() {
        let iv = SimDuration::from_secs(15);
        let a = scrape_offset("pod-a", iv, 1);
        assert_eq!(a, scrape_offset("pod-a", iv, 1));
        assert!(a < iv);
        let distinct: std::collections::BTreeSet<u64> = (0..16)
            .map(|i| scrape_offset(&format!("pod-{i}"), iv, 1).as_nanos())
            .collect();
        assert!(distinct.len() >= 14, "{distinct:?}");
        assert_eq!(scrape_offset("x", SimDuration(10), 1), SimDuration::ZERO);
    }
}
