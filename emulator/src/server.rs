//! The running emulator: its handle, request routing and the API front door; admin requests go to
//! the admin module.
//!
//! Each API request goes through the same steps, in this order:
//! 1. routing to an operation (`UnknownOperationException` when nothing matches);
//! 2. fault injection, so that an injected fault hits the call whatever its content;
//! 3. SigV4 verification (403 `AccessDeniedException`);
//! 4. the operation itself, including model validation (400 `ValidationException`).
//!
//! Every call, faulted or not, is appended to the call log. Admin requests under `/_emulator/`
//! skip all of this, are not logged, and are served by the admin module.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::faults::{self, CallRecord, Fault, FaultRule, Protocol};
use crate::http::{self, Dropped, Lifetime, Request, Response, StopSignal};
use crate::model::{self, Instance};
use crate::store::{ApiError, SeedInstance, StateChange, Store};
use crate::{admin, lock, sigv4, EmulatorConfig};

#[cfg(feature = "tls")]
use crate::tls::TlsIdentity;
/// Without the `tls` feature there is no identity to serve with.
#[cfg(not(feature = "tls"))]
enum TlsIdentity {}

/// A running Supply Chain emulator.
///
/// Clones share the same server; when the last clone is dropped the server stops.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// `http`, or `https` when started with `Emulator::start_tls` (feature `tls`).
    scheme: &'static str,
    lifetime: Arc<Lifetime>,
}

