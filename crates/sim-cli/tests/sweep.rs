//! End-to-end tests of `sim sweep`, `sim merge` and `sim check` on the small sweeps in
//! `test_data/sweep/`: byte-identical files for any `--jobs`, resume after a stop, refusal of a
//! changed plan, shards merged into the unsharded bytes, merge refusals, and exit codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, s, sim, text};

const FILES: &[&str] = &[
    "plan.json",
    "manifest.json",
    "journal.txt",
    "results.csv",
    "points.csv",
    "pareto.csv",
    "best.toml",
    "report.html",
];

fn tmp(name: &str) -> PathBuf {
    common::tmp("sim-sweep", name)
}

fn sweep(file: &str, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["sweep", file, "--out", s(out)];
    args.extend_from_slice(extra);
    sim(&args, env)
}

/// Asserts that two output folders hold the same bytes in every sweep file.
fn same_files(a: &Path, b: &Path) {
    for f in FILES {
        let (x, y) = (std::fs::read(a.join(f)), std::fs::read(b.join(f)));
        match (x, y) {
            (Ok(x), Ok(y)) => assert!(x == y, "{f} differs between {a:?} and {b:?}"),
            (Err(_), Err(_)) if *f == "best.toml" => {}
            (x, y) => panic!("{f}: {:?} vs {:?}", x.is_ok(), y.is_ok()),
        }
    }
}

const SMALL: &str = "test_data/sweep/small.toml";

