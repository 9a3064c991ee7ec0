//! Helpers shared by the CLI test files: run the binary from the crate folder, fresh
//! temporary folders, and exit codes.
#![allow(dead_code, reason = "each test file uses its own subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `sim` from the crate folder with a clean sharding environment plus `env`.
pub(crate) fn sim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sim"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SIM_SHARD_COUNT")
        .env_remove("SIM_SWEEP_STOP_AFTER");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run sim")
}

/// A path in the temp folder that does not exist yet (nor its `.partial` sibling).
pub(crate) fn tmp(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("{}.partial", dir.display()));
    dir
}

/// Every file below `dir` (recursively), sorted.
pub(crate) fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Standard output then standard error.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}
