//! `sim sweep`, `sim merge` and `sim check`: the file side of sweeps (plan and journal in the
//! output folder, resume, shards, progress bar). The sweep logic lives in `sim-sweep`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sim_scenario::{Files, ScanFailure, ScanKey};
use sim_sweep::{JobResult, Manifest, Plan, PointStats, Runner, SweepError};

use crate::out_dir::{Holds, Kind, OutDir};
use crate::{Failure, write_file};

/// The simulator version that goes into a plan's hash.
const SIM_VERSION: &str = env!("CARGO_PKG_VERSION");

impl From<SweepError> for Failure {
    fn from(e: SweepError) -> Failure {
        match e {
            SweepError::Input(_) | SweepError::Mismatch(_) => Failure::Input(e.to_string()),
            SweepError::Run(_) => Failure::Other(e.to_string()),
        }
    }
}

/// Reads each file once (points of a sweep name the same catalog and traces), and checks each
/// trace once per window and offset.
#[derive(Default)]
struct CachedFiles {
    cache: RefCell<BTreeMap<String, String>>,
    scans: RefCell<BTreeMap<String, sim_workload::TraceScan>>,
}

impl Files for CachedFiles {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        if let Some(t) = self.cache.borrow().get(path) {
            return Ok(t.clone());
        }
        let t = crate::read_input(path).map_err(|e| e.to_string())?;
        self.cache.borrow_mut().insert(path.to_string(), t.clone());
        Ok(t)
    }

    fn open(&self, path: &str) -> Result<Box<dyn std::io::BufRead + '_>, String> {
        crate::open_trace(path)
    }

    fn scan_trace(&self, key: &ScanKey) -> Result<sim_workload::TraceScan, ScanFailure> {
        let memo = format!("{key:?}");
        if let Some(scan) = self.scans.borrow().get(&memo) {
            return Ok(*scan);
        }
        let reader = self.open(&key.path).map_err(ScanFailure::Open)?;
        let scan = key.scan(reader).map_err(ScanFailure::Trace)?;
        self.scans.borrow_mut().insert(memo, scan);
        Ok(scan)
    }
}

fn read_text(path: &Path) -> Result<String, Failure> {
    Ok(crate::read_input(&path.display().to_string())?)
}

/// Reads and validates a sweep file.
fn load_plan(path: &Path) -> Result<Plan, Failure> {
    let text = read_text(path)?;
    let display = path.display().to_string();
    Ok(sim_sweep::plan(
        &display,
        &text,
        &CachedFiles::default(),
        SIM_VERSION,
    )?)
}

fn runner(plan: &Plan) -> Result<Runner<'static>, Failure> {
    Ok(Runner::new(plan, &crate::open_trace)?)
}

fn threads(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// `I/N` from the flag, else from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job) and
/// `SIM_SHARD_COUNT`. `None` runs every job.
fn shard(flag: Option<&str>) -> Result<Option<(usize, usize)>, Failure> {
    let text = match flag {
        Some(s) => s.to_string(),
        None => match (
            std::env::var("JOB_COMPLETION_INDEX").ok(),
            std::env::var("SIM_SHARD_COUNT").ok(),
        ) {
            (Some(i), Some(n)) => format!("{i}/{n}"),
            (None, Some(_)) => {
                return Err(Failure::Input(
                    "SIM_SHARD_COUNT is set but JOB_COMPLETION_INDEX is not; give --shard I/N"
                        .into(),
                ));
            }
            // Without a count every pod of an Indexed Job would run the whole sweep.
            (Some(_), None) => {
                return Err(Failure::Input(
                    "JOB_COMPLETION_INDEX is set but SIM_SHARD_COUNT is not; set SIM_SHARD_COUNT \
                     to the Job's completions, or give --shard I/N"
                        .into(),
                ));
            }
            (None, None) => return Ok(None),
        },
    };
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n >= 1 && i < n => Ok(if n == 1 { None } else { Some((i, n)) }),
        _ => Err(Failure::Input(format!(
            "shard {text:?} must be I/N with 0 <= I < N (0-based, as JOB_COMPLETION_INDEX)"
        ))),
    }
}

