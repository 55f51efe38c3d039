//! A fault-injecting HTTP reverse proxy in front of another AWS endpoint (typically moto's server).
//!
//! [`FaultProxy`] forwards every request unchanged (method, path and query, headers including
//! `Host` and `Authorization`, body) to the upstream and returns the upstream answer unchanged,
//! unless a [`ProxyRule`] matches the call. Matching uses operation names derived from the request:
//!
//! * AWS JSON 1.0 / 1.1 (EventBridge, SQS): the part of `X-Amz-Target` after the dot, so
//!   `AWSEvents.PutEvents` is `PutEvents` and `AmazonSQS.ReceiveMessage` is `ReceiveMessage`;
//! * EventBridge Scheduler (restJson1): method and path, so `POST /schedules/{Name}` is
//!   `CreateSchedule` and `GET /schedule-groups` is `ListScheduleGroups`;
//! * anything else: `Unknown`.
//!
//! Error faults are rendered in the wire format of the call's protocol, so the AWS SDKs parse them
//! as they would parse the real service's errors. Admin requests under `/_proxy/` are never
//! forwarded nor logged.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Method};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::http::{self, Dropped, Lifetime, Request, Response, StopSignal};

/// What happens to a call hit by a [`ProxyRule`].
///
/// Serialized with a `type` tag and camelCase fields, for example `{"type":"throttle"}`,
/// `{"type":"respond","status":200,"headers":[["content-type","application/json"]],"body":"{}"}`
/// or `{"type":"failEntry","index":1,"errorCode":"InternalFailure","errorMessage":"m"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ProxyFault {
    /// Answer with this status, error type and message (a generic message when absent).
    Error {
        /// HTTP status code.
        status: u16,
        /// The error type (shape name), sent as `__type` or `x-amzn-errortype`.
        error_type: String,
        /// The message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// `ThrottlingException`: 400 on AWS JSON protocols (as EventBridge and SQS answer), 429 on
    /// restJson1 (as Scheduler answers).
    Throttle,
    /// 500 `InternalException` on AWS JSON protocols, `InternalServerException` on restJson1.
    Internal,
    /// 503 `ServiceUnavailable`.
    Unavailable,
    /// Wait this long, then forward the call.
    Delay {
        /// The wait in milliseconds.
        millis: u64,
    },
    /// Close the client's connection without any response; nothing is forwarded.
    Drop,
    /// Never answer; nothing is forwarded and the connection stays open until the client gives up
    /// or the proxy stops.
    Hang,
    /// Answer this canned response without forwarding. A `content-type` matching the call's
    /// protocol and an `x-amzn-requestid` are added when `headers` lacks them.
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
    /// PutEvents only: forward the call, then rewrite a 200 answer so that every entry failed with
    /// this code and message, and `FailedEntryCount` is the number of entries. The upstream still
    /// received the events. Other operations and non-200 answers pass through unchanged.
    FailEntries {
        /// The `ErrorCode` of every entry, for example `InternalFailure`.
        error_code: String,
        /// The `ErrorMessage` of every entry.
        error_message: String,
    },
    /// Like [`ProxyFault::FailEntries`], but only the entry at `index` (from 0) fails; the others
    /// keep the upstream's answer and `FailedEntryCount` counts every failed entry.
    FailEntry {
        /// The position of the failed entry in the request.
        index: usize,
        /// Its `ErrorCode`.
        error_code: String,
        /// Its `ErrorMessage`.
        error_message: String,
    },
}

