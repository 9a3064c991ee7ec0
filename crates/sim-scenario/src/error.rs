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
    /// One line, whatever the input: control characters are escaped and long values clipped
    /// (see [`clip_message`]), so a message never echoes an unbounded value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = clip_path(&self.file);
        let message = clip_message(&self.message);
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{file}:{l}:{c}: {message}"),
            (Some(l), None) => write!(f, "{file}:{l}: {message}"),
            _ => write!(f, "{file}: {message}"),
        }
    }
}

/// The longest run of non-blank characters a message echoes before it is clipped.
pub const MAX_ECHOED_CHARS: usize = 80;

/// The longest message shown, in characters (a safety net for values with spaces).
pub const MAX_MESSAGE_CHARS: usize = 1_000;

/// The longest file name shown, in characters (its end is kept: the name matters most).
const MAX_PATH_CHARS: usize = 300;

/// A message made safe to print on one line: control characters escaped (`\n`, `\u{7}`),
/// every run of more than [`MAX_ECHOED_CHARS`] non-blank characters clipped with `…`, and
/// the whole at most [`MAX_MESSAGE_CHARS`]. Idempotent, so callers may apply it again.
pub fn clip_message(message: &str) -> String {
    let escaped = escape_controls(message);
    let mut out = String::with_capacity(escaped.len().min(MAX_MESSAGE_CHARS * 4));
    let mut run = 0usize;
    let mut total = 0usize;
    for c in escaped.chars() {
        if total >= MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        if c.is_whitespace() {
            run = 0;
        } else {
            run += 1;
            if run == MAX_ECHOED_CHARS {
                out.push('…');
                total += 1;
                continue;
            }
            if run > MAX_ECHOED_CHARS {
                continue;
            }
        }
        out.push(c);
        total += 1;
    }
    out
}

/// A file name safe to print: control characters escaped, at most [`MAX_PATH_CHARS`]
/// characters (the start is clipped).
pub fn clip_path(path: &str) -> String {
    let escaped = escape_controls(path);
    let n = escaped.chars().count();
    if n <= MAX_PATH_CHARS {
        return escaped;
    }
    let tail: String = escaped.chars().skip(n - (MAX_PATH_CHARS - 1)).collect();
    format!("…{tail}")
}

fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The largest scenario, sweep, explain or catalog file, in bytes: real ones are a few KB,
/// and a bound keeps a wrong path (`/dev/zero`) from being read for ever.
pub const MAX_TEXT_FILE_BYTES: usize = 16 << 20;

/// The text of a file read as bytes (at most [`MAX_TEXT_FILE_BYTES`] + 1 of them), or an
/// error at the first byte that is not UTF-8 or past the size limit.
pub fn bounded_text(file: &str, mut bytes: Vec<u8>) -> Result<String, ScenarioError> {
    if bytes.len() > MAX_TEXT_FILE_BYTES {
        bytes.truncate(MAX_TEXT_FILE_BYTES);
        // Name the first bad byte if there is one, else the place the limit is passed.
        let text = text_from_bytes(file, bytes)?;
        return Err(ScenarioError::at_offset(
            file,
            &text,
            text.len(),
            format!(
                "the file is larger than {MAX_TEXT_FILE_BYTES} bytes, the most an input file may hold"
            ),
        ));
    }
    text_from_bytes(file, bytes)
}

/// The text of a file read as bytes, or an error at the line and column of its first byte
/// that is not UTF-8.
pub fn text_from_bytes(file: &str, bytes: Vec<u8>) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let valid = e.utf8_error().valid_up_to();
        let text = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        ScenarioError::at_offset(
            file,
            text,
            valid,
            format!("invalid UTF-8 (byte 0x{:02x})", bytes[valid]),
        )
    })
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

    #[test]
    fn display_stays_on_one_line_and_clips_long_values() {
        let long = "m".repeat(100_000);
        let e =
            ScenarioError::whole_file("a\nb.toml", format!("unknown model \"{long}\"; known: X"));
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.starts_with("a\\nb.toml: unknown model \""), "{shown}");
        assert!(
            shown.ends_with("…; known: X") || shown.contains("…"),
            "{shown}"
        );
        assert!(shown.chars().count() < 200, "{shown}");
        // Clipping is idempotent.
        assert_eq!(
            clip_message(&clip_message(&e.message)),
            clip_message(&e.message)
        );
        let spaced = "a ".repeat(10_000);
        assert!(clip_message(&spaced).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn invalid_utf8_is_placed_at_its_first_bad_byte() {
        let e = text_from_bytes("x.toml", b"a = 1\nb = \"\xff\"\n".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "x.toml:2:6: invalid UTF-8 (byte 0xff)");
    }
}
