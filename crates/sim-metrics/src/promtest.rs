//! A reader and runner for PromQL test files in Prometheus's `load`/`eval` shape.
//!
//! ```text
//! # Comments start with '#'.
//! load 15s
//!   metric{l="v"} 0+10x20 _ stale 5
//! lookback 1m
//! eval instant at 2m sum(metric)
//!   {} 120
//! eval_fail instant at 2m rate(metric)
//!   expected_fail_message unsupported
//! clear
//! ```
//!
//! `load` values sit one interval apart from time 0: `a+bxN` (and `a-bxN`) expands to
//! N+1 values, `_` skips one step, `_xN` skips N steps, `stale` writes a staleness marker.
//! Expected lines are `<labels> <value>` for vectors (any order; an empty block means an
//! empty vector) or a bare `<value>` for a scalar. Values compare with a relative
//! tolerance of 1e-6, and NaN equals NaN. `lookback <duration>` (our addition) changes the
//! lookback delta for later evals; `clear` empties the store.

use sim_des::{SimDuration, SimTime};

use crate::labels::{Labels, parse_labels_prefix};
use crate::{QueryOpts, Store, Value, parse, query};

/// A problem in a test file, at `line:col` (both 1-based).
#[derive(Debug)]
pub(crate) struct FileError {
    line: usize,
    col: usize,
    msg: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.msg)
    }
}

fn err<T>(line: usize, col: usize, msg: impl Into<String>) -> Result<T, FileError> {
    Err(FileError {
        line,
        col,
        msg: msg.into(),
    })
}

/// One point of a `load` series: a value, or a staleness marker (`None`).
type LoadPoint = (u64, Option<f64>);

