//! Fault injection: rules that make the next calls of an operation fail in a chosen way.

use serde::{Deserialize, Serialize};

/// What happens to a call hit by a [`FaultRule`].
///
/// Serialized with a `type` tag, for example `{"type":"throttle"}` or
/// `{"type":"error","status":429,"errorType":"ThrottlingException","message":"slow down"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Fault {
    /// Answer with this status, `x-amzn-errortype` and message.
    Error {
        /// HTTP status code.
        status: u16,
        /// The error type (shape name) sent in `x-amzn-errortype`.
        #[serde(rename = "errorType")]
        error_type: String,
        /// The message; a generic one is used when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// 429 `ThrottlingException`.
    Throttle,
    /// 500 `InternalServerException`.
    Internal,
    /// 503 `ServiceUnavailableException`.
    Unavailable,
    /// Wait this long, then serve the call normally.
    Delay {
        /// The wait in milliseconds.
        millis: u64,
    },
    /// Close the TCP connection without any response.
    Drop,
    /// Never answer; the connection stays open until the client gives up or the emulator stops.
    Hang,
}

impl Fault {
    /// A custom error answer.
    pub fn error(status: u16, error_type: impl Into<String>, message: impl Into<String>) -> Fault {
        Fault::Error {
            status,
            error_type: error_type.into(),
            message: Some(message.into()),
        }
    }

    /// A delay of `millis` milliseconds before the call is served.
    pub fn delay(millis: u64) -> Fault {
        Fault::Delay { millis }
    }

    /// The short name recorded in [`CallRecord::fault`](crate::CallRecord::fault).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Error { .. } => "error",
            Fault::Throttle => "throttle",
            Fault::Internal => "internal",
            Fault::Unavailable => "unavailable",
            Fault::Delay { .. } => "delay",
            Fault::Drop => "drop",
            Fault::Hang => "hang",
        }
    }

    /// The error answer this fault produces, if it produces one: status, error type, message.
    pub(crate) fn as_error(&self) -> Option<(u16, String, String)> {
        match self {
            Fault::Error {
                status,
                error_type,
                message,
            } => Some((
                *status,
                error_type.clone(),
                message
                    .clone()
                    .unwrap_or_else(|| format!("Injected {error_type}")),
            )),
            Fault::Throttle => Some((429, "ThrottlingException".into(), "Rate exceeded".into())),
            Fault::Internal => Some((
                500,
                "InternalServerException".into(),
                "An internal error occurred".into(),
            )),
            Fault::Unavailable => Some((
                503,
                "ServiceUnavailableException".into(),
                "Service is temporarily unavailable".into(),
            )),
            Fault::Delay { .. } | Fault::Drop | Fault::Hang => None,
        }
    }
}

/// Applies `fault` to the next `count` calls of `operation` (an operation name such as
/// `"DeleteInstance"`, or `"*"` for any call), optionally only to calls about one instance and only
/// after the first `skip` matching calls.
///
/// Rules are tried in the order they were added; a rule still skipping counts the call and lets it
/// through to the next rules; each matching call consumes one unit of the first rule that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// The operation name, or `"*"`.
    pub operation: String,
    /// How many calls the rule still applies to.
    pub count: u32,
    /// What happens to those calls.
    pub fault: Fault,
    /// Only calls about this instance (by id, or by the instance ARN of a tag operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Matching calls served normally before the rule applies (for example 1: the second page of a listing).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl FaultRule {
    /// A rule for the next `count` calls of `operation`.
    pub fn new(operation: impl Into<String>, count: u32, fault: Fault) -> FaultRule {
        FaultRule {
            operation: operation.into(),
            count,
            fault,
            instance_id: None,
            skip: 0,
        }
    }

    /// The same rule, for calls about `instance_id` only.
    pub fn for_instance(self, instance_id: impl Into<String>) -> FaultRule {
        FaultRule { instance_id: Some(instance_id.into()), ..self }
    }

    /// The same rule, applying only after `skip` matching calls were served normally.
    pub fn after(self, skip: u32) -> FaultRule {
        FaultRule { skip, ..self }
    }

    pub(crate) fn matches(&self, operation: &str, instance_id: Option<&str>) -> bool {
        self.count > 0
            && (self.operation == "*" || self.operation == operation)
            && self.instance_id.as_deref().is_none_or(|wanted| Some(wanted) == instance_id)
    }
}

