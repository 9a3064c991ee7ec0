//! Runs every vector file in `test_data/` and rejects bad files with a clear error.

use sim_conformance::{Outcome, run_text};

fn check(file: &str) -> (usize, usize) {
    let path = format!("{}/test_data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let results = run_text(file, &text).unwrap_or_else(|e| panic!("{e}"));
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Fail(why) => Some(format!("FAIL {}: {why}", r.name)),
            _ => None,
        })
        .collect();
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
    let passed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Pass)
        .count();
    (passed, results.len())
}

#[test]
fn hpa_vectors_pass() {
    let (passed, total) = check("hpa_cases.json");
    assert_eq!(passed, total);
}

#[test]
fn keda_vectors_pass() {
    let (passed, total) = check("keda_cases.json");
    assert_eq!(passed, total);
}

#[test]
fn extra_vectors_pass() {
    let (passed, total) = check("extra_cases.json");
    assert!(passed > 0 && passed <= total);
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let err = run_text("broken.json", "[\n  {\"name\": \"x\",\n  }\n]").unwrap_err();
    assert!(
        err.message.starts_with("broken.json:3:3:"),
        "{}",
        err.message
    );
}

#[test]
fn non_array_and_nameless_vectors_are_rejected() {
    assert!(
        run_text("o.json", "{}")
            .unwrap_err()
            .message
            .contains("expected a JSON array")
    );
    assert!(
        run_text("n.json", "[{\"kind\": \"legacy_rate\"}]")
            .unwrap_err()
            .message
            .contains("vector #0")
    );
}

#[test]
fn wrong_expectation_fails_and_uncertain_skips() {
    let v = r#"[{"name": "a", "kind": "legacy_rate", "input": {"current_replicas": 3, "desired_replicas": 1,
        "min_replicas": 2, "max_replicas": 8, "scale_up_limit_factor": 2.0, "scale_up_limit_minimum": 4.0},
        "expected": {"desiredReplicas": 3, "reason": "TooFewReplicas"}},
        {"name": "b", "kind": "legacy_rate", "uncertain": true, "uncertain_reason": "fork only", "input": {}, "expected": {}},
        {"name": "c", "kind": "no_such_kind", "input": {}, "expected": {}}]"#;
    let r = run_text("t.json", v).unwrap();
    assert_eq!(
        r[0].outcome,
        Outcome::Fail("desiredReplicas: expected 3 got 2".into())
    );
    assert_eq!(r[1].outcome, Outcome::Skip("fork only".into()));
    assert!(matches!(&r[2].outcome, Outcome::Fail(m) if m.contains("unknown kind")));
}
