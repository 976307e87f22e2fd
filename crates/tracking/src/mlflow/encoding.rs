//! MLflow's wire formats: fields of its JSON answers, metric values (NaN and ±Infinity must be
//! sent as strings) and percent-encoded URL path segments.

use serde_json::{json, Value};

use crate::{Result, TrackingError};

/// The string field `name` of an MLflow answer.
pub(super) fn str_field(value: &Value, name: &str) -> Result<String> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| TrackingError::Invalid(format!("MLflow answer lacks `{name}`: {value}")))
}

pub(super) fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A metric value as MLflow accepts it: non-finite values as the strings it understands.
pub(super) fn metric_value(value: f64) -> Value {
    if value.is_nan() {
        json!("NaN")
    } else if value == f64::INFINITY {
        json!("Infinity")
    } else if value == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(value)
    }
}

pub(super) fn parse_metric_value(value: &Value) -> f64 {
    match value {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_metrics_are_sent_as_strings() {
        assert_eq!(metric_value(f64::NAN), json!("NaN"));
        assert_eq!(metric_value(f64::INFINITY), json!("Infinity"));
        assert_eq!(metric_value(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(metric_value(0.5), json!(0.5));
        assert!(parse_metric_value(&json!("NaN")).is_nan());
        assert_eq!(parse_metric_value(&json!(2.0)), 2.0);
    }
}