enum Expect {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

enum Cmd {
    Load {
        series: Vec<(Labels, Vec<LoadPoint>)>,
        interval: SimDuration,
    },
    Clear,
    Lookback(SimDuration),
    Eval {
        line: usize,
        at: SimTime,
        query: String,
        expect: Expect,
    },
    EvalFail {
        line: usize,
        at: SimTime,
        query: String,
        message: Option<String>,
    },
}

/// Parses a Prometheus-style duration such as `90s`, `1m30s`, `500ms`, `2h` or `0`.
fn parse_duration(s: &str) -> Option<SimDuration> {
    if s == "0" {
        return Some(SimDuration::ZERO);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ns: u64 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(n.checked_mul(unit_ns)?)?;
    }
    Some(SimDuration(total))
}

fn parse_number(s: &str) -> Option<f64> {
    match s {
        "Inf" | "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if s
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

/// Expands one `load` value token into `(step count, points)`: how many steps it covers
/// and the points it writes, relative to its first step.
fn expand_token(tok: &str) -> Option<(u64, Vec<LoadPoint>)> {
    if tok == "_" {
        return Some((1, Vec::new()));
    }
    if let Some(n) = tok.strip_prefix("_x") {
        return Some((n.parse().ok()?, Vec::new()));
    }
    if tok == "stale" {
        return Some((1, vec![(0, None)]));
    }
    if let Some(v) = parse_number(tok) {
        return Some((1, vec![(0, Some(v))]));
    }
    let (head, n) = tok.rsplit_once('x')?;
    let n: u64 = n.parse().ok()?;
    let bytes = head.as_bytes();
    let split = (1..bytes.len())
        .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, step) = match split {
        Some(i) => {
            let start = parse_number(&head[..i])?;
            let step = parse_number(&head[i + 1..])?;
            (start, if bytes[i] == b'-' { -step } else { step })
        }
        None => (parse_number(head)?, 0.0),
    };
    let pts = (0..=n)
        .map(|k| (k, Some(start + step * k as f64)))
        .collect();
    Some((n + 1, pts))
}

fn parse_eval_header(rest: &str, line: usize, col0: usize) -> Result<(SimTime, String), FileError> {
    let Some(r) = rest.strip_prefix("instant at ") else {
        return err(line, col0, "expected 'instant at <time> <query>'");
    };
    let r = r.trim_start();
    let (t, q) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
    let Some(at) = parse_duration(t) else {
        return err(line, col0 + 11, format!("bad time '{t}'"));
    };
    if q.trim().is_empty() {
        return err(line, col0 + 11, "missing query");
    }
    Ok((SimTime(at.as_nanos()), q.trim().to_string()))
}

fn parse_file(text: &str) -> Result<Vec<Cmd>, FileError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    // Indented, non-blank, non-comment lines after line `i`.
    let body = |i: usize| -> Vec<(usize, &str)> {
        lines[i + 1..]
            .iter()
            .enumerate()
            .take_while(|(_, l)| l.starts_with([' ', '\t']) || l.trim().is_empty())
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(k, l)| (i + 2 + k, *l))
            .collect()
    };
    while i < lines.len() {
        let raw = lines[i];
        let lno = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            return err(lno, 1, "indented line outside a load or eval block");
        }
        let (word, rest) = t.split_once(' ').unwrap_or((t, ""));
        let rest = rest.trim();
        let block = body(i);
        let consumed = block.last().map_or(lno, |(l, _)| *l);
        match word {
            "clear" => cmds.push(Cmd::Clear),
            "lookback" => {
                let Some(d) = parse_duration(rest) else {
                    return err(lno, 10, format!("bad duration '{rest}'"));
                };
                cmds.push(Cmd::Lookback(d));
            }
            "load" => {
                let Some(interval) = parse_duration(rest).filter(|d| d.as_nanos() > 0) else {
                    return err(lno, 6, format!("bad interval '{rest}'"));
                };
                let mut series = Vec::new();
                for (l, text) in block {
                    let (labels, used) = parse_labels_prefix(text).map_err(|e| FileError {
                        line: l,
                        col: e.col,
                        msg: e.msg,
                    })?;
                    let mut step = 0u64;
                    let mut pts = Vec::new();
                    let mut col = used + 1;
                    for tok in text[used..].split_whitespace() {
                        col = text[col - 1..].find(tok).map_or(col, |o| col + o);
                        let Some((n, p)) = expand_token(tok) else {
                            return err(l, col, format!("bad value '{tok}'"));
                        };
                        pts.extend(p.into_iter().map(|(k, v)| (step + k, v)));
                        step += n;
                        col += tok.len();
                    }
                    series.push((labels, pts));
                }
                cmds.push(Cmd::Load { series, interval });
            }
            "eval" => {
                let (at, query) = parse_eval_header(rest, lno, 6)?;
                let mut scalar = None;
                let mut vector = Vec::new();
                for (l, raw) in &block {
                    let indent = raw.len() - raw.trim_start().len();
                    let text = raw.trim();
                    if let Some(v) = parse_number(text) {
                        scalar = Some(v);
                        continue;
                    }
                    let (labels, used) = parse_labels_prefix(text).map_err(|e| FileError {
                        line: *l,
                        col: indent + e.col,
                        msg: e.msg,
                    })?;
                    let after = &text[used..];
                    let vtext = after.trim();
                    let Some(v) = parse_number(vtext) else {
                        let col = indent + used + (after.len() - after.trim_start().len()) + 1;
                        return err(*l, col, format!("bad expected value '{vtext}'"));
                    };
                    vector.push((labels, v));
                }
                let expect = match scalar {
                    Some(_) if !vector.is_empty() || block.len() > 1 => {
                        return err(lno, 1, "a scalar expectation must be the only line");
                    }
                    Some(v) => Expect::Scalar(v),
                    None => Expect::Vector(vector),
                };
                cmds.push(Cmd::Eval {
                    line: lno,
                    at,
                    query,
                    expect,
                });
            }
            "eval_fail" => {
                let (at, query) = parse_eval_header(rest, lno, 11)?;
                let mut message = None;
                for (l, text) in &block {
                    match text.trim().strip_prefix("expected_fail_message ") {
                        Some(m) => message = Some(m.trim().to_string()),
                        None => return err(*l, 1, "expected 'expected_fail_message <text>'"),
                    }
                }
                cmds.push(Cmd::EvalFail {
                    line: lno,
                    at,
                    query,
                    message,
                });
            }
            other => return err(lno, 1, format!("unknown command '{other}'")),
        }
        i = consumed;
    }
    Ok(cmds)
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

