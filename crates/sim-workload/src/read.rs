//! Streaming trace readers for the three supported formats, and a writer for the generic one.

use std::io::{BufRead, Read, Write};

use serde::Deserialize;
use sim_des::SimTime;

use crate::transform::{Placed, Window};
use crate::{Request, RequestStream, TraceError, Transform};

/// The trace formats [`read_trace`] understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TraceFormat {
    /// Azure LLM inference trace 2023: `TIMESTAMP,ContextTokens,GeneratedTokens`, wall-clock
    /// timestamps such as `2023-11-16 18:15:46.6805900`. Arrivals are rebased to the first row.
    AzureCsv,
    /// Mooncake-style JSON lines: `{"timestamp": <ms>, "input_length": n, "output_length": n, ...}`.
    /// Arrivals are rebased to the first line; other keys are ignored.
    MooncakeJsonl,
    /// `arrival_s,prompt_tokens,output_tokens` with absolute arrival seconds (not rebased).
    GenericCsv,
}

impl TraceFormat {
    /// Every format, for help texts.
    pub const ALL: [TraceFormat; 3] = [
        TraceFormat::AzureCsv,
        TraceFormat::MooncakeJsonl,
        TraceFormat::GenericCsv,
    ];

    /// The short name used on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::AzureCsv => "azure-csv",
            TraceFormat::MooncakeJsonl => "mooncake-jsonl",
            TraceFormat::GenericCsv => "generic-csv",
        }
    }

    /// The format with this [`name`](TraceFormat::name), if any.
    pub fn from_name(name: &str) -> Option<TraceFormat> {
        TraceFormat::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Reads a trace lazily, one line at a time.
///
/// The stream yields requests in file order with ids `0, 1, 2, ...`, and ends after the first
/// error. Blank lines are skipped; a UTF-8 byte-order mark at the start is ignored; lines may
/// end in LF or CRLF, and the last line needs no terminator.
pub fn read_trace<'a, R: BufRead + 'a>(format: TraceFormat, reader: R) -> RequestStream<'a> {
    let lines = Lines::new(reader);
    match format {
        TraceFormat::AzureCsv => Box::new(Fused(CsvReader::new(lines, CsvKind::Azure))),
        TraceFormat::GenericCsv => Box::new(Fused(CsvReader::new(lines, CsvKind::Generic))),
        TraceFormat::MooncakeJsonl => Box::new(Fused(MooncakeReader {
            lines,
            state: Order::default(),
        })),
    }
}

/// What [`scan_trace`] found: the requests a run replays, before rate scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceScan {
    /// Requests inside the window and the horizon.
    pub requests: u64,
    /// The last of their arrivals, after the window and offset.
    pub last_arrival: Option<SimTime>,
}

/// Reads a whole trace once, as a run would replay it through `t` (window and offset; rate
/// scaling only counts), without simulating: every line a run would read is checked, so a
/// bad line fails before any work is done.
///
/// With a `horizon` the scan stops at the first arrival after it, as a run does. Without
/// one, an arrival after `limit` is an error at that line (rate-scaled copies of the last
/// request, which spread over the gap before it, count too).
///
/// # Errors
/// The first bad line, or the first arrival past `limit`, with its line and column.
pub fn scan_trace<R: BufRead>(
    format: TraceFormat,
    reader: R,
    t: &Transform,
    horizon: Option<SimTime>,
    limit: SimTime,
) -> Result<TraceScan, TraceError> {
    let lines = Lines::new(reader);
    match format {
        TraceFormat::AzureCsv => scan(CsvReader::new(lines, CsvKind::Azure), t, horizon, limit),
        TraceFormat::GenericCsv => scan(CsvReader::new(lines, CsvKind::Generic), t, horizon, limit),
        TraceFormat::MooncakeJsonl => scan(
            MooncakeReader {
                lines,
                state: Order::default(),
            },
            t,
            horizon,
            limit,
        ),
    }
}

