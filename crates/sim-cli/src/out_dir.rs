//! Output folders that are never mixed: every command writes into `NAME.partial` beside the
//! target and renames it into place when done, so `--out` holds one whole run, sweep or
//! merge, or nothing new. A folder that holds something else is refused unless `--force`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::Failure;

/// What a command writes, and so what it may replace without `--force`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `sim run`: summary.json and its siblings.
    Run,
    /// `sim sweep` and `sim merge`: plan.json and its siblings.
    Sweep,
}

impl Kind {
    /// The files a folder of this kind may hold.
    fn files(self) -> &'static [&'static str] {
        match self {
            Kind::Run => &[
                "summary.json",
                "timeline.csv",
                "events.log",
                "report.html",
                "requests.csv",
            ],
            Kind::Sweep => &[
                "plan.json",
                "journal.txt",
                "manifest.json",
                "results.csv",
                "points.csv",
                "pareto.csv",
                "best.toml",
                "report.html",
            ],
        }
    }

    /// The file that marks a folder of this kind.
    fn marker(self) -> &'static str {
        match self {
            Kind::Run => "summary.json",
            Kind::Sweep => "plan.json",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Run => "the outputs of a run",
            Kind::Sweep => "a sweep",
        }
    }
}

/// A target folder and its staging sibling.
pub(crate) struct OutDir {
    /// Where the outputs end up.
    pub(crate) target: PathBuf,
    /// Where they are written first (`NAME.partial`).
    pub(crate) staging: PathBuf,
}

/// What the target folder holds now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Holds {
    /// Nothing (absent or empty).
    Nothing,
    /// A whole folder of this command's kind.
    Same,
    /// Anything else.
    Other(String),
}

fn flag(path: &Path) -> String {
    format!("--out {}", path.display())
}

/// `NAME.partial` beside `target`.
pub(crate) fn staging_for(target: &Path) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "out".into());
    name.push(".partial");
    target.with_file_name(name)
}

impl OutDir {
    /// Checks `target` before any work: it must be a folder path we can create beside, hold
    /// nothing or a folder of `kind` (anything else only with `force`), and contain none of
    /// the command's `inputs`. Creates the parent folders.
    pub(crate) fn prepare(
        target: &Path,
        kind: Kind,
        force: bool,
        inputs: &[&Path],
    ) -> Result<OutDir, Failure> {
        let target = normalize(target)?;
        for input in inputs {
            if normalize(input).is_ok_and(|i| i.starts_with(&target)) {
                return Err(Failure::Input(format!(
                    "{}: the folder holds the input {}; replacing it would delete it",
                    flag(&target),
                    input.display()
                )));
            }
        }
        let staging = staging_for(&target);
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| {
                Failure::Input(format!(
                    "{}: cannot create {}: {e}",
                    flag(&target),
                    parent.display()
                ))
            })?;
        }
        if force {
            refuse_enclosing(&target)?;
        }
        match holds(&target, kind)? {
            Holds::Nothing | Holds::Same => {}
            Holds::Other(what) if force => {
                if !target.is_dir() {
                    return Err(Failure::Input(format!(
                        "{}: {what}; --force replaces folders only",
                        flag(&target)
                    )));
                }
            }
            Holds::Other(what) => {
                return Err(Failure::Input(format!(
                    "{}: {what}; choose another folder, or add --force to replace it",
                    flag(&target)
                )));
            }
        }
        Ok(OutDir { target, staging })
    }

    /// A fresh, empty staging folder (any leftover of a killed earlier run is removed).
    pub(crate) fn fresh_staging(&self) -> Result<(), Failure> {
        if self.staging.exists() {
            remove(&self.staging)?;
        }
        self.create_staging()
    }

    /// Creates the staging folder if it does not exist.
    pub(crate) fn create_staging(&self) -> Result<(), Failure> {
        fs::create_dir_all(&self.staging).map_err(|e| {
            Failure::Input(format!(
                "{}: cannot create {}: {e}",
                flag(&self.target),
                self.staging.display()
            ))
        })
    }

    /// Puts the staging folder in place of the target, replacing what was there.
    pub(crate) fn commit(&self) -> Result<(), Failure> {
        let fail = |e: std::io::Error| {
            Failure::Other(format!(
                "{}: cannot move {} into place: {e}",
                flag(&self.target),
                self.staging.display()
            ))
        };
        if self.target.exists() {
            let mut old = self.staging.clone().into_os_string();
            old.push(".old");
            let old = PathBuf::from(old);
            if old.exists() {
                remove(&old)?;
            }
            fs::rename(&self.target, &old).map_err(fail)?;
            fs::rename(&self.staging, &self.target).map_err(fail)?;
            remove(&old)
        } else {
            fs::rename(&self.staging, &self.target).map_err(fail)
        }
    }

    /// Removes the staging folder after a failure, so nothing half-written survives.
    pub(crate) fn abandon(&self) {
        let _ = fs::remove_dir_all(&self.staging);
    }
}

/// What `dir` holds, judged by its entries.
pub(crate) fn holds(dir: &Path, kind: Kind) -> Result<Holds, Failure> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Holds::Nothing),
        Err(e) => {
            return Err(Failure::Input(format!("{}: cannot read: {e}", flag(dir))));
        }
    };
    if !meta.is_dir() {
        return Ok(Holds::Other("is a file, not a folder".into()));
    }
    let entries = fs::read_dir(dir)
        .map_err(|e| Failure::Input(format!("{}: cannot read: {e}", flag(dir))))?;
    let mut names: Vec<String> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Failure::Input(format!("{}: cannot read: {e}", flag(dir))))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    if names.is_empty() {
        return Ok(Holds::Nothing);
    }
    let foreign: Vec<&String> = names
        .iter()
        .filter(|n| !kind.files().contains(&n.as_str()))
        .collect();
    if foreign.is_empty() && names.iter().any(|n| n == kind.marker()) {
        return Ok(Holds::Same);
    }
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    let more = if names.len() > 3 { ", ..." } else { "" };
    Ok(Holds::Other(format!(
        "the folder holds files that are not {} ({}{more})",
        kind.noun(),
        shown.join(", ")
    )))
}

/// An absolute, lexically normal path, so that `.` and `..` cannot hide what is replaced.
fn normalize(p: &Path) -> Result<PathBuf, Failure> {
    let abs = std::path::absolute(p).map_err(|e| Failure::Input(format!("{}: {e}", flag(p))))?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.file_name().is_none() {
        return Err(Failure::Input(format!(
            "{}: the output must be a folder below the root",
            flag(p)
        )));
    }
    Ok(out)
}

/// `--force` never replaces the folder we run in or one that contains it.
fn refuse_enclosing(target: &Path) -> Result<(), Failure> {
    if let Ok(cwd) = std::env::current_dir()
        && cwd.starts_with(target)
    {
        return Err(Failure::Input(format!(
            "{}: the folder contains the current directory; --force will not replace it",
            flag(target)
        )));
    }
    Ok(())
}

fn remove(dir: &Path) -> Result<(), Failure> {
    fs::remove_dir_all(dir)
        .map_err(|e| Failure::Other(format!("{}: cannot remove: {e}", dir.display())))
}
