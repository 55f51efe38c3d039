//! A local Lambda Runtime API, to run compiled Lambda binaries exactly as the Lambda service does.
//!
//! Start a [`RuntimeApi`], launch the function binary with `AWS_LAMBDA_RUNTIME_API` set to
//! [`RuntimeApi::address`], then [`invoke`](RuntimeApi::invoke) it. The server implements the
//! endpoints the `lambda_runtime` crate uses (prefix `/2018-06-01`):
//!
//! * `GET /runtime/invocation/next`: long poll; each waiting client receives a different
//!   invocation, with the `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id` headers;
//! * `POST /runtime/invocation/{requestId}/response` and `/error`: 202, or 400
//!   `InvalidRequestID` for a request id that is not awaiting an answer;
//! * `POST /runtime/init/error`: 202, the body is kept for [`RuntimeApi::init_error`].
//!
//! Responses larger than Lambda's 6 MB limit are refused with 413, and the invocation then
//! completes with the error type `Function.ResponseSizeTooLarge`, as in Lambda.
//!
//! The same server also serves the Extensions API (prefix `/2020-01-01`, [`crate::extensions_api`]),
//! unless started with [`RuntimeApi::start_without_extensions`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::common::{epoch_millis, lock};
use crate::extensions_api::{self, Extension, Extensions};
use crate::http::{self, accepted, body_value, lambda_error, Dropped, Request, Response, StopHandle};

/// The largest response payload Lambda accepts from a function (synchronous invocations).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

const PREFIX: &str = "/2018-06-01";

/// When the function must finish, as sent in `Lambda-Runtime-Deadline-Ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// This long after the invocation is handed to the function.
    In(Duration),
    /// This exact epoch-milliseconds value, sent as is (it may be 0 or in the past).
    AtEpochMillis(u64),
    /// The header is left out.
    Missing,
}

/// Options of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoke {
    /// The request id; a random UUID when `None`.
    pub request_id: Option<String>,
    /// The deadline header.
    pub deadline: Deadline,
    /// The `Lambda-Runtime-Invoked-Function-Arn` header.
    pub function_arn: String,
    /// The `Lambda-Runtime-Trace-Id` header; a freshly generated X-Ray trace id when `None`.
    pub trace_id: Option<String>,
    /// How long [`RuntimeApi::invoke`] waits for the function's answer before giving up.
    pub give_up_after: Duration,
}

impl Default for Invoke {
    fn default() -> Self {
        Invoke {
            request_id: None,
            deadline: Deadline::In(Duration::from_secs(30)),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:delete-instance".into(),
            trace_id: None,
            give_up_after: Duration::from_secs(60),
        }
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function posted a response; a body that is not JSON is kept as a JSON string.
    Response(Value),
    /// The function posted an error.
    Error {
        /// `errorType` from the body (or the header when the body has none).
        error_type: String,
        /// `errorMessage` from the body.
        error_message: String,
        /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
        header_error_type: Option<String>,
        /// The whole error body.
        body: Value,
    },
}

impl Outcome {
    /// The response payload, when the invocation succeeded.
    pub fn response(&self) -> Option<&Value> {
        match self {
            Outcome::Response(value) => Some(value),
            Outcome::Error { .. } => None,
        }
    }

    /// The error type, when the invocation failed.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Outcome::Response(_) => None,
            Outcome::Error { error_type, .. } => Some(error_type),
        }
    }
}

/// A finished invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// The request id of the invocation.
    pub request_id: String,
    /// What the function answered.
    pub outcome: Outcome,
    /// When a `/next` poll received the invocation.
    pub handed_out: Instant,
    /// When the function's answer arrived.
    pub completed: Instant,
}

/// Why an invocation did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeApiError {
    /// No answer arrived within `give_up_after`; `handed_out` tells whether a function ever
    /// picked the invocation up.
    GaveUp {
        /// The request id of the invocation.
        request_id: String,
        /// How long the caller waited.
        after: Duration,
        /// Whether a `/next` poll received the invocation.
        handed_out: bool,
    },
    /// Another invocation with the same request id is still pending.
    DuplicateRequestId(String),
}

impl std::fmt::Display for RuntimeApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeApiError::GaveUp { request_id, after, handed_out } => write!(
                f,
                "invocation {request_id} got no answer within {after:?} ({})",
                if *handed_out { "the function received it but never answered" } else { "no function ever polled for it" }
            ),
            RuntimeApiError::DuplicateRequestId(id) => {
                write!(f, "an invocation with request id {id} is already pending")
            }
        }
    }
}

impl std::error::Error for RuntimeApiError {}

struct Queued {
    request_id: String,
    body: Bytes,
    options: Invoke,
}

struct Pending {
    handed_out: Option<Instant>,
    /// Receives the outcome, the hand-out time and the completion time.
    done: oneshot::Sender<(Outcome, Instant, Instant)>,
}