fn show(v: &Value) -> String {
    match v {
        Value::Scalar(x) => format!("scalar {x}"),
        Value::Vector(v) => {
            let items: Vec<String> = v.iter().map(|(l, x)| format!("{l} {x}")).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// Outcome of running one file: number of evals and the failures.
pub(crate) struct Outcome {
    pub(crate) evals: usize,
    pub(crate) failures: Vec<String>,
}

/// Runs every command of one test file against a fresh store.
pub(crate) fn run(text: &str) -> Result<Outcome, FileError> {
    let cmds = parse_file(text)?;
    let retention = SimDuration::from_secs(7 * 86_400);
    let mut store = Store::new(retention);
    let mut opts = QueryOpts::default();
    let mut out = Outcome {
        evals: 0,
        failures: Vec::new(),
    };
    for cmd in cmds {
        match cmd {
            Cmd::Clear => store = Store::new(retention),
            Cmd::Lookback(d) => opts.lookback = d,
            Cmd::Load { series, interval } => {
                for (labels, pts) in series {
                    for (step, v) in pts {
                        let t = SimTime(step * interval.as_nanos());
                        let r = match v {
                            Some(v) => store.append(&labels, t, v),
                            None => store.append_stale(&labels, t),
                        };
                        if let Err(e) = r {
                            out.failures.push(format!("load: {e}"));
                        }
                    }
                }
            }
            Cmd::Eval {
                line,
                at,
                query: q,
                expect,
            } => {
                out.evals += 1;
                let got = parse(&q).and_then(|pq| query(&store, &pq, at, &opts));
                let got = match got {
                    Ok(v) => v,
                    Err(e) => {
                        out.failures
                            .push(format!("line {line}: {q}: unexpected error: {e}"));
                        continue;
                    }
                };
                let ok = match (&expect, &got) {
                    (Expect::Scalar(a), Value::Scalar(b)) => close(*a, *b),
                    (Expect::Vector(want), Value::Vector(have)) => {
                        let mut want = want.clone();
                        want.sort_by(|a, b| a.0.cmp(&b.0));
                        want.len() == have.len()
                            && want
                                .iter()
                                .zip(have)
                                .all(|(w, h)| w.0 == h.0 && close(w.1, h.1))
                    }
                    _ => false,
                };
                if !ok {
                    let want = match expect {
                        Expect::Scalar(x) => Value::Scalar(x),
                        Expect::Vector(v) => Value::Vector(v),
                    };
                    out.failures.push(format!(
                        "line {line}: {q}\n    want {}\n    got  {}",
                        show(&want),
                        show(&got)
                    ));
                }
            }
            Cmd::EvalFail {
                line,
                at,
                query: q,
                message,
            } => {
                out.evals += 1;
                match parse(&q).and_then(|pq| query(&store, &pq, at, &opts)) {
                    Ok(v) => out.failures.push(format!(
                        "line {line}: {q}: expected an error, got {}",
                        show(&v)
                    )),
                    Err(e) => {
                        if let Some(m) = message
                            && !e.to_string().contains(&m)
                        {
                            out.failures.push(format!(
                                "line {line}: {q}: error '{e}' does not contain '{m}'"
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs every `test_data/*.test` file and reports all failures together.
    #[test]
    fn check() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("test_data directory")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "test"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .test files in {}", dir.display());
        let mut failures = Vec::new();
        let mut evals = 0;
        for f in &files {
            let text = std::fs::read_to_string(f).expect("readable test file");
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            match run(&text) {
                Ok(o) => {
                    if o.evals == 0 {
                        failures.push(format!("{name}: no eval commands"));
                    }
                    evals += o.evals;
                    failures.extend(o.failures.into_iter().map(|m| format!("{name}: {m}")));
                }
                Err(e) => failures.push(format!("{name}:{e}")),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {evals} evals failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn bad_files_give_line_and_column() {
        let cases = [
            ("load 15s\n  m 1 2 x3\n", "2:9: bad value 'x3'"),
            ("load 15s\n  m{a=1} 1\n", "2:7: expected '\"'"),
            ("eval instant at 2q sum(m)\n", "1:17: bad time '2q'"),
            ("evaluate 1\n", "1:1: unknown command 'evaluate'"),
            (
                "eval instant at 1m m\n  {} one\n",
                "2:6: bad expected value 'one'",
            ),
        ];
        for (text, want) in cases {
            match run(text) {
                Err(e) => assert_eq!(e.to_string(), want, "for {text:?}"),
                Ok(_) => panic!("no error for {text:?}"),
            }
        }
    }

    #[test]
    fn value_tokens_expand() {
        let (n, p) = expand_token("1-0.5x2").unwrap();
        assert_eq!(n, 3);
        assert_eq!(p, vec![(0, Some(1.0)), (1, Some(0.5)), (2, Some(0.0))]);
        let (n, p) = expand_token("-1e1+1e1x1").unwrap();
        assert_eq!((n, p), (2, vec![(0, Some(-10.0)), (1, Some(0.0))]));
        assert_eq!(expand_token("_x3").map(|x| x.0), Some(3));
        assert_eq!(parse_duration("1m30s"), Some(SimDuration::from_secs(90)));
        assert_eq!(parse_duration("5x"), None);
    }
}