/// Takes one unit from the first rule that applies to a call of `operation` about `instance_id`,
/// counting the call in the rules still skipping before it, and drops rules that are used up.
pub(crate) fn take(rules: &mut Vec<FaultRule>, operation: &str, instance_id: Option<&str>) -> Option<Fault> {
    let mut applies = None;
    for (index, rule) in rules.iter_mut().enumerate() {
        if !rule.matches(operation, instance_id) {
            continue;
        }
        if rule.skip > 0 {
            rule.skip -= 1;
            continue;
        }
        applies = Some(index);
        break;
    }
    let index = applies?;
    let rule = &mut rules[index];
    rule.count -= 1;
    let fault = rule.fault.clone();
    if rule.count == 0 {
        rules.remove(index);
    }
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_use_the_documented_json_forms() {
        let f: Fault = serde_json::from_str(
            r#"{"type":"error","status":429,"errorType":"ThrottlingException","message":"m"}"#,
        )
        .unwrap();
        assert_eq!(f, Fault::error(429, "ThrottlingException", "m"));
        let f: Fault = serde_json::from_str(r#"{"type":"delay","millis":5}"#).unwrap();
        assert_eq!(f, Fault::delay(5));
        let f: Fault = serde_json::from_str(r#"{"type":"hang"}"#).unwrap();
        assert_eq!(f, Fault::Hang);
    }

    #[test]
    fn rules_are_consumed_in_insertion_order_one_call_at_a_time() {
        let mut rules = vec![
            FaultRule::new("DeleteInstance", 1, Fault::Throttle),
            FaultRule::new("*", 2, Fault::Internal),
        ];
        assert_eq!(take(&mut rules, "GetInstance", None), Some(Fault::Internal));
        assert_eq!(take(&mut rules, "DeleteInstance", None), Some(Fault::Throttle));
        assert_eq!(take(&mut rules, "DeleteInstance", None), Some(Fault::Internal));
        assert_eq!(take(&mut rules, "DeleteInstance", None), None);
        assert!(rules.is_empty());
    }

    #[test]
    fn a_rule_for_one_instance_leaves_the_others_alone() {
        let mut rules = vec![FaultRule::new("ListTagsForResource", 5, Fault::Internal).for_instance("a")];
        assert_eq!(take(&mut rules, "ListTagsForResource", Some("b")), None);
        assert_eq!(take(&mut rules, "ListTagsForResource", None), None);
        assert_eq!(take(&mut rules, "ListTagsForResource", Some("a")), Some(Fault::Internal));
    }

    #[test]
    fn a_rule_after_n_calls_serves_those_first() {
        let mut rules = vec![FaultRule::new("ListInstances", 1, Fault::Throttle).after(2)];
        assert_eq!(take(&mut rules, "ListInstances", None), None);
        assert_eq!(take(&mut rules, "GetInstance", None), None);
        assert_eq!(take(&mut rules, "ListInstances", None), None);
        assert_eq!(take(&mut rules, "ListInstances", None), Some(Fault::Throttle));
        assert_eq!(take(&mut rules, "ListInstances", None), None);
        let rule: FaultRule = serde_json::from_str(r#"{"operation":"ListInstances","count":1,"fault":{"type":"throttle"},"skip":1,"instanceId":"a"}"#).unwrap();
        assert_eq!(rule, FaultRule::new("ListInstances", 1, Fault::Throttle).after(1).for_instance("a"));
    }
}
