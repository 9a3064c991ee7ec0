//! Mutations: byte-level ones (flips, insertions, deletions, truncation, splices) for any
//! input, line- and field-aware ones for traces, and TOML-aware ones for the TOML formats
//! (extreme numbers, long or multi-line strings, dropped, duplicated or swapped keys and
//! tables). Each takes the case's [`Rng`], so a case is reproducible.

use crate::rng::Rng;

/// Values that probe limits: zero, negatives, overflow of every integer width, float
/// extremes, non-finite spellings, wrong types and the documented limits ±1.
const EXTREME_VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "-0",
    "0.0",
    "1e308",
    "-1e308",
    "1e-308",
    "5e-324",
    "2.5",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "2147483648",
    "99999999",
    "1e9",
    "1e15",
    "1e18",
    "0.1",
    "0.001",
    "1e-9",
    "3600",
    "3601",
    "86400",
    "604800",
    "604801",
    "2592000",
    "2592001",
    "1000000",
    "1000001",
    "8000000",
    "50000000",
    "50000001",
    "10000",
    "10001",
    "nan",
    "+nan",
    "-nan",
    "inf",
    "-inf",
    "\"nan\"",
    "\"inf\"",
    "\"1e308\"",
    "\"-1\"",
    "true",
    "false",
    "\"\"",
    "\" \"",
    "[]",
    "{}",
    "[0]",
    "[-1, 1e308]",
    "[1, 2, 3]",
    "[\"a\", 1]",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
    "0x7fffffffffffffff",
    "0o777",
    "0b1",
    "1_000_000_000_000",
    "\"/dev/zero\"",
    "\"..\"",
    "\"/\"",
    "\"a\\u0000b\"",
    "\"a\\nb\"",
    "\"\"\"\nfirst\nsecond\n\"\"\"",
    "'''\nraw\nlines\n'''",
    "\"azure-csv\"",
    "\"mooncake-jsonl\"",
    "\"generic-csv\"",
    "\"step\"",
    "\"poisson\"",
    "\"diurnal\"",
    "\"gamma\"",
    "\"H100-80GB\"",
    "\"ttft_s_p99\"",
];

/// Fields for trace mutations.
const EXTREME_FIELDS: &[&str] = &[
    "",
    "0",
    "-1",
    "1e308",
    "nan",
    "inf",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "2592001",
    "99999999999",
    "0.0000000001",
    "2023-02-30 00:00:00",
    "2023-13-01 00:00:00",
    "9999-12-31 23:59:59.9999999",
    "1970-01-01 00:00:00",
    "2023-11-16 18:15:46.68059001234",
    "\"",
    "{",
    "null",
    "[]",
    "1.5",
];

/// Byte strings worth inserting anywhere.
const INTERESTING_BYTES: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\n",
    b"\r\n",
    b"\r",
    b"\t",
    b"\"",
    b"'",
    b"[",
    b"]",
    b"{",
    b"=",
    b",",
    b"#",
    b"\\",
    b"\\u",
    b"[[",
    b"\n[",
    b"\n[[axis]]\n",
    b"e",
    b"-",
    b".",
];

/// One to eight mutations of `input`. `toml` selects the TOML-aware ones; `others` are other
/// seeds of the same kind, for splices.
pub fn mutate(rng: &mut Rng, input: &[u8], toml: bool, others: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    // A rare huge insertion (a megabyte line, deep nesting) probes the size limits; most
    // cases stay small so that a million of them take minutes.
    if rng.one_in(500) {
        let pos = rng.below(out.len() + 1);
        out.splice(pos..pos, huge(rng));
    }
    let n = 1 + rng.below(4) + if rng.one_in(4) { rng.below(5) } else { 0 };
    for _ in 0..n {
        out = if toml && rng.below(10) < 6 {
            toml_op(rng, &out, others)
        } else if !toml && rng.below(10) < 5 {
            trace_op(rng, &out, others)
        } else {
            byte_op(rng, &out, others)
        };
        out.truncate(MAX_MUTANT_BYTES);
    }
    out
}

/// One TOML-aware mutation of a value or key (for the `run` target, whose mutants should
/// mostly load).
pub fn mutate_once(rng: &mut Rng, input: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut out = toml_op(rng, input, others);
    out.truncate(MAX_MUTANT_BYTES);
    out
}

