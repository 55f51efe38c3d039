//! Fault injection and the call log, one system for both servers: the emulator's own Supply Chain
//! API and the proxy in front of another endpoint ([`crate::proxy`]).
//!
//! A [`FaultRule`] makes the next calls of an operation fail in a chosen way ([`Fault`]); each server
//! keeps its pending rules and its call log in a `Ledger`, takes the fault for a call from it, logs
//! the call as a [`CallRecord`], and renders an error fault in its protocol's wire form with
//! [`Protocol::error_of`], so that the AWS SDKs parse it as they parse the real service's errors.
//! The admin operations on rules and calls (`faults`, `calls`) are the same for both servers.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::{self, Dropped, Request, Response, StopSignal};

/// What happens to a call hit by a [`FaultRule`].
///
/// Serialized with a `type` tag and camelCase fields, for example `{"type":"throttle"}`,
/// `{"type":"error","status":429,"errorType":"ThrottlingException","message":"slow down"}`,
/// `{"type":"respond","status":200,"headers":[["content-type","application/json"]],"body":"{}"}`
/// or `{"type":"failEntry","index":1,"errorCode":"InternalFailure","errorMessage":"m"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Fault {
    /// Answer with this status, error type and message (a generic message when absent).
    Error {
        /// HTTP status code.
        status: u16,
        /// The error type (shape name), sent in `x-amzn-errortype` (and `__type` on AWS JSON).
        error_type: String,
        /// The message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// `ThrottlingException`: 429 on restJson1 (Supply Chain, Scheduler), 400 on AWS JSON
    /// (EventBridge, SQS), as each service answers.
    Throttle,
    /// 500: `InternalServerException` on restJson1, `InternalException` on AWS JSON.
    Internal,
    /// 503: `ServiceUnavailableException` on restJson1, `ServiceUnavailable` on AWS JSON.
    Unavailable,
    /// Wait this long, then serve (or forward) the call normally.
    Delay {
        /// The wait in milliseconds.
        millis: u64,
    },
    /// Close the TCP connection without any response.
    Drop,
    /// Never answer; the connection stays open until the client gives up or the server stops.
    Hang,
    /// Answer this canned response instead of serving (emulator) or forwarding (proxy) the call. A
    /// `content-type` matching the call's protocol and an `x-amzn-requestid` are added when
    /// `headers` lacks them.
    Respond {
        /// HTTP status code.
        status: u16,
        /// Response headers, in order.
        #[serde(default)]
        headers: Vec<(String, String)>,
        /// Response body.
        #[serde(default)]
        body: String,
    },
    /// Proxy, PutEvents only: forward the call, then rewrite a 200 answer so that every entry failed
    /// with this code and message, and `FailedEntryCount` is the number of entries. The upstream
    /// still received the events. Other operations and non-200 answers pass through unchanged.
    FailEntries {
        /// The `ErrorCode` of every entry, for example `InternalFailure`.
        error_code: String,
        /// The `ErrorMessage` of every entry.
        error_message: String,
    },
    /// Like [`Fault::FailEntries`], but only the entry at `index` (from 0) fails; the others keep the
    /// upstream's answer and `FailedEntryCount` counts every failed entry.
    FailEntry {
        /// The position of the failed entry in the request.
        index: usize,
        /// Its `ErrorCode`.
        error_code: String,
        /// Its `ErrorMessage`.
        error_message: String,
    },
}

impl Fault {
    /// A custom error answer.
    pub fn error(status: u16, error_type: impl Into<String>, message: impl Into<String>) -> Fault {
        Fault::Error { status, error_type: error_type.into(), message: Some(message.into()) }
    }

    /// A delay of `millis` milliseconds before the call is served.
    pub fn delay(millis: u64) -> Fault {
        Fault::Delay { millis }
    }

    /// A canned JSON answer with the protocol's content type.
    pub fn respond(status: u16, body: impl Into<String>) -> Fault {
        Fault::Respond { status, headers: Vec::new(), body: body.into() }
    }

    /// Every PutEvents entry fails with `error_code`.
    pub fn fail_entries(error_code: impl Into<String>, error_message: impl Into<String>) -> Fault {
        Fault::FailEntries { error_code: error_code.into(), error_message: error_message.into() }
    }

    /// The PutEvents entry at `index` fails with `error_code`.
    pub fn fail_entry(index: usize, error_code: impl Into<String>, error_message: impl Into<String>) -> Fault {
        Fault::FailEntry { index, error_code: error_code.into(), error_message: error_message.into() }
    }

