//! The Lambda Extensions API (prefix `/2020-01-01/extension`), served on the same address as the
//! local Runtime API ([`crate::runtime_api`]), as Lambda serves both. `lambda_runtime`'s graceful
//! shutdown uses it to register its internal extension:
//!
//! * `POST /extension/register` with `Lambda-Extension-Name` and `{"events": [...]}`: 200 with a
//!   `Lambda-Extension-Identifier` header and `{"functionName", "functionVersion", "handler"}`
//!   (plus `accountId` when `Lambda-Extension-Accept-Feature: accountId` is sent); a missing name
//!   or an invalid body is 400, a name already registered 409;
//! * `GET /extension/event/next` with `Lambda-Extension-Identifier`: long poll that answers a
//!   `SHUTDOWN` event once [`RuntimeApi::begin_shutdown`] is called, to extensions registered for
//!   `SHUTDOWN` (others keep waiting, as Lambda then stops the process); an unknown identifier is 403;
//! * `POST /extension/init/error` and `/extension/exit/error`: 202, kept for
//!   [`RuntimeApi::extension_errors`].
//!
//! A test reads what registered with [`RuntimeApi::extensions`].
//!
//! [`RuntimeApi::begin_shutdown`]: crate::runtime_api::RuntimeApi::begin_shutdown
//! [`RuntimeApi::extension_errors`]: crate::runtime_api::RuntimeApi::extension_errors
//! [`RuntimeApi::extensions`]: crate::runtime_api::RuntimeApi::extensions

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::common::{epoch_millis, lock};
use crate::http::{self, accepted, body_value, lambda_error as error, Request, Response};

/// The path prefix of the Extensions API.
pub(crate) const PREFIX: &str = "/2020-01-01/extension";

/// An extension registered through the Extensions API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The `Lambda-Extension-Name` it registered with.
    pub name: String,
    /// The `Lambda-Extension-Identifier` it was given.
    pub id: String,
    /// The events it subscribed to (`INVOKE`, `SHUTDOWN`).
    pub events: Vec<String>,
    /// When it registered.
    pub registered: Instant,
    /// Whether it registered before the runtime's first `/next` poll, that is during init, as
    /// Lambda requires.
    pub during_init: bool,
}

/// The state of the Extensions API: the registered extensions, their error reports, the Shutdown
/// event.
pub(crate) struct Extensions {
    registered: Mutex<Vec<Extension>>,
    errors: Mutex<Vec<Value>>,
    /// The SHUTDOWN event body, once a shutdown has begun.
    shutdown: watch::Sender<Option<Value>>,
    /// The time of the runtime's first `/next` poll, which ends init.
    first_poll: watch::Receiver<Option<Instant>>,
}

impl Extensions {
    /// An Extensions API with nothing registered, whose init ends at the first poll `first_poll`
    /// announces.
    pub(crate) fn new(first_poll: watch::Receiver<Option<Instant>>) -> Extensions {
        Extensions { registered: Mutex::new(Vec::new()), errors: Mutex::new(Vec::new()), shutdown: watch::channel(None).0, first_poll }
    }

    /// The extensions registered so far, in registration order.
    pub(crate) fn registered(&self) -> Vec<Extension> {
        lock(&self.registered).clone()
    }

    /// The error reports extensions posted, oldest first.
    pub(crate) fn errors(&self) -> Vec<Value> {
        lock(&self.errors).clone()
    }

    /// Sends `{"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": now + within}` to
    /// every extension registered for `SHUTDOWN`.
    pub(crate) fn begin_shutdown(&self, reason: &str, within: Duration) {
        let event = json!({
            "eventType": "SHUTDOWN",
            "shutdownReason": reason,
            "deadlineMs": epoch_millis() + within.as_millis() as u64,
        });
        self.shutdown.send_replace(Some(event));
    }

    /// Answers a request whose path, after [`PREFIX`], is `path`.
    pub(crate) async fn serve(&self, req: &Request, path: &str) -> Response {
        match (req.method(), path) {
            (&Method::POST, "/register") => self.register(req),
            (&Method::GET, "/event/next") => self.next_event(req).await,
            (&Method::POST, kind @ ("/init/error" | "/exit/error")) => {
                let entry = json!({
                    "kind": kind.trim_start_matches('/').trim_end_matches("/error"),
                    "errorType": http::header(req.headers(), "lambda-extension-function-error-type"),
                    "body": body_value(req.body()),
                });
                lock(&self.errors).push(entry);
                accepted()
            }
            _ => error(404, "NotFound", format!("No route for {} {PREFIX}{path}", req.method())),
        }
    }

    /// `POST /register`: registers the extension under its `Lambda-Extension-Name` for the events
    /// its body lists, and answers its new identifier.
    fn register(&self, req: &Request) -> Response {
        let header = |name: &str| http::header(req.headers(), name);
        let Some(name) = header("lambda-extension-name").filter(|n| !n.is_empty()) else {
            return error(400, "InvalidRequest", "the Lambda-Extension-Name header is missing".into());
        };
        let events: Vec<String> = match serde_json::from_slice::<Value>(req.body()) {
            Ok(body) => match body.get("events").and_then(Value::as_array) {
                Some(events) => events.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                None => return error(400, "InvalidRequest", "the body must be {\"events\": [...]}".into()),
            },
            Err(e) => return error(400, "InvalidRequest", format!("the body is not JSON: {e}")),
        };
        let id = uuid::Uuid::new_v4().to_string();
        {
            let mut registered = lock(&self.registered);
            if registered.iter().any(|e| e.name == name) {
                return error(409, "Extension.AlreadyRegistered", format!("an extension named {name:?} is already registered"));
            }
            registered.push(Extension {
                name: name.to_owned(),
                id: id.clone(),
                events,
                registered: Instant::now(),
                during_init: self.first_poll.borrow().is_none(),
            });
        }
        let mut body = json!({ "functionName": "function", "functionVersion": "$LATEST", "handler": "bootstrap" });
        if header("lambda-extension-accept-feature").is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId")) {
            body["accountId"] = json!("123456789012");
        }
        http::json(200, &body, &[("lambda-extension-identifier", id)])
    }

    /// `GET /event/next`: waits for the next event of the extension its
    /// `Lambda-Extension-Identifier` names, which is the `SHUTDOWN` event or nothing.
    async fn next_event(&self, req: &Request) -> Response {
        let known = http::header(req.headers(), "lambda-extension-identifier")
            .and_then(|id| lock(&self.registered).iter().find(|e| e.id == id).cloned());
        let Some(extension) = known else {
            return error(403, "Extension.UnknownExtensionIdentifier", "unknown Lambda-Extension-Identifier".into());
        };
        if !extension.events.iter().any(|e| e == "SHUTDOWN") {
            // Nothing will ever be sent: wait until the server stops.
            std::future::pending::<()>().await;
        }
        let mut shutdown = self.shutdown.subscribe();
        let event = shutdown.wait_for(Option::is_some).await.map(|event| event.clone());
        match event {
            Ok(event) => http::json(200, &event.unwrap_or_default(), &[]),
            Err(_) => error(500, "ServiceException", "shutting down".into()),
        }
    }
}
