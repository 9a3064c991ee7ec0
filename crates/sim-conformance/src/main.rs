//! `conformance FILE.json...`: runs vector files and prints one line per vector.
//!
//! Exit status: 0 when every vector passed or was skipped, 1 when any failed, 2 when a file
//! cannot be read or is not a vector file.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use sim_conformance::{Outcome, run_text};

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: conformance FILE.json [FILE.json ...]");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{file}: cannot read: {e}");
                return ExitCode::from(2);
            }
        };
        let results = match run_text(file, &text) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        for r in results {
            match r.outcome {
                Outcome::Pass => {
                    passed += 1;
                    println!("PASS {}", r.name);
                }
                Outcome::Fail(why) => {
                    failed += 1;
                    println!("FAIL {}: {why}", r.name);
                }
                Outcome::Skip(why) => {
                    skipped += 1;
                    println!("SKIP {}: {why}", r.name);
                }
            }
        }
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