struct Shared {
    store: Mutex<Store>,
    stop: StopSignal,
    /// Connections established so far (for HTTPS, with the TLS handshake done).
    connections: Arc<AtomicU64>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator").field("addr", &self.addr).finish()
    }
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1` with a free port.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Emulator::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts an emulator on the given address (port 0 picks a free port).
    pub async fn start_on(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<Emulator> {
        Emulator::start_serving(config, addr, None).await
    }

    /// Starts an emulator serving HTTPS on `127.0.0.1` with a free port, presenting `identity`'s
    /// server certificate; [`Emulator::endpoint`] is then `https://127.0.0.1:PORT`.
    #[cfg(feature = "tls")]
    pub async fn start_tls(config: EmulatorConfig, identity: &crate::tls::TlsIdentity) -> std::io::Result<Emulator> {
        Emulator::start_tls_on(config, SocketAddr::from(([127, 0, 0, 1], 0)), identity).await
    }

    /// Like [`Emulator::start_tls`], on the given address (port 0 picks a free port).
    #[cfg(feature = "tls")]
    pub async fn start_tls_on(config: EmulatorConfig, addr: SocketAddr, identity: &crate::tls::TlsIdentity) -> std::io::Result<Emulator> {
        Emulator::start_serving(config, addr, Some(identity)).await
    }

    async fn start_serving(config: EmulatorConfig, addr: SocketAddr, tls: Option<&TlsIdentity>) -> std::io::Result<Emulator> {
        let (listener, addr) = http::bind(addr).await?;
        let (stop_handle, stop) = http::stop_pair();
        let connections = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared { store: Mutex::new(Store::new(config)), stop: stop.clone(), connections: connections.clone() });
        let handler_shared = shared.clone();
        let handler = move |req: Request| handle(handler_shared.clone(), req);
        let (scheme, task) = match tls {
            #[cfg(feature = "tls")]
            Some(identity) => {
                let identity = identity.clone();
                ("https", tokio::spawn(async move { crate::tls::serve(listener, &identity, connections, handler, stop).await }))
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            None => {
                let upgrade = move |stream| {
                    connections.fetch_add(1, Ordering::Relaxed);
                    async move { Some(stream) }
                };
                ("http", tokio::spawn(http::serve_upgraded(listener, upgrade, handler, stop)))
            }
        };
        Ok(Emulator { shared, addr, scheme, lifetime: Lifetime::new(stop_handle, task) })
    }

    /// Stops the server for every clone of this handle and waits until the port is closed.
    pub async fn shutdown(self) {
        self.lifetime.shutdown().await;
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` when serving TLS), to use as the SDK's
    /// endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the emulator runs with.
    pub fn config(&self) -> EmulatorConfig {
        self.shared.store().config.clone()
    }

    /// Puts an instance into the emulator and returns it in API form.
    ///
    /// # Panics
    /// When the seed breaks a model constraint (for instance an id that is not a lowercase UUID);
    /// the panic message names the field.
    pub fn seed(&self, seed: SeedInstance) -> Instance {
        match self.try_seed(seed) {
            Ok(instance) => instance,
            Err(message) => panic!("invalid SeedInstance: {message}"),
        }
    }

    /// Like [`Emulator::seed`], but reports a seed that breaks a model constraint as an error.
    pub fn try_seed(&self, seed: SeedInstance) -> Result<Instance, String> {
        self.shared.store().seed(seed)
    }

    /// The ARN of an instance, as TagResource and friends expect it.
    pub fn instance_arn(&self, instance_id: &str) -> String {
        let store = self.shared.store();
        format!("arn:aws:scn:{}:{}:instance/{instance_id}", store.config.region, store.config.account_id)
    }

    /// Adds a fault rule after the existing ones.
    pub fn inject(&self, rule: FaultRule) {
        self.shared.store().ledger.rules.push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.store().ledger.rules.clear();
    }

    /// How many connections clients have established so far (for HTTPS, counted once the TLS
    /// handshake is done): tells whether calls reuse a kept-alive connection.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The API calls received so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.store().ledger.calls.clone()
    }

    /// How many calls of `operation` were received (`"*"` counts all calls).
    pub fn call_count(&self, operation: &str) -> usize {
        self.shared.store().ledger.call_count(operation)
    }

    /// Empties the call log.
    pub fn clear_calls(&self) {
        self.shared.store().ledger.calls.clear();
    }

    /// Every state change of an instance, oldest first (kept after the instance is gone).
    pub fn history(&self, instance_id: &str) -> Vec<StateChange> {
        self.shared.store().history(instance_id)
    }

    /// The current state of an instance, or `None` once it is gone.
    ///
    /// Reading here applies due transitions but does not count as a GetInstance poll.
    pub fn instance(&self, instance_id: &str) -> Option<Instance> {
        self.shared.store().instance(instance_id)
    }

    /// Every live instance, in creation order.
    pub fn instances(&self) -> Vec<Instance> {
        self.shared.store().all_instances()
    }

    /// Forces an instance into `state` now (timers restart from this moment); no-op for unknown ids.
    ///
    /// # Panics
    /// When `state` is not one of the model's instance states.
    pub fn set_state(&self, instance_id: &str, state: &str, error_message: Option<String>) {
        if let Err(message) = model::validate_state(state, "state") {
            panic!("invalid state: {message}");
        }
        self.shared.store().set_state(instance_id, state, error_message);
    }

    /// Makes an instance vanish: every later call about it answers 404.
    pub fn remove(&self, instance_id: &str) {
        self.shared.store().remove(instance_id);
    }

    /// Moves the emulator clock forward, so delays and retention elapse without waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.store().advance_clock(by);
    }

    /// Forgets all instances, histories, fault rules and calls, and resets the clock.
    pub fn reset(&self) {
        self.shared.store().reset();
    }
}

/// The operations of the instance API, with their decoded path label.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    CreateInstance,
    ListInstances,
    GetInstance(String),
    UpdateInstance(String),
    DeleteInstance(String),
    TagResource(String),
    UntagResource(String),
    ListTagsForResource(String),
    Unknown,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        let decode = |label: &str| percent_decode_str(label).decode_utf8_lossy().into_owned();
        let path = path.strip_suffix('/').unwrap_or(path);
        if path == "/api/instance" {
            return match *method {
                Method::POST => Route::CreateInstance,
                Method::GET => Route::ListInstances,
                _ => Route::Unknown,
            };
        }
        if let Some(label) = path.strip_prefix("/api/instance/") {
            if label.is_empty() || label.contains('/') {
                return Route::Unknown;
            }
            let id = decode(label);
            return match *method {
                Method::GET => Route::GetInstance(id),
                Method::PATCH => Route::UpdateInstance(id),
                Method::DELETE => Route::DeleteInstance(id),
                _ => Route::Unknown,
            };
        }
        if let Some(label) = path.strip_prefix("/api/tags/") {
            if label.is_empty() {
                return Route::Unknown;
            }
            let arn = decode(label);
            return match *method {
                Method::POST => Route::TagResource(arn),
                Method::DELETE => Route::UntagResource(arn),
                Method::GET => Route::ListTagsForResource(arn),
                _ => Route::Unknown,
            };
        }
        Route::Unknown
    }

    fn name(&self) -> &'static str {
        match self {
            Route::CreateInstance => "CreateInstance",
            Route::ListInstances => "ListInstances",
            Route::GetInstance(_) => "GetInstance",
            Route::UpdateInstance(_) => "UpdateInstance",
            Route::DeleteInstance(_) => "DeleteInstance",
            Route::TagResource(_) => "TagResource",
            Route::UntagResource(_) => "UntagResource",
            Route::ListTagsForResource(_) => "ListTagsForResource",
            Route::Unknown => "Unknown",
        }
    }

    /// The instance the call is about, as far as the path tells.
    fn instance_id(&self) -> Option<String> {
        match self {
            Route::GetInstance(id) | Route::UpdateInstance(id) | Route::DeleteInstance(id) => Some(id.clone()),
            Route::TagResource(arn) | Route::UntagResource(arn) | Route::ListTagsForResource(arn) => {
                model::parse_resource_arn(arn, "resourceArn").ok().map(|a| a.instance_id)
            }
            _ => None,
        }
    }
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (sigv4::decode_query(k), sigv4::decode_query(v))
        })
        .collect()
}

fn error_response(request_id: &str, error: &ApiError) -> Response {
    Protocol::RestJson.error_response(request_id, error.status, &error.error_type, &error.message)
}

async fn handle(shared: Arc<Shared>, req: Request) -> Result<Response, Dropped> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let path = req.uri().path().to_owned();
    if admin::owns(&path) {
        return Ok(admin::serve(&shared.store, &req, &request_id));
    }

    let route = Route::parse(req.method(), &path);
    let instance_id = route.instance_id();
    let (fault, at_millis) = {
        let mut store = shared.store();
        let at = store.now().as_millis() as u64;
        (store.ledger.take(route.name(), instance_id.as_deref()), at)
    };
    let mut record = CallRecord {
        instance_id,
        request_id: request_id.clone(),
        ..CallRecord::arriving(&req, route.name(), path, fault.as_ref(), at_millis)
    };

    match &fault {
        Some(fault @ (Fault::Drop | Fault::Hang)) => {
            shared.store().ledger.calls.push(record);
            return Err(faults::leave_unanswered(fault, shared.stop.clone()).await);
        }
        Some(Fault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
        }
        Some(other) => {
            if let Some((status, error_type, message)) = Protocol::RestJson.error_of(other) {
                let error = ApiError { status, error_type, message };
                record.status = status;
                shared.store().ledger.calls.push(record);
                return Ok(error_response(&request_id, &error));
            }
        }
        None => {}
    }

    let result = serve_api(&shared, &route, &req);
    let response = match &result {
        Ok(body) => {
            record.status = 200;
            if let Some(id) = body.pointer("/instance/instanceId").and_then(Value::as_str) {
                record.instance_id = Some(id.to_owned());
            }
            http::json(200, body, &[("x-amzn-requestid", request_id.clone())])
        }
        Err(error) => {
            record.status = error.status;
            error_response(&request_id, error)
        }
    };
    shared.store().ledger.calls.push(record);
    Ok(response)
}

fn serve_api(shared: &Shared, route: &Route, req: &Request) -> Result<Value, ApiError> {
    if *route == Route::Unknown {
        return Err(ApiError::unknown_operation(req.method().as_str(), req.uri().path()));
    }
    let (region, credentials) = {
        let store = shared.store();
        (store.config.region.clone(), store.config.credentials.clone())
    };
    sigv4::verify(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
        req.body(),
        &sigv4::Expectations { region: &region, credentials: credentials.as_ref() },
    )
    .map_err(ApiError::access_denied)?;

    let query = query_pairs(req.uri().query());
    let mut store = shared.store();
    match route {
        Route::CreateInstance => store.create_instance(&json_body(req.body())?),
        Route::ListInstances => store.list_instances(&query),
        Route::GetInstance(id) => store.get_instance(id),
        Route::UpdateInstance(id) => store.update_instance(id, &json_body(req.body())?),
        Route::DeleteInstance(id) => store.delete_instance(id),
        Route::TagResource(arn) => store.tag_resource(arn, &json_body(req.body())?),
        Route::UntagResource(arn) => store.untag_resource(arn, &query),
        Route::ListTagsForResource(arn) => store.list_tags_for_resource(arn),
        Route::Unknown => unreachable!("handled above"),
    }
}

/// Parses a request body as a JSON object; an empty body counts as `{}`.
fn json_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::validation("The request body must be a JSON object")),
        Err(e) => Err(ApiError::validation(format!("The request body is not valid JSON: {e}"))),
    }
}
