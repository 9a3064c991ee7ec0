//! The `sim` command line: the only place that touches files, the terminal or the clock.
//!
//! Exit codes: 0 success; 2 bad input (scenario, trace, manifest, flags or output folder),
//! with a message naming file:line:col or the flag, before any simulation; 3 an SLO violated
//! (`sim check`) or a warning under `--strict`; 1 any other failure (for example a disk that
//! refuses a write).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod atomic_file;
mod out_dir;
mod run_watch;
mod sweep_cmd;

pub(crate) use atomic_file::write_file;
use sim_scenario::{Files, Scenario, ScenarioError};

/// Which Kubernetes autoscaling settings to use for LLM inference, answered by simulation.
#[derive(Parser)]
#[command(name = "sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and report latency and cost.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Write summary.json, timeline.csv (and requests.csv) into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed for every random stream (default: the scenario's, else 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Also write one row per request to requests.csv.
        #[arg(long)]
        requests: bool,
        /// Replace an --out folder that holds something other than a run's outputs.
        #[arg(long)]
        force: bool,
        /// Exit 3 when the run has any warning.
        #[arg(long)]
        strict: bool,
    },
    /// Run a sweep: many points of a base scenario, several seeds each, in parallel.
    Sweep {
        /// The sweep file (TOML, see docs/sweep.md).
        sweep: PathBuf,
        /// Write plan.json, results.csv, points.csv, pareto.csv and best.toml into this
        /// folder; running again with the same folder resumes.
        #[arg(long)]
        out: PathBuf,
        /// Parallel runs (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard I of N (0-based; default from JOB_COMPLETION_INDEX and
        /// SIM_SHARD_COUNT, which must be set together).
        #[arg(long)]
        shard: Option<String>,
        /// Replace an --out folder that holds something else (another sweep's results
        /// included) instead of refusing it.
        #[arg(long)]
        force: bool,
        /// Exit 3 when any run has a warning.
        #[arg(long)]
        strict: bool,
    },
    /// Combine the folders of a sharded sweep into the files of an unsharded one.
    Merge {
        /// The shard folders.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace an --out folder that holds something else.
        #[arg(long)]
        force: bool,
    },
    /// Dry run: what an HPA or a ScaledObject decides on given metric values, and why.
    Explain {
        /// An explain file: the scenario's [hpa] or [keda] table plus [observe].
        file: PathBuf,
    },
    /// Exit 0 when the SLO of a scenario (or of some point of a sweep) holds, 3 when not.
    Check {
        /// A scenario or sweep file.
        file: PathBuf,
        /// Parallel runs for a sweep (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Judge the SLO even when a run has warnings (by default a warning fails the
        /// check with exit 3, since a misconfigured autoscaler makes the verdict moot).
        #[arg(long)]
        allow_warnings: bool,
    },
}

/// A failure with its exit code.
enum Failure {
    /// Bad input: exit 2.
    Input(String),
    /// Anything else: exit 1.
    Other(String),
    /// An SLO violated, or warnings under --strict: exit 3 (already reported).
    Verdict,
}

impl From<ScenarioError> for Failure {
    fn from(e: ScenarioError) -> Failure {
        Failure::Input(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            scenario,
            out,
            seed,
            requests,
            force,
            strict,
        } => cmd_run(
            &scenario,
            out.as_deref(),
            seed,
            RunFlags {
                requests,
                force,
                strict,
            },
        ),
        Command::Sweep {
            sweep,
            out,
            jobs,
            shard,
            force,
            strict,
        } => sweep_cmd::cmd_sweep(&sweep, &out, jobs, shard.as_deref(), force, strict),
        Command::Explain { file } => cmd_explain(&file),
        Command::Merge { shards, out, force } => sweep_cmd::cmd_merge(&shards, &out, force),
        Command::Check {
            file,
            jobs,
            allow_warnings,
        } => sweep_cmd::cmd_check(&file, jobs, !allow_warnings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Verdict) => ExitCode::from(3),
        // Every message on one line, long values clipped (most are already, by ScenarioError).
        Err(Failure::Input(msg)) => {
            eprintln!("error: {}", sim_scenario::clip_message(&msg));
            ExitCode::from(2)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("error: {}", sim_scenario::clip_message(&msg));
            ExitCode::from(1)
        }
    }
}

struct DiskFiles;

impl Files for DiskFiles {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        read_input(path).map_err(|e| e.to_string())
    }

    fn open(&self, path: &str) -> Result<Box<dyn BufRead + '_>, String> {
        open_trace(path)
    }
}

