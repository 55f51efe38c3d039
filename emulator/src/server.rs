//! The running emulator: its handle, request routing and the API front door; admin requests go to
//! the admin module.
//!
//! Each API request goes through the same steps, in this order:
//! 1. routing to an operation (`UnknownOperationException` when nothing matches); a form-encoded
//!    `POST /` is an STS call, its operation the form's `Action`;
//! 2. fault injection, so that an injected fault hits the call whatever its content;
//! 3. SigV4 verification (403 `AccessDeniedException`), with the secret of the session when the
//!    access key is one AssumeRole issued (403 `ExpiredTokenException` once it expired), which
//!    decides the account and region the call acts in;
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

use crate::accounts::{Account, Caller};
use crate::common::lock;
use crate::config::EmulatorConfig;
use crate::faults::{self, CallRecord, Fault, FaultRule, Protocol};
use crate::http::{self, Dropped, Lifetime, Request, Response, StopSignal};
use crate::model::{self, Instance};
use crate::store::{ApiError, Scope, SeedInstance, StateChange, Store};
use crate::{admin, query, sigv4, sts};

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

    /// The ARN of an instance, as TagResource and friends expect it: in the instance's region and
    /// account, or the home ones for an id the emulator does not hold.
    pub fn instance_arn(&self, instance_id: &str) -> String {
        let mut store = self.shared.store();
        let (region, account) =
            store.placement(instance_id).unwrap_or_else(|| (store.config.region.clone(), store.config.account_id.clone()));
        format!("arn:aws:scn:{region}:{account}:instance/{instance_id}")
    }

    /// Adds an account with its roles, or merges the roles into the account of the same id (a role
    /// of the same name is replaced).
    pub fn add_account(&self, account: Account) {
        self.shared.store().config.add_account(account);
    }

    /// The accounts and roles AssumeRole knows.
    pub fn accounts(&self) -> Vec<Account> {
        self.shared.store().config.accounts.clone()
    }

    /// The emulator clock (wall time plus whatever the clock was advanced by), for instance as an
    /// SDK client's time source, so that its credentials expire when the emulator's do.
    pub fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + self.shared.store().now()
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

    /// Forgets all instances, histories, sessions, fault rules and calls, and resets the clock; the
    /// configuration, accounts and roles included, stays.
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
    /// STS AssumeRole, with the form's parameters.
    AssumeRole(Vec<(String, String)>),
    /// Another STS action (or none), answered `InvalidAction`.
    StsAction(String),
    Unknown,
}