impl ProxyFault {
    /// A custom error answer.
    pub fn error(
        status: u16,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> ProxyFault {
        ProxyFault::Error {
            status,
            error_type: error_type.into(),
            message: Some(message.into()),
        }
    }

    /// A canned JSON answer with the protocol's content type.
    pub fn respond(status: u16, body: impl Into<String>) -> ProxyFault {
        ProxyFault::Respond {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Every PutEvents entry fails with `error_code`.
    pub fn fail_entries(
        error_code: impl Into<String>,
        error_message: impl Into<String>,
    ) -> ProxyFault {
        ProxyFault::FailEntries {
            error_code: error_code.into(),
            error_message: error_message.into(),
        }
    }

    /// The PutEvents entry at `index` fails with `error_code`.
    pub fn fail_entry(
        index: usize,
        error_code: impl Into<String>,
        error_message: impl Into<String>,
    ) -> ProxyFault {
        ProxyFault::FailEntry {
            index,
            error_code: error_code.into(),
            error_message: error_message.into(),
        }
    }

    /// The short name recorded in [`ProxyCall::fault`].
    pub fn name(&self) -> &'static str {
        match self {
            ProxyFault::Error { .. } => "error",
            ProxyFault::Throttle => "throttle",
            ProxyFault::Internal => "internal",
            ProxyFault::Unavailable => "unavailable",
            ProxyFault::Delay { .. } => "delay",
            ProxyFault::Drop => "drop",
            ProxyFault::Hang => "hang",
            ProxyFault::Respond { .. } => "respond",
            ProxyFault::FailEntries { .. } => "failEntries",
            ProxyFault::FailEntry { .. } => "failEntry",
        }
    }

    /// The error answer this fault produces in `protocol`: status, error type, message.
    fn as_error(&self, protocol: &Protocol) -> Option<(u16, String, String)> {
        let json = matches!(protocol, Protocol::AwsJson { .. });
        let (status, error_type, message) = match self {
            ProxyFault::Error {
                status,
                error_type,
                message,
            } => (
                *status,
                error_type.as_str(),
                message
                    .clone()
                    .unwrap_or_else(|| format!("Injected {error_type}")),
            ),
            ProxyFault::Throttle => (
                if json { 400 } else { 429 },
                "ThrottlingException",
                "Rate exceeded".into(),
            ),
            ProxyFault::Internal => (
                500,
                if json {
                    "InternalException"
                } else {
                    "InternalServerException"
                },
                "An internal error occurred".into(),
            ),
            ProxyFault::Unavailable => (
                503,
                "ServiceUnavailable",
                "Service is temporarily unavailable".into(),
            ),
            _ => return None,
        };
        Some((status, error_type.to_owned(), message))
    }
}

impl From<Fault> for ProxyFault {
    fn from(fault: Fault) -> ProxyFault {
        match fault {
            Fault::Error {
                status,
                error_type,
                message,
            } => ProxyFault::Error {
                status,
                error_type,
                message,
            },
            Fault::Throttle => ProxyFault::Throttle,
            Fault::Internal => ProxyFault::Internal,
            Fault::Unavailable => ProxyFault::Unavailable,
            Fault::Delay { millis } => ProxyFault::Delay { millis },
            Fault::Drop => ProxyFault::Drop,
            Fault::Hang => ProxyFault::Hang,
        }
    }
}

/// Applies `fault` to the next `count` calls of `operation` (such as `"PutEvents"`, or `"*"`).
///
/// Rules are tried in the order they were added; each matching call consumes one unit of the
/// first rule that still has some left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyRule {
    /// The operation name, or `"*"`.
    pub operation: String,
    /// How many calls the rule still applies to.
    pub count: u32,
    /// What happens to those calls.
    pub fault: ProxyFault,
}

impl ProxyRule {
    /// A rule for the next `count` calls of `operation`; takes a [`ProxyFault`] or a [`Fault`].
    pub fn new(operation: impl Into<String>, count: u32, fault: impl Into<ProxyFault>) -> Self {
        ProxyRule {
            operation: operation.into(),
            count,
            fault: fault.into(),
        }
    }
}

/// One call that went through the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyCall {
    /// The derived operation name (`Unknown` when none applies).
    pub operation: String,
    /// The HTTP method.
    pub method: String,
    /// The path and query, as received.
    pub path: String,
    /// The status answered to the client; 0 when the connection was dropped or hung.
    pub status: u16,
    /// The name of the fault applied ([`ProxyFault::name`]), if any.
    pub fault: Option<String>,
    /// When the call arrived, in milliseconds since the Unix epoch.
    pub at_millis: u64,
}

/// A running fault proxy.
///
/// Clones share the same server; when the last clone is dropped the server stops.
#[derive(Clone)]
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    lifetime: Arc<Lifetime>,
}

#[derive(Default)]
struct State {
    rules: Vec<ProxyRule>,
    calls: Vec<ProxyCall>,
}

struct Shared {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    state: Mutex<State>,
    stop: StopSignal,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Rules and calls stay consistent even if a holder panicked, so a poisoned lock is reused.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one unit from the first rule matching `operation`, dropping rules that are used up.
    fn take_fault(&self, operation: &str) -> Option<ProxyFault> {
        let mut state = self.state();
        let index = state
            .rules
            .iter()
            .position(|r| r.count > 0 && (r.operation == "*" || r.operation == operation))?;
        let rule = &mut state.rules[index];
        rule.count -= 1;
        let fault = rule.fault.clone();
        if rule.count == 0 {
            state.rules.remove(index);
        }
        Some(fault)
    }

