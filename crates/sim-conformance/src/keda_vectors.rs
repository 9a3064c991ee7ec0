//! Wire structs and runners for the KEDA vector kinds (`keda.md` §0).

use serde_json::Value;

pub(crate) fn run(kind: &str, _input: Value, _expected: &Value) -> Result<Vec<String>, String> {
    Err(format!("unknown kind {kind:?}"))
}