fn unsharded(name: &str, jobs: &str) -> PathBuf {
    let dir = tmp(name);
    let o = sweep(SMALL, &dir, &["--jobs", jobs], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    dir
}

#[test]
fn jobs_1_and_2_write_identical_bytes() {
    let a = unsharded("j1", "1");
    let b = unsharded("j2", "2");
    same_files(&a, &b);
    let results = std::fs::read_to_string(a.join("results.csv")).unwrap();
    // A header and one row per point x seed.
    assert_eq!(results.lines().count(), 1 + 4 * 2);
    assert!(results.starts_with("point,seed,deployment.replicas,routing.policy,requests_total,"));
    // best.toml runs as a scenario.
    let o = sim(&["run", s(&a.join("best.toml"))], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn a_stopped_sweep_resumes_to_the_same_bytes() {
    let fresh = unsharded("fresh", "2");
    let dir = tmp("resume");
    let o = sweep(
        SMALL,
        &dir,
        &["--jobs", "1"],
        &[("SIM_SWEEP_STOP_AFTER", "3")],
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("stopped after 3 of 8 runs"),
        "{}",
        text(&o)
    );
    // Nothing claims to be the sweep: the runs so far wait in DIR.partial, marked incomplete.
    assert!(!dir.exists());
    let partial = PathBuf::from(format!("{}.partial", dir.display()));
    let manifest = std::fs::read_to_string(partial.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"complete\": false"), "{manifest}");
    assert!(!partial.join("results.csv").exists());
    let journal = std::fs::read_to_string(partial.join("journal.txt")).unwrap();
    assert_eq!(journal.lines().count(), 3);
    // Simulate a kill in the middle of a write: a torn last line.
    let torn = format!("{journal}5 2 2 19 ");
    std::fs::write(partial.join("journal.txt"), torn).unwrap();
    let o = sweep(SMALL, &dir, &["--jobs", "2"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("5 runs (3 resumed)"), "{}", text(&o));
    assert!(
        text(&o).contains("dropped 1 torn or invalid journal line"),
        "{}",
        text(&o)
    );
    same_files(&fresh, &dir);
    assert!(!partial.exists());
    // Running a finished sweep again runs nothing and changes nothing.
    let o = sweep(SMALL, &dir, &[], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("0 runs (8 resumed)"), "{}", text(&o));
    same_files(&fresh, &dir);
}

#[test]
fn a_changed_plan_is_refused() {
    let dir = unsharded("changed", "2");
    let o = sweep("test_data/sweep/small-other-seeds.toml", &dir, &[], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("different sweep plan"), "{}", text(&o));
}

#[test]
fn merged_shards_equal_the_unsharded_bytes_and_bad_merges_are_refused() {
    let whole = unsharded("whole", "2");
    let a = tmp("shard0");
    let b = tmp("shard1");
    let o = sweep(SMALL, &a, &["--shard", "0/2"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The second shard takes its index from a Kubernetes Indexed Job's environment.
    let o = sweep(
        SMALL,
        &b,
        &[],
        &[("JOB_COMPLETION_INDEX", "1"), ("SIM_SHARD_COUNT", "2")],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let journal = std::fs::read_to_string(b.join("journal.txt")).unwrap();
    assert_eq!(journal.lines().count(), 4);
    assert!(
        journal
            .lines()
            .all(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap() % 2 == 1)
    );

    let merged = tmp("merged");
    let o = sim(&["merge", s(&a), s(&b), "--out", s(&merged)], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    same_files(&whole, &merged);

    // One shard is not the whole sweep.
    let o = sim(&["merge", s(&a), "--out", s(&tmp("m1"))], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("hold 4 of 8 runs; missing 4"),
        "{}",
        text(&o)
    );
    // The same shard twice.
    let o = sim(&["merge", s(&a), s(&a), s(&b), "--out", s(&tmp("m2"))], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("is in both"), "{}", text(&o));
    // A shard of another plan.
    let other = tmp("other-shard");
    let o = sweep(
        "test_data/sweep/small-other-seeds.toml",
        &other,
        &["--shard", "1/2"],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = sim(&["merge", s(&a), s(&other), "--out", s(&tmp("m3"))], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("different sweep"), "{}", text(&o));
    // An unfinished shard.
    let unfinished = tmp("unfinished");
    let o = sweep(
        SMALL,
        &unfinished,
        &["--shard", "1/2", "--jobs", "1"],
        &[("SIM_SWEEP_STOP_AFTER", "1")],
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = sim(
        &["merge", s(&a), s(&unfinished), "--out", s(&tmp("m4"))],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("is incomplete"), "{}", text(&o));
    // A folder of one shard refuses another.
    let o = sweep(SMALL, &a, &["--shard", "1/2"], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    // A bad shard spec.
    let o = sweep(SMALL, &tmp("badshard"), &["--shard", "2/2"], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn check_exits_0_when_the_slo_holds_3_when_violated_and_2_on_bad_input() {
    let cases: &[(&str, i32, &str)] = &[
        ("base.toml", 0, "SLO holds"),
        ("scenario-violated.toml", 3, "FAIL  ttft_s_p99"),
        (
            "scenario-no-slo.toml",
            2,
            "scenario-no-slo.toml:1:1: there is no [slo] table",
        ),
        (
            "scenario-no-checks.toml",
            3,
            "warning: test_data/sweep/scenario-no-checks.toml:35:10: ttft_s is a per-request threshold",
        ),
        ("small.toml", 0, "SLO holds: 4 of 4 points"),
        ("impossible.toml", 3, "none of 4 points meets it"),
        (
            "bad-axis.toml",
            2,
            "bad-axis.toml:5:14: deployment.replicas = \"two\"",
        ),
        ("missing.toml", 2, "cannot read"),
    ];
    for (file, want, fragment) in cases {
        let path = format!("test_data/sweep/{file}");
        let o = sim(&["check", &path, "--jobs", "2"], &[]);
        assert_eq!(code(&o), *want, "{file}: {}", text(&o));
        assert!(text(&o).contains(fragment), "{file}: {}", text(&o));
    }
    // Told to, check judges the SLO despite the warning.
    let o = sim(
        &[
            "check",
            "test_data/sweep/scenario-no-checks.toml",
            "--allow-warnings",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("ok    failed_ratio = 0"), "{}", text(&o));
}

#[test]
fn a_bad_sweep_file_exits_2_naming_line_and_column() {
    let o = sweep("test_data/sweep/bad-axis.toml", &tmp("bad"), &[], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("test_data/sweep/bad-axis.toml:5:14: "),
        "{}",
        text(&o)
    );
}