    fn log(&self, call: ProxyCall) {
        self.state().calls.push(call);
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` with a free port, forwarding to `upstream`, a plain-HTTP base
    /// URL such as `http://127.0.0.1:5000`.
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        FaultProxy::start_on(upstream, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a proxy on the given address (port 0 picks a free port).
    pub async fn start_on(upstream: &str, addr: SocketAddr) -> std::io::Result<FaultProxy> {
        let upstream = upstream.trim_end_matches('/').to_owned();
        if !upstream.starts_with("http://") || upstream.parse::<hyper::Uri>().is_err() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the upstream must be an http:// URL, not {upstream:?}"),
            ));
        }
        let (listener, addr) = http::bind(addr).await?;
        let (stop_handle, stop) = http::stop_pair();
        let shared = Arc::new(Shared {
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
            state: Mutex::new(State::default()),
            stop: stop.clone(),
        });
        let handler_shared = shared.clone();
        let handler = move |req: Request| handle(handler_shared.clone(), req);
        let task = tokio::spawn(http::serve(listener, handler, stop));
        Ok(FaultProxy {
            shared,
            addr,
            lifetime: Lifetime::new(stop_handle, task),
        })
    }

    /// Stops the server for every clone of this handle and waits until the port is closed.
    pub async fn shutdown(self) {
        self.lifetime.shutdown().await;
    }

    /// The base URL, `http://127.0.0.1:PORT`, to use as the SDK's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream base URL calls are forwarded to.
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    /// Adds a fault rule after the existing ones.
    pub fn inject(&self, rule: ProxyRule) {
        self.shared.state().rules.push(rule);
    }

    /// The rules not used up yet.
    pub fn faults(&self) -> Vec<ProxyRule> {
        self.shared.state().rules.clone()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.state().rules.clear();
    }

    /// The calls received so far, oldest first.
    pub fn calls(&self) -> Vec<ProxyCall> {
        self.shared.state().calls.clone()
    }

    /// How many calls of `operation` were received (`"*"` counts all calls).
    pub fn call_count(&self, operation: &str) -> usize {
        self.shared
            .state()
            .calls
            .iter()
            .filter(|c| operation == "*" || c.operation == operation)
            .count()
    }

    /// Empties the call log.
    pub fn clear_calls(&self) {
        self.shared.state().calls.clear();
    }
}

/// The wire protocol of a call, which decides how errors are rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Protocol {
    /// AWS JSON 1.0 or 1.1, answered with the request's content type.
    AwsJson {
        content_type: String,
    },
    RestJson,
}

impl Protocol {
    fn content_type(&self) -> &str {
        match self {
            Protocol::AwsJson { content_type } => content_type,
            Protocol::RestJson => "application/json",
        }
    }
}

