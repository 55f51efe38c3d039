//! The emulator's admin API under `/_emulator/`: seeds, reads, removes and forces the state of
//! instances, adds accounts and their roles, manages the fault rules and the call log, moves the
//! clock, resets everything.
//!
//! No signature is needed and no call is logged. Answers carry the `x-amzn-requestid` of the API's
//! own answers; errors have the API's restJson1 form (400 `ValidationException` for a body that does
//! not parse, 404 `ResourceNotFoundException` for an unknown instance, 404
//! `UnknownOperationException` for anything else).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::Account;
use crate::common::lock;
use crate::faults::Protocol;
use crate::http::{self, Request, Response};
use crate::model;
use crate::store::{SeedInstance, Store};

/// The path prefix of the admin API; it never collides with the service's `/api/`.
const PREFIX: &str = "/_emulator";

/// Whether `path` belongs to the admin API rather than to the service.
pub(crate) fn owns(path: &str) -> bool {
    path.strip_prefix(PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The body of `PUT /_emulator/instances/{id}/state`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateRequest {
    state: String,
    #[serde(default)]
    error_message: Option<String>,
}

/// The body of `POST /_emulator/accounts`: one account or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Accounts {
    One(Account),
    Many(Vec<Account>),
}

/// The body of `POST /_emulator/clock`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClockRequest {
    advance_millis: u64,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("Invalid request body: {e}"))
}

/// Why an admin request was refused; each reason is one restJson1 error.
enum Refused {
    /// 400 `ValidationException`: a body that does not parse, or a value the model does not allow.
    Invalid(String),
    /// 404 `ResourceNotFoundException`: an unknown instance.
    NotFound(String),
    /// 404 `UnknownOperationException`: no admin operation matches the method and path.
    Unknown,
}

fn instance_not_found(id: &str) -> Refused {
    Refused::NotFound(format!("Instance {id} not found"))
}

/// Answers one admin request, `request_id` being the id the server gave it.
pub(crate) fn serve(store: &Mutex<Store>, req: &Request, request_id: &str) -> Response {
    let path = req.uri().path().trim_end_matches('/');
    let segments: Vec<String> = path.split('/').skip(2).map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    let (status, error_type, message) = match answer(store, method, &segments, req.body()) {
        Ok(body) => return http::json(200, &body, &[("x-amzn-requestid", request_id.to_owned())]),
        Err(Refused::Invalid(message)) => (400, "ValidationException", message),
        Err(Refused::NotFound(message)) => (404, "ResourceNotFoundException", message),
        Err(Refused::Unknown) => (404, "UnknownOperationException", format!("No admin operation matches {method} {}", req.uri().path())),
    };
    Protocol::RestJson.error_response(request_id, status, error_type, &message)
}

/// The body of the answer to the admin operation `method` on `segments` (the path after the
/// prefix, decoded), or why there is none.
fn answer(store: &Mutex<Store>, method: &str, segments: &[&str], body: &Bytes) -> Result<Value, Refused> {
    if let [resource] = segments {
        if let Some(answer) = lock(store).ledger.admin(method, resource, body) {
            return answer.map_err(Refused::Invalid);
        }
    }
    match (method, segments) {
        ("POST", ["reset"]) => {
            lock(store).reset();
            Ok(json!({}))
        }
        ("POST", ["instances"]) => {
            let seed = parse::<SeedInstance>(body).map_err(Refused::Invalid)?;
            lock(store).seed(seed).map(|instance| json!(instance)).map_err(Refused::Invalid)
        }
        ("GET", ["instances"]) => Ok(json!(lock(store).all_instances())),
        ("POST", ["accounts"]) => add_accounts(store, body),
        ("GET", ["accounts"]) => Ok(json!(lock(store).config.accounts)),
        ("GET", ["instances", id]) => lock(store).instance(id).map(|instance| json!(instance)).ok_or_else(|| instance_not_found(id)),
        ("DELETE", ["instances", id]) => {
            if lock(store).remove(id) {
                Ok(json!({}))
            } else {
                Err(instance_not_found(id))
            }
        }
        ("GET", ["instances", id, "history"]) => Ok(json!(lock(store).history(id))),
        ("PUT", ["instances", id, "state"]) => set_state(store, id, body),
        ("POST", ["clock"]) => advance_clock(store, body),
        _ => Err(Refused::Unknown),
    }
}

/// `POST accounts`: adds each account, or merges its roles into the account of the same id;
/// answers every account.
fn add_accounts(store: &Mutex<Store>, body: &Bytes) -> Result<Value, Refused> {
    let accounts = match parse::<Accounts>(body).map_err(Refused::Invalid)? {
        Accounts::One(account) => vec![account],
        Accounts::Many(accounts) => accounts,
    };
    if let Some(message) = accounts.iter().find_map(|a| model::validate_account_id(&a.account_id, "accountId").err()) {
        return Err(Refused::Invalid(message));
    }
    let mut store = lock(store);
    for account in accounts {
        store.config.add_account(account);
    }
    Ok(json!(store.config.accounts))
}

/// `PUT instances/{id}/state`: forces the instance's state; answers the instance.
fn set_state(store: &Mutex<Store>, id: &str, body: &Bytes) -> Result<Value, Refused> {
    let request = parse::<StateRequest>(body).map_err(Refused::Invalid)?;
    model::validate_state(&request.state, "state").map_err(Refused::Invalid)?;
    let mut store = lock(store);
    if store.set_state(id, &request.state, request.error_message) {
        Ok(json!(store.instance(id)))
    } else {
        Err(instance_not_found(id))
    }
}

/// `POST clock`: moves the clock forward; answers the new time.
fn advance_clock(store: &Mutex<Store>, body: &Bytes) -> Result<Value, Refused> {
    let request = parse::<ClockRequest>(body).map_err(Refused::Invalid)?;
    let mut store = lock(store);
    store.advance_clock(Duration::from_millis(request.advance_millis));
    Ok(json!({ "nowMillis": store.now().as_millis() as u64 }))
}
