//! `sim-fuzz`: runs the mutation fuzzer. See `docs/fuzz.md`.
//!
//! ```text
//! sim-fuzz fuzz [--target NAME|all] [--seed N] [--cases N] [--start N] [--batch N]
//!               [--timeout-ms N] [--mem-mb N] [--findings DIR] [--root DIR]
//! sim-fuzz repro --target NAME --seed N --case N [--findings DIR] [--root DIR]
//! ```
//!
//! `fuzz` runs cases in child processes (`sim-fuzz worker ...`, started through `sh -c
//! 'ulimit -v ...'` so that no unsafe code is needed for setrlimit), a batch per child. A child
//! reports each case as it finishes; when it dies (abort, failed allocation) or goes silent
//! past the timeout (then it is killed), the case after its last report is the culprit, is
//! rerun alone to confirm, and the batch resumes after it. Exit status: 0 when no case failed,
//! 1 when any did, 2 on a usage error.

#![allow(clippy::print_stdout, clippy::print_stderr)]
// A dev tool: the wall time of each case is one of the things it measures.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sim_fuzz::target::quiet_panics;
use sim_fuzz::{Corpus, Outcome, Target, execute, make_case};

struct Args {
    cmd: String,
    targets: Vec<Target>,
    seed: u64,
    cases: u64,
    start: u64,
    batch: Option<u64>,
    from: u64,
    to: u64,
    timeout_ms: u64,
    mem_mb: u64,
    findings: PathBuf,
    root: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let cmd = it
        .next()
        .ok_or("usage: sim-fuzz fuzz|repro|worker [options]")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut a = Args {
        cmd,
        targets: Target::ALL.to_vec(),
        seed: 1,
        cases: 1_000,
        start: 0,
        batch: None,
        from: 0,
        to: 0,
        timeout_ms: 10_000,
        mem_mb: 2_048,
        findings: PathBuf::from("fuzz-findings"),
        root,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || {
            value
                .replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--target" if value == "all" => a.targets = Target::ALL.to_vec(),
            "--target" => {
                a.targets = value
                    .split(',')
                    .map(|n| Target::from_name(n).ok_or(format!("--target: unknown target {n}")))
                    .collect::<Result<_, _>>()?
            }
            "--seed" => a.seed = num()?,
            "--cases" => a.cases = num()?,
            "--start" => a.start = num()?,
            "--case" => a.start = num()?,
            "--batch" => a.batch = Some(num()?.max(1)),
            "--from" => a.from = num()?,
            "--to" => a.to = num()?,
            "--timeout-ms" => a.timeout_ms = num()?,
            "--mem-mb" => a.mem_mb = num()?,
            "--findings" => a.findings = PathBuf::from(value),
            "--root" => a.root = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let corpus = match Corpus::load(&args.root) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot read the seeds under {}: {e}",
                args.root.display()
            );
            return ExitCode::from(2);
        }
    };
    match args.cmd.as_str() {
        "worker" => worker(&args, &corpus),
        "fuzz" => fuzz(&args, &corpus),
        "repro" => repro(&args, &corpus),
        other => {
            eprintln!("error: unknown command {other}");
            ExitCode::from(2)
        }
    }
}

/// Runs cases `from..to` of one target in this process, one report line per case:
/// `c <case> <a|r|u|p> <elapsed_ns> [message]`, then `done <peak_rss_kb>`.
fn worker(args: &Args, corpus: &Corpus) -> ExitCode {
    quiet_panics();
    let target = args.targets[0];
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in args.from..args.to {
        let case = make_case(target, corpus, args.seed, i);
        let t0 = Instant::now();
        let outcome = execute(target, corpus, &case, i);
        let elapsed_ns = t0.elapsed().as_nanos();
        let (tag, msg) = match outcome {
            Outcome::Accepted => ("a", String::new()),
            Outcome::Rejected => ("r", String::new()),
            Outcome::Unpositioned(m) => ("u", m),
            Outcome::Panic(m) => ("p", m),
        };
        let msg = msg.replace(['\n', '\r'], " ");
        // Flushed per case: the parent names the culprit of a crash by the last line it saw.
        if writeln!(out, "c {i} {tag} {elapsed_ns} {msg}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::from(2);
        }
    }
    let _ = writeln!(out, "done {}", peak_rss_kb());
    ExitCode::SUCCESS
}

/// This process's peak resident set (VmHWM), in kB; 0 where /proc is missing.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Stats {
    cases: u64,
    accepted: u64,
    rejected: u64,
    unpositioned: u64,
    panics: u64,
    aborts: u64,
    over_time: u64,
    over_memory: u64,
    slowest_ns: u128,
    slowest_case: u64,
    peak_rss_kb: u64,
    elapsed: Duration,
}