struct Shared {
    queue: mpsc::UnboundedSender<Queued>,
    /// Pollers take turns on the receiver, so each queued invocation goes to exactly one of them.
    receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    pending: Mutex<HashMap<String, Pending>>,
    first_poll: watch::Sender<Option<Instant>>,
    init_error: Mutex<Option<Value>>,
    extensions: Extensions,
    /// Whether the Extensions API is served; without it, its paths answer 404 as older local
    /// runtimes do.
    serve_extensions: bool,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        lock(&self.pending)
    }
}

/// A running local Lambda Runtime API; dropping it stops the server.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _stop: StopHandle,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi").field("addr", &self.addr).finish()
    }
}

impl RuntimeApi {
    /// Starts the server on `127.0.0.1` with a free port.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        Self::start_with(true).await
    }

    /// Like [`RuntimeApi::start`], with no Extensions API: every `/2020-01-01/extension` path
    /// answers 404 Not Found, as Runtime APIs that predate extensions do.
    pub async fn start_without_extensions() -> std::io::Result<RuntimeApi> {
        Self::start_with(false).await
    }

    async fn start_with(serve_extensions: bool) -> std::io::Result<RuntimeApi> {
        let (listener, addr) = http::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (first_poll, first_poll_seen) = watch::channel(None);
        let shared = Arc::new(Shared {
            queue: tx,
            receiver: tokio::sync::Mutex::new(rx),
            pending: Mutex::new(HashMap::new()),
            first_poll,
            init_error: Mutex::new(None),
            extensions: Extensions::new(first_poll_seen),
            serve_extensions,
        });
        let (stop_handle, stop) = http::stop_pair();
        let handler_shared = shared.clone();
        let handler = move |req: Request| handle(handler_shared.clone(), req);
        tokio::spawn(http::serve(listener, handler, stop));
        Ok(RuntimeApi { shared, addr, _stop: stop_handle })
    }

    /// `127.0.0.1:PORT`: the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues a JSON event and waits for the function's response or error.
    pub async fn invoke(&self, event: Value, options: Invoke) -> Result<Completed, RuntimeApiError> {
        self.invoke_raw(Bytes::from(event.to_string()), options).await
    }

    /// Queues a raw payload (not necessarily JSON) and waits for the function's answer.
    pub async fn invoke_raw(&self, body: Bytes, options: Invoke) -> Result<Completed, RuntimeApiError> {
        let request_id = options.request_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let (done, answer) = oneshot::channel();
        {
            let mut pending = self.shared.pending();
            if pending.contains_key(&request_id) {
                return Err(RuntimeApiError::DuplicateRequestId(request_id));
            }
            pending.insert(request_id.clone(), Pending { handed_out: None, done });
        }
        let give_up_after = options.give_up_after;
        // The receiver lives as long as `shared`, which outlives this call.
        let _ = self.shared.queue.send(Queued { request_id: request_id.clone(), body, options });
        match tokio::time::timeout(give_up_after, answer).await {
            Ok(Ok((outcome, handed_out, completed))) => Ok(Completed { request_id, outcome, handed_out, completed }),
            _ => {
                let handed_out = self.shared.pending().remove(&request_id).is_some_and(|p| p.handed_out.is_some());
                Err(RuntimeApiError::GaveUp { request_id, after: give_up_after, handed_out })
            }
        }
    }

    /// Resolves when a runtime client first polls `/next`, that is when the function finished
    /// its initialisation; returns the time of that first poll.
    pub async fn wait_for_first_poll(&self) -> Instant {
        let mut rx = self.shared.first_poll.subscribe();
        let seen = rx.wait_for(Option::is_some).await.map(|v| *v).ok().flatten();
        // The sender lives in `shared`, which `self` keeps alive, so `wait_for` cannot fail.
        seen.unwrap_or_else(Instant::now)
    }

    /// The extensions registered so far through the Extensions API, in registration order.
    pub fn extensions(&self) -> Vec<Extension> {
        self.shared.extensions.registered()
    }

    /// The bodies extensions posted to `/extension/init/error` and `/extension/exit/error`, each
    /// as `{"kind": "init"|"exit", "errorType": <Lambda-Extension-Function-Error-Type>, "body": ...}`.
    pub fn extension_errors(&self) -> Vec<Value> {
        self.shared.extensions.errors()
    }

    /// Starts Lambda's Shutdown phase: every extension registered for `SHUTDOWN` receives
    /// `{"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": now + within}` on its
    /// `/extension/event/next`. Lambda also sends the runtime process SIGTERM; that is the caller's
    /// part, as this server does not own the process.
    pub fn begin_shutdown(&self, reason: &str, within: Duration) {
        self.shared.extensions.begin_shutdown(reason, within);
    }

    /// The body the function posted to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.shared.init_error).clone()
    }
}