    /// The short name recorded in [`CallRecord::fault`].
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Error { .. } => "error",
            Fault::Throttle => "throttle",
            Fault::Internal => "internal",
            Fault::Unavailable => "unavailable",
            Fault::Delay { .. } => "delay",
            Fault::Drop => "drop",
            Fault::Hang => "hang",
            Fault::Respond { .. } => "respond",
            Fault::FailEntries { .. } => "failEntries",
            Fault::FailEntry { .. } => "failEntry",
        }
    }
}

/// The wire protocol of a call, which decides how an error fault is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// restJson1 (Supply Chain, EventBridge Scheduler): the error type in `x-amzn-errortype`.
    RestJson,
    /// AWS JSON 1.0 or 1.1 (EventBridge, SQS), answered with the request's content type; the
    /// error type also in the body's `__type`.
    AwsJson {
        /// The request's content type, such as `application/x-amz-json-1.1`.
        content_type: String,
    },
    /// The AWS Query protocol (STS): errors as an XML `<ErrorResponse>` with the code in `<Code>`.
    Query,
}

impl Protocol {
    /// The content type of answers.
    pub fn content_type(&self) -> &str {
        match self {
            Protocol::AwsJson { content_type } => content_type,
            Protocol::RestJson => "application/json",
            Protocol::Query => "text/xml",
        }
    }

    /// The error answer `fault` makes in this protocol (status, error type, message), or `None`
    /// for a fault that is not an error answer.
    pub fn error_of(&self, fault: &Fault) -> Option<(u16, String, String)> {
        let json = matches!(self, Protocol::AwsJson { .. });
        let (status, error_type, message) = match fault {
            Fault::Error { status, error_type, message } => {
                (*status, error_type.as_str(), message.clone().unwrap_or_else(|| format!("Injected {error_type}")))
            }
            // STS's own codes: `Throttling` (400), `InternalFailure` (500), `ServiceUnavailable` (503).
            Fault::Throttle if *self == Protocol::Query => (400, "Throttling", "Rate exceeded".into()),
            Fault::Internal if *self == Protocol::Query => (500, "InternalFailure", "An internal error occurred".into()),
            Fault::Unavailable if *self == Protocol::Query => (503, "ServiceUnavailable", "Service is temporarily unavailable".into()),
            Fault::Throttle => (if json { 400 } else { 429 }, "ThrottlingException", "Rate exceeded".into()),
            Fault::Internal => {
                (500, if json { "InternalException" } else { "InternalServerException" }, "An internal error occurred".into())
            }
            Fault::Unavailable => {
                (503, if json { "ServiceUnavailable" } else { "ServiceUnavailableException" }, "Service is temporarily unavailable".into())
            }
            Fault::Delay { .. }
            | Fault::Drop
            | Fault::Hang
            | Fault::Respond { .. }
            | Fault::FailEntries { .. }
            | Fault::FailEntry { .. } => return None,
        };
        Some((status, error_type.to_owned(), message))
    }

    /// A canned answer ([`Fault::Respond`]): the status, headers and body as given, with this
    /// protocol's content type and `request_id` as `x-amzn-requestid` when `headers` lacks them.
    pub(crate) fn canned_response(&self, request_id: &str, status: u16, headers: &[(String, String)], body: &str) -> Response {
        let mut builder = hyper::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has("content-type") {
            builder = builder.header(hyper::header::CONTENT_TYPE, self.content_type());
        }
        if !has("x-amzn-requestid") {
            builder = builder.header("x-amzn-requestid", request_id);
        }
        builder.body(http_body_util::Full::new(Bytes::from(body.to_owned()))).unwrap_or_else(|e| {
            self.error_response(request_id, 500, "InvalidCannedResponse", &format!("The canned response is not valid HTTP: {e}"))
        })
    }

