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
use crate::faults::Protocol;
use crate::http::{self, Request, Response};
use crate::lock;
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

/// Answers one admin request, `request_id` being the id the server gave it.
pub(crate) fn serve(store: &Mutex<Store>, req: &Request, request_id: &str) -> Response {
    let path = req.uri().path().trim_end_matches('/');
    let segments: Vec<String> = path.split('/').skip(2).map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let error =
        |status: u16, error_type: &str, message: String| Protocol::RestJson.error_response(request_id, status, error_type, &message);
    let bad_request = |message: String| error(400, "ValidationException", message);
    let not_found = |message: String| error(404, "ResourceNotFoundException", message);
    let ok = |body: Value| http::json(200, &body, &[("x-amzn-requestid", request_id.to_owned())]);
    let method = req.method().as_str();
    let body = req.body();

    if let [resource] = segments.as_slice() {
        if let Some(answer) = lock(store).ledger.admin(method, resource, body) {
            return match answer {
                Ok(value) => ok(value),
                Err(message) => bad_request(message),
            };
        }
    }
    match (method, segments.as_slice()) {
        ("POST", ["reset"]) => {
            lock(store).reset();
            ok(json!({}))
        }
        ("POST", ["instances"]) => match parse::<SeedInstance>(body) {
            Ok(seed) => match lock(store).seed(seed) {
                Ok(instance) => ok(json!(instance)),
                Err(message) => bad_request(message),
            },
            Err(message) => bad_request(message),
        },
        ("GET", ["instances"]) => ok(json!(lock(store).all_instances())),
        ("POST", ["accounts"]) => match parse::<Accounts>(body) {
            Ok(accounts) => {
                let accounts = match accounts {
                    Accounts::One(account) => vec![account],
                    Accounts::Many(accounts) => accounts,
                };
                if let Some(message) = accounts.iter().find_map(|a| model::validate_account_id(&a.account_id, "accountId").err()) {
                    return bad_request(message);
                }
                let mut store = lock(store);
                for account in accounts {
                    store.config.add_account(account);
                }
                ok(json!(store.config.accounts))
            }
            Err(message) => bad_request(message),
        },
        ("GET", ["accounts"]) => ok(json!(lock(store).config.accounts)),
        ("GET", ["instances", id]) => match lock(store).instance(id) {
            Some(instance) => ok(json!(instance)),
            None => not_found(format!("Instance {id} not found")),
        },
        ("DELETE", ["instances", id]) => {
            if lock(store).remove(id) {
                ok(json!({}))
            } else {
                not_found(format!("Instance {id} not found"))
            }
        }
        ("GET", ["instances", id, "history"]) => ok(json!(lock(store).history(id))),
        ("PUT", ["instances", id, "state"]) => match parse::<StateRequest>(body) {
            Ok(request) => {
                if let Err(message) = model::validate_state(&request.state, "state") {
                    return bad_request(message);
                }
                let mut store = lock(store);
                if store.set_state(id, &request.state, request.error_message) {
                    ok(json!(store.instance(id)))
                } else {
                    not_found(format!("Instance {id} not found"))
                }
            }
            Err(message) => bad_request(message),
        },
        ("POST", ["clock"]) => match parse::<ClockRequest>(body) {
            Ok(request) => {
                let mut store = lock(store);
                store.advance_clock(Duration::from_millis(request.advance_millis));
                ok(json!({ "nowMillis": store.now().as_millis() as u64 }))
            }
            Err(message) => bad_request(message),
        },
        _ => error(404, "UnknownOperationException", format!("No admin operation matches {method} {}", req.uri().path())),
    }
}
