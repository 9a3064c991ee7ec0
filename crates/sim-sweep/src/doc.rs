//! Editing a scenario document by dotted key path, and finding which key a line of a
//! serialised document belongs to (to blame an error on the axis that set it).

use std::collections::BTreeMap;

use toml::{Table, Value};

/// Splits `hpa.metrics.0.target_average_value` into its segments.
pub(crate) fn segments(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

/// The value at `segs`, if there is one. Numeric segments index arrays.
pub(crate) fn get<'a>(doc: &'a Table, segs: &[&str]) -> Option<&'a Value> {
    let (first, rest) = segs.split_first()?;
    let mut v = doc.get(*first)?;
    for seg in rest {
        v = match v {
            Value::Table(t) => t.get(*seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Sets the value at `segs`, creating missing tables on the way. Array elements must exist.
pub(crate) fn set(doc: &mut Table, segs: &[&str], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        return Err("the path is empty".into());
    };
    if first.is_empty() {
        return Err("a path segment is empty".into());
    }
    if rest.is_empty() {
        doc.insert((*first).to_string(), value);
        return Ok(());
    }
    let entry = doc
        .entry((*first).to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    set_in(entry, rest, value, first)
}

/// Removes the key at `segs` if it is there (a missing key or table is not an error).
pub(crate) fn remove(doc: &mut Table, segs: &[&str]) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut table = doc;
    for seg in parents {
        match table.get_mut(*seg) {
            Some(Value::Table(t)) => table = t,
            _ => return,
        }
    }
    table.remove(*last);
}

fn set_in(v: &mut Value, segs: &[&str], value: Value, here: &str) -> Result<(), String> {
    match v {
        Value::Table(t) => set(t, segs, value),
        Value::Array(items) => {
            let len = items.len();
            let idx: usize = segs[0].parse().map_err(|_| {
                format!(
                    "`{here}` is an array; the next segment must be an index, got {:?}",
                    segs[0]
                )
            })?;
            let item = items.get_mut(idx).ok_or_else(|| {
                format!("index {idx} is out of range: `{here}` has {len} element(s)")
            })?;
            if segs.len() == 1 {
                *item = value;
                Ok(())
            } else {
                set_in(item, &segs[1..], value, segs[0])
            }
        }
        _ => Err(format!(
            "`{here}` holds a value, not a table, so it has no key {:?}",
            segs[0]
        )),
    }
}

/// The key path (with array indices) that line `line` (1-based) of a TOML text written by
/// `toml::to_string` belongs to: the key of a `key = value` line, or the table of a header.
pub(crate) fn path_at_line(text: &str, line: u64) -> Option<Vec<String>> {
    let mut header: Vec<String> = Vec::new();
    let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
    let mut in_string: Option<(&str, Vec<String>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let here = i as u64 + 1;
        if let Some((delim, path)) = &in_string {
            let path = path.clone();
            if raw.matches(delim).count() % 2 == 1 {
                in_string = None;
            }
            if here == line {
                return Some(path);
            }
            continue;
        }
        let l = raw.trim();
        let path = if let Some(name) = l.strip_prefix("[[").and_then(|s| s.strip_suffix("]]")) {
            let name = name.trim();
            *arrays.entry(name.to_string()).or_insert(0) += 1;
            let prefix = format!("{name}.");
            let nested: Vec<String> = arrays
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            for k in nested {
                arrays.remove(&k);
            }
            header = with_indices(&split_key(name), &arrays);
            header.clone()
        } else if let Some(name) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            header = with_indices(&split_key(name.trim()), &arrays);
            header.clone()
        } else if let Some(eq) = l.find('=') {
            let mut p = header.clone();
            p.extend(split_key(l[..eq].trim()));
            let value = &l[eq + 1..];
            for delim in ["'''", "\"\"\""] {
                if value.matches(delim).count() % 2 == 1 {
                    in_string = Some((delim, p.clone()));
                }
            }
            p
        } else {
            header.clone()
        };
        if here == line {
            return Some(path);
        }
    }
    None
}

/// Inserts the current element index after every prefix that names an array of tables.
fn with_indices(segs: &[String], arrays: &BTreeMap<String, usize>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        out.push(s.clone());
        let joined = segs[..=i].join(".");
        if let Some(n) = arrays.get(&joined) {
            out.push((n - 1).to_string());
        }
    }
    out
}

/// Splits a dotted TOML key, honouring quotes.
fn split_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in key.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_map_back_to_key_paths() {
        let text = "name = \"x\"\n\n[hpa]\nmax_replicas = 4\n\n[[hpa.metrics]]\nmetric = \"a\"\n\n\
                    [[hpa.metrics]]\nmetric = \"b\"\n\n[hpa.behavior.scale_up]\nq = '''\n[x]\n'''\n\
                    [[hpa.behavior.scale_up.policies]]\nvalue = 1\n";
        let at = |l| path_at_line(text, l).map(|p| p.join("."));
        assert_eq!(at(1).as_deref(), Some("name"));
        assert_eq!(at(4).as_deref(), Some("hpa.max_replicas"));
        assert_eq!(at(7).as_deref(), Some("hpa.metrics.0.metric"));
        assert_eq!(at(10).as_deref(), Some("hpa.metrics.1.metric"));
        assert_eq!(at(14).as_deref(), Some("hpa.behavior.scale_up.q"));
        assert_eq!(
            at(17).as_deref(),
            Some("hpa.behavior.scale_up.policies.0.value")
        );
        assert_eq!(at(99), None);
    }
}
