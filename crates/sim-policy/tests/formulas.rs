//! The scaling-modifier formula evaluator against `test_data/formulas.txt`.

use std::collections::BTreeMap;

use sim_policy::keda::{Formula, FormulaValue};

fn render(v: Result<FormulaValue, String>) -> String {
    match v {
        Ok(FormulaValue::Num(x)) => format!("{x}"),
        Ok(FormulaValue::Bool(b)) => format!("{b}"),
        Ok(FormulaValue::Nil) => "nil".to_string(),
        Err(e) => format!("error:{e}"),
    }
}

#[test]
fn formulas_evaluate_as_listed() {
    let path = format!("{}/test_data/formulas.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [formula, vars, expected] = parts.as_slice() else {
            panic!("line {}: need three fields", n + 1)
        };
        let mut map = BTreeMap::new();
        for kv in vars.split_whitespace() {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("line {}: bad variable {kv}", n + 1));
            map.insert(
                k.to_string(),
                if v == "nil" {
                    None
                } else {
                    Some(v.parse::<f64>().expect("number"))
                },
            );
        }
        let got = Formula::parse(formula)
            .and_then(|f| f.eval(&map))
            .map_err(|e| e.to_string());
        assert_eq!(render(got), *expected, "line {}: {formula}", n + 1);
        count += 1;
    }
    assert!(count > 0);
}