/// A trace header in the format X-Ray uses: `Root=1-<epoch hex>-<96-bit hex>;Parent=...;Sampled=0`.
fn trace_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{};Parent={};Sampled=0", epoch_millis() / 1000, &random[..24], &uuid::Uuid::new_v4().simple().to_string()[..16])
}

async fn handle(shared: Arc<Shared>, req: Request) -> Result<Response, Dropped> {
    let path = req.uri().path();
    if let Some(path) = path.strip_prefix(extensions_api::PREFIX).filter(|_| shared.serve_extensions) {
        return Ok(shared.extensions.serve(&req, path).await);
    }
    let Some(path) = path.strip_prefix(PREFIX) else {
        return Ok(lambda_error(404, "NotFound", "Not found".into()));
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["runtime", "invocation", "next"]) => Ok(next(&shared).await),
        (&Method::POST, ["runtime", "invocation", id, kind @ ("response" | "error")]) => Ok(complete(&shared, id, kind, &req)),
        (&Method::POST, ["runtime", "init", "error"]) => {
            *lock(&shared.init_error) = Some(body_value(req.body()));
            Ok(accepted())
        }
        _ => Ok(lambda_error(404, "NotFound", format!("No route for {} {}", req.method(), req.uri().path()))),
    }
}

async fn next(shared: &Shared) -> Response {
    shared.first_poll.send_if_modified(|first| {
        if first.is_none() {
            *first = Some(Instant::now());
            true
        } else {
            false
        }
    });
    // Holding the receiver lock while waiting makes concurrent pollers queue up fairly; if a poller
    // goes away its future is dropped, releasing the lock without losing an invocation.
    let queued = loop {
        let item = shared.receiver.lock().await.recv().await;
        let Some(item) = item else {
            return lambda_error(500, "ServiceException", "shutting down".into());
        };
        // Skip invocations whose caller already gave up.
        if let Some(p) = shared.pending().get_mut(&item.request_id) {
            p.handed_out = Some(Instant::now());
            break item;
        }
    };
    let mut builder = hyper::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", queued.request_id.as_str())
        .header("lambda-runtime-invoked-function-arn", queued.options.function_arn.as_str())
        .header("lambda-runtime-trace-id", queued.options.trace_id.clone().unwrap_or_else(trace_id));
    match queued.options.deadline {
        Deadline::In(d) => {
            builder = builder.header("lambda-runtime-deadline-ms", (epoch_millis() + d.as_millis() as u64).to_string());
        }
        Deadline::AtEpochMillis(ms) => {
            builder = builder.header("lambda-runtime-deadline-ms", ms.to_string());
        }
        Deadline::Missing => {}
    }
    builder
        .body(http_body_util::Full::new(queued.body))
        .unwrap_or_else(|_| lambda_error(500, "ServiceException", "invalid invocation headers".into()))
}

fn complete(shared: &Shared, request_id: &str, kind: &str, req: &Request) -> Response {
    // Only an invocation that was handed out and not yet answered may be completed; a second
    // answer finds no entry and is refused like an unknown id.
    let entry = {
        let mut pending = shared.pending();
        match pending.get(request_id).and_then(|p| p.handed_out) {
            Some(_) => pending.remove(request_id),
            None => None,
        }
    };
    let Some(Pending { handed_out: Some(handed_out), done }) = entry else {
        return lambda_error(400, "InvalidRequestID", format!("Invalid request ID: {request_id}"));
    };
    let body = req.body();
    let (outcome, status) = if kind == "response" && body.len() > MAX_RESPONSE_BYTES {
        let message =
            format!("Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).", body.len());
        (
            Outcome::Error {
                error_type: "Function.ResponseSizeTooLarge".into(),
                error_message: message.clone(),
                header_error_type: None,
                body: json!({ "errorType": "Function.ResponseSizeTooLarge", "errorMessage": message }),
            },
            413,
        )
    } else if kind == "response" {
        (Outcome::Response(body_value(body)), 202)
    } else {
        let header_error_type = http::header(req.headers(), "lambda-runtime-function-error-type").map(str::to_owned);
        let body = body_value(body);
        let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        (
            Outcome::Error {
                error_type: field("errorType").or_else(|| header_error_type.clone()).unwrap_or_else(|| "Unknown".into()),
                error_message: field("errorMessage").unwrap_or_default(),
                header_error_type,
                body,
            },
            202,
        )
    };
    // The invoker may have given up in the meantime; then nobody listens and that is fine.
    let _ = done.send((outcome, handed_out, Instant::now()));
    if status == 413 {
        lambda_error(413, "RequestEntityTooLarge", "Exceeded maximum allowed payload size".into())
    } else {
        accepted()
    }
}
