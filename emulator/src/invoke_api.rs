//! A local Lambda Invoke API, so that callers speaking Lambda's public API (a Step Functions
//! interpreter, an SDK, `curl`) reach compiled function binaries run by a [`RuntimeApi`].
//!
//! It serves `POST /2015-03-31/functions/{FunctionName}/invocations` as Lambda does:
//!
//! * `FunctionName` is a name (`delete-instance`), a full ARN, or a partial ARN
//!   (`123456789012:function:delete-instance`), percent-encoded in the path; a qualifier
//!   (`:$LATEST`, an alias) is accepted and ignored;
//! * `X-Amz-Invocation-Type`: `RequestResponse` (default) waits for the answer; `Event` answers
//!   202 at once; `DryRun` answers 204;
//! * a response answers 200 with the payload and `X-Amz-Executed-Version: $LATEST`;
//! * a function error answers 200 with `X-Amz-Function-Error: Unhandled` and the function's
//!   `{"errorType", "errorMessage"}` body;
//! * a function that does not answer within its timeout answers 200 with
//!   `X-Amz-Function-Error: Unhandled` and the error type `Sandbox.Timedout`;
//! * an unknown function answers 404 `ResourceNotFoundException`, a body that is not JSON 400
//!   `InvalidRequestContentException`, any other path 404 `UnknownOperationException`, each with
//!   `x-amzn-ErrorType` and a `{"Type": "User", "message"}` body.
//!
//! Requests are not signed-checked: the server only ever listens on the loopback interface.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::common::lock;
use crate::http::{self, Dropped, Request, Response, StopHandle};
use crate::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi, RuntimeApiError};

const PREFIX: &str = "/2015-03-31/functions/";
const SUFFIX: &str = "/invocations";

/// A function the Invoke API can reach.
#[derive(Clone)]
pub struct Function {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`: sent to the binary as its invoked function ARN.
    pub arn: String,
    /// The Runtime API the function binary polls.
    pub runtime: Arc<RuntimeApi>,
    /// The function's timeout: the deadline each invocation gets.
    pub timeout: Duration,
}

impl Function {
    /// A function with Lambda's default-sized timeout for these tests (30 s).
    pub fn new(arn: impl Into<String>, runtime: Arc<RuntimeApi>) -> Function {
        Function { arn: arn.into(), runtime, timeout: Duration::from_secs(30) }
    }

    /// The function name: the seventh field of the ARN.
    pub fn name(&self) -> String {
        function_name(&self.arn)
    }
}

type Registry = Arc<Mutex<HashMap<String, Function>>>;

/// A running local Lambda Invoke API; dropping it stops the server.
pub struct InvokeApi {
    functions: Registry,
    addr: SocketAddr,
    _stop: StopHandle,
}

impl std::fmt::Debug for InvokeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvokeApi").field("addr", &self.addr).finish()
    }
}

impl InvokeApi {
    /// Starts the server on `127.0.0.1` with a free port.
    pub async fn start() -> std::io::Result<InvokeApi> {
        let (listener, addr) = http::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let functions: Registry = Arc::default();
        let (stop_handle, stop) = http::stop_pair();
        let handler_functions = functions.clone();
        let handler = move |req: Request| handle(handler_functions.clone(), req);
        tokio::spawn(http::serve(listener, handler, stop));
        Ok(InvokeApi { functions, addr, _stop: stop_handle })
    }

    /// `http://127.0.0.1:PORT`: the Lambda endpoint for a client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes `function` reachable under its name (and so under any form of its ARN); registering
    /// the same name again replaces the earlier function.
    pub fn register(&self, function: Function) {
        let name = function.name();
        lock(&self.functions).insert(name, function);
    }
}

/// The function name in any accepted form of `FunctionName`: a name, a full ARN or a partial ARN,
/// each with an optional qualifier.
fn function_name(identifier: &str) -> String {
    let fields: Vec<&str> = identifier.split(':').collect();
    let name = match fields.as_slice() {
        ["arn", _partition, "lambda", _region, _account, "function", name, ..] => name,
        [_account, "function", name, ..] => name,
        [name, ..] => name,
        [] => "",
    };
    (*name).to_owned()
}

