//! The bounded fuzz run of CI: a few thousand cases per target through the real harness
//! (child processes, memory and time limits), failing on any panic, abort, timeout, memory
//! overrun or rejection without a position; and proof, with the canary targets, that each of
//! those failures does fail it.

use std::process::Command;

fn fuzz(args: &[&str], findings: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("sim-fuzz-test-{findings}-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_sim-fuzz"))
        .arg("fuzz")
        .args(args)
        .arg("--findings")
        .arg(&dir)
        .output()
        .expect("sim-fuzz runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn count(text: &str, target: &str, key: &str) -> u64 {
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("target={target} ")))
        .unwrap_or_else(|| panic!("no row for {target} in:\n{text}"));
    row.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {row}"))
}

#[test]
fn bounded_run_finds_nothing() {
    for (target, cases) in [
        ("scenario", "3000"),
        ("sweep", "2000"),
        ("explain", "3000"),
        ("trace", "3000"),
        ("run", "1000"),
    ] {
        let (ok, text) = fuzz(
            &["--target", target, "--seed", "20261203", "--cases", cases],
            target,
        );
        assert!(ok, "fuzz target {target} found failures:\n{text}");
        assert_eq!(count(&text, target, "cases").to_string(), cases, "{text}");
        assert!(count(&text, target, "accepted") > 0, "{text}");
        assert!(count(&text, target, "rejected") > 0, "{text}");
    }
}

#[test]
fn each_kind_of_failure_fails_the_run() {
    for (canary, key) in [
        ("canary-panic", "panics"),
        ("canary-abort", "aborts"),
        ("canary-slow", "over_500ms"),
        ("canary-memory", "over_2048MB"),
        ("canary-unpositioned", "unpositioned"),
    ] {
        let (ok, text) = fuzz(
            &[
                "--target",
                canary,
                "--cases",
                "10",
                "--batch",
                "10",
                "--timeout-ms",
                "500",
            ],
            canary,
        );
        assert!(!ok, "{canary} should fail:\n{text}");
        // Cases 2 and 7 fail; the others still run.
        assert_eq!(count(&text, canary, key), 2, "{canary}:\n{text}");
        assert_eq!(count(&text, canary, "cases"), 10, "{canary}:\n{text}");
        assert!(text.contains(&format!("FINDING {canary} case 7")), "{text}");
    }
}
