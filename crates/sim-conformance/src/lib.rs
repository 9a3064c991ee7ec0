//! Conformance vectors for the HPA and KEDA models.
//!
//! What it is for: upstream's own test cases, transcribed as JSON (schemas in
//! `shared/research/hpa.md` §1 and `keda.md` §0), are run one by one against `sim-policy`.
//! Each vector names its `kind`; [`run_vector`] decodes the kind's wire struct, converts it
//! explicitly into the policy crate's plain types, calls the matching function and compares
//! only the fields the vector asserts.
//!
//! Key types: [`Outcome`] (pass, fail with expected/got, skip for `uncertain` vectors) and
//! [`LoadError`] (a file that is not a JSON array of vectors, with line:column).
//!
//! Design decision: the wire structs live here, not in `sim-policy`, so the policy crate
//! keeps serde out of its public types. Vector times are ages before "now"; they are turned
//! into absolute simulated times against a fixed `now` far from zero (Go's zero time, an age
//! of 6.3e10 s, is clamped to "older than any window").
//!
//! What it does not do: it never reads files itself (the `conformance` binary does), and it
//! does not judge vectors marked `uncertain` (they are reported as skipped).

mod hpa_vectors;
mod keda_vectors;

use serde_json::Value;

/// The result of one vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every asserted field matched.
    Pass,
    /// A field differed (the text says expected and got), or the vector could not be decoded.
    Fail(String),
    /// Marked `uncertain`; the reason is given.
    Skip(String),
}

/// A vector file that cannot be used at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// What is wrong, with line:column for JSON syntax errors.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One named vector's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorResult {
    /// The vector's `name`.
    pub name: String,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Parses a vector file's text. `file` only labels the error messages.
pub fn parse_vectors(file: &str, text: &str) -> Result<Vec<Value>, LoadError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError {
        message: format!("{file}:{}:{}: invalid JSON: {e}", e.line(), e.column()),
    })?;
    let Value::Array(items) = value else {
        return Err(LoadError {
            message: format!("{file}: expected a JSON array of vectors"),
        });
    };
    for (i, item) in items.iter().enumerate() {
        let ok = item.get("name").is_some_and(Value::is_string)
            && item.get("kind").is_some_and(Value::is_string);
        if !ok {
            return Err(LoadError {
                message: format!("{file}: vector #{i} has no string `name` and `kind`"),
            });
        }
    }
    Ok(items)
}

/// Runs every vector of a file's text.
pub fn run_text(file: &str, text: &str) -> Result<Vec<VectorResult>, LoadError> {
    let items = parse_vectors(file, text)?;
    Ok(items
        .iter()
        .map(|v| VectorResult {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            outcome: run_vector(v),
        })
        .collect())
}

/// Runs one vector.
pub fn run_vector(v: &Value) -> Outcome {
    if v.get("uncertain").and_then(Value::as_bool) == Some(true) {
        let why = v
            .get("uncertain_reason")
            .and_then(Value::as_str)
            .or_else(|| v.get("notes").and_then(Value::as_str))
            .unwrap_or("marked uncertain");
        return Outcome::Skip(why.to_string());
    }
    let kind = v["kind"].as_str().unwrap_or_default();
    let input = v.get("input").cloned().unwrap_or(Value::Null);
    let expected = v.get("expected").cloned().unwrap_or(Value::Null);
    let result = match kind {
        "replica_calc"
        | "group_pods"
        | "reconcile"
        | "behavior_rate"
        | "policy_limit"
        | "stabilization_behavior"
        | "stabilization_legacy"
        | "legacy_rate"
        | "scale_events"
        | "hpa_timeline" => hpa_vectors::run(kind, input, &expected),
        _ => keda_vectors::run(kind, input, &expected),
    };
    match result {
        Ok(mismatches) if mismatches.is_empty() => Outcome::Pass,
        Ok(mismatches) => Outcome::Fail(mismatches.join("; ")),
        Err(e) => Outcome::Fail(format!("invalid vector: {e}")),
    }
}

/// Collects "expected X got Y" texts.
pub(crate) struct Checker {
    pub(crate) mismatches: Vec<String>,
}

impl Checker {
    pub(crate) fn new() -> Checker {
        Checker {
            mismatches: Vec::new(),
        }
    }

    /// Compares when the vector asserts the field.
    pub(crate) fn check<T: PartialEq + std::fmt::Debug>(
        &mut self,
        field: &str,
        expected: Option<T>,
        got: T,
    ) {
        if let Some(e) = expected
            && e != got
        {
            self.mismatches
                .push(format!("{field}: expected {e:?} got {got:?}"));
        }
    }
}

impl Checker {
    /// The two fields every rate-limit vector asserts: the limited replica count and its
    /// reason.
    pub(crate) fn desired_and_reason(&mut self, exp: &Value, desired: i32, reason: &str) {
        let want_desired = exp.get("desiredReplicas").and_then(Value::as_i64);
        self.check("desiredReplicas", want_desired, i64::from(desired));
        let want_reason = exp
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.check("reason", want_reason, reason.to_string());
    }
}

/// Decodes a wire struct from JSON with a readable error.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("{what}: {e}"))
}