    /// An error answer in this protocol's wire form: the protocol's content type, the
    /// `x-amzn-requestid` and `x-amzn-errortype` headers, and a body `{"message": ...}` (with
    /// `"__type"`, the error type, on AWS JSON); on the Query protocol, `x-amzn-requestid` and an
    /// XML `<ErrorResponse>`.
    pub(crate) fn error_response(&self, request_id: &str, status: u16, error_type: &str, message: &str) -> Response {
        if *self == Protocol::Query {
            let body = crate::query::error_xml(status, error_type, message, request_id);
            return http::xml(status, body, request_id);
        }
        let body = match self {
            Protocol::AwsJson { .. } => json!({ "__type": error_type, "message": message }),
            Protocol::RestJson | Protocol::Query => json!({ "message": message }),
        };
        let mut response =
            http::json(status, &body, &[("x-amzn-requestid", request_id.to_owned()), ("x-amzn-errortype", error_type.to_owned())]);
        if let Ok(value) = hyper::header::HeaderValue::from_str(self.content_type()) {
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
        }
        response
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
        FaultRule { operation: operation.into(), count, fault, instance_id: None, skip: 0 }
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

/// One rule or a list of them, as the admin APIs take them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FaultRules {
    One(FaultRule),
    Many(Vec<FaultRule>),
}

impl FaultRules {
    fn into_vec(self) -> Vec<FaultRule> {
        match self {
            FaultRules::One(rule) => vec![rule],
            FaultRules::Many(rules) => rules,
        }
    }
}

/// Takes one unit from the first rule that applies to a call of `operation` about `instance_id`,
/// counting the call in the rules still skipping before it, and drops rules that are used up.
fn take(rules: &mut Vec<FaultRule>, operation: &str, instance_id: Option<&str>) -> Option<Fault> {
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

/// What a server does with a call hit by `drop` or `hang`, once the call is logged: close the
/// connection without an answer, at once for `drop`; for `hang`, when the server stops (or never:
/// hyper drops this future when the client gives up).
pub(crate) async fn leave_unanswered(fault: &Fault, mut stop: StopSignal) -> Dropped {
    if *fault == Fault::Hang {
        stop.stopped().await;
    }
    Dropped
}

/// The fault rules still pending and the calls received, of one server.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// The pending rules, in insertion order.
    pub(crate) rules: Vec<FaultRule>,
    /// The calls received, oldest first.
    pub(crate) calls: Vec<CallRecord>,
}

impl Ledger {
    /// The fault for a call of `operation` about `instance_id`, if a rule applies (see [`take`]).
    pub(crate) fn take(&mut self, operation: &str, instance_id: Option<&str>) -> Option<Fault> {
        take(&mut self.rules, operation, instance_id)
    }

    /// How many calls of `operation` were received (`"*"` counts all calls).
    pub(crate) fn call_count(&self, operation: &str) -> usize {
        self.calls.iter().filter(|c| operation == "*" || c.operation == operation).count()
    }