/// `path` relative to `dir`, worked out on absolute paths without touching the disk.
fn relative_to(path: &str, dir: &Path) -> String {
    let (Ok(target), Ok(base)) = (std::path::absolute(path), std::path::absolute(dir)) else {
        return path.to_string();
    };
    fn norm(p: &Path) -> Vec<Component<'_>> {
        let mut out: Vec<Component<'_>> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }
    let (t, b) = (norm(&target), norm(&base));
    if t.first() != b.first() {
        return target.to_string_lossy().into_owned();
    }
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c.as_os_str());
    }
    rel.to_string_lossy().into_owned()
}

fn write_text(path: &Path, text: &str) -> Result<(), Failure> {
    write_file(path, |w| w.write_all(text.as_bytes()))
}

/// Refuses an output folder that holds another plan or another shard.
fn check_dir(out: &Path, plan: &Plan, shard: Option<(usize, usize)>) -> Result<(), Failure> {
    let plan_path = out.join("plan.json");
    if plan_path.exists() {
        let old = Plan::from_json(&read_text(&plan_path)?).map_err(|e| {
            Failure::Input(format!(
                "{}: {e}; use another --out folder or delete this one",
                out.display()
            ))
        })?;
        if old.hash != plan.hash {
            return Err(Failure::Input(format!(
                "{} holds results of a different sweep plan (hash {}, this plan {}): the base \
                 scenario, axes, sampling, seeds, SLO or sim version changed. Use another --out \
                 folder, or delete this one to start over",
                out.display(),
                old.hash,
                plan.hash
            )));
        }
    }
    let manifest_path = out.join("manifest.json");
    if manifest_path.exists() {
        let m = Manifest::from_json(&read_text(&manifest_path)?)?;
        let want = shard.map(|(i, n)| [i, n]);
        if m.shard != want {
            let show = |s: Option<[usize; 2]>| {
                s.map_or_else(
                    || "the whole sweep".to_string(),
                    |[i, n]| format!("shard {i}/{n}"),
                )
            };
            return Err(Failure::Input(format!(
                "{} holds {}, not {}; use another --out folder",
                out.display(),
                show(m.shard),
                show(want)
            )));
        }
    }
    Ok(())
}

/// `complete` is set only once every result file is written.
fn manifest(
    plan: &Plan,
    shard: Option<(usize, usize)>,
    selected: usize,
    done: usize,
    complete: bool,
) -> Manifest {
    Manifest {
        format_version: sim_sweep::FORMAT_VERSION,
        plan_hash: plan.hash.clone(),
        shard: shard.map(|(i, n)| [i, n]),
        jobs_selected: selected,
        jobs_done: done,
        complete: complete && done == selected,
    }
}

/// Picks the folder a sweep works in: its unfinished staging folder when that holds this
/// sweep, else a finished target of this sweep moved back into staging (so re-running a
/// finished sweep runs nothing), else a fresh one. Another sweep's work is refused unless
/// `force`.
fn sweep_workdir(
    dir: &OutDir,
    plan: &Plan,
    shard: Option<(usize, usize)>,
    force: bool,
) -> Result<(), Failure> {
    if dir.staging.exists() {
        match check_dir(&dir.staging, plan, shard) {
            Ok(()) => return Ok(()),
            Err(_) if force => return dir.fresh_staging(),
            Err(Failure::Input(m)) => {
                return Err(Failure::Input(format!(
                    "{m} (an unfinished sweep); add --force to discard it"
                )));
            }
            Err(e) => return Err(e),
        }
    }
    if crate::out_dir::holds(&dir.target, Kind::Sweep)? == Holds::Same {
        match check_dir(&dir.target, plan, shard) {
            Ok(()) => {
                return fs::rename(&dir.target, &dir.staging).map_err(|e| {
                    Failure::Other(format!(
                        "{}: cannot move to {}: {e}",
                        dir.target.display(),
                        dir.staging.display()
                    ))
                });
            }
            Err(_) if force => {}
            Err(Failure::Input(m)) => {
                return Err(Failure::Input(format!("{m}, or add --force to replace it")));
            }
            Err(e) => return Err(e),
        }
    }
    dir.fresh_staging()
}

