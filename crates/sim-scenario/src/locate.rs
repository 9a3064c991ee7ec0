//! Finding where a key sits in a TOML file, so that semantic errors can name line and column.

use std::cell::RefCell;

use toml::de::{DeTable, DeValue};

use crate::error::ScenarioError;

/// Maps key paths such as `["deployment", "gpu"]` to positions in one file.
pub struct Locator<'a> {
    file: &'a str,
    text: &'a str,
    root: Option<toml::Spanned<DeTable<'a>>>,
    /// Suspicious but valid settings found while lowering, in the order found.
    warnings: RefCell<Vec<ScenarioError>>,
}

impl<'a> Locator<'a> {
    /// Parses `text` once, keeping spans. A text that does not parse locates nothing.
    pub fn new(file: &'a str, text: &'a str) -> Locator<'a> {
        Locator {
            file,
            text,
            root: DeTable::parse(text).ok(),
            warnings: RefCell::new(Vec::new()),
        }
    }

    /// Notes a suspicious but valid setting at `path`; the user sees it as a warning.
    pub fn warn(&self, path: &[&str], message: impl Into<String>) {
        let w = self.error(path, message);
        self.warnings.borrow_mut().push(w);
    }

    /// The warnings noted so far, leaving none.
    pub fn take_warnings(&self) -> Vec<ScenarioError> {
        std::mem::take(&mut *self.warnings.borrow_mut())
    }

    /// The byte offset of the value at `path`, or of the deepest table on the path that
    /// exists. A numeric segment indexes an array (`["hpa", "metrics", "1", "metric"]`).
    pub fn offset(&self, path: &[&str]) -> Option<usize> {
        let root = self.root.as_ref()?;
        let mut table = root.get_ref();
        let mut found = None;
        let mut segs = path.iter().peekable();
        while let Some(seg) = segs.next() {
            let Some((key, mut value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *seg)
            else {
                break;
            };
            found = Some(key.span().start);
            // Step into arrays by index.
            while let DeValue::Array(items) = value.get_ref() {
                let Some(idx) = segs.peek().and_then(|s| s.parse::<usize>().ok()) else {
                    break;
                };
                segs.next();
                let Some(item) = items.get(idx) else {
                    return found;
                };
                found = Some(item.span().start);
                value = item;
            }
            match value.get_ref() {
                // Point at the key (the header line) for tables.
                DeValue::Table(inner) => table = inner,
                _ => {
                    if segs.peek().is_none() {
                        found = Some(value.span().start);
                    }
                    break;
                }
            }
        }
        found
    }

    /// An error at `path`.
    pub fn error(&self, path: &[&str], message: impl Into<String>) -> ScenarioError {
        match self.offset(path) {
            Some(off) => ScenarioError::at_offset(self.file, self.text, off, message),
            None => ScenarioError::whole_file(self.file, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_leaves_tables_and_the_deepest_existing_prefix() {
        let text = "a = 1\n[dep]\ngpu = \"X\"\n[dep.inner]\nk = 2\n";
        let loc = Locator::new("f.toml", text);
        let at = |p: &[&str]| loc.error(p, "m").to_string();
        assert_eq!(at(&["dep", "gpu"]), "f.toml:3:7: m");
        assert_eq!(at(&["dep", "inner", "k"]), "f.toml:5:5: m");
        assert_eq!(at(&["dep", "missing"]), "f.toml:2:2: m");
        assert_eq!(at(&["nothing"]), "f.toml: m");
        let text = "[[m]]\nx = 1\n[[m]]\nx = 2\ny = [5, 6]\n";
        let loc = Locator::new("g.toml", text);
        assert_eq!(
            loc.error(&["m", "1", "x"], "m").to_string(),
            "g.toml:4:5: m"
        );
        assert_eq!(
            loc.error(&["m", "1", "y", "1"], "m").to_string(),
            "g.toml:5:9: m"
        );
        assert_eq!(loc.error(&["m", "0"], "m").to_string(), "g.toml:1:1: m");
    }
}
