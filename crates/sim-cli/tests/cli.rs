//! End-to-end tests of the `sim` binary: the README's quickstart against a golden summary,
//! byte-identical outputs across runs, and exit code 2 with file:line:col on bad input.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files after an intended model change, then
//! review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run sim")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Compares `actual` with a golden file, or rewrites it when UPDATE_GOLDEN is set.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = read(&path);
    assert!(
        expected == actual,
        "{name} differs from the golden file; rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}

#[test]
fn quickstart_matches_its_golden_summary_and_is_byte_identical_across_runs() {
    let a = tmp("qs-a");
    let b = tmp("qs-b");
    for dir in [&a, &b] {
        let out = sim(&[
            "run",
            "scenarios/quickstart.toml",
            "--out",
            dir.to_str().unwrap(),
            "--requests",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("SLO holds  attainment 100.00 %"),
            "{stdout}"
        );
    }
    for file in [
        "summary.json",
        "timeline.csv",
        "requests.csv",
        "events.log",
        "report.html",
    ] {
        assert_eq!(
            read(&a.join(file)),
            read(&b.join(file)),
            "{file} differs between two runs"
        );
    }
    golden("quickstart.summary.json", &read(&a.join("summary.json")));
    let timeline = read(&a.join("timeline.csv"));
    assert!(
        timeline.lines().count() > 300,
        "one row per 10 s over an hour"
    );
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedRuns {
    case: Vec<PublishedRun>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedRun {
    scenario: String,
    source: String,
    quantity: String,
    measured: f64,
    tolerance_pct: f64,
}

/// One quantity of a finished run, as `vllm bench serve` reports it.
fn bench_quantity(dir: &Path, quantity: &str) -> f64 {
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.join("summary.json"))).expect("summary.json");
    let p50 = |metric: &str| summary[metric]["p50"].as_f64().expect("a p50");
    match quantity {
        "itl_s_p50" => p50("itl_s"),
        "tpot_s_p50" => p50("tpot_s"),
        "ttft_s_p50" => p50("ttft_s"),
        "output_tokens_per_s" => {
            // Output tokens over the span from the first request to the last finish.
            let requests = read(&dir.join("requests.csv"));
            let (mut first, mut last, mut tokens) = (f64::INFINITY, 0.0_f64, 0.0);
            for line in requests.lines().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                let arrival: f64 = f[1].parse().expect("arrival_s");
                let e2e: f64 = f[8].parse().expect("e2e_s");
                first = first.min(arrival);
                last = last.max(arrival + e2e);
                tokens += f[3].parse::<f64>().expect("output_tokens");
            }
            tokens / (last - first)
        }
        other => panic!("unknown quantity {other}"),
    }
}

/// Closed-loop scenarios reproduce published `vllm bench serve --max-concurrency` results.
#[allow(
    clippy::print_stdout,
    reason = "prints the table docs/calibration.md publishes"
)]
#[test]
fn published_benchmarks_reproduce() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/published");
    let runs: PublishedRuns =
        toml::from_str(&read(&folder.join("published_runs.toml"))).expect("published_runs.toml");
    let mut failures = Vec::new();
    let mut errors = Vec::new();
    println!("| scenario | quantity | measured | sim | error |");
    println!("|---|---|---|---|---|");
    for case in &runs.case {
        assert!(!case.source.is_empty());
        let dir = tmp(&format!("published-{}", case.scenario));
        let path = folder.join(&case.scenario);
        let out = sim(&[
            "run",
            path.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
            "--requests",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value = bench_quantity(&dir, &case.quantity);
        let error = (value / case.measured - 1.0) * 100.0;
        println!(
            "| {} | {} | {:.4e} | {value:.4e} | {error:+.1} % |",
            case.scenario, case.quantity, case.measured
        );
        errors.push(error.abs());
        if error.abs() > case.tolerance_pct {
            failures.push(format!(
                "{} {}: {error:+.1} % (tolerance {} %)",
                case.scenario, case.quantity, case.tolerance_pct
            ));
        }
    }
    errors.sort_by(f64::total_cmp);
    println!("median abs error {:.1} %", errors[errors.len() / 2]);
    assert!(runs.case.len() >= 7);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_gpu_without_measurements_says_so_in_the_summary() {
    for (file, derived) in [("l4_derived", true), ("h100_measured", false)] {
        let dir = tmp(file);
        let path = format!("crates/sim-cli/test_data/models/{file}.toml");
        let out = sim(&["run", &path, "--out", dir.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.contains("has no kernel measurements of its own"),
            derived,
            "{file}: {stdout}"
        );
        let summary = read(&dir.join("summary.json"));
        assert!(
            summary.contains(&format!("\"gpu_measured\": {}", !derived)),
            "{file}: {summary}"
        );
    }
}

#[test]
fn another_seed_gives_another_run() {
    let a = tmp("seed");
    let out = sim(&[
        "run",
        "scenarios/quickstart.toml",
        "--out",
        a.to_str().unwrap(),
        "--seed",
        "2",
    ]);
    assert!(out.status.success());
    let summary = read(&a.join("summary.json"));
    assert!(summary.contains("\"seed\": 2"), "{summary}");
    assert_ne!(
        summary,
        read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/quickstart.summary.json"))
    );
    let _ = std::fs::remove_dir_all(&a);
}

#[test]
fn bad_inputs_exit_2_naming_the_place() {
    let dir = tmp("bad");
    let trace = dir.join("t.csv");
    std::fs::write(
        &trace,
        "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n2023-11-16 18:15:47.6805900,abc,44\r\n",
    )
    .unwrap();
    let good_trace = "[workload]\nkind = \"trace\"\npath = \"t.csv\"\n[deployment]\nmodel = \"Mistral-7B\"\ngpu = \"H100-SXM\"\nreplicas = 1\n";
    let cases: [(&str, String, String); 4] = [
        (
            "typo.toml",
            good_trace.replace("replicas", "replicass"),
            "typo.toml:7:1: unknown field `replicass`".into(),
        ),
        (
            "gpu.toml",
            good_trace.replace("H100-SXM", "H100"),
            "gpu.toml:6:7: unknown GPU \"H100\"".into(),
        ),
        (
            "syntax.toml",
            good_trace.replace("kind = ", "kind == "),
            "syntax.toml:2:7: extra `=`".into(),
        ),
        (
            "trace.toml",
            good_trace.to_string(),
            format!(
                "{}:3:29: expected an integer for ContextTokens",
                trace.display()
            ),
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = sim(&["run", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&expected),
            "{name}: expected {expected:?} in {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let out = sim(&["run", dir.join("missing.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = sim(&["run", "scenarios/quickstart.toml", "--seed", "minus-one"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_renders_the_seed_policies_like_the_controllers() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/explain"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in files {
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let out = sim(&["explain", &rel]);
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let name = format!("explain-{}.txt", f.file_stem().unwrap().to_str().unwrap());
        golden(&name, &String::from_utf8_lossy(&out.stdout));
    }
    // The decisive facts, independent of wording elsewhere.
    let text = |name: &str| {
        read(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden")
                .join(name),
        )
    };
    assert!(text("explain-seed-hpa.txt").contains("ScaleUpLimit"));
    assert!(text("explain-seed-hpa.txt").contains("desired replicas 2"));
    assert!(text("explain-seed-keda.txt").contains("desired replicas 2 — the controller rescales"));
    assert!(text("explain-seed-keda-scale-to-zero.txt").contains("cooldown: 120s left"));
    assert!(text("explain-seed-gpu-hpa.txt").contains("no rescale"));
    // A bad explain file exits 2 with its position.
    let dir = tmp("explain-bad");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[hpa]\nmax_replicas = 4\n[[hpa.metrics]]\ntype = \"pods\"\nmetric = \"m\"\ntarget_average_value = 5\n[observe]\nreplicas = 1\nnow_s = \"soon\"\n").unwrap();
    let out = sim(&["explain", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.toml:9:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `test_data/bad/*.toml`: `# args: <command line>` (`{file}` is the fixture, `{out}` a
/// fresh folder) and `# error: <message part>` (`{file}` again): the command must exit 2 with
/// one line on stderr containing that part, at once.
#[test]
fn bad_input_fixtures_exit_2_on_one_line_naming_the_place() {
    let dir = root().join("crates/sim-cli/test_data/bad");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10);
    let mut failures = Vec::new();
    for name in names {
        let rel = format!("crates/sim-cli/test_data/bad/{name}");
        let text = String::from_utf8_lossy(&std::fs::read(dir.join(&name)).unwrap()).into_owned();
        let mut lines = text.lines();
        let args = lines.next().and_then(|l| l.strip_prefix("# args: "));
        let expected = lines.next().and_then(|l| l.strip_prefix("# error: "));
        let (Some(args), Some(expected)) = (args, expected) else {
            failures.push(format!("{name}: needs `# args:` and `# error:` lines"));
            continue;
        };
        let out = tmp(&format!("bad-{name}"));
        let out_s = out.to_str().unwrap();
        let args: Vec<String> = args
            .split_whitespace()
            .map(|a| a.replace("{file}", &rel).replace("{out}", out_s))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = sim(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = expected.replace("{file}", &rel);
        if output.status.code() != Some(2)
            || stderr.lines().count() != 1
            || !stderr.contains(&expected)
        {
            failures.push(format!(
                "{name}: exit {:?}\n  want {expected}\n  got  {stderr}",
                output.status.code()
            ));
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_clip_long_values_and_stay_on_one_line() {
    let dir = tmp("clip");
    let long = "x".repeat(100_000);
    let scenario = dir.join("long.toml");
    std::fs::write(
        &scenario,
        format!(
            "[run]\nduration_s = 60\n[workload]\nkind = \"synthetic\"\npreset = \"azure-conv-like\"\n[deployment]\nmodel = \"{long}\"\ngpu = \"H100-SXM\"\nreplicas = 1\n"
        ),
    )
    .unwrap();
    let out = sim(&["run", scenario.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("long.toml:7:9: unknown model \"xxx"),
        "{stderr}"
    );
    assert!(
        stderr.contains('…') && stderr.len() < 1_000,
        "{}",
        stderr.len()
    );
    // A trace path with a newline in it: still one line, the newline escaped.
    let sub = dir.join("a\nb");
    std::fs::create_dir_all(&sub).unwrap();
    let multi = sub.join("s.toml");
    std::fs::write(
        &multi,
        "[workload]\nkind = \"trace\"\nformat = \"generic\"\npath = \"no\\nsuch.csv\"\n[deployment]\nmodel = \"Mistral-7B\"\ngpu = \"H100-SXM\"\nreplicas = 1\n",
    )
    .unwrap();
    let out = sim(&["run", multi.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("a\\nb/s.toml:4:8: cannot open trace"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal_and_the_same_files_either_way() {
    // The bar would be drawn at once (the test hook), but stderr here is a pipe.
    let run = |out: &Path, after_ms: &str| {
        Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(["run", "scenarios/quickstart.toml", "--requests", "--out"])
            .arg(out)
            .current_dir(root())
            .env("SIM_PROGRESS_AFTER_MS", after_ms)
            .output()
            .expect("run sim")
    };
    let dir = tmp("progress");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let (oa, ob) = (run(&a, "0"), run(&b, "3600000"));
    for o in [&oa, &ob] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains(['\r', '\u{1b}', '█', '░', '▏']) && !err.contains("simulated  "),
            "bar characters on a pipe: {err:?}"
        );
    }
    let shown = |o: &Output, d: &Path| {
        String::from_utf8_lossy(&o.stdout).replace(d.to_str().unwrap(), "DIR")
    };
    assert_eq!(shown(&oa, &a), shown(&ob, &b));
    for f in [
        "summary.json",
        "timeline.csv",
        "events.log",
        "report.html",
        "requests.csv",
    ] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} depends on the progress setting"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// On a terminal (a pseudo-terminal from util-linux's `script`, in Debian's essential
/// `bsdutils`) the bar is drawn, then cleared before the summary.
#[cfg(target_os = "linux")]
#[test]
fn a_progress_bar_on_a_terminal() {
    let cmd = format!(
        "{} run scenarios/quickstart.toml",
        env!("CARGO_BIN_EXE_sim")
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(root())
        .env("SIM_PROGRESS_AFTER_MS", "0")
        .output()
        .expect("`script` (util-linux) runs sim on a pseudo-terminal");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(seen.contains("/3600 s simulated"), "no bar: {seen:?}");
    assert!(seen.contains("requests, "), "{seen:?}");
    // The summary follows the cleared bar.
    assert!(seen.contains("requests  "), "{seen:?}");
}

/// A closed loop replaying lengths from a generic CSV through the binary: every line is
/// sent once, the run ends when the last one finishes, and summary.json carries the
/// per-token ITL beside TPOT.
#[test]
fn closed_loop_replays_a_lengths_file() {
    let dir = tmp("closed-loop");
    let lengths = dir.join("lengths.csv");
    let mut csv = String::from("arrival_s,prompt_tokens,output_tokens\n");
    for i in 0..30u32 {
        csv += &format!("0,{},{}\n", 200 + 37 * i, 20 + 3 * i);
    }
    std::fs::write(&lengths, csv).unwrap();
    let scenario = dir.join("closed.toml");
    std::fs::write(
        &scenario,
        "[run]\nduration_s = 600\n[workload]\nkind = \"closed_loop\"\nusers = 4\n\
         think_time_s = 0.5\npath = \"lengths.csv\"\nformat = \"generic\"\n\
         [deployment]\nmodel = \"Mistral-7B\"\ngpu = \"H100-SXM\"\nreplicas = 1\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = sim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--requests",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = read(&out_dir.join("summary.json"));
    assert!(summary.contains("\"requests_total\": 30,"), "{summary}");
    assert!(summary.contains("\"requests_completed\": 30,"), "{summary}");
    assert!(summary.contains("\"itl_s\": {"), "{summary}");
    // 20 + 3i output tokens: 30 requests have 600 + 3·435 − 30 = 1875 gaps.
    assert!(summary.contains("\"count\": 1875"), "{summary}");
    // The run ends when the file is done, long before the 600 s horizon.
    let duration_s: f64 = summary
        .split("\"sim_duration_s\": ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|v| v.parse().ok())
        .expect("sim_duration_s");
    assert!(duration_s < 120.0, "{duration_s}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("itl_s"), "{stdout}");
    let requests = read(&out_dir.join("requests.csv"));
    assert_eq!(requests.lines().count(), 31);
    let _ = std::fs::remove_dir_all(&dir);
}
