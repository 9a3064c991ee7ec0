//! The two time windows the KPA keeps: per-second metric buckets averaged over a window,
//! and the running maximum of recent decisions behind the scale-down delay.

/// Per-second buckets of one metric over a window, averaged the way Knative's default
/// ("linear") aggregation does.
///
/// Values recorded in the same second add up. The average divides by the number of seconds
/// from the first write to the last one (at most the window), so a young series is not
/// diluted by seconds before it started; seconds after the last write that have left the
/// window are dropped from both sum and count; a series with nothing in the last window
/// averages to 0. The result is rounded to 6 decimals, which also hides the residue of the
/// running sum.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowBuckets {
    values: Vec<f64>,
    total: f64,
    first_write_s: Option<u64>,
    last_write_s: Option<u64>,
}

impl WindowBuckets {
    /// A window of `window_s` one-second buckets (at least one).
    pub fn new(window_s: u64) -> WindowBuckets {
        WindowBuckets {
            values: vec![0.0; window_s.max(1) as usize],
            total: 0.0,
            first_write_s: None,
            last_write_s: None,
        }
    }

    fn window_s(&self) -> u64 {
        self.values.len() as u64
    }

    fn slot(&self, second: u64) -> usize {
        (second % self.window_s()) as usize
    }

    /// Adds `value` to the bucket of whole second `second`. A write older than the window
    /// behind the last write is dropped.
    pub fn record(&mut self, second: u64, value: f64) {
        let window = self.window_s();
        if self.last_write_s != Some(second) {
            if let Some(last) = self.last_write_s
                && second + window <= last
            {
                return;
            }
            if self.first_write_s.is_none_or(|first| first > second) {
                self.first_write_s = Some(second);
            }
            match self.last_write_s {
                Some(last) if second <= last => {}
                Some(last) if second - last < window => {
                    for s in last + 1..=second {
                        let i = self.slot(s);
                        self.total -= self.values[i];
                        self.values[i] = 0.0;
                    }
                    self.last_write_s = Some(second);
                }
                _ => {
                    // Nothing inside the window: start the series afresh.
                    self.first_write_s = Some(second);
                    self.values.fill(0.0);
                    self.total = 0.0;
                    self.last_write_s = Some(second);
                }
            }
        }
        let i = self.slot(second);
        self.values[i] += value;
        self.total += value;
    }

    /// True when nothing was recorded in the window ending at `second`.
    pub fn is_empty(&self, second: u64) -> bool {
        match self.last_write_s {
            None => true,
            Some(last) => second.saturating_sub(last) > self.window_s(),
        }
    }

    /// The average over the window ending at whole second `second`.
    pub fn window_average(&self, second: u64) -> f64 {
        let (Some(first), Some(last)) = (self.first_write_s, self.last_write_s) else {
            return 0.0;
        };
        let window = self.window_s();
        let written_s = last - first + 1;
        if second <= last {
            let count = written_s.min(window);
            return round_6(self.total / count as f64);
        }
        let gap_s = second - last;
        if gap_s >= window {
            return 0.0;
        }
        let mut sum = self.total;
        for s in last + 1..=second {
            sum -= self.values[self.slot(s)];
        }
        let count = written_s.min(window - gap_s);
        round_6(sum / count as f64)
    }
}

fn round_6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The maximum of the decisions recorded in the last `slots` tick slots (the scale-down
/// delay). Slot `k` covers ticks with `floor(now_s / tick_s) == k`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxWindow {
    slots: u64,
    entries: Vec<(u64, u32)>,
}

impl MaxWindow {
    /// A window of `slots` slots (at least one).
    pub fn new(slots: u64) -> MaxWindow {
        MaxWindow {
            slots: slots.max(1),
            entries: Vec::new(),
        }
    }

    /// Records `value` in slot `slot` (slots never go back in time) and drops slots that
    /// have left the window.
    pub fn record(&mut self, slot: u64, value: u32) {
        let slots = self.slots;
        self.entries.retain(|&(s, _)| s + slots > slot);
        match self.entries.last_mut() {
            Some(last) if last.0 == slot => last.1 = last.1.max(value),
            _ => self.entries.push((slot, value)),
        }
    }

    /// The largest value in the window (0 when empty).
    pub fn current(&self) -> u32 {
        self.entries.iter().map(|&(_, v)| v).max().unwrap_or(0)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn young_series_averages_over_written_seconds() {
        let mut b = WindowBuckets::new(60);
        b.record(1, 10.0);
        b.record(2, 20.0);
        assert_eq!(b.window_average(2), 15.0);
        // Two values in one second add up.
        b.record(2, 6.0);
        assert_eq!(b.window_average(2), 18.0);
    }

    #[test]
    fn trailing_gap_is_not_diluted_and_full_gap_is_zero() {
        let mut b = WindowBuckets::new(6);
        for s in 0..10 {
            b.record(s, 10.0);
        }
        // Seconds 7..=9 remain in the window ending at 12; 10..=12 hold nothing.
        assert_eq!(b.window_average(12), 10.0);
        assert!(!b.is_empty(15));
        assert_eq!(b.window_average(15), 0.0);
        assert!(b.is_empty(16));
    }

    #[test]
    fn interior_gap_counts_as_zero() {
        let mut b = WindowBuckets::new(6);
        b.record(1, 12.0);
        b.record(4, 12.0);
        // Seconds 1..=4 written: (12 + 0 + 0 + 12) / 4.
        assert_eq!(b.window_average(4), 6.0);
        // A write a full window later restarts the series.
        b.record(20, 3.0);
        assert_eq!(b.window_average(20), 3.0);
    }

    #[test]
    fn max_window_forgets_old_slots() {
        let mut w = MaxWindow::new(3);
        w.record(1, 5);
        w.record(2, 2);
        w.record(3, 1);
        assert_eq!(w.current(), 5);
        w.record(4, 1);
        assert_eq!(w.current(), 2);
        w.record(4, 3);
        assert_eq!(w.current(), 3);
    }
}