impl Stats {
    fn failures(&self) -> u64 {
        self.unpositioned + self.panics + self.aborts + self.over_time + self.over_memory
    }
}

enum Kind {
    Unpositioned,
    Panic,
    Abort,
    OverTime,
    OverMemory,
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Unpositioned => "rejection without a position",
            Kind::Panic => "panic",
            Kind::Abort => "abort",
            Kind::OverTime => "over the time limit",
            Kind::OverMemory => "over the memory limit",
        }
    }
}

/// How one child ended.
enum Ended {
    /// It reported every case.
    Done,
    /// It died or was killed after reporting cases up to (not including) `culprit`.
    Died {
        culprit: u64,
        kind: Kind,
        why: String,
    },
}

struct Fuzz<'a> {
    args: &'a Args,
    corpus: &'a Corpus,
    target: Target,
    stats: Stats,
    shown: u64,
}

fn fuzz(args: &Args, corpus: &Corpus) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this executable: {e}");
            return ExitCode::from(2);
        }
    };
    let mut all = Vec::new();
    for &target in &args.targets {
        let mut f = Fuzz {
            args,
            corpus,
            target,
            stats: Stats::default(),
            shown: 0,
        };
        let t0 = Instant::now();
        f.run(&exe);
        f.stats.elapsed = t0.elapsed();
        print_row(target, &f.stats, args);
        all.push(f.stats);
    }
    if all.iter().any(|s| s.failures() > 0) {
        println!(
            "FAILED: see the findings above; inputs are in {}",
            args.findings.display()
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_row(t: Target, s: &Stats, args: &Args) {
    let rate = s.cases as f64 / s.elapsed.as_secs_f64().max(1e-9);
    println!(
        "target={} seed={} cases={} accepted={} rejected={} unpositioned={} panics={} aborts={} \
         over_{}ms={} over_{}MB={} slowest_ms={:.1} (case {}) peak_rss_MB={:.0} elapsed_s={:.1} cases_per_s={:.0}",
        t.name(),
        args.seed,
        s.cases,
        s.accepted,
        s.rejected,
        s.unpositioned,
        s.panics,
        s.aborts,
        args.timeout_ms,
        s.over_time,
        args.mem_mb,
        s.over_memory,
        s.slowest_ns as f64 / 1e6,
        s.slowest_case,
        s.peak_rss_kb as f64 / 1024.0,
        s.elapsed.as_secs_f64(),
        rate,
    );
}

impl Fuzz<'_> {
    fn run(&mut self, exe: &Path) {
        let default_batch = if self.target == Target::Run {
            1_000
        } else {
            10_000
        };
        let batch = self.args.batch.unwrap_or(default_batch);
        let end = self.args.start + self.args.cases;
        let mut next = self.args.start;
        while next < end {
            let to = (next + batch).min(end);
            match self.child(exe, next, to) {
                Ended::Done => next = to,
                Ended::Died { culprit, kind, why } => {
                    // Confirm alone: a failure that needs its batch's history says so.
                    let alone = match self.child(exe, culprit, culprit + 1) {
                        Ended::Done => " (passes when run alone: depends on earlier cases)",
                        Ended::Died { .. } => "",
                    };
                    self.stats.cases += 1;
                    match kind {
                        Kind::Abort => self.stats.aborts += 1,
                        Kind::OverTime => self.stats.over_time += 1,
                        Kind::OverMemory => self.stats.over_memory += 1,
                        _ => {}
                    }
                    self.finding(culprit, &kind, &format!("{why}{alone}"));
                    next = culprit + 1;
                }
            }
        }
    }

    /// Runs cases `from..to` in a child and folds its reports into the stats.
    fn child(&mut self, exe: &Path, from: u64, to: u64) -> Ended {
        let mem_kb = self.args.mem_mb * 1024;
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {mem_kb} && exec \"$0\" \"$@\""))
            .arg(exe)
            .args(["worker", "--target", self.target.name()])
            .args(["--seed", &self.args.seed.to_string()])
            .args(["--from", &from.to_string(), "--to", &to.to_string()])
            .arg("--root")
            .arg(&self.args.root)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return Ended::Died {
                    culprit: from,
                    kind: Kind::Abort,
                    why: format!("cannot start a worker: {e}"),
                };
            }
        };
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            // The start says why it died (a backtrace may follow); keep only that much.
            buf.truncate(2_000);
            String::from_utf8_lossy(&buf).into_owned()
        });
        // A hang shows as silence: allow the limit plus a margin for the worker's start-up.
        let silence = Duration::from_millis(self.args.timeout_ms) + Duration::from_secs(5);
        let mut expected = from;
        let mut done = false;
        let mut hung = false;
        loop {
            match rx.recv_timeout(silence) {
                Ok(line) => {
                    if let Some(kb) = line.strip_prefix("done ") {
                        let kb: u64 = kb.trim().parse().unwrap_or(0);
                        self.stats.peak_rss_kb = self.stats.peak_rss_kb.max(kb);
                        done = true;
                    } else {
                        self.report_line(&line);
                        expected += 1;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    hung = true;
                    kill(&mut child);
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait();
        let _ = reader.join();
        let stderr_tail = err_reader.join().unwrap_or_default();
        let ok = status.as_ref().is_ok_and(|s| s.success());
        if done && ok && expected == to {
            return Ended::Done;
        }
        let tail = stderr_tail.trim().replace('\n', " | ");
        let (kind, why) = if hung {
            (
                Kind::OverTime,
                format!("no result within {} ms; killed", self.args.timeout_ms),
            )
        } else if stderr_tail.contains("memory allocation of") {
            (
                Kind::OverMemory,
                format!("under ulimit -v {mem_kb}: {tail}"),
            )
        } else {
            (Kind::Abort, format!("worker ended with {status:?}: {tail}"))
        };
        Ended::Died {
            culprit: expected,
            kind,
            why,
        }
    }

    fn report_line(&mut self, line: &str) {
        let mut parts = line.splitn(5, ' ');
        let _ = parts.next();
        let case: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let tag = parts.next().unwrap_or("");
        let ns: u128 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let msg = parts.next().unwrap_or("").to_string();
        let s = &mut self.stats;
        s.cases += 1;
        if ns > s.slowest_ns {
            s.slowest_ns = ns;
            s.slowest_case = case;
        }
        match tag {
            "a" => s.accepted += 1,
            "r" => s.rejected += 1,
            "u" => s.unpositioned += 1,
            _ => s.panics += 1,
        }
        let over = ns > u128::from(self.args.timeout_ms) * 1_000_000;
        if over {
            s.over_time += 1;
            self.finding(
                case,
                &Kind::OverTime,
                &format!("took {} ms", ns / 1_000_000),
            );
        }
        match tag {
            "u" => self.finding(case, &Kind::Unpositioned, &msg),
            "p" => self.finding(case, &Kind::Panic, &msg),
            _ => {}
        }
    }

    /// Prints a finding with its input and saves the input (the first 100 per target).
    fn finding(&mut self, case: u64, kind: &Kind, why: &str) {
        self.shown += 1;
        if self.shown > 100 {
            return;
        }
        let c = make_case(self.target, self.corpus, self.args.seed, case);
        let name = format!("{}-s{}-c{}", self.target.name(), self.args.seed, case);
        let _ = std::fs::create_dir_all(&self.args.findings);
        let saved = self
            .args
            .findings
            .join(format!("{name}.{}", self.target.extension(&c.file)));
        let _ = std::fs::write(&saved, &c.bytes);
        for (path, bytes) in &c.overlay {
            let flat = path.replace('/', "__");
            let _ = std::fs::write(
                self.args.findings.join(format!("{name}.overlay.{flat}")),
                bytes,
            );
        }
        let shown: String = String::from_utf8_lossy(&c.bytes)
            .chars()
            .take(1_500)
            .collect();
        println!(
            "FINDING {} case {case}: {}: {}\n  seed file: {}; replaced files: {:?}\n  saved: {}\n  \
             reproduce: sim-fuzz repro --target {} --seed {} --case {case}\n  input (first 1,500 chars): {:?}",
            self.target.name(),
            kind.name(),
            sim_scenario::clip_message(why),
            c.file,
            c.overlay.keys().collect::<Vec<_>>(),
            saved.display(),
            self.target.name(),
            self.args.seed,
            shown,
        );
    }
}

fn kill(child: &mut Child) {
    // Only our own worker, by its handle.
    let _ = child.kill();
}

/// Writes case `--case`'s input to the findings folder and runs it in this process (no
/// limits: use `ulimit -v` around it to see a failed allocation).
fn repro(args: &Args, corpus: &Corpus) -> ExitCode {
    let target = args.targets[0];
    let case = make_case(target, corpus, args.seed, args.start);
    let _ = std::fs::create_dir_all(&args.findings);
    let path = args.findings.join(format!(
        "{}-s{}-c{}.{}",
        target.name(),
        args.seed,
        args.start,
        target.extension(&case.file)
    ));
    if let Err(e) = std::fs::write(&path, &case.bytes) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    let overlay: BTreeMap<_, _> = case.overlay.iter().map(|(k, v)| (k, v.len())).collect();
    println!(
        "case {} of {} (seed {}): from {}, replaced files {overlay:?}, input in {}",
        args.start,
        target.name(),
        args.seed,
        case.file,
        path.display()
    );
    let t0 = Instant::now();
    let outcome = execute(target, corpus, &case, args.start);
    println!("{outcome:?} in {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    match outcome {
        Outcome::Accepted | Outcome::Rejected => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
