//! Drives the local Lambda Invoke API over raw HTTP, with a fake function polling the Runtime API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{raw, RawResponse};
use serde_json::{json, Value};
use supplychain_emulator::invoke_api::{Function, InvokeApi};
use supplychain_emulator::runtime_api::RuntimeApi;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:delete-instance";

fn addr(endpoint: &str) -> SocketAddr {
    endpoint.trim_start_matches("http://").parse().unwrap()
}

/// What the fake function saw of one invocation.
#[derive(Debug)]
struct Seen {
    event: Value,
    function_arn: String,
    deadline_ms: Option<u64>,
}

/// A fake function: takes one invocation from the Runtime API and answers it with `answer`
/// (`Ok` posts a response, `Err` posts an error), as `lambda_runtime` does.
async fn serve_one(runtime: Arc<RuntimeApi>, answer: Result<Value, Value>) -> Seen {
    let runtime_addr: SocketAddr = runtime.address().parse().unwrap();
    let next = raw(runtime_addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"").await;
    let id = next.header("lambda-runtime-aws-request-id").unwrap().to_owned();
    let (kind, body) = match answer {
        Ok(body) => ("response", body),
        Err(body) => ("error", body),
    };
    let posted = raw(runtime_addr, "POST", &format!("/2018-06-01/runtime/invocation/{id}/{kind}"), &[], body.to_string().as_bytes()).await;
    assert_eq!(posted.status, 202);
    Seen {
        event: next.json(),
        function_arn: next.header("lambda-runtime-invoked-function-arn").unwrap().to_owned(),
        deadline_ms: next.header("lambda-runtime-deadline-ms").map(|v| v.parse().unwrap()),
    }
}

async fn invoke(api: &InvokeApi, function_name: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    raw(addr(&api.endpoint()), "POST", &format!("/2015-03-31/functions/{function_name}/invocations"), headers, body).await
}

async fn api_with_function() -> (InvokeApi, Arc<RuntimeApi>) {
    let api = InvokeApi::start().await.unwrap();
    let runtime = Arc::new(RuntimeApi::start().await.unwrap());
    api.register(Function::new(ARN, runtime.clone()));
    (api, runtime)
}

#[tokio::test]
async fn an_invocation_by_name_returns_the_function_response_with_status_200() {
    let (api, runtime) = api_with_function().await;
    let function = serve_one(runtime, Ok(json!({ "instance": { "state": "Deleting" } })));
    let call = invoke(&api, "delete-instance", &[], br#"{"instanceId":"abc"}"#);
    let (seen, response) = tokio::join!(function, call);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-amz-function-error"), None);
    assert_eq!(response.header("x-amz-executed-version"), Some("$LATEST"));
    assert_eq!(response.json(), json!({ "instance": { "state": "Deleting" } }));
    assert_eq!(seen.event, json!({ "instanceId": "abc" }));
    assert_eq!(seen.function_arn, ARN);
    assert!(seen.deadline_ms.is_some(), "lambda_runtime needs a deadline");
}

#[tokio::test]
async fn a_function_error_is_status_200_with_the_function_error_header_and_the_error_body() {
    let (api, runtime) = api_with_function().await;
    let error = json!({ "errorType": "InvalidInput", "errorMessage": "the event names no instance" });
    let function = serve_one(runtime, Err(error.clone()));
    let call = invoke(&api, "delete-instance", &[], b"{}");
    let (_, response) = tokio::join!(function, call);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(response.json(), error);
}

#[tokio::test]
async fn a_full_or_partial_arn_with_a_qualifier_reaches_the_same_function() {
    let (api, runtime) = api_with_function().await;
    for identifier in [
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Adelete-instance",
        "arn:aws:lambda:us-east-1:123456789012:function:delete-instance:$LATEST",
        "123456789012%3Afunction%3Adelete-instance",
    ] {
        let function = serve_one(runtime.clone(), Ok(json!({ "ok": identifier })));
        let call = invoke(&api, identifier, &[], b"{}");
        let (_, response) = tokio::join!(function, call);
        assert_eq!(response.status, 200, "{identifier}: {}", response.body);
        assert_eq!(response.json(), json!({ "ok": identifier }));
    }
}

#[tokio::test]
async fn an_unknown_function_is_resource_not_found_and_a_body_that_is_not_json_is_refused() {
    let (api, _runtime) = api_with_function().await;
    let missing = invoke(&api, "check-instance-status", &[], b"{}").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-amzn-errortype"), Some("ResourceNotFoundException"));
    assert!(missing.json()["message"].as_str().unwrap().contains("check-instance-status"));

    let not_json = invoke(&api, "delete-instance", &[], b"{not json").await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.header("x-amzn-errortype"), Some("InvalidRequestContentException"));

    let elsewhere = raw(addr(&api.endpoint()), "GET", "/2015-03-31/functions/delete-instance", &[], b"").await;
    assert_eq!(elsewhere.status, 404);
    assert_eq!(elsewhere.header("x-amzn-errortype"), Some("UnknownOperationException"));
}

#[tokio::test]
async fn an_event_invocation_is_accepted_at_once_and_still_delivered() {
    let (api, runtime) = api_with_function().await;
    let response = invoke(&api, "delete-instance", &[("x-amz-invocation-type", "Event")], br#"{"n":1}"#).await;
    assert_eq!(response.status, 202);
    let seen = serve_one(runtime, Ok(json!(null))).await;
    assert_eq!(seen.event, json!({ "n": 1 }));

    let dry_run = invoke(&api, "delete-instance", &[("x-amz-invocation-type", "DryRun")], b"{}").await;
    assert_eq!(dry_run.status, 204);
}

#[tokio::test]
async fn a_function_that_never_answers_times_out_as_sandbox_timedout() {
    let api = InvokeApi::start().await.unwrap();
    let runtime = Arc::new(RuntimeApi::start().await.unwrap());
    api.register(Function { timeout: Duration::from_millis(100), ..Function::new(ARN, runtime.clone()) });
    let runtime_addr: SocketAddr = runtime.address().parse().unwrap();
    // The function takes the invocation and never answers it.
    let take = raw(runtime_addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"");
    let call = invoke(&api, "delete-instance", &[], b"{}");
    let (_, response) = tokio::join!(take, call);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(response.json()["errorType"], "Sandbox.Timedout");
}
