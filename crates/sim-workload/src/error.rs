//! The one error type of the crate.

/// Why a stream stopped early or could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A malformed or out-of-order record. `line` and `column` are 1-based; columns count
    /// characters of the line as read (after a leading byte-order mark, if any).
    #[error("line {line}, column {column}: {message}")]
    Parse {
        /// The line of the input.
        line: u64,
        /// The character position within the line.
        column: u64,
        /// What was wrong, naming the field.
        message: String,
    },
    /// The reader failed while reading `line`.
    #[error("line {line}: read failed: {source}")]
    Io {
        /// The line being read.
        line: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A transform or synthetic spec that makes no sense (see the `validate` methods).
    #[error("invalid workload: {0}")]
    Invalid(String),
    /// The stream held no request where at least one is needed.
    #[error("the trace has no requests")]
    Empty,
}

impl TraceError {
    /// The 1-based input line, when the error has a position.
    pub fn line(&self) -> Option<u64> {
        match self {
            TraceError::Parse { line, .. } | TraceError::Io { line, .. } => Some(*line),
            TraceError::Invalid(_) | TraceError::Empty => None,
        }
    }

    /// The 1-based column, when the error has one.
    pub fn column(&self) -> Option<u64> {
        match self {
            TraceError::Parse { column, .. } => Some(*column),
            _ => None,
        }
    }

    pub(crate) fn parse(line: u64, column: u64, message: impl Into<String>) -> TraceError {
        TraceError::Parse {
            line,
            column,
            message: message.into(),
        }
    }
}