fn error(status: u16, error_type: &str, message: String) -> Response {
    http::json(status, &json!({ "Type": "User", "message": message }), &[("x-amzn-ErrorType", error_type.to_owned())])
}

async fn handle(functions: Registry, req: Request) -> Result<Response, Dropped> {
    let (function, body) = match resolve(&functions, &req) {
        Ok(found) => found,
        Err((status, error_type, message)) => return Ok(error(status, error_type, message)),
    };
    let options = Invoke {
        deadline: Deadline::In(function.timeout),
        function_arn: function.arn.clone(),
        // The function gets its whole timeout; a little more lets its own timeout error arrive first.
        give_up_after: function.timeout + Duration::from_secs(1),
        ..Invoke::default()
    };
    let invocation_type = http::header(req.headers(), "x-amz-invocation-type").unwrap_or("RequestResponse").to_owned();
    let response = match invocation_type.as_str() {
        "RequestResponse" => invoke(&function, body, options).await,
        "Event" => {
            tokio::spawn(async move {
                // Nobody waits for an asynchronous invocation's outcome.
                let _ = function.runtime.invoke_raw(body, options).await;
            });
            http::json_response(202, Vec::new(), &[])
        }
        "DryRun" => http::json_response(204, Vec::new(), &[]),
        other => {
            error(400, "InvalidParameterValueException", format!("X-Amz-Invocation-Type {other:?} is not RequestResponse, Event or DryRun"))
        }
    };
    Ok(response)
}

/// The function an invocation request names and the payload to hand it (`{}` for an empty body),
/// or the status, error type and message of the error that answers a request naming no known
/// function or carrying a body that is not JSON.
fn resolve(functions: &Registry, req: &Request) -> Result<(Function, Bytes), (u16, &'static str, String)> {
    let path = req.uri().path();
    let Some(encoded) = path.strip_prefix(PREFIX).and_then(|rest| rest.strip_suffix(SUFFIX)) else {
        return Err((404, "UnknownOperationException", format!("no operation at {} {path}", req.method())));
    };
    if req.method() != Method::POST {
        return Err((404, "UnknownOperationException", format!("no operation at {} {path}", req.method())));
    }
    let identifier = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy().into_owned();
    let function = lock(functions).get(&function_name(&identifier)).cloned();
    let Some(function) = function else {
        return Err((404, "ResourceNotFoundException", format!("Function not found: {identifier}")));
    };
    let body = req.body().clone();
    if !body.is_empty() && serde_json::from_slice::<Value>(&body).is_err() {
        return Err((400, "InvalidRequestContentException", "Could not parse request body into json".to_owned()));
    }
    let body = if body.is_empty() { Bytes::from_static(b"{}") } else { body };
    Ok((function, body))
}

/// A `RequestResponse` invocation: waits for the function's answer and answers it as Lambda does,
/// a function error or a timeout flagged with `X-Amz-Function-Error: Unhandled`.
async fn invoke(function: &Function, body: Bytes, options: Invoke) -> Response {
    let version = ("X-Amz-Executed-Version", "$LATEST".to_owned());
    match function.runtime.invoke_raw(body, options).await {
        Ok(completed) => match completed.outcome {
            Outcome::Response(payload) => http::json(200, &payload, &[version]),
            Outcome::Error { body, .. } => http::json(200, &body, &[version, ("X-Amz-Function-Error", "Unhandled".to_owned())]),
        },
        Err(RuntimeApiError::GaveUp { .. }) => {
            let body = json!({
                "errorType": "Sandbox.Timedout",
                "errorMessage": format!("Task timed out after {:.2} seconds", function.timeout.as_secs_f64()),
            });
            http::json(200, &body, &[version, ("X-Amz-Function-Error", "Unhandled".to_owned())])
        }
        Err(RuntimeApiError::DuplicateRequestId(id)) => {
            error(500, "ServiceException", format!("an invocation with request id {id} is already pending"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn every_form_of_function_name_resolves_to_the_name() {
        for identifier in [
            "delete-instance",
            "delete-instance:live",
            "arn:aws:lambda:us-east-1:123456789012:function:delete-instance",
            "arn:aws:lambda:us-east-1:123456789012:function:delete-instance:$LATEST",
            "123456789012:function:delete-instance",
        ] {
            assert_eq!(function_name(identifier), "delete-instance", "{identifier}");
        }
    }
}
