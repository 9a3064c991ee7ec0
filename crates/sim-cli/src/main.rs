//! The `sim` command line: the only place that touches files, the terminal or the clock.
//!
//! Exit codes: 0 success; 2 bad input (scenario, trace, manifest or flags), with a message
//! naming file:line:col; 1 any other failure (for example a disk that refuses a write).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod sweep_cmd;

use sim_engine::RunOptions;
use sim_scenario::{Files, Scenario, ScenarioError, WorkloadPlan};

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
        /// SIM_SHARD_COUNT when both are set).
        #[arg(long)]
        shard: Option<String>,
    },
    /// Combine the folders of a sharded sweep into the files of an unsharded one.
    Merge {
        /// The shard folders.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
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
    },
}

/// A failure with its exit code.
enum Failure {
    /// Bad input: exit 2.
    Input(String),
    /// Anything else: exit 1.
    Other(String),
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
        } => cmd_run(&scenario, out.as_deref(), seed, requests),
        Command::Sweep {
            sweep,
            out,
            jobs,
            shard,
        } => sweep_cmd::cmd_sweep(&sweep, &out, jobs, shard.as_deref()),
        Command::Explain { file } => cmd_explain(&file),
        Command::Merge { shards, out } => sweep_cmd::cmd_merge(&shards, &out),
        Command::Check { file, jobs } => match sweep_cmd::cmd_check(&file, jobs) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(3),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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

fn cmd_run(
    path: &Path,
    out: Option<&Path>,
    seed: Option<u64>,
    keep_requests: bool,
) -> Result<(), Failure> {
    let scenario = load_scenario(path)?;
    let seed = seed.unwrap_or(scenario.seed);
    let report = run_scenario(&scenario, seed, RunOptions { keep_requests })?;
    print!("{}", sim_report::render_text(&scenario, &report.summary));
    if let Some(dir) = out {
        fs::create_dir_all(dir)
            .map_err(|e| Failure::Other(format!("{}: cannot create: {e}", dir.display())))?;
        write_file(&dir.join("summary.json"), |w| {
            sim_report::write_summary_json(w, &scenario, &report)
        })?;
        write_file(&dir.join("events.log"), |w| {
            sim_report::write_events_log(w, &report)
        })?;
        write_file(&dir.join("report.html"), |w| {
            sim_report::write_report_html(w, &scenario, &report)
        })?;
        write_file(&dir.join("timeline.csv"), |w| {
            sim_report::write_timeline_csv(w, &report)
        })?;
        if keep_requests {
            write_file(&dir.join("requests.csv"), |w| {
                sim_report::write_requests_csv(w, &report)
            })?;
        }
        println!("wrote {}", dir.display());
    }
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

/// Opens the workload and runs the scenario once.
fn run_scenario(
    scenario: &Scenario,
    seed: u64,
    opts: RunOptions,
) -> Result<sim_engine::RunReport, Failure> {
    let (reader, trace_path): (Option<Box<dyn std::io::BufRead>>, Option<&str>) =
        match &scenario.workload {
            WorkloadPlan::Synthetic { .. } => (None, None),
            WorkloadPlan::Trace { path, .. } => {
                let reader = open_trace(path)
                    .map_err(|e| Failure::Input(format!("{path}: cannot open trace: {e}")))?;
                (Some(reader), Some(path.as_str()))
            }
        };
    let stream = scenario.workload.stream(seed, reader);
    sim_engine::run(&scenario.spec, seed, stream, &opts).map_err(|e| {
        Failure::Input(sim_scenario::trace_error(trace_path.unwrap_or("workload"), &e).to_string())
    })
}

/// Writes a file atomically: into a temporary sibling, then renamed over the target.
fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let tmp = path.with_extension("tmp");
    let fail = |e: std::io::Error| Failure::Other(format!("{}: cannot write: {e}", path.display()));
    let file = fs::File::create(&tmp).map_err(fail)?;
    let mut w = BufWriter::new(file);
    write(&mut w).map_err(fail)?;
    w.flush().map_err(fail)?;
    drop(w);
    fs::rename(&tmp, path).map_err(fail)
}
