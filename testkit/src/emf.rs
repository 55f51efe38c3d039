//! A validator of CloudWatch embedded metric format (EMF) documents, written from the published
//! specification (CloudWatch User Guide, "Specification: Embedded metric format", and the
//! `Dimension` and `MetricDatum` types of the CloudWatch API it refers to), not from the code that
//! writes the lines.

use serde_json::{Map, Value};

/// The units a `MetricDefinition` may name (the `StandardUnit` values of `MetricDatum`).
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A log event is at most 256 KB (the limit the specification gives for an EMF document).
const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Parses one log line as an EMF document and checks every rule of the specification; the error
/// names the rule broken.
pub fn validate(line: &str) -> Result<Map<String, Value>, String> {
    if line.len() > MAX_EVENT_BYTES {
        return Err(format!("the event is {} bytes, more than 256 KB", line.len()));
    }
    // "a valid JSON object with no additional data at the beginning or end"
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON text: {e}"))?;
    let Value::Object(root) = root else { return Err("the root is not a JSON object".into()) };
    let aws = object(root.get("_aws").ok_or("no _aws member on the root")?, "_aws")?;
    only(aws, &["CloudWatchMetrics", "Timestamp", "LogGroupName"], "_aws")?;
    // Timestamp: a number of milliseconds after the epoch.
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        other => return Err(format!("_aws.Timestamp must be a whole number of milliseconds, got {other:?}")),
    }
    let directives = array(aws.get("CloudWatchMetrics").ok_or("no _aws.CloudWatchMetrics")?, "_aws.CloudWatchMetrics")?;
    if directives.is_empty() {
        return Err("_aws.CloudWatchMetrics has no MetricDirective".into());
    }
    for (i, directive) in directives.iter().enumerate() {
        metric_directive(directive, &format!("MetricDirective {i}"), &root)?;
    }
    Ok(root)
}

/// Checks one `MetricDirective` (named `place` in errors), and the members of `root` it points at.
fn metric_directive(directive: &Value, place: &str, root: &Map<String, Value>) -> Result<(), String> {
    let directive = object(directive, place)?;
    only(directive, &["Namespace", "Dimensions", "Metrics"], place)?;
    let namespace = string(directive.get("Namespace").ok_or(format!("{place}: no Namespace"))?, "Namespace")?;
    length(namespace, 1, 255, "Namespace")?;

    let sets = array(directive.get("Dimensions").ok_or(format!("{place}: no Dimensions"))?, "Dimensions")?;
    if sets.is_empty() {
        return Err(format!("{place}: Dimensions must hold at least one DimensionSet"));
    }
    for set in sets {
        let keys = array(set, "DimensionSet")?;
        if keys.len() > 30 {
            return Err(format!("{place}: a DimensionSet of {} keys (at most 30)", keys.len()));
        }
        for key in keys {
            dimension(key, root)?;
        }
    }

    let metrics = array(directive.get("Metrics").ok_or(format!("{place}: no Metrics"))?, "Metrics")?;
    if metrics.len() > 100 {
        return Err(format!("{place}: {} MetricDefinitions (at most 100)", metrics.len()));
    }
    for definition in metrics {
        metric_definition(definition, root)?;
    }
    Ok(())
}

/// Checks one key of a `DimensionSet` and the member of `root` it names.
fn dimension(key: &Value, root: &Map<String, Value>) -> Result<(), String> {
    let key = string(key, "dimension key")?;
    length(key, 1, 255, "dimension key")?;
    ascii_visible(key, "dimension key")?;
    if key.starts_with(':') {
        return Err(format!("dimension key {key:?} starts with a colon"));
    }
    // The target member of a dimension: a string (the Dimension type's value rules).
    let value = root.get(key).ok_or(format!("dimension {key:?} has no member on the root"))?;
    let value = string(value, &format!("dimension {key:?}"))?;
    length(value, 1, 1024, &format!("value of dimension {key:?}"))?;
    ascii_visible(value, &format!("value of dimension {key:?}"))
}

/// Checks one `MetricDefinition` and the member of `root` it names.
fn metric_definition(definition: &Value, root: &Map<String, Value>) -> Result<(), String> {
    let definition = object(definition, "MetricDefinition")?;
    only(definition, &["Name", "Unit", "StorageResolution"], "MetricDefinition")?;
    let name = string(definition.get("Name").ok_or("a MetricDefinition without Name")?, "metric Name")?;
    length(name, 1, 255, "metric Name")?;
    if let Some(unit) = definition.get("Unit") {
        let unit = string(unit, "Unit")?;
        if !UNITS.contains(&unit) {
            return Err(format!("metric {name:?}: {unit:?} is not a CloudWatch unit"));
        }
    }
    if let Some(resolution) = definition.get("StorageResolution") {
        if resolution != 1 && resolution != 60 {
            return Err(format!("metric {name:?}: StorageResolution must be 1 or 60"));
        }
    }
    // The target member of a metric: a number, or an array of at most 100 numbers.
    match root.get(name) {
        Some(Value::Number(_)) => Ok(()),
        Some(Value::Array(values)) if values.len() <= 100 && values.iter().all(Value::is_number) => Ok(()),
        Some(other) => Err(format!("metric {name:?}: {other} is not a number or an array of at most 100 numbers")),
        None => Err(format!("metric {name:?} has no member on the root")),
    }
}

/// Every EMF document among a process's log lines (those with an `_aws` member), each validated;
/// panics naming the line and the rule it breaks.
pub fn documents(logs: &str) -> Vec<Map<String, Value>> {
    logs.lines()
        .filter(|line| line.contains("\"_aws\""))
        .map(|line| validate(line).unwrap_or_else(|e| panic!("not a valid EMF document ({e}):\n{line}")))
        .collect()
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value.as_object().ok_or(format!("{what} is not an object"))
}

fn array<'a>(value: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    value.as_array().ok_or(format!("{what} is not an array"))
}

fn string<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value.as_str().ok_or(format!("{what} is not a string: {value}"))
}

fn length(text: &str, min: usize, max: usize, what: &str) -> Result<(), String> {
    if (min..=max).contains(&text.len()) {
        Ok(())
    } else {
        Err(format!("{what} {text:?} is not {min} to {max} characters"))
    }
}

fn ascii_visible(text: &str, what: &str) -> Result<(), String> {
    if text.is_ascii() && !text.chars().any(|c| c.is_ascii_control()) && !text.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("{what} {text:?} must be ASCII without control characters, and not blank"))
    }
}

/// "objects defined by this specification MUST NOT contain any additional members".
fn only(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(extra) => Err(format!("{what} has the member {extra:?}, which the specification does not define")),
        None => Ok(()),
    }
}