fn scan<I>(
    mut reader: I,
    t: &Transform,
    horizon: Option<SimTime>,
    limit: SimTime,
) -> Result<TraceScan, TraceError>
where
    I: Iterator<Item = Result<Request, TraceError>> + Positioned,
{
    let window = Window::new(t);
    let mut out = TraceScan {
        requests: 0,
        last_arrival: None,
    };
    let mut gap_ns = 0u64;
    let past = |arrival: SimTime, (line, col): (u64, u64), what: &str| {
        TraceError::parse(
            line,
            col,
            format!(
                "{what} at {:.3} s, past the {:.0}-second limit on a run's horizon; \
                 set run.duration_s or use a window (workload.window_duration_s)",
                arrival.as_secs_f64(),
                limit.as_secs_f64()
            ),
        )
    };
    while let Some(r) = reader.next() {
        let arrival = match window.place(r?.arrival) {
            Placed::Before => continue,
            Placed::After => break,
            Placed::At(a) => a,
        };
        if horizon.is_some_and(|h| arrival > h) {
            break;
        }
        if horizon.is_none() && arrival > limit {
            return Err(past(arrival, reader.last_at(), "this request arrives"));
        }
        if let Some(prev) = out.last_arrival {
            gap_ns = arrival.saturating_since(prev).as_nanos();
        }
        out.requests += 1;
        out.last_arrival = Some(arrival);
    }
    // Copies of the last request spread over the gap before it (see `transform`).
    if let Some(last) = out.last_arrival
        && horizon.is_none()
        && t.scaled_count(1) > 1
    {
        let spread = SimTime(last.as_nanos().saturating_add(gap_ns));
        if spread > limit {
            return Err(past(
                spread,
                reader.last_at(),
                "with rate_scale, copies of this request arrive until",
            ));
        }
    }
    Ok(out)
}

/// Where the last accepted arrival was read.
trait Positioned {
    fn last_at(&self) -> (u64, u64);
}

impl<R> Positioned for CsvReader<R> {
    fn last_at(&self) -> (u64, u64) {
        self.order.last_at
    }
}

impl<R> Positioned for MooncakeReader<R> {
    fn last_at(&self) -> (u64, u64) {
        self.state.last_at
    }
}

/// Writes a stream as a generic CSV (`arrival_s,prompt_tokens,output_tokens`, LF endings,
/// nanosecond-exact arrivals) and returns the number of requests written.
pub fn write_generic_csv<I, W>(stream: I, mut writer: W) -> Result<u64, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
    W: Write,
{
    let io = |line: u64| move |source| TraceError::Io { line, source };
    writeln!(writer, "{}", GENERIC_HEADER.join(",")).map_err(io(1))?;
    let mut written = 0u64;
    for request in stream {
        let r = request?;
        let ns = r.arrival.as_nanos();
        writeln!(
            writer,
            "{}.{:09},{},{}",
            ns / 1_000_000_000,
            ns % 1_000_000_000,
            r.prompt_tokens,
            r.output_tokens
        )
        .map_err(io(written + 2))?;
        written += 1;
    }
    writer.flush().map_err(io(written + 1))?;
    Ok(written)
}

const AZURE_HEADER: [&str; 3] = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"];
const GENERIC_HEADER: [&str; 3] = ["arrival_s", "prompt_tokens", "output_tokens"];
const TIMESTAMP_EXAMPLE: &str = "2023-11-16 18:15:46.6805900";

/// Ends an inner iterator after its first error.
struct Fused<I>(I);

impl<I: Iterator<Item = Result<Request, TraceError>> + Done> Iterator for Fused<I> {
    type Item = Result<Request, TraceError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_done() {
            return None;
        }
        let item = self.0.next();
        if !matches!(item, Some(Ok(_))) {
            self.0.set_done();
        }
        item
    }
}

trait Done {
    fn is_done(&self) -> bool;
    fn set_done(&mut self);
}

/// The longest trace line, in bytes: far above any real record (a Mooncake line with its
/// `hash_ids` is a few KB), and a bound on the line buffer when the input has no newlines.
pub const MAX_TRACE_LINE_BYTES: usize = 1 << 20;