/// The operation name and protocol of a request.
fn classify(method: &Method, path: &str, headers: &HeaderMap) -> (String, Protocol) {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let operation = target.rsplit_once('.').map_or(target, |(_, op)| op);
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("application/x-amz-json"))
            .unwrap_or("application/x-amz-json-1.1");
        let protocol = Protocol::AwsJson {
            content_type: content_type.to_owned(),
        };
        return (operation.to_owned(), protocol);
    }
    let segments: Vec<&str> = path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .collect();
    let operation = match (method.as_str(), segments.as_slice()) {
        ("GET", ["schedules"]) => "ListSchedules",
        ("POST", ["schedules", _]) => "CreateSchedule",
        ("GET", ["schedules", _]) => "GetSchedule",
        ("PUT", ["schedules", _]) => "UpdateSchedule",
        ("DELETE", ["schedules", _]) => "DeleteSchedule",
        ("GET", ["schedule-groups"]) => "ListScheduleGroups",
        ("POST", ["schedule-groups", _]) => "CreateScheduleGroup",
        ("GET", ["schedule-groups", _]) => "GetScheduleGroup",
        ("DELETE", ["schedule-groups", _]) => "DeleteScheduleGroup",
        ("GET", ["tags", _]) => "ListTagsForResource",
        ("POST", ["tags", _]) => "TagResource",
        ("DELETE", ["tags", _]) => "UntagResource",
        _ => "Unknown",
    };
    (operation.to_owned(), Protocol::RestJson)
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn error_response(protocol: &Protocol, status: u16, error_type: &str, message: &str) -> Response {
    let body = match protocol {
        Protocol::AwsJson { .. } => json!({ "__type": error_type, "message": message }),
        Protocol::RestJson => json!({ "message": message }),
    };
    let mut response = http::json_response(
        status,
        body.to_string().into_bytes(),
        &[
            ("x-amzn-requestid", request_id()),
            ("x-amzn-errortype", error_type.to_owned()),
        ],
    );
    if let Ok(value) = HeaderValue::from_str(protocol.content_type()) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn canned_response(
    protocol: &Protocol,
    status: u16,
    headers: &[(String, String)],
    body: &str,
) -> Response {
    let mut builder = hyper::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("content-type") {
        builder = builder.header(CONTENT_TYPE, protocol.content_type());
    }
    if !has("x-amzn-requestid") {
        builder = builder.header("x-amzn-requestid", request_id());
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap_or_else(|e| {
            error_response(
                protocol,
                500,
                "InvalidCannedResponse",
                &format!("The canned response is not valid HTTP: {e}"),
            )
        })
}

/// Headers that describe one hop rather than the message, so they are not passed on.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Sends the request to the upstream and buffers its answer; an unreachable upstream is a 502.
async fn forward(shared: &Shared, protocol: &Protocol, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("{}{path_and_query}", shared.upstream).parse() {
        Ok(uri) => uri,
        Err(e) => return error_response(protocol, 502, "BadGateway", &e.to_string()),
    };
    // `Host` stays as the client sent (and signed) it: the client does not replace a present one.
    strip_hop_by_hop(&mut parts.headers);
    let answer = match shared
        .client
        .request(hyper::Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            let message = format!("The upstream {} did not answer: {e}", shared.upstream);
            return error_response(protocol, 502, "BadGateway", &message);
        }
    };
    let (mut parts, body) = answer.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            let message = format!("The upstream {} broke off its answer: {e}", shared.upstream);
            return error_response(protocol, 502, "BadGateway", &message);
        }
    };
    strip_hop_by_hop(&mut parts.headers);
    hyper::Response::from_parts(parts, Full::new(body))
}

/// Marks PutEvents entries as failed in a 200 answer: all of them, or only the one at `only`.
async fn fail_entries(
    response: Response,
    only: Option<usize>,
    error_code: &str,
    error_message: &str,
) -> Response {
    if response.status() != 200 {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(never) => match never {},
    };
    let mut answer: Value = match serde_json::from_slice(&body) {
        Ok(answer @ Value::Object(_)) => answer,
        _ => return hyper::Response::from_parts(parts, Full::new(body)),
    };
    let Some(entries) = answer.get_mut("Entries").and_then(Value::as_array_mut) else {
        return hyper::Response::from_parts(parts, Full::new(body));
    };
    let failed = json!({ "ErrorCode": error_code, "ErrorMessage": error_message });
    for (index, entry) in entries.iter_mut().enumerate() {
        if only.is_none_or(|i| i == index) {
            *entry = failed.clone();
        }
    }
    let count = entries
        .iter()
        .filter(|e| e.get("ErrorCode").is_some_and(|c| !c.is_null()))
        .count();
    answer["FailedEntryCount"] = json!(count);
    // The body changes length; hyper sets the new one.
    parts.headers.remove(CONTENT_LENGTH);
    hyper::Response::from_parts(parts, Full::new(Bytes::from(answer.to_string())))
}

async fn handle(shared: Arc<Shared>, req: Request) -> Result<Response, Dropped> {
    let path = req.uri().path();
    if path == "/_proxy" || path.starts_with("/_proxy/") {
        return Ok(admin(&shared, &req));
    }
    let (operation, protocol) = classify(req.method(), path, req.headers());
    let fault = shared.take_fault(&operation);
    let mut call = ProxyCall {
        operation: operation.clone(),
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map_or_else(|| path.to_owned(), |p| p.to_string()),
        status: 0,
        fault: fault.as_ref().map(|f| f.name().to_owned()),
        at_millis: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64,
    };

    let response = match fault {
        Some(ProxyFault::Drop) => {
            shared.log(call);
            return Err(Dropped);
        }
        Some(ProxyFault::Hang) => {
            shared.log(call);
            // Hang until the client gives up (hyper then drops this future) or the proxy stops.
            let mut stop = shared.stop.clone();
            stop.stopped().await;
            return Err(Dropped);
        }
        Some(ProxyFault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            forward(&shared, &protocol, req).await
        }
        Some(ProxyFault::Respond {
            status,
            headers,
            body,
        }) => canned_response(&protocol, status, &headers, &body),
        Some(ProxyFault::FailEntries {
            error_code,
            error_message,
        }) if operation == "PutEvents" => {
            let answer = forward(&shared, &protocol, req).await;
            fail_entries(answer, None, &error_code, &error_message).await
        }
        Some(ProxyFault::FailEntry {
            index,
            error_code,
            error_message,
        }) if operation == "PutEvents" => {
            let answer = forward(&shared, &protocol, req).await;
            fail_entries(answer, Some(index), &error_code, &error_message).await
        }
        Some(fault) => match fault.as_error(&protocol) {
            Some((status, error_type, message)) => {
                error_response(&protocol, status, &error_type, &message)
            }
            // Entry faults on an operation without entries leave the call alone.
            None => forward(&shared, &protocol, req).await,
        },
        None => forward(&shared, &protocol, req).await,
    };
    call.status = response.status().as_u16();
    shared.log(call);
    Ok(response)
}

