//! Dev-only checks of the workspace itself ("tidy"), run as ordinary tests.
//!
//! What it checks: every crate depends only on crates in lower layers (the arrows of
//! `ARCHITECTURE.md`), uses only the external crates its layer allows, and, below the CLI,
//! contains no file, environment, network or wall-clock access and no hash-ordered
//! collections outside test code.
//!
//! It also gates the tests that read `../shared` (real traces, GPU measurements): a crate's
//! build script calls [`gate_shared_tests`], which sets the `no_shared` cfg when that folder
//! is absent, so those tests show as ignored with the reason; under CI (`CI` set) the cfg is
//! never set and a missing folder fails the tests instead of passing them unchecked.
//!
//! What it deliberately does not do: it is never a dependency of non-dev code (only of
//! tests and build scripts), and it does not build anything; it reads manifests and sources
//! as text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `../shared` folder beside the checkout, seen from a crate's manifest directory.
pub fn shared_dir(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("../../../shared")
}

/// For a build script: sets `cfg(no_shared)` when any of `needs` (paths inside `../shared`)
/// is missing and `CI` is not set. Tests marked
/// `#[cfg_attr(no_shared, ignore = "needs ../shared")]` then show as ignored instead of
/// passing without checking anything; under CI they run and fail on the missing files.
#[allow(clippy::print_stdout, reason = "build script directives go to stdout")]
pub fn gate_shared_tests(needs: &[&str]) {
    println!("cargo::rustc-check-cfg=cfg(no_shared)");
    println!("cargo::rerun-if-env-changed=CI");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let shared = shared_dir(&manifest_dir);
    let mut missing = false;
    for need in needs {
        let path = shared.join(need);
        println!("cargo::rerun-if-changed={}", path.display());
        missing |= !path.exists();
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if missing && !ci {
        println!("cargo::rustc-cfg=no_shared");
    }
}

/// A path inside `../shared` for a test that needs it; panics with the reason when it is
/// missing (which happens only under CI, where the test is not ignored).
pub fn shared_path(manifest_dir: &str, rel: &str) -> PathBuf {
    let path = shared_dir(manifest_dir).join(rel);
    assert!(
        path.exists(),
        "{} is missing: this test needs ../shared beside the checkout (CI provides it)",
        path.display()
    );
    path
}

/// A crate's place in the layering and what it may use from outside the workspace.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Package name.
    pub name: &'static str,
    /// Layer: a crate may depend only on workspace crates of a strictly lower layer.
    pub layer: u32,
    /// External crates allowed in `[dependencies]`.
    pub external: &'static [&'static str],
    /// Whether the crate may do IO (files, environment, terminal, wall clock).
    pub io: bool,
}

/// The layering, lowest first. Keep in step with ARCHITECTURE.md.
pub const RULES: &[Rule] = &[
    Rule {
        name: "sim-des",
        layer: 0,
        external: &["rand", "rand_pcg"],
        io: false,
    },
    Rule {
        name: "sim-workload",
        layer: 1,
        external: &[
            "rand",
            "rand_distr",
            "csv",
            "serde",
            "serde_json",
            "thiserror",
        ],
        io: false,
    },
    Rule {
        name: "sim-metrics",
        layer: 1,
        external: &["promql-parser", "thiserror"],
        io: false,
    },
    Rule {
        name: "sim-policy",
        layer: 1,
        external: &[],
        io: false,
    },
    Rule {
        name: "sim-cluster",
        layer: 2,
        external: &["rand", "rand_distr", "serde", "toml"],
        io: false,
    },
    Rule {
        name: "sim-engine",
        layer: 3,
        external: &["hdrhistogram", "rand", "rand_distr"],
        io: false,
    },
    Rule {
        name: "sim-scenario",
        layer: 4,
        external: &["serde", "toml", "thiserror", "regex"],
        io: false,
    },
    Rule {
        name: "sim-report",
        layer: 5,
        external: &["serde", "serde_json", "csv", "toml"],
        io: false,
    },
    Rule {
        name: "sim-sweep",
        layer: 5,
        external: &[
            "serde",
            "serde_json",
            "toml",
            "rayon",
            "csv",
            "thiserror",
            "rand",
        ],
        io: false,
    },
    Rule {
        name: "sim-conformance",
        layer: 6,
        external: &["serde", "serde_json"],
        io: true,
    },
    Rule {
        name: "sim-fuzz",
        layer: 6,
        external: &[],
        io: true,
    },
    Rule {
        name: "sim-cli",
        layer: 7,
        external: &[
            "clap",
            "anyhow",
            "serde",
            "serde_json",
            "indicatif",
            "rayon",
        ],
        io: true,
    },
    Rule {
        name: "sim-testkit",
        layer: 8,
        external: &["toml"],
        io: true,
    },
    Rule {
        name: "sim-benches",
        layer: 8,
        external: &[],
        io: true,
    },
];