impl Route {
    fn parse(method: &Method, path: &str, body: &Bytes) -> Route {
        let decode = |label: &str| percent_decode_str(label).decode_utf8_lossy().into_owned();
        if *method == Method::POST && path == "/" {
            let params = query::form(body);
            return match query::param(&params, "Action") {
                Some("AssumeRole") => Route::AssumeRole(params),
                Some(action) => Route::StsAction(action.to_owned()),
                None => Route::StsAction(String::new()),
            };
        }
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

    fn name(&self) -> &str {
        match self {
            Route::CreateInstance => "CreateInstance",
            Route::ListInstances => "ListInstances",
            Route::GetInstance(_) => "GetInstance",
            Route::UpdateInstance(_) => "UpdateInstance",
            Route::DeleteInstance(_) => "DeleteInstance",
            Route::TagResource(_) => "TagResource",
            Route::UntagResource(_) => "UntagResource",
            Route::ListTagsForResource(_) => "ListTagsForResource",
            Route::AssumeRole(_) => "AssumeRole",
            Route::StsAction(action) if !action.is_empty() => action,
            Route::StsAction(_) | Route::Unknown => "Unknown",
        }
    }

    /// The protocol of the operation's answers.
    fn protocol(&self) -> Protocol {
        match self {
            Route::AssumeRole(_) | Route::StsAction(_) => Protocol::Query,
            _ => Protocol::RestJson,
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
    sigv4::decode_pairs(raw.unwrap_or(""))
}

fn error_response(protocol: &Protocol, request_id: &str, error: &ApiError) -> Response {
    protocol.error_response(request_id, error.status, &error.error_type, &error.message)
}

async fn handle(shared: Arc<Shared>, req: Request) -> Result<Response, Dropped> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let path = req.uri().path().to_owned();
    if admin::owns(&path) {
        return Ok(admin::serve(&shared.store, &req, &request_id));
    }

    let route = Route::parse(req.method(), &path, req.body());
    let protocol = route.protocol();
    let (mut record, fault) = arrive(&shared, &req, &route, path, &request_id);
    if let Some(ended) = inject(&shared, fault.as_ref(), &protocol, &request_id, &mut record).await {
        return ended;
    }
    let response = match &route {
        Route::AssumeRole(params) => match serve_assume_role(&shared, params, &req, &mut record) {
            Ok(session) => {
                record.status = 200;
                http::xml(200, sts::assume_role_xml(&session, &request_id), &request_id)
            }
            Err(error) => {
                record.status = error.status;
                error_response(&protocol, &request_id, &error)
            }
        },
        _ => match serve_api(&shared, &route, &req, &mut record) {
            Ok(body) => {
                record.status = 200;
                if let Some(id) = body.pointer("/instance/instanceId").and_then(Value::as_str) {
                    record.instance_id = Some(id.to_owned());
                }
                http::json(200, &body, &[("x-amzn-requestid", request_id.clone())])
            }
            Err(error) => {
                record.status = error.status;
                error_response(&protocol, &request_id, &error)
            }
        },
    };
    shared.store().ledger.calls.push(record);
    Ok(response)
}

/// The record of a call as it arrives, and the fault a rule injects into it: both taken under one
/// lock, at one reading of the emulator's clock.
fn arrive(shared: &Shared, req: &Request, route: &Route, path: String, request_id: &str) -> (CallRecord, Option<Fault>) {
    let instance_id = route.instance_id();
    let (fault, at_millis, account_id) = {
        let mut store = shared.store();
        let at = store.now().as_millis() as u64;
        let fault = store.ledger.take(route.name(), instance_id.as_deref());
        (fault, at, account_of(&store, req))
    };
    let record = CallRecord {
        instance_id,
        request_id: request_id.to_owned(),
        account_id,
        role_arn: match route {
            Route::AssumeRole(params) => query::param(params, "RoleArn").map(str::to_owned),
            _ => None,
        },
        ..CallRecord::arriving(req, route.name(), path, fault.as_ref(), at_millis)
    };
    (record, fault)
}

/// Applies a call's injected fault: `None` lets the call go on to its operation (after the wait of
/// a `delay`); `Some` is how the call ends, the call already logged.
async fn inject(
    shared: &Shared,
    fault: Option<&Fault>,
    protocol: &Protocol,
    request_id: &str,
    record: &mut CallRecord,
) -> Option<Result<Response, Dropped>> {
    match fault? {
        fault @ (Fault::Drop | Fault::Hang) => {
            shared.store().ledger.calls.push(record.clone());
            Some(Err(faults::leave_unanswered(fault, shared.stop.clone()).await))
        }
        Fault::Delay { millis } => {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
            None
        }
        Fault::Respond { status, headers, body } => {
            record.status = *status;
            shared.store().ledger.calls.push(record.clone());
            Some(Ok(protocol.canned_response(request_id, *status, headers, body)))
        }
        other => {
            let (status, error_type, message) = protocol.error_of(other)?;
            let error = ApiError { status, error_type, message };
            record.status = status;
            shared.store().ledger.calls.push(record.clone());
            Some(Ok(error_response(protocol, request_id, &error)))
        }
    }
}

/// The account a request's access key acts in, before its signature is checked (for the call
/// log): the session's account for a key AssumeRole issued, else the home account; `None` without
/// a readable `Authorization` header.
fn account_of(store: &Store, req: &Request) -> Option<String> {
    let authorization = http::header(req.headers(), "authorization").and_then(|v| sigv4::parse_authorization(v).ok())?;
    Some(match store.sessions.get(&authorization.access_key_id) {
        Some(session) => session.account_id.clone(),
        None => store.config.account_id.clone(),
    })
}

/// Why a signed request was refused.
enum Refusal {
    /// The signature does not verify; the message says why.
    Signature(String),
    /// The session credentials that signed it have expired.
    Expired,
}

/// Verifies a request's signature for `service` and tells who signed it and in which region.
///
/// An access key AssumeRole issued is checked against its session's secret and token, always
/// (the emulator knows them), then against its expiry; any other key is the base credentials',
/// checked as `EmulatorConfig::credentials` says.
fn authenticate(shared: &Shared, req: &Request, service: &str) -> Result<(Caller, String), Refusal> {
    let (session, credentials, regions, home) = {
        let store = shared.store();
        let access_key =
            http::header(req.headers(), "authorization").and_then(|v| sigv4::parse_authorization(v).ok()).map(|a| a.access_key_id);
        let session = access_key.and_then(|key| store.sessions.get(&key).cloned());
        let credentials = match &session {
            Some(session) => Some(session.credentials.clone()),
            None => store.config.credentials.clone(),
        };
        let home = Caller { account_id: store.config.account_id.clone(), arn: store.config.home_principal(), role_arn: None };
        (session, credentials, store.config.regions(), home)
    };
    let auth = sigv4::verify(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
        req.body(),
        &sigv4::Expectations { service, regions: &regions, credentials: credentials.as_ref() },
    )
    .map_err(Refusal::Signature)?;
    let caller = match session {
        None => home,
        Some(session) => {
            if shared.store().now() >= session.expires {
                return Err(Refusal::Expired);
            }
            Caller { account_id: session.account_id, arn: session.assumed_role_arn, role_arn: Some(session.role_arn) }
        }
    };
    Ok((caller, auth.region))
}

fn serve_assume_role(
    shared: &Shared,
    params: &[(String, String)],
    req: &Request,
    record: &mut CallRecord,
) -> Result<crate::accounts::Session, ApiError> {
    let (caller, _region) = authenticate(shared, req, sts::SERVICE).map_err(|refusal| match refusal {
        Refusal::Signature(message) => sts::signature_refused(message),
        Refusal::Expired => sts::expired(),
    })?;
    record.caller_arn = Some(caller.arn.clone());
    sts::assume_role(&mut shared.store(), &caller, params)
}

fn serve_api(shared: &Shared, route: &Route, req: &Request, record: &mut CallRecord) -> Result<Value, ApiError> {
    match route {
        Route::Unknown => return Err(ApiError::unknown_operation(req.method().as_str(), req.uri().path())),
        Route::StsAction(action) => return Err(sts::invalid_action(action)),
        _ => {}
    }
    let (caller, region) = authenticate(shared, req, sigv4::SERVICE).map_err(|refusal| match refusal {
        Refusal::Signature(message) => ApiError::access_denied(message),
        // As AWS's restJson1 services answer a call signed with expired session credentials.
        Refusal::Expired => ApiError {
            status: 403,
            error_type: "ExpiredTokenException".into(),
            message: "The security token included in the request is expired".into(),
        },
    })?;
    record.caller_arn = Some(caller.arn.clone());
    let scope = Scope { account_id: caller.account_id, region, caller_arn: caller.arn };

    let query = query_pairs(req.uri().query());
    let mut store = shared.store();
    match route {
        Route::CreateInstance => store.create_instance(&json_body(req.body())?, &scope),
        Route::ListInstances => store.list_instances(&query, &scope),
        Route::GetInstance(id) => store.get_instance(id, &scope),
        Route::UpdateInstance(id) => store.update_instance(id, &json_body(req.body())?, &scope),
        Route::DeleteInstance(id) => store.delete_instance(id, &scope),
        Route::TagResource(arn) => store.tag_resource(arn, &json_body(req.body())?, &scope),
        Route::UntagResource(arn) => store.untag_resource(arn, &query, &scope),
        Route::ListTagsForResource(arn) => store.list_tags_for_resource(arn, &scope),
        Route::AssumeRole(_) | Route::StsAction(_) | Route::Unknown => unreachable!("handled above"),
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
