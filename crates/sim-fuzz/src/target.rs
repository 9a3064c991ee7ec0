//! The targets and how one case runs in-process: the input is made from (target, seed, case),
//! the entry point called under `catch_unwind`, and the result classified.

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use sim_des::SimTime;
use sim_scenario::{Files, ScenarioError};
use sim_workload::{TraceError, TraceFormat, Transform};

use crate::corpus::{Corpus, MemFiles, normalize};
use crate::mutate::mutate;
use crate::rng::Rng;

/// The `run` target simulates at most this much of a scenario (its horizon is shrunk to it,
/// after every load check ran on the full scenario), so that many cases fit in an hour.
pub const RUN_HORIZON_S: f64 = 60.0;

/// And lets requests drain for at most this long after it.
pub const RUN_DRAIN_S: f64 = 60.0;

/// The longest error line accepted as bounded (the CLI's clipping keeps it near 1,300).
const MAX_ERROR_LINE_CHARS: usize = 2_000;

/// What a case exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `sim_scenario::load`.
    Scenario,
    /// `sim_sweep::plan` (every point's scenario is loaded).
    Sweep,
    /// `sim_scenario::explain::explain`.
    Explain,
    /// `sim_workload::read_trace` in each format, and the loader's scan.
    Trace,
    /// Load, run (horizon shrunk to [`RUN_HORIZON_S`]) and write every output to a sink.
    Run,
    /// A deliberately broken target, to show that the harness catches each kind of failure.
    Canary(Canary),
}

/// The failure a canary target produces on every fifth case (case % 5 == 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canary {
    /// Panics.
    Panic,
    /// Aborts the process.
    Abort,
    /// Sleeps for 3 s (run it with a shorter timeout).
    Slow,
    /// Allocates and touches 3 GB.
    Memory,
    /// Rejects without a position.
    Unpositioned,
}

impl Target {
    /// The real targets, in report order.
    pub const ALL: [Target; 5] = [
        Target::Scenario,
        Target::Sweep,
        Target::Explain,
        Target::Trace,
        Target::Run,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Scenario => "scenario",
            Target::Sweep => "sweep",
            Target::Explain => "explain",
            Target::Trace => "trace",
            Target::Run => "run",
            Target::Canary(Canary::Panic) => "canary-panic",
            Target::Canary(Canary::Abort) => "canary-abort",
            Target::Canary(Canary::Slow) => "canary-slow",
            Target::Canary(Canary::Memory) => "canary-memory",
            Target::Canary(Canary::Unpositioned) => "canary-unpositioned",
        }
    }

    /// The target of a name.
    pub fn from_name(name: &str) -> Option<Target> {
        let canaries = [
            Canary::Panic,
            Canary::Abort,
            Canary::Slow,
            Canary::Memory,
            Canary::Unpositioned,
        ];
        Target::ALL
            .into_iter()
            .chain(canaries.map(Target::Canary))
            .find(|t| t.name() == name)
    }

    /// The seed files of this target.
    pub fn seeds(self, c: &Corpus) -> &[String] {
        match self {
            Target::Scenario | Target::Run | Target::Canary(_) => &c.scenarios,
            Target::Sweep => &c.sweeps,
            Target::Explain => &c.explains,
            Target::Trace => &c.traces,
        }
    }

    /// The extension of a saved reproducer.
    pub fn extension(self, file: &str) -> &'static str {
        match self {
            Target::Trace if file.ends_with(".jsonl") => "jsonl",
            Target::Trace => "csv",
            _ => "toml",
        }
    }
}

/// One input: the main file (named as its seed, so relative paths resolve) and files it
/// replaces for this case (a mutated trace or catalog the scenario names).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The seed's path, used as the file name.
    pub file: String,
    /// The mutated bytes.
    pub bytes: Vec<u8>,
    /// Replaced files, by normalized path.
    pub overlay: BTreeMap<String, Vec<u8>>,
}

