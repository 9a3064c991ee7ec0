//! Scenario loading shared by the benches.

use std::path::PathBuf;

use sim_scenario::{Files, Scenario};

/// Reads the files a scenario names from disk.
struct Disk;

impl Files for Disk {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// The path of a shipped scenario, `scenarios/NAME.toml` at the workspace root.
pub(crate) fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
        .join(format!("{name}.toml"))
}

/// Loads `scenarios/NAME.toml`, with `edit` applied to its text first.
///
/// # Panics
/// When the file cannot be read or does not validate (the benches cannot run then).
pub(crate) fn load(name: &str, edit: impl FnOnce(String) -> String) -> Scenario {
    let path = scenario_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let text = edit(text);
    sim_scenario::load(&path.display().to_string(), &text, &Disk).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads a scenario written in the bench itself; `name` stands for its file in messages.
///
/// # Panics
/// When the text does not validate.
#[allow(dead_code, reason = "only some benches write their scenario inline")]
pub(crate) fn load_text(name: &str, text: &str) -> Scenario {
    sim_scenario::load(name, text, &Disk).unwrap_or_else(|e| panic!("{e}"))
}