    /// The admin operations on the rules and the call log, the same under `/_emulator/` and
    /// `/_proxy/`: `POST faults` (a rule or an array of them; answers the pending rules), `GET` and
    /// `DELETE faults`, `GET` and `DELETE calls`. `None` when `method` and `resource` name none of
    /// them; `Err` with the message of a body that is not a rule.
    pub(crate) fn admin(&mut self, method: &str, resource: &str, body: &Bytes) -> Option<Result<Value, String>> {
        let answer = match (method, resource) {
            ("POST", "faults") => match serde_json::from_slice::<FaultRules>(body) {
                Ok(rules) => {
                    self.rules.extend(rules.into_vec());
                    Ok(json!(self.rules))
                }
                Err(e) => Err(format!("Invalid request body: {e}")),
            },
            ("GET", "faults") => Ok(json!(self.rules)),
            ("DELETE", "faults") => {
                self.rules.clear();
                Ok(json!({}))
            }
            ("GET", "calls") => Ok(json!(self.calls)),
            ("DELETE", "calls") => {
                self.calls.clear();
                Ok(json!({}))
            }
            _ => return None,
        };
        Some(answer)
    }
}

/// One call a server received (admin calls are not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// The operation name (`"Unknown"` for unrouted requests).
    pub operation: String,
    /// The HTTP method.
    pub method: String,
    /// The path as received, still percent-encoded (the proxy keeps the query too).
    pub path: String,
    /// The instance the call was about, when known (emulator only).
    pub instance_id: Option<String>,
    /// The status answered; 0 when the connection was dropped or left hanging.
    pub status: u16,
    /// The name of the injected fault, when one applied ([`Fault::name`]).
    pub fault: Option<String>,
    /// The `x-amzn-requestid` answered, when there was an answer that carried one.
    pub request_id: String,
    /// Whether the request carried a well-formed SigV4 `Authorization` header.
    pub signed: bool,
    /// The access key id of the signature, when there was one.
    pub access_key_id: Option<String>,
    /// Emulator only: the account the call acts in, that of the credentials that signed it (the
    /// home account for the base credentials, the role's account for session credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The region of the signature's credential scope, when there was a signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Emulator only: the principal whose signature was verified (the home principal, or the
    /// session's `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`); absent when it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_arn: Option<String>,
    /// AssumeRole only: the `RoleArn` asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Arrival time in epoch milliseconds (on the emulator's clock, which tests may advance).
    pub at_millis: u64,
    /// The request's `X-Amzn-Trace-Id` header (the X-Ray trace it belongs to), when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl CallRecord {
    /// The record of a call of `operation` as it arrives, from what the request says (method,
    /// signature, trace header); no instance, no request id and status 0 until the server knows them.
    pub(crate) fn arriving(req: &Request, operation: &str, path: String, fault: Option<&Fault>, at_millis: u64) -> CallRecord {
        let authorization = http::header(req.headers(), "authorization").and_then(|v| crate::sigv4::parse_authorization(v).ok());
        CallRecord {
            operation: operation.to_owned(),
            method: req.method().to_string(),
            path,
            instance_id: None,
            status: 0,
            fault: fault.map(|f| f.name().to_owned()),
            request_id: String::new(),
            signed: authorization.is_some(),
            region: authorization.as_ref().map(|a| a.region.clone()),
            access_key_id: authorization.map(|a| a.access_key_id),
            account_id: None,
            caller_arn: None,
            role_arn: None,
            at_millis,
            trace_id: http::header(req.headers(), "x-amzn-trace-id").map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_use_the_documented_json_forms() {
        let f: Fault = serde_json::from_str(r#"{"type":"error","status":429,"errorType":"ThrottlingException","message":"m"}"#).unwrap();
        assert_eq!(f, Fault::error(429, "ThrottlingException", "m"));
        let f: Fault = serde_json::from_str(r#"{"type":"delay","millis":5}"#).unwrap();
        assert_eq!(f, Fault::delay(5));
        let f: Fault = serde_json::from_str(r#"{"type":"hang"}"#).unwrap();
        assert_eq!(f, Fault::Hang);
        let rule: FaultRule = serde_json::from_str(
            r#"{"operation":"PutEvents","count":1,"fault":{"type":"failEntry","index":1,"errorCode":"E","errorMessage":"m"}}"#,
        )
        .unwrap();
        assert_eq!(rule, FaultRule::new("PutEvents", 1, Fault::fail_entry(1, "E", "m")));
        assert_eq!(serde_json::to_value(Fault::fail_entries("E", "m")).unwrap()["type"], "failEntries");
    }

    #[test]
    fn each_protocol_renders_error_faults_in_its_own_wire_form() {
        let json = Protocol::AwsJson { content_type: "application/x-amz-json-1.1".into() };
        let code = |protocol: &Protocol, fault: Fault| protocol.error_of(&fault).map(|(status, code, _)| (status, code));
        assert_eq!(code(&Protocol::RestJson, Fault::Throttle), Some((429, "ThrottlingException".into())));
        assert_eq!(code(&json, Fault::Throttle), Some((400, "ThrottlingException".into())));
        assert_eq!(code(&Protocol::RestJson, Fault::Internal), Some((500, "InternalServerException".into())));
        assert_eq!(code(&json, Fault::Internal), Some((500, "InternalException".into())));
        assert_eq!(code(&Protocol::RestJson, Fault::Unavailable), Some((503, "ServiceUnavailableException".into())));
        assert_eq!(code(&json, Fault::Unavailable), Some((503, "ServiceUnavailable".into())));
        assert_eq!(code(&json, Fault::error(400, "X", "m")), Some((400, "X".into())));
        assert_eq!(code(&json, Fault::Hang), None);
    }

    #[test]
    fn rules_are_consumed_in_insertion_order_one_call_at_a_time() {
        let mut rules = vec![FaultRule::new("DeleteInstance", 1, Fault::Throttle), FaultRule::new("*", 2, Fault::Internal)];
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
        let rule: FaultRule =
            serde_json::from_str(r#"{"operation":"ListInstances","count":1,"fault":{"type":"throttle"},"skip":1,"instanceId":"a"}"#)
                .unwrap();
        assert_eq!(rule, FaultRule::new("ListInstances", 1, Fault::Throttle).after(1).for_instance("a"));
    }
}