/// Case `case` of `target` under `seed`. The first cases are the seeds themselves, unmutated.
pub fn make_case(target: Target, corpus: &Corpus, seed: u64, case: u64) -> Case {
    let seeds = target.seeds(corpus);
    let mut rng = Rng::for_case(target.name(), seed, case);
    if seeds.is_empty() {
        return Case {
            file: "empty.toml".to_string(),
            bytes: Vec::new(),
            overlay: BTreeMap::new(),
        };
    }
    let unmutated = (case as usize) < seeds.len();
    // Half the mutants start from a seed that is not a bad-input fixture, so that mutations
    // reach past the first check more often.
    let good: Vec<&String> = seeds.iter().filter(|s| !s.contains("/bad")).collect();
    let file = if unmutated {
        seeds[case as usize].clone()
    } else if (target == Target::Run || rng.one_in(2)) && !good.is_empty() {
        good[rng.below(good.len())].clone()
    } else {
        rng.pick(seeds).cloned().unwrap_or_default()
    };
    let original = corpus.files.get(&file).cloned().unwrap_or_default();
    let toml = target != Target::Trace;
    let others: Vec<&[u8]> = (0..3)
        .filter_map(|_| rng.pick(seeds))
        .filter_map(|p| corpus.files.get(p))
        .map(Vec::as_slice)
        .collect();
    let mut overlay = BTreeMap::new();
    if unmutated {
        return Case {
            file,
            bytes: original,
            overlay,
        };
    }
    // Sometimes the file a scenario names is the mutated one instead (or as well).
    let named = matches!(target, Target::Scenario | Target::Run) && rng.one_in(5);
    if named && let Some(p) = named_path(&file, &original, &mut rng) {
        if let Some(b) = corpus.get(&p) {
            let is_toml = p.ends_with(".toml");
            let traces: Vec<&[u8]> = corpus
                .traces
                .iter()
                .take(8)
                .filter_map(|t| corpus.get(t))
                .collect();
            overlay.insert(normalize(&p), mutate(&mut rng, b, is_toml, &traces));
        }
        if rng.one_in(2) {
            return Case {
                file,
                bytes: original,
                overlay,
            };
        }
    }
    // The run target mutates lightly, so that more cases load and are simulated.
    let bytes = if target == Target::Run && !rng.one_in(4) {
        crate::mutate::mutate_once(&mut rng, &original, &others)
    } else {
        mutate(&mut rng, &original, toml, &others)
    };
    Case {
        file,
        bytes,
        overlay,
    }
}

/// A `path = "..."`-like string value in a scenario, resolved against its folder.
fn named_path(file: &str, text: &[u8], rng: &mut Rng) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    let paths: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("path") || l.contains("trace_path"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    let rel = rng.pick(&paths)?;
    let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
    Some(if dir.is_empty() {
        (*rel).to_string()
    } else {
        format!("{dir}/{rel}")
    })
}

/// How a case ended (when it ended at all: aborts and hangs are seen by the parent process).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The input was accepted (and, for `run`, simulated and written).
    Accepted,
    /// The input was rejected with a positioned, one-line error.
    Rejected,
    /// Rejected without file:line:col, or with a message that is not one bounded line.
    Unpositioned(String),
    /// A panic, with its message and place.
    Panic(String),
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook with one that records the message and place instead of printing
/// it (a million cases must not print a million backtraces).
pub fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = match info.payload().downcast_ref::<&str>() {
            Some(s) => (*s).to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".to_string()),
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{msg}{at}"));
        }
    }));
}

/// Runs one case, catching panics.
pub fn execute(target: Target, corpus: &Corpus, case: &Case, index: u64) -> Outcome {
    let result = panic::catch_unwind(AssertUnwindSafe(|| run_case(target, corpus, case, index)));
    match result {
        Ok(o) => o,
        Err(payload) => {
            let recorded = LAST_PANIC.lock().ok().and_then(|mut l| l.take());
            let msg = recorded.unwrap_or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_string())
            });
            Outcome::Panic(msg)
        }
    }
}

fn classify(e: &ScenarioError) -> Outcome {
    let line = e.to_string();
    if line.contains('\n') || line.chars().count() > MAX_ERROR_LINE_CHARS {
        return Outcome::Unpositioned(format!("not one bounded line: {}", line.len()));
    }
    if e.line.is_none() && !names_a_key(&e.message) {
        return Outcome::Unpositioned(line);
    }
    Outcome::Rejected
}

/// The tables of the scenario, explain and sweep files: a whole-file error (a required key
/// is missing, so there is no place to point at) must name its key as `table.key`.
const TABLES: &[&str] = &[
    "run",
    "workload",
    "deployment",
    "engine",
    "startup",
    "readiness",
    "cluster",
    "routing",
    "slo",
    "cost",
    "catalog",
    "prometheus",
    "adapter",
    "hpa",
    "keda",
    "kpa",
    "observe",
    "base",
    "axis",
    "sampling",
    "objective",
];