// ----- admin API ----------------------------------------------------------------------------

/// One rule or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum ProxyRules {
    One(ProxyRule),
    Many(Vec<ProxyRule>),
}

fn admin(shared: &Shared, req: &Request) -> Response {
    let ok = |body: Value| http::json_response(200, body.to_string().into_bytes(), &[]);
    let path = req.uri().path().trim_end_matches('/');
    match (req.method().as_str(), path) {
        ("POST", "/_proxy/faults") => match serde_json::from_slice::<ProxyRules>(req.body()) {
            Ok(rules) => {
                let mut state = shared.state();
                match rules {
                    ProxyRules::One(rule) => state.rules.push(rule),
                    ProxyRules::Many(rules) => state.rules.extend(rules),
                }
                ok(json!(state.rules))
            }
            Err(e) => error_response(
                &Protocol::RestJson,
                400,
                "ValidationException",
                &format!("Invalid request body: {e}"),
            ),
        },
        ("GET", "/_proxy/faults") => ok(json!(shared.state().rules)),
        ("DELETE", "/_proxy/faults") => {
            shared.state().rules.clear();
            ok(json!({}))
        }
        ("GET", "/_proxy/calls") => ok(json!(shared.state().calls)),
        ("DELETE", "/_proxy/calls") => {
            shared.state().calls.clear();
            ok(json!({}))
        }
        (method, _) => error_response(
            &Protocol::RestJson,
            404,
            "UnknownOperationException",
            &format!("No admin operation matches {method} {}", req.uri().path()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderName;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn operations_come_from_the_target_header_or_the_scheduler_route() {
        let json = headers(&[
            ("x-amz-target", "AmazonSQS.ReceiveMessage"),
            ("content-type", "application/x-amz-json-1.0"),
        ]);
        assert_eq!(
            classify(&Method::POST, "/", &json),
            (
                "ReceiveMessage".into(),
                Protocol::AwsJson {
                    content_type: "application/x-amz-json-1.0".into()
                }
            )
        );
        let none = HeaderMap::new();
        let op = |method: Method, path: &str| classify(&method, path, &none).0;
        assert_eq!(op(Method::POST, "/schedules/a"), "CreateSchedule");
        assert_eq!(op(Method::PUT, "/schedules/a"), "UpdateSchedule");
        assert_eq!(op(Method::GET, "/schedules"), "ListSchedules");
        assert_eq!(
            op(Method::POST, "/schedule-groups/g"),
            "CreateScheduleGroup"
        );
        assert_eq!(op(Method::GET, "/moto-api/"), "Unknown");
    }

    #[test]
    fn proxy_faults_use_the_documented_json_forms() {
        let rule: ProxyRule = serde_json::from_str(
            r#"{"operation":"PutEvents","count":1,"fault":{"type":"failEntry","index":1,"errorCode":"E","errorMessage":"m"}}"#,
        )
        .unwrap();
        assert_eq!(
            rule,
            ProxyRule::new("PutEvents", 1, ProxyFault::fail_entry(1, "E", "m"))
        );
        let fault: ProxyFault =
            serde_json::from_str(r#"{"type":"error","status":400,"errorType":"X"}"#).unwrap();
        assert_eq!(fault.as_error(&Protocol::RestJson).unwrap().1, "X");
        assert_eq!(
            ProxyFault::from(Fault::delay(5)),
            ProxyFault::Delay { millis: 5 }
        );
    }
}
