//! Finding where a key sits in a TOML file, so that semantic errors can name line and column.

use toml::de::{DeTable, DeValue};

use crate::error::ScenarioError;

/// Maps key paths such as `["deployment", "gpu"]` to positions in one file.
pub struct Locator<'a> {
    file: &'a str,
    text: &'a str,
    root: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    /// Parses `text` once, keeping spans. A text that does not parse locates nothing.
    pub fn new(file: &'a str, text: &'a str) -> Locator<'a> {
        Locator {
            file,
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    /// The byte offset of the value at `path`, or of the deepest table on the path that exists.
    pub fn offset(&self, path: &[&str]) -> Option<usize> {
        let root = self.root.as_ref()?;
        let mut table = root.get_ref();
        let mut found = None;
        for seg in path {
            let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *seg)
            else {
                break;
            };
            // Point at the value for leaves and at the key for tables (the header line).
            match value.get_ref() {
                DeValue::Table(inner) => {
                    found = Some(key.span().start);
                    table = inner;
                }
                _ => {
                    found = Some(value.span().start);
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
    }
}