/// Text patterns that mean IO, wall-clock time or hash ordering in non-test library code.
pub const BANNED_BELOW_CLI: &[&str] = &[
    "std::fs",
    "File::open",
    "File::create",
    "std::env",
    "std::net",
    "Instant::now",
    "SystemTime",
    "HashMap",
    "HashSet",
    "thread_rng",
    "rand::rng(",
    "println!",
    "eprintln!",
];

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A crate found in the workspace: its name, folder and dependencies.
#[derive(Debug)]
pub struct Member {
    /// Package name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// `[dependencies]` names (not dev-dependencies).
    pub deps: Vec<String>,
}

/// Reads every member manifest (`crates/*` and `benches`).
pub fn members(root: &Path) -> Vec<Member> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    dirs.push(root.join("benches"));
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
            let value: toml::Table = toml::from_str(&text).expect("manifest parses");
            let name = value["package"]["name"]
                .as_str()
                .expect("package.name")
                .to_string();
            let deps = value
                .get("dependencies")
                .and_then(|d| d.as_table())
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            Member { name, dir, deps }
        })
        .collect()
}

/// Every violation of [`RULES`] in the workspace at `root`, as readable lines.
pub fn violations(root: &Path) -> Vec<String> {
    let rules: BTreeMap<&str, &Rule> = RULES.iter().map(|r| (r.name, r)).collect();
    let mut out = Vec::new();
    for m in members(root) {
        let Some(rule) = rules.get(m.name.as_str()) else {
            out.push(format!(
                "{}: not in sim-testkit's RULES; give it a layer",
                m.name
            ));
            continue;
        };
        for dep in &m.deps {
            match rules.get(dep.as_str()) {
                Some(target) if target.layer >= rule.layer => out.push(format!(
                    "{} (layer {}) depends on {} (layer {}): arrows must point down",
                    m.name, rule.layer, dep, target.layer
                )),
                Some(_) => {}
                None if dep.starts_with("sim-") => {
                    out.push(format!("{}: unknown workspace crate {dep}", m.name))
                }
                None if !rule.external.contains(&dep.as_str()) => out.push(format!(
                    "{}: external dependency {dep} is not allowed in its layer",
                    m.name
                )),
                None => {}
            }
        }
        if !rule.io {
            for file in rust_files(&m.dir.join("src")) {
                let text = std::fs::read_to_string(&file).expect("source");
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for (i, line) in code.lines().enumerate() {
                    let trimmed = line.trim_start();
                    if trimmed.starts_with("//") {
                        continue;
                    }
                    for pat in BANNED_BELOW_CLI {
                        if line.contains(pat) {
                            out.push(format!(
                                "{}:{}: `{pat}` below the CLI",
                                file.display(),
                                i + 1
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_arrows_point_down_and_io_stays_in_the_cli() {
        let v = violations(&workspace_root());
        assert!(v.is_empty(), "tidy violations:\n{}", v.join("\n"));
    }

    #[test]
    fn the_checker_catches_an_upward_arrow() {
        let dir = std::env::temp_dir().join(format!("sim-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, deps) in [
            ("sim-des", "sim-engine = { path = \"../sim-engine\" }"),
            ("sim-engine", ""),
        ] {
            let d = dir.join("crates").join(name);
            std::fs::create_dir_all(d.join("src")).unwrap();
            std::fs::write(
                d.join("Cargo.toml"),
                format!("[package]\nname = \"{name}\"\n[dependencies]\n{deps}\n"),
            )
            .unwrap();
            std::fs::write(
                d.join("src/lib.rs"),
                "fn f() { let _ = std::fs::read(\"x\"); }\n",
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.join("benches")).unwrap();
        std::fs::write(
            dir.join("benches/Cargo.toml"),
            "[package]\nname = \"sim-benches\"\n",
        )
        .unwrap();
        let v = violations(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            v.iter()
                .any(|l| l.contains("sim-des (layer 0) depends on sim-engine")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|l| l.contains("`std::fs` below the CLI")),
            "{v:?}"
        );
    }
}
