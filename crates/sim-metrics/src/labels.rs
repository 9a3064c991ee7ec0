//! Label sets: the identity of a series.

use std::fmt;
use std::str::FromStr;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// A set of labels, sorted by name, with at most one value per name.
///
/// The metric name is the label `__name__`. Labels with an empty value are dropped on
/// construction, because Prometheus treats an empty value as "label absent". Ordering is
/// lexicographic over the sorted `(name, value)` pairs, the same order Prometheus uses to
/// sort query results.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order. A later pair wins over an earlier one
    /// with the same name; empty values are dropped.
    pub fn new<I, K, V>(pairs: I) -> Labels
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut v: Vec<(String, String)> = Vec::new();
        for (k, val) in pairs {
            let (k, val) = (k.into(), val.into());
            match v.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = val,
                None => v.push((k, val)),
            }
        }
        v.retain(|(_, val)| !val.is_empty());
        v.sort();
        Labels(v)
    }

    /// A label set from a metric name and further pairs.
    pub fn metric(name: &str, pairs: &[(&str, &str)]) -> Labels {
        Labels::new(std::iter::once((METRIC_NAME, name)).chain(pairs.iter().copied()))
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels, including `__name__`.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v = self.0.clone();
        match v.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                v.remove(i);
            }
            Ok(i) => v[i].1 = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => v.insert(i, (name.to_string(), value.to_string())),
        }
        Labels(v)
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        self.retain(|n| n != METRIC_NAME)
    }

    /// A copy that keeps only the labels whose name passes `keep`.
    pub(crate) fn retain(&self, keep: impl Fn(&str) -> bool) -> Labels {
        Labels(self.0.iter().filter(|(n, _)| keep(n)).cloned().collect())
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="x", b="y"}`, or `{a="x"}` without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.iter().filter(|(k, _)| *k != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}=\"")?;
            for c in v.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// Why a label-set string did not parse; `col` is 1-based, in characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {col}: {msg}")]
pub struct LabelsParseError {
    /// Column of the offending character (1-based).
    pub col: usize,
    /// What was wrong.
    pub msg: String,
}

impl FromStr for Labels {
    type Err = LabelsParseError;

    /// Parses `name`, `name{a="x"}` or `{a="x", __name__="name"}`. Values are double-quoted
    /// with `\"`, `\\` and `\n` escapes. Surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<Labels, LabelsParseError> {
        let (labels, used) = parse_labels_prefix(s)?;
        let rest = &s[used..];
        if let Some(off) = rest.find(|c: char| !c.is_whitespace()) {
            return Err(LabelsParseError {
                col: s[..used + off].chars().count() + 1,
                msg: "unexpected text after the label set".into(),
            });
        }
        Ok(labels)
    }
}

/// Parses a label set at the start of `s` (after optional whitespace) and returns it with
/// the number of bytes consumed. Used by `FromStr` and by the test-file reader.
pub(crate) fn parse_labels_prefix(s: &str) -> Result<(Labels, usize), LabelsParseError> {
    let mut p = Cursor { s, pos: 0 };
    p.skip_ws();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let name = p.ident(true);
    if !name.is_empty() {
        pairs.push((METRIC_NAME.to_string(), name.to_string()));
    }
    if p.peek() == Some('{') {
        p.bump();
        loop {
            p.skip_ws();
            if p.peek() == Some('}') {
                p.bump();
                break;
            }
            let key = p.ident(false);
            if key.is_empty() {
                return Err(p.err("expected a label name or '}'"));
            }
            let key = key.to_string();
            p.skip_ws();
            if p.peek() != Some('=') {
                return Err(p.err("expected '='"));
            }
            p.bump();
            p.skip_ws();
            let value = p.quoted()?;
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(p.err(&format!("label {key} appears twice")));
            }
            pairs.push((key, value));
            p.skip_ws();
            match p.peek() {
                Some(',') => {
                    p.bump();
                }
                Some('}') => {
                    p.bump();
                    break;
                }
                _ => return Err(p.err("expected ',' or '}'")),
            }
        }
    } else if name.is_empty() {
        return Err(p.err("expected a metric name or '{'"));
    }
    Ok((Labels::new(pairs), p.pos))
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }
    fn ident(&mut self, allow_colon: bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c == '_'
                || c.is_ascii_alphabetic()
                || (self.pos > start && c.is_ascii_digit())
                || (allow_colon && c == ':');
            if !ok {
                break;
            }
            self.bump();
        }
        &self.s[start..self.pos]
    }
    fn quoted(&mut self) -> Result<String, LabelsParseError> {
        if self.peek() != Some('"') {
            return Err(self.err("expected '\"'"));
        }
        self.bump();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some('"') => {
                    self.bump();
                    return Ok(out);
                }
                Some('\\') => {
                    self.bump();
                    match self.peek() {
                        Some('n') => out.push('\n'),
                        Some('\\') => out.push('\\'),
                        Some('"') => out.push('"'),
                        _ => return Err(self.err("unknown escape")),
                    }
                    self.bump();
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }
    fn err(&self, msg: &str) -> LabelsParseError {
        LabelsParseError {
            col: self.s[..self.pos].chars().count() + 1,
            msg: msg.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let l: Labels = r#"vllm:num_requests_waiting{pod="p-1", namespace="ai"}"#
            .parse()
            .unwrap();
        assert_eq!(l.metric_name(), Some("vllm:num_requests_waiting"));
        assert_eq!(l.get("pod"), Some("p-1"));
        assert_eq!(
            l.to_string(),
            r#"vllm:num_requests_waiting{namespace="ai", pod="p-1"}"#
        );
        let back: Labels = l.to_string().parse().unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn bad_label_sets_report_a_column() {
        let e = "foo{a=\"x\" b=\"y\"}".parse::<Labels>().unwrap_err();
        assert_eq!(e.col, 11, "{e}");
        let e = "{a=x}".parse::<Labels>().unwrap_err();
        assert_eq!(e.col, 4, "{e}");
        let e = "foo{a=\"x\"} junk".parse::<Labels>().unwrap_err();
        assert_eq!(e.col, 12, "{e}");
    }

    #[test]
    fn empty_values_mean_absent() {
        let l = Labels::new([("a", ""), ("b", "1")]);
        assert_eq!(l.len(), 1);
        assert_eq!(l.with("b", "").len(), 0);
    }
}
