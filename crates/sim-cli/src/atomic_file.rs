//! Files that appear whole or not at all: bytes go to `NAME.tmp` beside the target, which is
//! renamed over it only after a flush and an fsync succeed. A file given up on (an error, or
//! dropped unfinished) takes its `.tmp` with it, so a full disk leaves no temporary behind.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::Failure;

/// One file being written; removes its temporary unless [`AtomicFile::commit`] succeeds.
pub(crate) struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates `path`'s temporary and a buffered writer into it.
    pub(crate) fn create(path: &Path) -> Result<(AtomicFile, BufWriter<fs::File>), Failure> {
        let file = AtomicFile {
            path: path.to_path_buf(),
            tmp: path.with_extension("tmp"),
            committed: false,
        };
        match fs::File::create(&file.tmp) {
            Ok(f) => Ok((file, BufWriter::new(f))),
            Err(e) => Err(file.failed(&e)),
        }
    }

    /// Flushes `w` (the writer [`AtomicFile::create`] gave), syncs it to disk and renames the
    /// temporary over the target.
    pub(crate) fn commit(mut self, mut w: BufWriter<fs::File>) -> Result<(), Failure> {
        let result = (|| {
            w.flush()?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            fs::rename(&self.tmp, &self.path)
        })();
        match result {
            Ok(()) => {
                self.committed = true;
                Ok(())
            }
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// The error for a failed write of this file (the temporary goes when `self` drops).
    pub(crate) fn failed(&self, e: &std::io::Error) -> Failure {
        Failure::Other(format!("{}: cannot write: {e}", self.path.display()))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a file whole or not at all (see the module docs).
pub(crate) fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let (file, mut w) = AtomicFile::create(path)?;
    match write(&mut w) {
        Ok(()) => file.commit(w),
        Err(e) => Err(file.failed(&e)),
    }
}