fn byte_op(rng: &mut Rng, b: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut v = b.to_vec();
    let len = v.len();
    let pos = rng.below(len + 1);
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            v[i] = rng.next_u64() as u8;
        }
        2 => {
            let k = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..k).map(|_| rng.next_u64() as u8).collect();
            v.splice(pos..pos, bytes);
        }
        3 => {
            let s = rng.pick(INTERESTING_BYTES).copied().unwrap_or(b"");
            v.splice(pos..pos, s.iter().copied());
        }
        4 if len > 0 => {
            let k = 1 + rng.below(64.min(len));
            let at = rng.below(len - k + 1);
            v.drain(at..at + k);
        }
        5 if len > 0 => {
            let k = 1 + rng.below(256.min(len));
            let at = rng.below(len - k + 1);
            let chunk = v[at..at + k].to_vec();
            v.splice(pos..pos, chunk);
        }
        6 => v.truncate(pos),
        7 => {
            if let Some(o) = rng.pick(others)
                && !o.is_empty()
            {
                let at = rng.below(o.len());
                let k = 1 + rng.below(512.min(o.len() - at));
                v.splice(pos..pos, o[at..at + k].iter().copied());
            }
        }
        8 => {
            // Nesting and repetition (the huge ones come from [`huge`]).
            let unit = NEST_UNITS[rng.below(NEST_UNITS.len())];
            let reps = [2, 10, 100, 300][rng.below(4)];
            v.splice(pos..pos, unit.repeat(reps));
        }
        _ => v = mutate_number(rng, &v, EXTREME_VALUES),
    }
    v
}

const NEST_UNITS: &[&[u8]] = &[b"[", b"{a=", b"a.", b"x", b"[[a]]\n", b"0,1,1\n"];

/// The most bytes a mutant may have: above the 1 MiB trace-line limit, and it keeps a case
/// below a few hundred milliseconds.
pub const MAX_MUTANT_BYTES: usize = 1_200_000;

/// A deep nesting or a line past the 1 MiB trace-line limit.
fn huge(rng: &mut Rng) -> Vec<u8> {
    let unit = NEST_UNITS[rng.below(NEST_UNITS.len())];
    let total = [10_000, 100_000, 1_100_000][rng.below(3)];
    unit.repeat(total / unit.len())
}

/// Replaces one number in the text (a run of digits, with sign, point and exponent) by an
/// extreme, or nudges it.
fn mutate_number(rng: &mut Rng, b: &[u8], pool: &[&str]) -> Vec<u8> {
    let spans = number_spans(b);
    let Some(&(s, e)) = rng.pick(&spans) else {
        return b.to_vec();
    };
    let old = String::from_utf8_lossy(&b[s..e]).into_owned();
    let new = match rng.below(4) {
        0 => {
            let x: f64 = old.parse().unwrap_or(1.0);
            format!("{}", x * 10f64.powi(1 + rng.below(12) as i32))
        }
        1 => {
            let x: i128 = old.parse().unwrap_or(0);
            format!("{}", x + [-1i128, 1][rng.below(2)])
        }
        _ => rng.pick(pool).copied().unwrap_or("0").to_string(),
    };
    let mut v = b[..s].to_vec();
    v.extend_from_slice(new.as_bytes());
    v.extend_from_slice(&b[e..]);
    v
}

fn number_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let mut s = i;
            if s > 0 && b[s - 1] == b'-' {
                s -= 1;
            }
            while i < b.len() && (b[i].is_ascii_digit() || b"._eE+-".contains(&b[i])) {
                i += 1;
            }
            spans.push((s, i));
        } else {
            i += 1;
        }
    }
    spans
}

