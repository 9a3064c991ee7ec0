//! A disk that refuses a write part way, without mounting anything: the file-size limit
//! (`ulimit -f`, with SIGXFSZ ignored) makes every write past it fail with EFBIG, as a full
//! disk fails with ENOSPC. At several limits, `sim run --requests`, `sim sweep` and `sim merge`
//! must exit 1 naming the file, leave no `.tmp` file, no output folder in place and no
//! manifest that says complete; run again without the limit, they must write the same bytes
//! as a run that never failed.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{code, files_below, s, sim, text, tmp};

/// `sim ARGS` with writes limited to `blocks` (512-byte blocks in POSIX `sh`).
fn sim_limited(blocks: u32, args: &[&str]) -> Output {
    Command::new("sh")
        .args([
            "-c",
            r#"trap "" XFSZ; ulimit -f "$1"; shift; exec "$@""#,
            "sh",
            &blocks.to_string(),
            env!("CARGO_BIN_EXE_sim"),
        ])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SIM_SHARD_COUNT")
        .env_remove("SIM_SWEEP_STOP_AFTER")
        .output()
        .expect("run sh")
}

/// A fresh, empty folder for one test's outputs.
fn workdir(name: &str) -> PathBuf {
    let dir = tmp("sim-full-disk", name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file below `dir`, as paths relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    files_below(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
        .collect()
}

/// The failure left nothing that looks finished: exit 1 naming a file it could not write, no
/// `.tmp`, no `out` folder, and no manifest that says complete.
fn assert_visibly_incomplete(o: &Output, parent: &Path, out: &Path, what: &str) {
    let t = text(o);
    assert_eq!(code(o), 1, "{what}: {t}");
    assert!(
        t.contains("cannot write") || t.contains("cannot append"),
        "{what}: {t}"
    );
    assert_eq!(t.matches("error:").count(), 1, "{what}: {t}");
    assert!(
        !out.exists(),
        "{what}: {} claims to be whole",
        out.display()
    );
    for f in files(parent) {
        assert!(
            f.extension().is_none_or(|e| e != "tmp"),
            "{what}: {} survived",
            f.display()
        );
    }
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    if let Ok(m) = std::fs::read_to_string(Path::new(&partial).join("manifest.json")) {
        assert!(m.contains("\"complete\": false"), "{what}: {m}");
    }
}

/// Every file of `a` and `b` has the same bytes.
fn assert_same_files(a: &Path, b: &Path, what: &str) {
    assert_eq!(files(a), files(b), "{what}");
    for f in files(a) {
        assert!(
            std::fs::read(a.join(&f)).unwrap() == std::fs::read(b.join(&f)).unwrap(),
            "{what}: {} differs",
            f.display()
        );
    }
}

#[test]
fn a_run_with_requests_on_a_full_disk_leaves_nothing_and_recovers() {
    let dir = workdir("run");
    let scenario = "../../scenarios/quickstart.toml";
    let reference = dir.join("reference");
    let o = sim(
        &["run", scenario, "--requests", "--out", s(&reference)],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // From the first file on to requests.csv (1.8 MB) failing part way through the run.
    for blocks in [1, 8, 200, 2_000] {
        let out = dir.join(format!("out{blocks}"));
        let args = ["run", scenario, "--requests", "--out", s(&out)];
        let o = sim_limited(blocks, &args);
        let what = format!("run at {blocks} blocks");
        assert_visibly_incomplete(&o, &dir, &out, &what);
        // A failed requests.csv stops the one-hour run soon after, not at its end.
        let stopped = text(&o);
        let at_s: f64 = stopped
            .split("the run stopped at ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{what}: {stopped}"));
        let by_s = if blocks <= 200 { 600.0 } else { 3_000.0 };
        assert!(at_s < by_s, "{what}: {stopped}");
        assert!(!dir.join(format!("out{blocks}.partial")).exists(), "{what}");
        let o = sim(&args, &[]);
        assert_eq!(code(&o), 0, "{what}: {}", text(&o));
        assert_same_files(&reference, &out, &what);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_and_a_merge_on_a_full_disk_never_claim_completeness_and_resume() {
    let dir = workdir("sweep");
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/quickstart.toml");
    let sweep = dir.join("sweep.toml");
    std::fs::write(
        &sweep,
        format!(
            "name = \"small\"\nbase = {:?}\nseeds = [1, 2]\nobjective = \"cost_usd\"\n\
             latency = \"ttft_s_p99\"\n\
             [[axis]]\npath = \"run.duration_s\"\nvalues = [120.0]\n\
             [[axis]]\npath = \"deployment.replicas\"\nlinear = {{ from = 1, to = 4, steps = 4 }}\n\
             [[axis]]\npath = \"routing.policy\"\nvalues = [\"least-outstanding\", \"random\"]\n",
            s(&base)
        ),
    )
    .unwrap();
    let ok = |args: &[&str]| {
        let o = sim(args, &[]);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    };
    let reference = dir.join("reference");
    ok(&["sweep", s(&sweep), "--out", s(&reference)]);
    let (s0, s1) = (dir.join("s0"), dir.join("s1"));
    ok(&["sweep", s(&sweep), "--shard", "0/2", "--out", s(&s0)]);
    ok(&["sweep", s(&sweep), "--shard", "1/2", "--out", s(&s1)]);
    // The plan, the journal, then each result file (4 to 9 kB) in turn fails.
    for blocks in [1, 4, 10, 14, 16] {
        let out = dir.join(format!("sweep{blocks}"));
        let args = ["sweep", s(&sweep), "--out", s(&out), "--jobs", "2"];
        let what = format!("sweep at {blocks} blocks");
        assert_visibly_incomplete(&sim_limited(blocks, &args), &dir, &out, &what);
        // Running again on a disk with room resumes and finishes.
        ok(&args);
        assert_same_files(&reference, &out, &what);

        let out = dir.join(format!("merge{blocks}"));
        let args = ["merge", s(&s0), s(&s1), "--out", s(&out)];
        let what = format!("merge at {blocks} blocks");
        assert_visibly_incomplete(&sim_limited(blocks, &args), &dir, &out, &what);
        ok(&args);
        assert_same_files(&reference, &out, &what);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
