//! Errors that point at a place in an input file.

use std::fmt;

/// A problem with a scenario (or a file it names), at a line and column when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file the problem is in, as the user named it.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column (in characters), when known.
    pub column: Option<u64>,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl ScenarioError {
    /// An error at a byte offset of `text`.
    pub fn at_offset(
        file: &str,
        text: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = line_col(text, offset);
        ScenarioError {
            file: file.to_string(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// An error about the file as a whole.
    pub fn whole_file(file: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: file.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{}:{}: {}", self.file, l, c, self.message),
            (Some(l), None) => write!(f, "{}:{}: {}", self.file, l, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and character column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.bytes().filter(|&b| b == b'\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() as u64 + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_character_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes; the '=' after "bé " is the 4th character.
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn display_names_file_line_and_column() {
        let e = ScenarioError::at_offset("s.toml", "x\ny", 2, "bad");
        assert_eq!(e.to_string(), "s.toml:2:1: bad");
        assert_eq!(
            ScenarioError::whole_file("s.toml", "empty").to_string(),
            "s.toml: empty"
        );
    }
}