/// Reads a scenario, sweep, explain or catalog file: bounded in size, UTF-8, with the
/// position of the first bad byte.
fn read_input(path: &str) -> Result<String, ScenarioError> {
    let cannot = |e: std::io::Error| ScenarioError::whole_file(path, format!("cannot read: {e}"));
    let mut bytes = Vec::new();
    fs::File::open(path)
        .map_err(cannot)?
        .take(sim_scenario::MAX_TEXT_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    sim_scenario::bounded_text(path, bytes)
}

/// Opens a trace for streaming (the readers bound line length and size).
fn open_trace(path: &str) -> Result<Box<dyn BufRead>, String> {
    let file = fs::File::open(path).map_err(|e| e.to_string())?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
}

fn load_scenario(path: &Path) -> Result<Scenario, Failure> {
    let display = path.display().to_string();
    let text = read_input(&display)?;
    Ok(sim_scenario::load(&display, &text, &DiskFiles)?)
}

/// `sim run`'s switches.
struct RunFlags {
    requests: bool,
    force: bool,
    strict: bool,
}

fn cmd_run(
    path: &Path,
    out: Option<&Path>,
    seed: Option<u64>,
    flags: RunFlags,
) -> Result<(), Failure> {
    let scenario = load_scenario(path)?;
    let seed = seed.unwrap_or(scenario.seed);
    // The output folder is checked before any simulation.
    let dir = match out {
        Some(o) => {
            let dir = out_dir::OutDir::prepare(o, out_dir::Kind::Run, flags.force, &[path])?;
            dir.fresh_staging()?;
            Some(dir)
        }
        None => None,
    };
    // requests.csv is written as requests resolve, straight into the staging folder.
    let requests_csv = dir
        .as_ref()
        .filter(|_| flags.requests)
        .map(|d| d.staging.join("requests.csv"));
    let abandon = |e: Failure| {
        if let Some(d) = &dir {
            d.abandon();
        }
        e
    };
    let mut watch = run_watch::RunWatch::new(requests_csv.as_deref(), scenario.resolved.horizon_s)
        .map_err(abandon)?;
    let report = run_scenario(&scenario, seed, &mut watch);
    watch.clear_bar();
    // A failed requests.csv write stops the run; say why, not that it stopped.
    let report = report.map_err(|e| abandon(watch.write_failure().unwrap_or(e)))?;
    print!("{}", sim_report::render_text(&scenario, &report.summary));
    let warnings = sim_report::warnings(&scenario, &report);
    eprint!("{}", sim_report::render_warnings(&warnings));
    if let Some(dir) = &dir {
        watch
            .finish()
            .and_then(|()| write_run(&dir.staging, &scenario, &report))
            .and_then(|()| dir.commit())
            .map_err(abandon)?;
        println!("wrote {}", dir.target.display());
    }
    if flags.strict && !warnings.is_empty() {
        eprintln!(
            "error: --strict: the run has {} warning(s), listed above",
            warnings.len()
        );
        return Err(Failure::Verdict);
    }
    Ok(())
}

/// Writes a run's files into `dir` (requests.csv is already there, written during the run).
fn write_run(
    dir: &Path,
    scenario: &Scenario,
    report: &sim_engine::RunReport,
) -> Result<(), Failure> {
    write_file(&dir.join("summary.json"), |w| {
        sim_report::write_summary_json(w, scenario, report)
    })?;
    write_file(&dir.join("events.log"), |w| {
        sim_report::write_events_log(w, report)
    })?;
    write_file(&dir.join("report.html"), |w| {
        sim_report::write_report_html(w, scenario, report)
    })?;
    write_file(&dir.join("timeline.csv"), |w| {
        sim_report::write_timeline_csv(w, report)
    })?;
    Ok(())
}

fn cmd_explain(path: &Path) -> Result<(), Failure> {
    let display = path.display().to_string();
    let text = read_input(&display)?;
    for line in sim_scenario::explain::explain(&display, &text)? {
        println!("{line}");
    }
    Ok(())
}

/// Opens the workload and runs the scenario once, showing it to `observer`.
fn run_scenario(
    scenario: &Scenario,
    seed: u64,
    observer: &mut dyn sim_engine::Observer,
) -> Result<sim_engine::RunReport, Failure> {
    let trace_path = scenario.workload.file();
    let reader: Option<Box<dyn std::io::BufRead>> = match trace_path {
        None => None,
        Some(path) => Some(
            open_trace(path)
                .map_err(|e| Failure::Input(format!("{path}: cannot open trace: {e}")))?,
        ),
    };
    let stream = scenario.workload.stream(seed, reader);
    sim_engine::run(&scenario.spec, seed, stream, observer).map_err(|e| match e {
        sim_engine::RunError::Workload(e) => {
            Failure::Input(scenario.run_error(trace_path, &e).to_string())
        }
        sim_engine::RunError::Stopped => Failure::Other(e.to_string()),
    })
}