fn lines(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// A line `key = value` (not a comment or a table header): the index of its `=`.
fn key_eq(line: &[u8]) -> Option<usize> {
    let t = line.trim_ascii_start();
    if t.starts_with(b"#") || t.starts_with(b"[") {
        return None;
    }
    line.iter().position(|&c| c == b'=')
}

fn is_header(line: &[u8]) -> bool {
    line.trim_ascii_start().starts_with(b"[")
}

fn toml_op(rng: &mut Rng, b: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut ls = lines(b);
    let keyed: Vec<usize> = (0..ls.len())
        .filter(|&i| key_eq(&ls[i]).is_some())
        .collect();
    let headers: Vec<usize> = (0..ls.len()).filter(|&i| is_header(&ls[i])).collect();
    match rng.below(12) {
        0..=2 => {
            // A value replaced by an extreme (or a long string).
            if let Some(&i) = rng.pick(&keyed) {
                let eq = key_eq(&ls[i]).unwrap_or(0);
                let value = if rng.one_in(8) {
                    let n = [100, 10_000, 100_000][rng.below(3)];
                    let unit = ["a", "a b ", "\\n", "é"][rng.below(4)];
                    format!("\"{}\"", unit.repeat(n / unit.len().max(1)))
                } else {
                    rng.pick(EXTREME_VALUES).copied().unwrap_or("0").to_string()
                };
                let mut l = ls[i][..=eq].to_vec();
                l.push(b' ');
                l.extend_from_slice(value.as_bytes());
                ls[i] = l;
            }
        }
        3 => return mutate_number(rng, b, EXTREME_VALUES),
        4 => {
            // A key dropped.
            if let Some(&i) = rng.pick(&keyed) {
                ls.remove(i);
            }
        }
        5 => {
            // A key duplicated (or copied into another table).
            if let Some(&i) = rng.pick(&keyed) {
                let at = rng.below(ls.len() + 1);
                let l = ls[i].clone();
                ls.insert(at, l);
            }
        }
        6 => {
            // Values swapped between two keys.
            if let (Some(&i), Some(&j)) = (rng.pick(&keyed), rng.pick(&keyed)) {
                let (ei, ej) = (key_eq(&ls[i]).unwrap_or(0), key_eq(&ls[j]).unwrap_or(0));
                let vi = ls[i][ei + 1..].to_vec();
                let vj = ls[j][ej + 1..].to_vec();
                ls[i].truncate(ei + 1);
                ls[i].extend_from_slice(&vj);
                ls[j].truncate(ej + 1);
                ls[j].extend_from_slice(&vi);
            }
        }
        7 | 8 => {
            // A table dropped or duplicated (header to the next header).
            if let Some(&h) = rng.pick(&headers) {
                let end = headers.iter().copied().find(|&x| x > h).unwrap_or(ls.len());
                if rng.one_in(2) {
                    ls.drain(h..end);
                } else {
                    let chunk: Vec<Vec<u8>> = ls[h..end].to_vec();
                    let at = if rng.one_in(2) { ls.len() } else { end };
                    ls.splice(at..at, chunk);
                }
            }
        }
        9 | 10 => {
            // A line from another seed: new keys, tables and values in this file.
            if let Some(o) = rng.pick(others) {
                let ol = lines(o);
                if let Some(l) = rng.pick(&ol) {
                    let at = rng.below(ls.len() + 1);
                    ls.insert(at, l.clone());
                }
            }
        }
        _ => {
            // A line dropped (comments, headers and keys alike).
            if !ls.is_empty() {
                let i = rng.below(ls.len());
                ls.remove(i);
            }
        }
    }
    join(&ls)
}

fn trace_op(rng: &mut Rng, b: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut ls = lines(b);
    if ls.is_empty() {
        return b.to_vec();
    }
    let i = rng.below(ls.len());
    match rng.below(7) {
        0 => {
            // A comma-separated field replaced.
            let mut fields: Vec<Vec<u8>> =
                ls[i].split(|&c| c == b',').map(<[u8]>::to_vec).collect();
            let f = rng.below(fields.len());
            fields[f] = rng
                .pick(EXTREME_FIELDS)
                .copied()
                .unwrap_or("")
                .as_bytes()
                .to_vec();
            ls[i] = fields.join(&b',');
        }
        1 => return mutate_number(rng, b, EXTREME_FIELDS),
        2 => {
            ls.remove(i);
        }
        3 => {
            let l = ls[i].clone();
            let k = if rng.one_in(8) && l.len() < 100 {
                1_000
            } else {
                1
            };
            for _ in 0..k {
                ls.insert(i, l.clone());
            }
        }
        4 => {
            let j = rng.below(ls.len());
            ls.swap(i, j);
        }
        5 => {
            if let Some(o) = rng.pick(others) {
                let ol = lines(o);
                if let Some(l) = rng.pick(&ol) {
                    ls.insert(i, l.clone());
                }
            }
        }
        _ => {
            // Extra or missing fields.
            if rng.one_in(2) {
                ls[i].extend_from_slice(b",1");
            } else if let Some(p) = ls[i].iter().rposition(|&c| c == b',') {
                ls[i].truncate(p);
            }
        }
    }
    join(&ls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_deterministic_and_changes_input() {
        let seed = b"[run]\nduration_s = 60\n\n[deployment]\nreplicas = 2\n";
        let a = mutate(&mut Rng::for_case("scenario", 3, 11), seed, true, &[]);
        let b = mutate(&mut Rng::for_case("scenario", 3, 11), seed, true, &[]);
        assert_eq!(a, b);
        let changed = (0..50)
            .filter(|&i| mutate(&mut Rng::for_case("scenario", 3, i), seed, true, &[]) != seed)
            .count();
        assert!(changed > 40, "{changed} of 50 changed");
    }

    #[test]
    fn numbers_are_found() {
        assert_eq!(number_spans(b"a = -1.5e3, b = 7"), vec![(4, 10), (16, 17)]);
    }
}
