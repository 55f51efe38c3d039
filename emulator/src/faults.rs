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
/// `"DeleteInstance"`, or `"*"` for any call).
///
/// Rules are tried in the order they were added; each matching call consumes one unit of the
/// first rule that still has some left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// The operation name, or `"*"`.
    pub operation: String,
    /// How many calls the rule still applies to.
    pub count: u32,
    /// What happens to those calls.
    pub fault: Fault,
}

impl FaultRule {
    /// A rule for the next `count` calls of `operation`.
    pub fn new(operation: impl Into<String>, count: u32, fault: Fault) -> FaultRule {
        FaultRule {
            operation: operation.into(),
            count,
            fault,
        }
    }

    pub(crate) fn matches(&self, operation: &str) -> bool {
        self.count > 0 && (self.operation == "*" || self.operation == operation)
    }
}

/// Takes one unit from the first rule matching `operation`, dropping rules that are used up.
pub(crate) fn take(rules: &mut Vec<FaultRule>, operation: &str) -> Option<Fault> {
    let index = rules.iter().position(|r| r.matches(operation))?;
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
        assert_eq!(take(&mut rules, "GetInstance"), Some(Fault::Internal));
        assert_eq!(take(&mut rules, "DeleteInstance"), Some(Fault::Throttle));
        assert_eq!(take(&mut rules, "DeleteInstance"), Some(Fault::Internal));
        assert_eq!(take(&mut rules, "DeleteInstance"), None);
        assert!(rules.is_empty());
    }
}