fn names_a_key(message: &str) -> bool {
    let bracketed = TABLES.iter().any(|t| message.contains(&format!("[{t}]")));
    bracketed
        || message
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .filter_map(|w| w.split_once('.'))
            .any(|(table, key)| {
                TABLES.contains(&table) && key.starts_with(|c: char| c.is_ascii_lowercase())
            })
}

fn trace_ok(e: &TraceError) -> bool {
    // An empty trace has no line to point at; the loader places it at `workload.path`.
    e.line().is_some() || matches!(e, TraceError::Empty)
}

fn run_case(target: Target, corpus: &Corpus, case: &Case, index: u64) -> Outcome {
    let files = MemFiles {
        corpus,
        overlay: &case.overlay,
    };
    let text = || sim_scenario::bounded_text(&case.file, case.bytes.clone());
    match target {
        Target::Scenario => match text().and_then(|t| sim_scenario::load(&case.file, &t, &files)) {
            Ok(_) => Outcome::Accepted,
            Err(e) => classify(&e),
        },
        Target::Sweep => {
            let t = match text() {
                Ok(t) => t,
                Err(e) => return classify(&e),
            };
            match sim_sweep::plan(&case.file, &t, &files, "fuzz") {
                Ok(p) => {
                    // The plan's own outputs must not fail either.
                    let _ = p.to_json();
                    Outcome::Accepted
                }
                Err(sim_sweep::SweepError::Input(e)) => classify(&e),
                Err(e) => Outcome::Unpositioned(e.to_string()),
            }
        }
        Target::Explain => {
            match text().and_then(|t| sim_scenario::explain::explain(&case.file, &t)) {
                Ok(_) => Outcome::Accepted,
                Err(e) => classify(&e),
            }
        }
        Target::Trace => trace_case(case),
        Target::Run => run_scenario(case, &files, index),
        Target::Canary(c) => canary(c, index),
    }
}

fn trace_case(case: &Case) -> Outcome {
    let mut accepted = false;
    let limit = SimTime::from_secs(sim_engine::MAX_HORIZON_S);
    for format in TraceFormat::ALL {
        let mut stream = sim_workload::read_trace(format, Cursor::new(&case.bytes));
        let read = stream.try_for_each(|r| r.map(|_| ()));
        let scans = [
            (Transform::default(), None),
            (
                Transform {
                    window_start_s: 1.0,
                    window_duration_s: Some(30.0),
                    offset_s: 5.0,
                    rate_scale: 3.0,
                },
                Some(SimTime::from_secs(60)),
            ),
        ];
        let mut all_ok = read.is_ok();
        for e in read
            .err()
            .into_iter()
            .chain(scans.iter().filter_map(|(t, h)| {
                sim_workload::scan_trace(format, Cursor::new(&case.bytes), t, *h, limit).err()
            }))
        {
            all_ok = false;
            let placed = sim_scenario::trace_error(&case.file, &e);
            if !trace_ok(&e) {
                return Outcome::Unpositioned(placed.to_string());
            }
            if let Outcome::Unpositioned(m) = classify(&placed) {
                return Outcome::Unpositioned(m);
            }
        }
        accepted |= all_ok;
    }
    if accepted {
        Outcome::Accepted
    } else {
        Outcome::Rejected
    }
}

