//! The seeds: the repository's own scenario, sweep, explain and trace files and fixtures,
//! held in memory so that a case reads no disk and the files a scenario names resolve.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Cursor};
use std::path::Path;

use sim_scenario::Files;

/// Folders (relative to the workspace root) whose files are seeds or files seeds name.
const SEED_DIRS: &[&str] = &["scenarios", "examples", "traces", "data"];

/// Every seed file, by path relative to the workspace root, and the seeds of each target.
#[derive(Debug, Default)]
pub struct Corpus {
    /// Every file read, by root-relative path with `/` separators.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Scenario files (also the `run` target's seeds).
    pub scenarios: Vec<String>,
    /// Sweep files.
    pub sweeps: Vec<String>,
    /// `sim explain` files.
    pub explains: Vec<String>,
    /// Trace files (CSV and JSON lines).
    pub traces: Vec<String>,
}

impl Corpus {
    /// Reads the seeds under `root`: `scenarios/`, `examples/`, `traces/`, `data/` and every
    /// `crates/*/test_data/`.
    ///
    /// # Errors
    /// A folder or file that cannot be read.
    pub fn load(root: &Path) -> io::Result<Corpus> {
        let mut dirs: Vec<String> = SEED_DIRS.iter().map(|d| (*d).to_string()).collect();
        let mut crates: Vec<String> = std::fs::read_dir(root.join("crates"))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|c| root.join("crates").join(c).join("test_data").is_dir())
            .map(|c| format!("crates/{c}/test_data"))
            .collect();
        crates.sort();
        dirs.extend(crates);
        let mut c = Corpus::default();
        for d in dirs {
            walk(root, &d, &mut c.files)?;
        }
        c.classify();
        Ok(c)
    }

    /// A corpus from in-memory files (for tests).
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Corpus {
        let mut c = Corpus {
            files,
            ..Corpus::default()
        };
        c.classify();
        c
    }

    fn classify(&mut self) {
        for (path, bytes) in &self.files {
            if path.ends_with(".csv") || path.ends_with(".jsonl") {
                self.traces.push(path.clone());
                continue;
            }
            if !path.ends_with(".toml") {
                continue;
            }
            let text = String::from_utf8_lossy(bytes);
            if sim_sweep::is_sweep(&text) {
                self.sweeps.push(path.clone());
            } else if text.lines().any(|l| l.trim() == "[observe]") {
                self.explains.push(path.clone());
            } else {
                self.scenarios.push(path.clone());
            }
        }
    }

    /// A file by a path a scenario gave (resolved against its folder), if it is here.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(&normalize(path)).map(Vec::as_slice)
    }
}

fn walk(root: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) -> io::Result<()> {
    let dir = root.join(rel);
    if !dir.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(&dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = format!("{rel}/{name}");
        let ty = e.file_type()?;
        if ty.is_dir() {
            walk(root, &child, out)?;
        } else if ty.is_file()
            && [".toml", ".csv", ".jsonl"]
                .iter()
                .any(|x| name.ends_with(x))
            && e.metadata()?.len() <= 4 << 20
        {
            out.insert(child, std::fs::read(e.path())?);
        }
    }
    Ok(())
}

/// `a/./b/../c` → `a/c`, lexically (the corpus has no links).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(p),
        }
    }
    parts.join("/")
}

/// [`Files`] over the corpus, with some files replaced for one case (a mutated trace).
pub struct MemFiles<'a> {
    /// The seeds.
    pub corpus: &'a Corpus,
    /// Files this case replaces, by normalized path.
    pub overlay: &'a BTreeMap<String, Vec<u8>>,
}

impl MemFiles<'_> {
    fn bytes(&self, path: &str) -> Result<&[u8], String> {
        let key = normalize(path);
        if let Some(b) = self.overlay.get(&key) {
            return Ok(b);
        }
        self.corpus
            .files
            .get(&key)
            .map(Vec::as_slice)
            .ok_or_else(|| "No such file or directory (os error 2)".to_string())
    }
}

impl Files for MemFiles<'_> {
    /// As the CLI reads an input: bounded in size and UTF-8 with the first bad byte's place.
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        let bytes = self.bytes(path)?.to_vec();
        sim_scenario::bounded_text(path, bytes).map_err(|e| e.to_string())
    }

    fn open(&self, path: &str) -> Result<Box<dyn BufRead + '_>, String> {
        Ok(Box::new(Cursor::new(self.bytes(path)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(normalize("scenarios/../traces/a.csv"), "traces/a.csv");
        assert_eq!(normalize("./a//b/./c"), "a/b/c");
        assert_eq!(normalize("/dev/zero"), "dev/zero");
    }
}
