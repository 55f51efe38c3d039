//! A fault-injecting HTTP reverse proxy in front of another AWS endpoint (typically moto's server).
//!
//! [`FaultProxy`] forwards every request unchanged (method, path and query, headers including
//! `Host` and `Authorization`, body) to the upstream and returns the upstream answer unchanged,
//! unless a [`FaultRule`] matches the call (the fault system is the emulator's own, [`crate::faults`]).
//! Matching uses operation names derived from the request:
//!
//! * AWS JSON 1.0 / 1.1 (EventBridge, SQS): the part of `X-Amz-Target` after the dot, so
//!   `AWSEvents.PutEvents` is `PutEvents` and `AmazonSQS.ReceiveMessage` is `ReceiveMessage`;
//! * EventBridge Scheduler (restJson1): method and path, so `POST /schedules/{Name}` is
//!   `CreateSchedule` and `GET /schedule-groups` is `ListScheduleGroups`;
//! * anything else: `Unknown`.
//!
//! Error faults are rendered in the wire format of the call's protocol ([`Protocol`]), so the AWS
//! SDKs parse them as they would parse the real service's errors. Every call is logged as a
//! [`CallRecord`]. Admin requests under `/_proxy/` are never forwarded nor logged.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_LENGTH;
use hyper::{HeaderMap, Method};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::common::{epoch_millis, lock};
use crate::faults::{self, CallRecord, Fault, FaultRule, Ledger, Protocol};
use crate::http::{self, Dropped, Lifetime, Request, Response, StopSignal};

/// A running fault proxy.
///
/// Clones share the same server; when the last clone is dropped the server stops.
#[derive(Clone)]
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    lifetime: Arc<Lifetime>,
}

struct Shared {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    state: Mutex<Ledger>,
    stop: StopSignal,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.state)
    }

    fn log(&self, call: CallRecord) {
        self.state().calls.push(call);
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("addr", &self.addr).field("upstream", &self.shared.upstream).finish()
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
            state: Mutex::new(Ledger::default()),
            stop: stop.clone(),
        });
        let handler_shared = shared.clone();
        let handler = move |req: Request| handle(handler_shared.clone(), req);
        let task = tokio::spawn(http::serve(listener, handler, stop));
        Ok(FaultProxy { shared, addr, lifetime: Lifetime::new(stop_handle, task) })
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
    pub fn inject(&self, rule: FaultRule) {
        self.shared.state().rules.push(rule);
    }

    /// The rules not used up yet.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.state().rules.clone()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.state().rules.clear();
    }

    /// The calls received so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.state().calls.clone()
    }

    /// How many calls of `operation` were received (`"*"` counts all calls).
    pub fn call_count(&self, operation: &str) -> usize {
        self.shared.state().call_count(operation)
    }

    /// Empties the call log.
    pub fn clear_calls(&self) {
        self.shared.state().calls.clear();
    }
}

/// The operation name and protocol of a request.
fn classify(method: &Method, path: &str, headers: &HeaderMap) -> (String, Protocol) {
    if let Some(target) = http::header(headers, "x-amz-target") {
        let operation = target.rsplit_once('.').map_or(target, |(_, op)| op);
        let content_type = http::header(headers, "content-type")
            .filter(|v| v.starts_with("application/x-amz-json"))
            .unwrap_or("application/x-amz-json-1.1");
        let protocol = Protocol::AwsJson { content_type: content_type.to_owned() };
        return (operation.to_owned(), protocol);
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).filter(|s| !s.is_empty()).collect();
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
    protocol.error_response(&request_id(), status, error_type, message)
}

/// Headers that describe one hop rather than the message, so they are not passed on.
const HOP_BY_HOP: [&str; 7] = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

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
    let answer = match shared.client.request(hyper::Request::from_parts(parts, Full::new(body))).await {
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
async fn fail_entries(response: Response, only: Option<usize>, error_code: &str, error_message: &str) -> Response {
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
    let count = entries.iter().filter(|e| e.get("ErrorCode").is_some_and(|c| !c.is_null())).count();
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
    let fault = shared.state().take(&operation, None);
    let logged_path = req.uri().path_and_query().map_or_else(|| path.to_owned(), |p| p.to_string());
    let mut call = CallRecord::arriving(&req, &operation, logged_path, fault.as_ref(), epoch_millis());

    let response = match fault {
        Some(fault @ (Fault::Drop | Fault::Hang)) => {
            shared.log(call);
            return Err(faults::leave_unanswered(&fault, shared.stop.clone()).await);
        }
        Some(Fault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            forward(&shared, &protocol, req).await
        }
        Some(Fault::Respond { status, headers, body }) => protocol.canned_response(&request_id(), status, &headers, &body),
        Some(Fault::FailEntries { error_code, error_message }) if operation == "PutEvents" => {
            let answer = forward(&shared, &protocol, req).await;
            fail_entries(answer, None, &error_code, &error_message).await
        }
        Some(Fault::FailEntry { index, error_code, error_message }) if operation == "PutEvents" => {
            let answer = forward(&shared, &protocol, req).await;
            fail_entries(answer, Some(index), &error_code, &error_message).await
        }
        Some(fault) => match protocol.error_of(&fault) {
            Some((status, error_type, message)) => error_response(&protocol, status, &error_type, &message),
            // Entry faults on an operation without entries leave the call alone.
            None => forward(&shared, &protocol, req).await,
        },
        None => forward(&shared, &protocol, req).await,
    };
    call.status = response.status().as_u16();
    call.request_id = http::header(response.headers(), "x-amzn-requestid").unwrap_or_default().to_owned();
    shared.log(call);
    Ok(response)
}

// ----- admin API ----------------------------------------------------------------------------

fn admin(shared: &Shared, req: &Request) -> Response {
    let resource = req.uri().path().trim_end_matches('/').strip_prefix("/_proxy/").unwrap_or_default();
    match shared.state().admin(req.method().as_str(), resource, req.body()) {
        Some(Ok(value)) => http::json(200, &value, &[]),
        Some(Err(message)) => error_response(&Protocol::RestJson, 400, "ValidationException", &message),
        None => error_response(
            &Protocol::RestJson,
            404,
            "UnknownOperationException",
            &format!("No admin operation matches {} {}", req.method(), req.uri().path()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn operations_come_from_the_target_header_or_the_scheduler_route() {
        let json = headers(&[("x-amz-target", "AmazonSQS.ReceiveMessage"), ("content-type", "application/x-amz-json-1.0")]);
        assert_eq!(
            classify(&Method::POST, "/", &json),
            ("ReceiveMessage".into(), Protocol::AwsJson { content_type: "application/x-amz-json-1.0".into() })
        );
        let none = HeaderMap::new();
        let op = |method: Method, path: &str| classify(&method, path, &none).0;
        assert_eq!(op(Method::POST, "/schedules/a"), "CreateSchedule");
        assert_eq!(op(Method::PUT, "/schedules/a"), "UpdateSchedule");
        assert_eq!(op(Method::GET, "/schedules"), "ListSchedules");
        assert_eq!(op(Method::POST, "/schedule-groups/g"), "CreateScheduleGroup");
        assert_eq!(op(Method::GET, "/moto-api/"), "Unknown");
    }
}