fn run_scenario(case: &Case, files: &MemFiles<'_>, index: u64) -> Outcome {
    let scenario = match sim_scenario::bounded_text(&case.file, case.bytes.clone())
        .and_then(|t| sim_scenario::load(&case.file, &t, files))
    {
        Ok(s) => s,
        Err(e) => return classify(&e),
    };
    let mut spec = scenario.spec.clone();
    spec.duration_s = Some(spec.duration_s.unwrap_or(RUN_HORIZON_S).min(RUN_HORIZON_S));
    spec.drain_limit_s = spec.drain_limit_s.min(RUN_DRAIN_S);
    let trace_path = scenario.workload.file();
    let reader = match trace_path.map(|path| (path, files.open(path))) {
        None => None,
        Some((_, Ok(r))) => Some(r),
        Some((path, Err(e))) => {
            return Outcome::Unpositioned(format!("{path}: cannot open trace: {e}"));
        }
    };
    // Every other case streams per-request records, as `--requests` does.
    let mut requests = RequestSink {
        csv: index
            .is_multiple_of(2)
            .then(|| sim_report::RequestsCsv::new(io::sink()))
            .transpose()
            .ok()
            .flatten(),
        error: None,
    };
    let stream = scenario.workload.stream(scenario.seed, reader);
    let report = match sim_engine::run(&spec, scenario.seed, stream, &mut requests) {
        Ok(r) => r,
        Err(sim_engine::RunError::Workload(e)) => {
            return classify(&scenario.run_error(trace_path, &e));
        }
        Err(e @ sim_engine::RunError::Stopped) => {
            return Outcome::Unpositioned(format!("the run stopped: {e}"));
        }
    };
    let _ = sim_report::render_text(&scenario, &report.summary);
    let _ = sim_report::render_warnings(&sim_report::warnings(&scenario, &report));
    let written = sim_report::write_summary_json(io::sink(), &scenario, &report)
        .and_then(|()| sim_report::write_events_log(io::sink(), &report))
        .and_then(|()| sim_report::write_timeline_csv(io::sink(), &report))
        .and_then(|()| sim_report::write_report_html(io::sink(), &scenario, &report))
        .and_then(|()| match requests.error.take() {
            Some(e) => Err(e),
            None => requests.csv.map_or(Ok(()), |c| c.finish().map(drop)),
        });
    match written {
        Ok(()) => Outcome::Accepted,
        Err(e) => Outcome::Panic(format!("writing to a sink failed: {e}")),
    }
}

/// Writes each request record as `sim run --requests` does, into a sink.
struct RequestSink {
    csv: Option<sim_report::RequestsCsv<io::Sink>>,
    error: Option<io::Error>,
}

impl sim_engine::Observer for RequestSink {
    fn request(&mut self, record: &sim_engine::RequestRecord) {
        if let Some(c) = &mut self.csv
            && let Err(e) = c.write(record)
        {
            self.error.get_or_insert(e);
        }
    }
}

fn canary(c: Canary, index: u64) -> Outcome {
    if index % 5 != 2 {
        return Outcome::Accepted;
    }
    match c {
        Canary::Panic => panic!("canary panic at case {index}"),
        Canary::Abort => std::process::abort(),
        Canary::Slow => {
            std::thread::sleep(std::time::Duration::from_secs(3));
            Outcome::Accepted
        }
        Canary::Memory => {
            let v = vec![7u8; 3 << 30];
            Outcome::Unpositioned(format!(
                "allocated {} bytes",
                std::hint::black_box(&v).len()
            ))
        }
        Canary::Unpositioned => Outcome::Unpositioned("canary rejection without a position".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Corpus {
        let mut files = BTreeMap::new();
        files.insert("s/a.toml".to_string(), b"[run]\nduration_s = 60\n".to_vec());
        files.insert(
            "t/a.csv".to_string(),
            b"arrival_s,prompt_tokens,output_tokens\n0,1,1\n".to_vec(),
        );
        Corpus::from_files(files)
    }

    #[test]
    fn cases_are_reproducible_and_first_ones_are_seeds() {
        let c = corpus();
        assert_eq!(
            make_case(Target::Scenario, &c, 1, 0).bytes,
            c.files["s/a.toml"]
        );
        assert_eq!(
            make_case(Target::Scenario, &c, 1, 99),
            make_case(Target::Scenario, &c, 1, 99)
        );
    }

    #[test]
    fn a_deliberately_broken_case_is_caught() {
        // The bounded CI run counts these as failures (tests/bounded.rs runs them whole).
        quiet_panics();
        let c = corpus();
        let case = make_case(Target::Canary(Canary::Panic), &c, 1, 2);
        let out = execute(Target::Canary(Canary::Panic), &c, &case, 2);
        assert!(
            matches!(&out, Outcome::Panic(m) if m.contains("canary panic at case 2")),
            "{out:?}"
        );
        let out = execute(Target::Canary(Canary::Unpositioned), &c, &case, 7);
        assert!(matches!(out, Outcome::Unpositioned(_)));
        let bad = ScenarioError::whole_file("x.toml", "no place");
        assert!(matches!(classify(&bad), Outcome::Unpositioned(_)));
        let named =
            ScenarioError::whole_file("x.toml", "a synthetic workload needs run.duration_s");
        assert_eq!(classify(&named), Outcome::Rejected);
        let named = ScenarioError::whole_file("x.toml", "needs an [hpa] or a [keda] table");
        assert_eq!(classify(&named), Outcome::Rejected);
    }
}
