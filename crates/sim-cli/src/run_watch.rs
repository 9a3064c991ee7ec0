//! What `sim run` does while the engine runs: streams `requests.csv` into the staging folder
//! as requests resolve, and draws a progress bar on a terminal once a run has taken a second.
//! Neither can change the run (the engine's `Observer` only sees it).

use std::fs;
use std::io::{BufWriter, IsTerminal};
use std::path::Path;
use std::time::{Duration, Instant};

use sim_engine::{Observer, Progress, RequestRecord};

use crate::Failure;
use crate::atomic_file::AtomicFile;

/// A run shorter than this draws no bar (a bar that flashes for a moment is noise).
const BAR_AFTER: Duration = Duration::from_secs(1);

/// `requests.csv` being written, row by row.
struct RequestsOut {
    file: AtomicFile,
    csv: sim_report::RequestsCsv<BufWriter<fs::File>>,
    /// The first write error; later rows are skipped and the file is given up at the end.
    error: Option<std::io::Error>,
}

/// The bar, once it is drawn.
struct Bar {
    bar: indicatif::ProgressBar,
    horizon_s: u64,
}

/// The observer `sim run` hands the engine.
pub(crate) struct RunWatch {
    requests: Option<RequestsOut>,
    horizon_s: f64,
    /// When the run started; `None` when stderr is not a terminal (no bar ever).
    started: Option<Instant>,
    bar_after: Duration,
    bar: Option<Bar>,
    /// Simulated time at the last progress report.
    sim_time_s: f64,
}

/// Whether to draw the bar now: only on a terminal, and only once the run has taken
/// `bar_after` of wall time.
pub(crate) fn should_draw(is_terminal: bool, elapsed: Duration, bar_after: Duration) -> bool {
    is_terminal && elapsed >= bar_after
}

impl RunWatch {
    /// `requests`: the path of `requests.csv` to stream into, if any. `horizon_s`: the run's
    /// horizon (the length of the bar).
    pub(crate) fn new(requests: Option<&Path>, horizon_s: f64) -> Result<RunWatch, Failure> {
        let requests = match requests {
            Some(path) => {
                let (file, w) = AtomicFile::create(path)?;
                let csv = match sim_report::RequestsCsv::new(w) {
                    Ok(csv) => csv,
                    Err(e) => return Err(file.failed(&e)),
                };
                Some(RequestsOut {
                    file,
                    csv,
                    error: None,
                })
            }
            None => None,
        };
        // Test hook: draw after this many milliseconds instead of a second.
        let bar_after = std::env::var("SIM_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(BAR_AFTER, Duration::from_millis);
        #[allow(clippy::disallowed_methods)] // Wall time for the bar, never in an output file.
        let started = std::io::stderr().is_terminal().then(Instant::now);
        Ok(RunWatch {
            requests,
            horizon_s,
            started,
            bar_after,
            bar: None,
            sim_time_s: 0.0,
        })
    }

    /// Why writing `requests.csv` failed, if it did, and how far the run got before it
    /// stopped for that.
    pub(crate) fn write_failure(&mut self) -> Option<Failure> {
        let out = self.requests.take_if(|o| o.error.is_some())?;
        let e = out.error.expect("taken because it failed");
        Some(match out.file.failed(&e) {
            Failure::Other(m) => Failure::Other(format!(
                "{m} (the run stopped at {:.0} s of {:.0} s simulated)",
                self.sim_time_s, self.horizon_s
            )),
            f => f,
        })
    }

    /// Clears the bar and finishes `requests.csv` (after the run succeeded).
    pub(crate) fn finish(mut self) -> Result<(), Failure> {
        self.clear_bar();
        let Some(out) = self.requests.take() else {
            return Ok(());
        };
        if let Some(e) = out.error {
            return Err(out.file.failed(&e));
        }
        match out.csv.finish() {
            Ok(w) => out.file.commit(w),
            Err(e) => Err(out.file.failed(&e)),
        }
    }

    /// Clears the bar (before printing anything, or after a failed run; dropping `self` then
    /// removes the temporary `requests.csv`).
    pub(crate) fn clear_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.bar.finish_and_clear();
        }
    }

    fn draw(&mut self, p: &Progress) {
        let Some(started) = self.started else { return };
        let message = format!(
            "{} requests, {} resolved",
            p.requests_arrived, p.requests_resolved
        );
        match &self.bar {
            Some(b) => {
                b.bar.set_message(message);
                // Past the horizon the run only drains: the bar stays full.
                b.bar.set_position((p.sim_time_s as u64).min(b.horizon_s));
            }
            None if should_draw(true, started.elapsed(), self.bar_after) => {
                let horizon_s = self.horizon_s.ceil().max(1.0) as u64;
                // The bar's clock starts with the run, not with the bar.
                let mut bar = indicatif::ProgressBar::new(horizon_s)
                    .with_elapsed(started.elapsed())
                    .with_message(message)
                    .with_position((p.sim_time_s as u64).min(horizon_s));
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} s simulated  {msg}  {elapsed_precise} elapsed",
                ) {
                    bar = bar.with_style(style);
                }
                bar.tick();
                self.bar = Some(Bar { bar, horizon_s });
            }
            None => {}
        }
    }
}

impl Observer for RunWatch {
    fn request(&mut self, r: &RequestRecord) {
        if let Some(out) = &mut self.requests
            && out.error.is_none()
            && let Err(e) = out.csv.write(r)
        {
            out.error = Some(e);
        }
    }

    fn progress(&mut self, p: &Progress) {
        self.sim_time_s = p.sim_time_s;
        self.draw(p);
    }

    fn stopped(&self) -> bool {
        self.requests.as_ref().is_some_and(|o| o.error.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_waits_a_second_and_needs_a_terminal() {
        let s = Duration::from_secs(1);
        assert!(!should_draw(true, Duration::from_millis(999), s));
        assert!(should_draw(true, s, s));
        assert!(!should_draw(false, Duration::from_secs(3600), s));
    }
}