/// The largest trace, in bytes: 4 GiB holds about 80 M Azure rows, more than a run
/// simulates (`MAX_REQUESTS_PER_RUN` in `sim-engine`), and bounds reading an endless input
/// such as a stream of blank lines.
pub const MAX_TRACE_BYTES: u64 = 4 << 30;

/// Splits a reader into numbered lines without their terminators.
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    bytes: u64,
    /// [`MAX_TRACE_BYTES`], lower in a test that reaches it.
    max_bytes: u64,
}

impl<R> Lines<R> {
    fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            buf: Vec::new(),
            line: 0,
            bytes: 0,
            max_bytes: MAX_TRACE_BYTES,
        }
    }
}

impl<R: BufRead> Lines<R> {
    /// The next line and its 1-based number, or `None` at the end of the input.
    fn next_line(&mut self) -> Option<Result<(u64, &str), TraceError>> {
        self.buf.clear();
        let limit = MAX_TRACE_LINE_BYTES as u64 + 1;
        match (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
        {
            Ok(0) => return None,
            Ok(n) => self.bytes += n as u64,
            Err(source) => {
                return Some(Err(TraceError::Io {
                    line: self.line + 1,
                    source,
                }));
            }
        }
        self.line += 1;
        let body = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        if body.len() > MAX_TRACE_LINE_BYTES {
            let column = String::from_utf8_lossy(&body[..MAX_TRACE_LINE_BYTES])
                .chars()
                .count() as u64
                + 1;
            let msg = format!(
                "the line is longer than {MAX_TRACE_LINE_BYTES} bytes, the most a trace line may hold"
            );
            return Some(Err(TraceError::parse(self.line, column, msg)));
        }
        if self.bytes > self.max_bytes {
            let msg = format!(
                "the trace is larger than {} bytes, the most a trace may hold",
                self.max_bytes
            );
            return Some(Err(TraceError::parse(self.line, 1, msg)));
        }
        let mut bytes = &self.buf[..];
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest;
        }
        if let Some(rest) = bytes.strip_suffix(b"\r") {
            bytes = rest;
        }
        if self.line == 1
            && let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF")
        {
            bytes = rest;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Some(Ok((self.line, text))),
            Err(e) => {
                let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
                let column = valid.chars().count() as u64 + 1;
                Some(Err(TraceError::parse(self.line, column, "invalid UTF-8")))
            }
        }
    }
}

/// The 1-based character column of byte offset `at` in `text`.
fn column(text: &str, at: usize) -> u64 {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].chars().count() as u64 + 1
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Arrival bookkeeping shared by every reader: rebasing, ordering and ids.
#[derive(Default)]
struct Order {
    first_ns: Option<i128>,
    prev: Option<(i128, u64)>,
    /// Line and column of the last accepted arrival, for [`scan_trace`]'s messages.
    last_at: (u64, u64),
    next_id: u64,
    done: bool,
}