/// `sim sweep SWEEP --out DIR [--jobs N] [--shard I/N] [--force] [--strict]`.
pub(crate) fn cmd_sweep(
    path: &Path,
    out: &Path,
    jobs: Option<usize>,
    shard_flag: Option<&str>,
    force: bool,
    strict: bool,
) -> Result<(), Failure> {
    #[allow(clippy::disallowed_methods)] // Wall time for the user, never in an output file.
    let started = std::time::Instant::now();
    let plan = load_plan(path)?;
    let shard = shard(shard_flag)?;
    let threads = threads(jobs);
    let dir = OutDir::prepare(out, Kind::Sweep, force, &[path])?;
    sweep_workdir(&dir, &plan, shard, force)?;
    let work = dir.staging.as_path();
    write_text(&work.join("plan.json"), &plan.to_json())?;

    // Resume from the journal: whole lines with a good checksum count as done.
    let journal_path = work.join("journal.txt");
    let mut journal = if journal_path.exists() {
        sim_sweep::read_journal(&plan, &read_text(&journal_path)?)
    } else {
        sim_sweep::Journal::default()
    };
    if journal.dropped > 0 {
        eprintln!(
            "note: dropped {} torn or invalid journal line(s); those jobs run again",
            journal.dropped
        );
    }
    write_text(&journal_path, &journal.text())?;
    let selected = sim_sweep::shard_jobs(&plan, shard);
    let todo: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|j| !journal.results.contains_key(j))
        .collect();
    let resumed = selected.len() - todo.len();
    write_text(
        &work.join("manifest.json"),
        &manifest(&plan, shard, selected.len(), resumed, false).to_json(),
    )?;

    let runner = runner(&plan)?;
    let file = fs::OpenOptions::new()
        .append(true)
        .open(&journal_path)
        .map_err(|e| Failure::Other(format!("{}: cannot open: {e}", journal_path.display())))?;
    let file = Mutex::new(file);
    let write_error: Mutex<Option<String>> = Mutex::new(None);
    // Test hook: stop starting jobs after this many have finished (simulates a kill).
    let stop_after: Option<usize> = std::env::var("SIM_SWEEP_STOP_AFTER")
        .ok()
        .and_then(|s| s.parse().ok());
    let finished = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let bar = (std::io::stderr().is_terminal() && !todo.is_empty()).then(|| {
        let bar = indicatif::ProgressBar::new(todo.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs  {elapsed_precise} elapsed  ETA {eta_precise}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let on_done = |r: &JobResult| {
        let line = sim_sweep::journal_line(r);
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            *write_error.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{}: cannot append: {e}", journal_path.display()));
            stop.store(true, Ordering::SeqCst);
        }
        let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
        if stop_after.is_some_and(|k| n >= k) {
            stop.store(true, Ordering::SeqCst);
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    };
    let fresh = runner.run_jobs(&plan, &todo, threads, &on_done, &stop)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(e) = write_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(Failure::Other(format!(
            "{e}; the finished runs are kept in {}: run the same command again to resume",
            work.display()
        )));
    }
    for r in fresh {
        journal.results.insert(r.job, r);
    }
    let done = selected
        .iter()
        .filter(|j| journal.results.contains_key(j))
        .count();
    write_text(
        &work.join("manifest.json"),
        &manifest(&plan, shard, selected.len(), done, false).to_json(),
    )?;
    if done < selected.len() {
        return Err(Failure::Other(format!(
            "stopped after {} of {} runs (SIM_SWEEP_STOP_AFTER); they are kept in {}: run the \
             same command again to resume",
            done,
            selected.len(),
            work.display()
        )));
    }
    // The journal in job order, so that any schedule leaves the same bytes.
    write_text(&journal_path, &journal.text())?;
    let results: Vec<JobResult> = selected
        .iter()
        .map(|j| journal.results[j].clone())
        .collect();
    eprintln!(
        "{}: {} points x {} seeds; {} runs ({} resumed) in {:.1} s on {} thread(s)",
        plan.name,
        plan.points.len(),
        plan.seeds.len(),
        todo.len(),
        resumed,
        started.elapsed().as_secs_f64(),
        threads
    );
    let warned = report_sweep_warnings(&plan, &results);
    match shard {
        Some((i, n)) => {
            write_file(&work.join("results.csv"), |w| {
                sim_sweep::write_results_csv(w, &plan, &results)
            })?;
            finish_sweep_dir(&dir, &plan, shard, selected.len())?;
            println!(
                "shard {i}/{n} complete in {}; combine the shards with: sim merge DIR... --out DIR",
                dir.target.display()
            );
        }
        None => {
            let stats = write_outputs(work, &dir.target, &plan, &results)?;
            finish_sweep_dir(&dir, &plan, shard, selected.len())?;
            print_best(&plan, &stats);
            println!("wrote {}", dir.target.display());
        }
    }
    strict_verdict(strict, warned)
}

/// Marks the staging folder complete (last, after every result file) and moves it into place.
fn finish_sweep_dir(
    dir: &OutDir,
    plan: &Plan,
    shard: Option<(usize, usize)>,
    jobs: usize,
) -> Result<(), Failure> {
    write_text(
        &dir.staging.join("manifest.json"),
        &manifest(plan, shard, jobs, jobs, true).to_json(),
    )?;
    dir.commit()
}

/// Prints the sweep's warnings: the scenarios' own (once each) and how many runs raised one.
/// Returns how many warnings there were.
fn report_sweep_warnings(plan: &Plan, results: &[JobResult]) -> usize {
    let mut lines: Vec<String> = Vec::new();
    for p in 0..plan.points.len() {
        if let Some(sc) = plan.scenario(p) {
            for w in &sc.warnings {
                let line = w.to_string();
                if !lines.contains(&line) {
                    lines.push(line);
                }
            }
        }
    }
    let wi = plan
        .metric_index("warnings")
        .expect("every plan has warnings");
    let runs: Vec<&JobResult> = results.iter().filter(|r| r.values[wi] > 0.0).collect();
    if let Some(first) = runs.first() {
        lines.push(format!(
            "{} of {} runs raised warnings (first: point {} ({}), seed {}); the warnings column \
             of results.csv counts them, and `sim run` of a point lists them",
            runs.len(),
            results.len(),
            first.point,
            plan.describe_point(first.point),
            first.seed
        ));
    }
    if !lines.is_empty() {
        eprintln!("warnings ({}):", lines.len());
        for l in &lines {
            eprintln!("  warning: {l}");
        }
    }
    lines.len()
}

/// Exit 3 under `--strict` when there were warnings.
fn strict_verdict(strict: bool, warnings: usize) -> Result<(), Failure> {
    if strict && warnings > 0 {
        eprintln!("error: --strict: {warnings} warning(s), listed above");
        return Err(Failure::Verdict);
    }
    Ok(())
}

/// Writes results.csv, points.csv, pareto.csv, report.html and best.toml for a complete
/// sweep into `out`; best.toml's paths are made relative to `target`, where it will live.
fn write_outputs(
    out: &Path,
    target: &Path,
    plan: &Plan,
    results: &[JobResult],
) -> Result<Vec<PointStats>, Failure> {
    let stats = sim_sweep::summarize(plan, results)?;
    write_file(&out.join("results.csv"), |w| {
        sim_sweep::write_results_csv(w, plan, results)
    })?;
    write_file(&out.join("points.csv"), |w| {
        sim_sweep::write_points_csv(w, plan, &stats)
    })?;
    let front = sim_sweep::pareto(plan, &stats);
    write_file(&out.join("pareto.csv"), |w| {
        sim_sweep::write_pareto_csv(w, plan, &stats, &front)
    })?;
    let best = sim_sweep::best(plan, &stats);
    write_file(&out.join("report.html"), |w| {
        sim_sweep::write_report_html(w, plan, &stats, &front, best)
    })?;
    let best_path = out.join("best.toml");
    match best {
        Some(p) => {
            let rebase = |resolved: &str| relative_to(resolved, target);
            write_text(
                &best_path,
                &sim_sweep::best_toml(plan, &stats, p, Some(&rebase)),
            )?;
        }
        None => {
            if best_path.exists() {
                fs::remove_file(&best_path).map_err(|e| {
                    Failure::Other(format!("{}: cannot remove: {e}", best_path.display()))
                })?;
            }
        }
    }
    Ok(stats)
}

fn print_best(plan: &Plan, stats: &[PointStats]) {
    let oi = plan.metric_index(&plan.objective).unwrap_or(0);
    let li = plan.metric_index(&plan.latency).unwrap_or(0);
    match sim_sweep::best(plan, stats) {
        Some(p) => println!(
            "best: point {p} ({}): {} = {}, {} = {} (written to best.toml)",
            plan.describe_point(p),
            plan.objective,
            stats[p].mean[oi],
            plan.latency,
            stats[p].mean[li]
        ),
        None => {
            println!("no point meets the SLO");
            if let Some(p) = sim_sweep::nearest_miss(stats) {
                print_misses(plan, &stats[p]);
            }
        }
    }
}

fn print_misses(plan: &Plan, s: &PointStats) {
    println!(
        "closest: point {} ({})",
        s.point,
        plan.describe_point(s.point)
    );
    for (c, v) in &s.checks {
        print_check(&c.metric, c.threshold, c.at_least, *v);
    }
}

fn print_check(name: &str, threshold: f64, at_least: bool, actual: f64) {
    let c = sim_engine::SloCheckResult::new(name, threshold, at_least, actual);
    println!("  {}", c.describe());
}

/// `sim merge SHARD_DIR... --out DIR`.
pub(crate) fn cmd_merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<(), Failure> {
    let inputs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let target = OutDir::prepare(out, Kind::Sweep, force, &inputs)?;
    let mut plan: Option<Plan> = None;
    let mut combined: BTreeMap<usize, (JobResult, usize)> = BTreeMap::new();
    for (k, dir) in dirs.iter().enumerate() {
        let partial = crate::out_dir::staging_for(dir);
        if !dir.exists() && partial.is_dir() {
            return Err(Failure::Input(format!(
                "{} is incomplete (its runs so far are in {}); finish it by running its sweep again",
                dir.display(),
                partial.display()
            )));
        }
        let p = Plan::from_json(&read_text(&dir.join("plan.json"))?)
            .map_err(|e| Failure::Input(format!("{}: {e}", dir.display())))?;
        if let Some(first) = plan.as_ref().filter(|f| f.hash != p.hash) {
            return Err(Failure::Input(format!(
                "{} is a different sweep (plan hash {}) from {} (plan hash {})",
                dir.display(),
                p.hash,
                dirs[0].display(),
                first.hash
            )));
        }
        let m = Manifest::from_json(&read_text(&dir.join("manifest.json"))?)
            .map_err(|e| Failure::Input(format!("{}: {e}", dir.display())))?;
        if m.plan_hash != p.hash {
            return Err(Failure::Input(format!(
                "{}: manifest.json and plan.json disagree on the plan hash",
                dir.display()
            )));
        }
        if !m.complete {
            return Err(Failure::Input(format!(
                "{} is incomplete ({} of {} runs); finish it by running its sweep again",
                dir.display(),
                m.jobs_done,
                m.jobs_selected
            )));
        }
        let journal = sim_sweep::read_journal(&p, &read_text(&dir.join("journal.txt"))?);
        for (job, r) in journal.results {
            if let Some((_, other)) = combined.get(&job) {
                return Err(Failure::Input(format!(
                    "run {job} (point {}, seed {}) is in both {} and {}; each shard must be \
                     merged once",
                    r.point,
                    r.seed,
                    dirs[*other].display(),
                    dir.display()
                )));
            }
            combined.insert(job, (r, k));
        }
        plan = Some(p);
    }
    let plan = plan.ok_or_else(|| Failure::Input("merge needs at least one folder".into()))?;
    let missing: Vec<usize> = (0..plan.jobs())
        .filter(|j| !combined.contains_key(j))
        .collect();
    if !missing.is_empty() {
        let first: Vec<String> = missing.iter().take(5).map(|j| j.to_string()).collect();
        return Err(Failure::Input(format!(
            "the shards hold {} of {} runs; missing {} (first: {}); is a shard folder missing?",
            combined.len(),
            plan.jobs(),
            missing.len(),
            first.join(", ")
        )));
    }
    if !force {
        check_dir(&target.target, &plan, None).map_err(|e| match e {
            Failure::Input(m) => Failure::Input(format!("{m}, or add --force to replace it")),
            other => other,
        })?;
    }
    target.fresh_staging()?;
    let work = target.staging.as_path();
    let results: Vec<JobResult> = combined.into_values().map(|(r, _)| r).collect();
    let written = (|| -> Result<Vec<PointStats>, Failure> {
        write_text(&work.join("plan.json"), &plan.to_json())?;
        let journal: String = results.iter().map(sim_sweep::journal_line).collect();
        write_text(&work.join("journal.txt"), &journal)?;
        let stats = write_outputs(work, &target.target, &plan, &results)?;
        finish_sweep_dir(&target, &plan, None, plan.jobs())?;
        Ok(stats)
    })();
    let stats = written.inspect_err(|_| target.abandon())?;
    report_sweep_warnings(&plan, &results);
    print_best(&plan, &stats);
    println!(
        "merged {} folder(s) into {}",
        dirs.len(),
        target.target.display()
    );
    Ok(())
}

/// `sim check FILE`: Ok when the SLO holds, `Failure::Verdict` (exit 3) when it does not or
/// when `strict` and there were warnings.
///
/// A scenario runs once with its seed; it passes when every SLO check of `sim run` holds. A
/// sweep runs every point and seed (in memory, nothing written); it passes when at least one
/// point meets the SLO on the mean over its seeds, the same rule that picks `best.toml`.
pub(crate) fn cmd_check(path: &Path, jobs: Option<usize>, strict: bool) -> Result<(), Failure> {
    let text = read_text(path)?;
    let (ok, warnings) = if sim_sweep::is_sweep(&text) {
        let plan = load_plan(path)?;
        if plan.slo.is_empty() {
            return Err(no_checks(path));
        }
        let runner = runner(&plan)?;
        let all: Vec<usize> = (0..plan.jobs()).collect();
        let results =
            runner.run_jobs(&plan, &all, threads(jobs), &|_| {}, &AtomicBool::new(false))?;
        let stats = sim_sweep::summarize(&plan, &results)?;
        let ok = match sim_sweep::best(&plan, &stats) {
            Some(p) => {
                println!(
                    "SLO holds: {} of {} points meet it; the cheapest:",
                    stats.iter().filter(|s| s.slo_ok()).count(),
                    stats.len()
                );
                println!("point {p} ({})", plan.describe_point(p));
                for (c, v) in &stats[p].checks {
                    print_check(&c.metric, c.threshold, c.at_least, *v);
                }
                true
            }
            None => {
                println!("SLO violated: none of {} points meets it", stats.len());
                if let Some(p) = sim_sweep::nearest_miss(&stats) {
                    print_misses(&plan, &stats[p]);
                }
                false
            }
        };
        (ok, report_sweep_warnings(&plan, &results))
    } else {
        let scenario = crate::load_scenario(path)?;
        if !scenario.spec.slo.declared {
            return Err(no_checks(path));
        }
        let report = crate::run_scenario(&scenario, scenario.seed, &mut ())?;
        let s = &report.summary;
        println!(
            "SLO {}: {} (seed {})",
            if s.slo_ok() { "holds" } else { "violated" },
            scenario.name,
            scenario.seed
        );
        for c in &s.slo_checks {
            println!("  {}", c.describe());
        }
        let warnings = sim_report::warnings(&scenario, &report);
        eprint!("{}", sim_report::render_warnings(&warnings));
        (s.slo_ok(), warnings.len())
    };
    if strict && warnings > 0 {
        eprintln!(
            "error: {warnings} warning(s), listed above: a verdict on a misconfigured scenario \
             is not one to trust; fix them, or pass --allow-warnings"
        );
        return Err(Failure::Verdict);
    }
    if ok { Ok(()) } else { Err(Failure::Verdict) }
}

fn no_checks(path: &Path) -> Failure {
    Failure::Input(format!(
        "{}:1:1: there is no [slo] table, so nothing to check; add one with a percentile \
         threshold such as ttft_s_p99 = 2.0, min_attainment = 0.99 or max_failed_ratio = 0.01",
        path.display()
    ))
}
