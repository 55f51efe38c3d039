//! EventBridge's event pattern matching, as the EventBridge User Guide documents it ("Creating
//! event patterns", "Content filtering"): every member of the pattern must match the event; a list
//! matches when any of its values or filters does; a member that is an array in the event matches
//! when any of its elements does. The filters the stack's rules may use are supported (`prefix`,
//! `suffix`, `anything-but`, `exists`, `equals-ignore-case`); any other is refused, so that a rule
//! the soak cannot play fails the run instead of being played wrongly.

use serde_json::{Map, Value};

/// Whether `event` matches `pattern`; `Err` names a filter this matcher does not know.
pub fn matches(pattern: &Value, event: &Value) -> Result<bool, String> {
    let pattern = pattern.as_object().ok_or_else(|| format!("a pattern must be an object, not {pattern}"))?;
    object_matches(pattern, event.as_object())
}

fn object_matches(pattern: &Map<String, Value>, event: Option<&Map<String, Value>>) -> Result<bool, String> {
    for (key, wanted) in pattern {
        let value = event.and_then(|e| e.get(key));
        let matched = match wanted {
            Value::Object(nested) => object_matches(nested, value.and_then(Value::as_object))?,
            Value::Array(filters) => field_matches(filters, value)?,
            other => return Err(format!("pattern member {key:?} is {other}, but it must be an object or an array")),
        };
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One member: any filter of the list matches the value (any element of an array value).
fn field_matches(filters: &[Value], value: Option<&Value>) -> Result<bool, String> {
    for filter in filters {
        let hit = match value {
            Some(Value::Array(elements)) => {
                let mut any = false;
                for element in elements {
                    any |= filter_matches(filter, Some(element))?;
                }
                any || (elements.is_empty() && filter_matches(filter, None)?)
            }
            other => filter_matches(filter, other)?,
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

fn filter_matches(filter: &Value, value: Option<&Value>) -> Result<bool, String> {
    let Value::Object(filter) = filter else {
        // A plain value: exact equality (`null` matches a member that is null).
        return Ok(value == Some(filter));
    };
    let (name, argument) = match filter.iter().next() {
        Some(only) if filter.len() == 1 => only,
        _ => return Err(format!("a filter must have exactly one member: {}", Value::Object(filter.clone()))),
    };
    let text = value.and_then(Value::as_str);
    Ok(match name.as_str() {
        "exists" => match argument {
            Value::Bool(wanted) => value.is_some() == *wanted,
            other => return Err(format!("exists takes true or false, not {other}")),
        },
        "prefix" => text.zip(argument.as_str()).is_some_and(|(t, p)| t.starts_with(p)),
        "suffix" => text.zip(argument.as_str()).is_some_and(|(t, s)| t.ends_with(s)),
        "equals-ignore-case" => text.zip(argument.as_str()).is_some_and(|(t, a)| t.eq_ignore_ascii_case(a)),
        "anything-but" => match value {
            None => false,
            Some(value) => !anything_but_excludes(argument, value)?,
        },
        other => return Err(format!("the filter {other:?} is not played by the soak")),
    })
}

/// Whether `anything-but`'s argument (a value, a list of values, or a `prefix`/`suffix` filter)
/// names `value`.
fn anything_but_excludes(argument: &Value, value: &Value) -> Result<bool, String> {
    match argument {
        Value::Array(values) => Ok(values.contains(value)),
        Value::Object(_) => filter_matches(argument, Some(value)),
        scalar => Ok(scalar == value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_filters_of_the_stacks_rules_match_as_documented() {
        let pattern = json!({"source": [{"anything-but": "own"}], "detail-type": ["Requested"], "replay-name": [{"exists": false}]});
        assert!(matches(&pattern, &json!({"source": "team", "detail-type": "Requested"})).unwrap());
        assert!(!matches(&pattern, &json!({"source": "own", "detail-type": "Requested"})).unwrap());
        assert!(!matches(&pattern, &json!({"source": "team", "detail-type": "Requested", "replay-name": "r"})).unwrap());
        assert!(!matches(&pattern, &json!({"source": "team", "detail-type": "Other"})).unwrap());
        assert!(!matches(&pattern, &json!({"detail-type": "Requested"})).unwrap(), "anything-but needs the member");
        let nested = json!({"detail": {"instanceNotFound": [{"exists": false}]}, "resources": [{"prefix": "arn:"}]});
        assert!(matches(&nested, &json!({"detail": {}, "resources": ["x", "arn:a"]})).unwrap());
        assert!(!matches(&nested, &json!({"detail": {"instanceNotFound": true}, "resources": ["arn:a"]})).unwrap());
        assert!(matches(&json!({"a": [{"numeric": [">", 1]}]}), &json!({"a": 2})).is_err());
    }
}