impl Order {
    /// Checks that `ns` does not go backwards and turns it into a request.
    fn accept(
        &mut self,
        ns: i128,
        rebase: bool,
        tokens: (u32, u32),
        at: (u64, u64),
        field: &str,
    ) -> Result<Request, TraceError> {
        let (line, col) = at;
        if let Some((prev_ns, prev_line)) = self.prev
            && ns < prev_ns
        {
            return Err(TraceError::parse(
                line,
                col,
                format!("{field} goes backwards: earlier than line {prev_line}"),
            ));
        }
        let first = *self.first_ns.get_or_insert(if rebase { ns } else { 0 });
        let arrival = u64::try_from(ns - first).map_err(|_| {
            TraceError::parse(
                line,
                col,
                format!("{field} is too far from the first request"),
            )
        })?;
        self.prev = Some((ns, line));
        self.last_at = at;
        let id = self.next_id;
        self.next_id += 1;
        Ok(Request {
            id,
            arrival: SimTime(arrival),
            prompt_tokens: tokens.0,
            output_tokens: tokens.1,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CsvKind {
    Azure,
    Generic,
}

struct CsvReader<R> {
    lines: Lines<R>,
    kind: CsvKind,
    header_seen: bool,
    order: Order,
}

impl<R> CsvReader<R> {
    fn new(lines: Lines<R>, kind: CsvKind) -> CsvReader<R> {
        CsvReader {
            lines,
            kind,
            header_seen: false,
            order: Order::default(),
        }
    }
}

impl<R> Done for CsvReader<R> {
    fn is_done(&self) -> bool {
        self.order.done
    }
    fn set_done(&mut self) {
        self.order.done = true;
    }
}

impl<R: BufRead> Iterator for CsvReader<R> {
    type Item = Result<Request, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let header = match self.kind {
            CsvKind::Azure => &AZURE_HEADER,
            CsvKind::Generic => &GENERIC_HEADER,
        };
        loop {
            let (line, text) = match self.lines.next_line() {
                None if self.header_seen => return None,
                None => {
                    let msg = format!("empty input; expected the header \"{}\"", header.join(","));
                    return Some(Err(TraceError::parse(1, 1, msg)));
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(x)) => x,
            };
            if !self.header_seen {
                self.header_seen = true;
                if let Err(e) = check_header(line, text, header) {
                    return Some(Err(e));
                }
                continue;
            }
            if is_blank(text) {
                continue;
            }
            return Some(match self.kind {
                CsvKind::Azure => azure_row(line, text, &mut self.order),
                CsvKind::Generic => generic_row(line, text, &mut self.order),
            });
        }
    }
}

/// Splits a CSV line into exactly three fields, each as (byte offset, text) with surrounding
/// spaces and tabs removed. No quoting: none of the formats needs it.
fn split3(line: u64, text: &str) -> Result<[(usize, &str); 3], TraceError> {
    let mut out = [(0usize, ""); 3];
    let mut count = 0usize;
    let mut start = 0usize;
    for piece in text.split(',') {
        if count == 3 {
            let n = text.split(',').count();
            let msg = format!("expected 3 fields, found {n}");
            return Err(TraceError::parse(line, column(text, start), msg));
        }
        let lead = piece.len() - piece.trim_start_matches([' ', '\t']).len();
        out[count] = (start + lead, piece.trim_matches([' ', '\t']));
        count += 1;
        start += piece.len() + 1;
    }
    if count < 3 {
        let msg = format!("expected 3 fields, found {count}");
        return Err(TraceError::parse(line, column(text, text.len()), msg));
    }
    Ok(out)
}

fn check_header(line: u64, text: &str, expected: &[&str; 3]) -> Result<(), TraceError> {
    let wrong = |col: u64| {
        TraceError::parse(
            line,
            col,
            format!(
                "expected the header \"{}\", found \"{}\"",
                expected.join(","),
                text
            ),
        )
    };
    let fields = split3(line, text).map_err(|e| wrong(e.column().unwrap_or(1)))?;
    for ((at, name), want) in fields.iter().zip(expected) {
        if name != want {
            return Err(wrong(column(text, *at)));
        }
    }
    Ok(())
}

fn azure_row(line: u64, text: &str, order: &mut Order) -> Result<Request, TraceError> {
    let [ts, prompt, output] = split3(line, text)?;
    let at = |(off, _): (usize, &str)| column(text, off);
    let ns = parse_timestamp(ts.1)
        .map_err(|(off, msg)| TraceError::parse(line, column(text, ts.0 + off), msg))?;
    let p = parse_tokens(prompt.1, "ContextTokens")
        .map_err(|m| TraceError::parse(line, at(prompt), m))?;
    let o = parse_tokens(output.1, "GeneratedTokens")
        .map_err(|m| TraceError::parse(line, at(output), m))?;
    order.accept(ns, true, (p, o), (line, at(ts)), "TIMESTAMP")
}

fn generic_row(line: u64, text: &str, order: &mut Order) -> Result<Request, TraceError> {
    let [arrival, prompt, output] = split3(line, text)?;
    let at = |(off, _): (usize, &str)| column(text, off);
    let secs: f64 = arrival.1.parse().map_err(|_| {
        let msg = format!(
            "expected a number of seconds for arrival_s, found \"{}\"",
            arrival.1
        );
        TraceError::parse(line, at(arrival), msg)
    })?;
    if !secs.is_finite() || secs < 0.0 {
        let msg = format!(
            "arrival_s must be finite and non-negative, found {}",
            arrival.1
        );
        return Err(TraceError::parse(line, at(arrival), msg));
    }
    let p = parse_tokens(prompt.1, "prompt_tokens")
        .map_err(|m| TraceError::parse(line, at(prompt), m))?;
    let o = parse_tokens(output.1, "output_tokens")
        .map_err(|m| TraceError::parse(line, at(output), m))?;
    let ns = i128::from(SimTime::from_secs_f64(secs).as_nanos());
    order.accept(ns, false, (p, o), (line, at(arrival)), "arrival_s")
}

/// A positive integer token count that fits in `u32`.
fn parse_tokens(field: &str, name: &str) -> Result<u32, String> {
    let digits = field.strip_prefix('-').unwrap_or(field);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected an integer for {name}, found \"{field}\""));
    }
    if field.starts_with('-') {
        return Err(format!("{name} must be positive, found {field}"));
    }
    match digits.parse::<u64>() {
        Ok(0) => Err(format!("{name} must be positive, found {field}")),
        Ok(n) if n <= u64::from(u32::MAX) => Ok(n as u32),
        _ => Err(format!(
            "{name} is too large: {field} (at most {})",
            u32::MAX
        )),
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f...]` (also `T` as the separator, up to 9 fractional digits,
/// and an optional `Z` or `+HH:MM`/`-HH:MM` suffix) to nanoseconds since 1970-01-01 UTC.
/// A timestamp without a zone is taken as UTC; only differences matter.
/// Errors carry the byte offset of the offending part.
fn parse_timestamp(s: &str) -> Result<i128, (usize, String)> {
    let b = s.as_bytes();
    let syntax = |at: usize| {
        (
            at,
            format!("expected a timestamp like {TIMESTAMP_EXAMPLE} for TIMESTAMP, found \"{s}\""),
        )
    };
    let num = |at: usize, width: usize| -> Result<i64, (usize, String)> {
        let mut v = 0i64;
        for i in at..at + width {
            match b.get(i) {
                Some(d) if d.is_ascii_digit() => v = v * 10 + i64::from(d - b'0'),
                _ => return Err(syntax(i.min(b.len()))),
            }
        }
        Ok(v)
    };
    let sep = |at: usize, ok: &[u8]| -> Result<(), (usize, String)> {
        match b.get(at) {
            Some(c) if ok.contains(c) => Ok(()),
            _ => Err(syntax(at.min(b.len()))),
        }
    };
    let range = |at: usize, what: &str, v: i64, max: i64, min: i64| {
        if v < min || v > max {
            Err((
                at,
                format!("{what} {v} is out of range in TIMESTAMP \"{s}\""),
            ))
        } else {
            Ok(())
        }
    };
    let year = num(0, 4)?;
    sep(4, b"-")?;
    let month = num(5, 2)?;
    range(5, "month", month, 12, 1)?;
    sep(7, b"-")?;
    let day = num(8, 2)?;
    range(8, "day", day, days_in_month(year, month), 1)?;
    sep(10, b" T")?;
    let hour = num(11, 2)?;
    range(11, "hour", hour, 23, 0)?;
    sep(13, b":")?;
    let minute = num(14, 2)?;
    range(14, "minute", minute, 59, 0)?;
    sep(16, b":")?;
    let second = num(17, 2)?;
    range(17, "second", second, 59, 0)?;
    let mut at = 19;
    let mut frac_ns = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        let mut scale = 100_000_000i64;
        while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            if at - start == 9 {
                return Err((
                    at,
                    format!("more than 9 fractional digits in TIMESTAMP \"{s}\""),
                ));
            }
            frac_ns += i64::from(d - b'0') * scale;
            scale /= 10;
            at += 1;
        }
        if at == start {
            return Err(syntax(at));
        }
    }
    let mut offset_s = 0i64;
    match b.get(at) {
        None => {}
        Some(b'Z') => at += 1,
        Some(&c @ (b'+' | b'-')) => {
            let oh = num(at + 1, 2)?;
            range(at + 1, "zone hour", oh, 23, 0)?;
            sep(at + 3, b":")?;
            let om = num(at + 4, 2)?;
            range(at + 4, "zone minute", om, 59, 0)?;
            offset_s = (oh * 3600 + om * 60) * if c == b'-' { -1 } else { 1 };
            at += 6;
        }
        Some(_) => return Err(syntax(at)),
    }
    if at != b.len() {
        return Err(syntax(at));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Ok(i128::from(secs) * 1_000_000_000 + i128::from(frac_ns))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, counting 400-year eras from
/// 0000-03-01 so that the leap day falls at the end of each shifted year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[derive(Deserialize)]
struct MooncakeRow {
    timestamp: serde_json::Number,
    input_length: serde_json::Number,
    output_length: serde_json::Number,
}

struct MooncakeReader<R> {
    lines: Lines<R>,
    state: Order,
}

impl<R> Done for MooncakeReader<R> {
    fn is_done(&self) -> bool {
        self.state.done
    }
    fn set_done(&mut self) {
        self.state.done = true;
    }
}

impl<R: BufRead> Iterator for MooncakeReader<R> {
    type Item = Result<Request, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (line, text) = match self.lines.next_line()? {
                Err(e) => return Some(Err(e)),
                Ok(x) => x,
            };
            if is_blank(text) {
                continue;
            }
            return Some(mooncake_row(line, text, &mut self.state));
        }
    }
}

fn mooncake_row(line: u64, text: &str, order: &mut Order) -> Result<Request, TraceError> {
    let body = text.trim_start();
    if !body.starts_with('{') {
        let found: String = body.chars().take(20).collect();
        let msg = format!("expected a JSON object, found \"{found}\"");
        return Err(TraceError::parse(
            line,
            column(text, text.len() - body.len()),
            msg,
        ));
    }
    let row: MooncakeRow = serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        TraceError::parse(line, column(text, e.column().saturating_sub(1)), msg)
    })?;
    let at = |key: &str| value_column(text, key);
    let p = number_tokens(&row.input_length, "input_length")
        .map_err(|m| TraceError::parse(line, at("input_length"), m))?;
    let o = number_tokens(&row.output_length, "output_length")
        .map_err(|m| TraceError::parse(line, at("output_length"), m))?;
    let n = &row.timestamp;
    let ns = if let Some(ms) = n.as_i64() {
        i128::from(ms) * 1_000_000
    } else if let Some(ms) = n.as_u64() {
        i128::from(ms) * 1_000_000
    } else {
        let ms = n.as_f64().unwrap_or(f64::NAN);
        if !ms.is_finite() || ms.abs() > 1e18 {
            let msg = format!("timestamp {n} is out of range");
            return Err(TraceError::parse(line, at("timestamp"), msg));
        }
        (ms * 1e6).round() as i128
    };
    order.accept(ns, true, (p, o), (line, at("timestamp")), "timestamp")
}

fn number_tokens(n: &serde_json::Number, name: &str) -> Result<u32, String> {
    if let Some(v) = n.as_u64() {
        return parse_tokens(&v.to_string(), name);
    }
    if n.as_i64().is_some() {
        return Err(format!("{name} must be positive, found {n}"));
    }
    Err(format!("expected an integer for {name}, found {n}"))
}

/// The column where the value of `"key"` starts, or 1 when the key cannot be found.
fn value_column(text: &str, key: &str) -> u64 {
    let quoted = format!("\"{key}\"");
    let Some(pos) = text.find(&quoted) else {
        return 1;
    };
    let rest = &text[pos + quoted.len()..];
    let after_colon = rest
        .trim_start()
        .strip_prefix(':')
        .unwrap_or(rest)
        .trim_start();
    column(text, text.len() - after_colon.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        // 2023-11-16 is 19,677 days after the epoch (1,700,092,800 s / 86,400).
        assert_eq!(days_from_civil(2023, 11, 16), 1_700_092_800 / 86_400);
        // Consecutive days across month, year and leap-day boundaries differ by one.
        for (a, b) in [
            ((2023, 11, 30), (2023, 12, 1)),
            ((2023, 12, 31), (2024, 1, 1)),
            ((2024, 2, 28), (2024, 2, 29)),
            ((2024, 2, 29), (2024, 3, 1)),
            ((2100, 2, 28), (2100, 3, 1)),
        ] {
            assert_eq!(
                days_from_civil(b.0, b.1, b.2) - days_from_civil(a.0, a.1, a.2),
                1
            );
        }
    }

    #[test]
    fn timestamps_parse_fractions_and_zones() {
        let base = parse_timestamp("2023-11-16 18:15:46").unwrap();
        assert_eq!(
            parse_timestamp("2023-11-16 18:15:46.6805900").unwrap() - base,
            680_590_000
        );
        assert_eq!(
            parse_timestamp("2023-11-16T18:15:46.5").unwrap() - base,
            500_000_000
        );
        assert_eq!(
            parse_timestamp("2023-11-16 18:15:46.000000001").unwrap() - base,
            1
        );
        assert_eq!(parse_timestamp("2023-11-16 18:15:46Z").unwrap(), base);
        assert_eq!(parse_timestamp("2023-11-16 19:15:46+01:00").unwrap(), base);
        assert_eq!(parse_timestamp("2023-11-16 17:45:46-00:30").unwrap(), base);
        assert_eq!(parse_timestamp("2023-11-16 18:15:46.").unwrap_err().0, 20);
        assert_eq!(
            parse_timestamp("2023-11-16 18:15:46.0123456789")
                .unwrap_err()
                .0,
            29
        );
        assert_eq!(parse_timestamp("2023-02-29 00:00:00").unwrap_err().0, 8);
        assert!(parse_timestamp("2024-02-29 00:00:00").is_ok());
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// A header, then lines of `MAX_TRACE_LINE_BYTES` spaces without end: blank lines a
    /// reader skips, so nothing but the size limit stops it.
    struct EndlessBlank {
        header: &'static [u8],
        line: Vec<u8>,
        pos: usize,
    }

    impl std::io::Read for EndlessBlank {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.fill_buf()?.len().min(out.len());
            out[..n].copy_from_slice(&self.fill_buf()?[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for EndlessBlank {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            if !self.header.is_empty() {
                return Ok(self.header);
            }
            if self.pos == self.line.len() {
                self.pos = 0;
            }
            Ok(&self.line[self.pos..])
        }

        fn consume(&mut self, n: usize) {
            if self.header.is_empty() {
                self.pos += n;
            } else {
                self.header = &self.header[n..];
            }
        }
    }

    /// An endless input (blank lines for ever) stops at the size limit with an error at the
    /// line that passes it, instead of reading until killed. The limit is lowered to 64 MiB
    /// here: reading the real 4 GiB takes a test 16 s.
    #[test]
    fn an_endless_trace_stops_at_the_size_limit_naming_the_line() {
        assert_eq!(MAX_TRACE_BYTES, 4 << 30);
        let mut line = vec![b' '; MAX_TRACE_LINE_BYTES - 1];
        line.push(b'\n');
        let reader = EndlessBlank {
            header: b"arrival_s,prompt_tokens,output_tokens\n",
            line,
            pos: 0,
        };
        let mut lines = Lines::new(reader);
        lines.max_bytes = 64 << 20;
        let mut requests = CsvReader::new(lines, CsvKind::Generic);
        let err = requests.next().expect("an error, not the end").unwrap_err();
        // The header and 63 blank lines of 1 MiB fit; the 64th (line 65) passes 64 MiB.
        assert_eq!(err.line(), Some(65), "{err}");
        assert!(
            err.to_string().contains("larger than 67108864 bytes"),
            "{err}"
        );
    }
}
