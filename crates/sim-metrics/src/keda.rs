//! How KEDA's `prometheus` scaler turns a query result into one number.

use crate::eval::Value;

/// Why KEDA's prometheus scaler would report an error for a query result.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum KedaError {
    /// No series, and `ignoreNullValues` is false.
    #[error("prometheus metrics 'prometheus' target may be lost, the result is empty")]
    Empty,
    /// More than one series: the query must aggregate to one element.
    #[error("prometheus query returned multiple elements ({0})")]
    MultipleElements(usize),
    /// NaN or an infinity, and `ignoreNullValues` is false.
    #[error("prometheus query returns {0}")]
    NotFinite(f64),
    /// A scalar result. KEDA decodes `data.result` as a list of series, so the scalar
    /// form of the HTTP API response fails to decode.
    #[error("prometheus query returned a scalar; KEDA can only decode a vector result")]
    Scalar,
}

/// The number KEDA's `prometheus` scaler takes from a query result (keda.md §5,
/// "Query execution", from `ExecutePromQuery` in `pkg/scalers/prometheus_scaler.go`):
///
/// * an empty vector gives 0 when `ignore_null_values` (KEDA's default), else an error;
/// * more than one element is always an error;
/// * NaN or ±Inf gives 0 when `ignore_null_values`, else an error;
/// * any other value, negative ones included, is returned unchanged.
///
/// A [`Value::Scalar`] is an error: KEDA's response type has no scalar form (our reading
/// of the decoder; KEDA's docs say a scalar works, but the code cannot decode one).
pub fn query_scalar_for_keda(value: &Value, ignore_null_values: bool) -> Result<f64, KedaError> {
    let v = match value {
        Value::Scalar(_) => return Err(KedaError::Scalar),
        Value::Vector(v) if v.is_empty() => {
            return if ignore_null_values {
                Ok(0.0)
            } else {
                Err(KedaError::Empty)
            };
        }
        Value::Vector(v) if v.len() > 1 => return Err(KedaError::MultipleElements(v.len())),
        Value::Vector(v) => v[0].1,
    };
    if v.is_finite() {
        Ok(v)
    } else if ignore_null_values {
        Ok(0.0)
    } else {
        Err(KedaError::NotFinite(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    fn one(v: f64) -> Value {
        Value::Vector(vec![(Labels::default(), v)])
    }

    #[test]
    fn keda_rules() {
        let empty = Value::Vector(Vec::new());
        assert_eq!(query_scalar_for_keda(&empty, true), Ok(0.0));
        assert_eq!(query_scalar_for_keda(&empty, false), Err(KedaError::Empty));
        let two = Value::Vector(vec![
            (Labels::new([("a", "1")]), 1.0),
            (Labels::new([("a", "2")]), 2.0),
        ]);
        assert_eq!(
            query_scalar_for_keda(&two, true),
            Err(KedaError::MultipleElements(2))
        );
        assert_eq!(query_scalar_for_keda(&one(-2.5), false), Ok(-2.5));
        assert_eq!(query_scalar_for_keda(&one(f64::INFINITY), true), Ok(0.0));
        assert!(matches!(
            query_scalar_for_keda(&one(f64::NAN), false),
            Err(KedaError::NotFinite(_))
        ));
        assert_eq!(
            query_scalar_for_keda(&Value::Scalar(1.0), true),
            Err(KedaError::Scalar)
        );
    }
}
