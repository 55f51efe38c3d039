//! The sweep's input: a scheduled run with the configured settings, or a direct invoke that overrides
//! the mode and the cap for one run. Anything else is `InvalidInput`.

use serde_json::{Map, Value};

use crate::config::SweepMode;
use crate::error::kind_of;
use crate::error::Error;
use crate::input::refuse_near_misses;

/// The shapes the sweep accepts, for error messages.
pub(crate) const SWEEP_SHAPES: &str = "accepted shapes: {} or an EventBridge \"Scheduled Event\" (a run with the configured \
settings); or a direct invoke {\"mode\": \"report\" | \"delete\", \"maxDeletions\": <whole number from 1>}, each member \
optional (see events/sweep/)";

/// The members of a direct invoke.
pub(crate) const SWEEP_MEMBERS: [&str; 2] = ["mode", "maxDeletions"];

/// One run's overrides of the configured settings; `None` keeps the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SweepRequest {
    pub mode: Option<SweepMode>,
    pub max_deletions: Option<u32>,
}

/// Classifies a sweep event.
///
/// - `{}` or `null` (what the stack's schedule sends) runs with the configured settings.
/// - An EventBridge scheduled event (`"detail-type": "Scheduled Event"`, as a scheduled rule sends)
///   does too: its `detail` carries nothing for the sweep.
/// - `{"mode", "maxDeletions"}` overrides either for this run. A near miss of either member (such as
///   `max_deletions`) and any other member are refused, so that a misspelt override never runs a
///   sweep with settings the caller did not mean.
pub(crate) fn parse_sweep_event(event: &Value) -> Result<SweepRequest, Error> {
    let object = match event {
        Value::Null => return Ok(SweepRequest::default()),
        Value::Object(object) => object,
        other => {
            return Err(invalid(format!("the event is {}, but it must be a JSON object; {SWEEP_SHAPES}", kind_of(other))));
        }
    };
    if object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(SweepRequest::default());
    }
    refuse_near_misses("the event", object, &SWEEP_MEMBERS)?;
    if let Some(unknown) = object.keys().find(|k| !SWEEP_MEMBERS.contains(&k.as_str())) {
        return Err(invalid(format!("the event has the member {unknown:?}, which the sweep does not accept; {SWEEP_SHAPES}")));
    }
    Ok(SweepRequest { mode: mode_of(object)?, max_deletions: max_deletions_of(object)? })
}

fn mode_of(object: &Map<String, Value>) -> Result<Option<SweepMode>, Error> {
    match object.get("mode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => SweepMode::parse(text)
            .map(Some)
            .ok_or_else(|| invalid(format!("\"mode\" is {:?}, but it must be \"report\" or \"delete\"", truncated(text)))),
        Some(other) => Err(invalid(format!("\"mode\" is {}, but it must be \"report\" or \"delete\"", kind_of(other)))),
    }
}

fn max_deletions_of(object: &Map<String, Value>) -> Result<Option<u32>, Error> {
    match object.get("maxDeletions") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(invalid(format!("\"maxDeletions\" is {n}, but it must be a whole number from 1 to {}", u32::MAX))),
        },
        Some(other) => Err(invalid(format!("\"maxDeletions\" is {}, but it must be a whole number from 1", kind_of(other)))),
    }
}

/// User text cut short, so that a message never carries a payload.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(event: Value) -> String {
        match parse_sweep_event(&event) {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput for {event}, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_event_runs_with_the_configured_settings() {
        assert_eq!(parse_sweep_event(&json!({})).unwrap(), SweepRequest::default());
        assert_eq!(parse_sweep_event(&Value::Null).unwrap(), SweepRequest::default());
    }

    #[test]
    fn a_scheduled_event_runs_with_the_configured_settings() {
        let event = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        assert_eq!(parse_sweep_event(&event).unwrap(), SweepRequest::default());
    }

    #[test]
    fn a_direct_invoke_overrides_mode_and_cap() {
        let request = parse_sweep_event(&json!({"mode": "delete", "maxDeletions": 3})).unwrap();
        assert_eq!(request, SweepRequest { mode: Some(SweepMode::Delete), max_deletions: Some(3) });
        let request = parse_sweep_event(&json!({"mode": "report"})).unwrap();
        assert_eq!(request, SweepRequest { mode: Some(SweepMode::Report), max_deletions: None });
    }

    #[test]
    fn a_near_miss_names_the_member_meant() {
        assert!(message(json!({"max_deletions": 3})).contains("did you mean maxDeletions?"));
        assert!(message(json!({"Mode": "delete"})).contains("did you mean mode?"));
    }

    #[test]
    fn any_other_member_is_refused_with_the_accepted_shapes() {
        let text = message(json!({"mode": "delete", "instanceId": "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1"}));
        assert!(text.contains("\"instanceId\"") && text.contains("accepted shapes"), "{text}");
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        assert!(message(json!({"mode": "Delete"})).contains("must be \"report\" or \"delete\""));
        assert!(message(json!({"mode": true})).contains("\"mode\" is a boolean"));
        for bad in [json!(0), json!(-1), json!(1.5), json!(4_294_967_296u64), json!("3")] {
            assert!(message(json!({"maxDeletions": bad})).contains("whole number from 1"), "{bad}");
        }
        assert!(message(json!([])).contains("must be a JSON object"));
    }
}
