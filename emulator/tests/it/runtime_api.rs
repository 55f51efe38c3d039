//! Drives the local Lambda Runtime API with a fake runtime client speaking raw HTTP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{raw, runtime_addr, RawResponse};
use serde_json::json;
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi, RuntimeApiError};

async fn next(api: &RuntimeApi) -> RawResponse {
    raw(runtime_addr(api), "GET", "/2018-06-01/runtime/invocation/next", &[], b"").await
}

fn request_id(invocation: &RawResponse) -> String {
    invocation.header("lambda-runtime-aws-request-id").expect("request id header").to_owned()
}

#[tokio::test]
async fn a_polling_client_gets_the_event_with_lambda_headers_and_its_response_completes_the_invocation() {
    let api = RuntimeApi::start().await.unwrap();
    let invoke = api.invoke(
        json!({ "instanceId": "abc" }),
        Invoke { request_id: Some("req-1".into()), trace_id: Some("Root=1-trace".into()), ..Default::default() },
    );
    let client = async {
        let invocation = next(&api).await;
        assert_eq!(invocation.status, 200);
        assert_eq!(request_id(&invocation), "req-1");
        assert_eq!(
            invocation.header("lambda-runtime-invoked-function-arn"),
            Some("arn:aws:lambda:us-east-1:123456789012:function:delete-instance")
        );
        assert_eq!(invocation.header("lambda-runtime-trace-id"), Some("Root=1-trace"));
        let deadline: u64 = invocation.header("lambda-runtime-deadline-ms").unwrap().parse().unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(deadline > now + 25_000 && deadline <= now + 30_000, "{deadline} vs {now}");
        assert_eq!(invocation.json(), json!({ "instanceId": "abc" }));
        let posted = raw(runtime_addr(&api), "POST", "/2018-06-01/runtime/invocation/req-1/response", &[], br#"{"ok":true}"#).await;
        assert_eq!(posted.status, 202);
    };
    let (completed, ()) = tokio::join!(invoke, client);
    let completed = completed.unwrap();
    assert_eq!(completed.request_id, "req-1");
    assert_eq!(completed.outcome.response(), Some(&json!({ "ok": true })));
    assert!(completed.completed >= completed.handed_out);
    assert!(api.wait_for_first_poll().await <= completed.handed_out);
}

#[tokio::test]
async fn an_error_post_completes_the_invocation_with_its_error_type_and_header() {
    let api = RuntimeApi::start().await.unwrap();
    let invoke = api.invoke(json!({}), Invoke::default());
    let client = async {
        let id = request_id(&next(&api).await);
        let posted = raw(
            runtime_addr(&api),
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/error"),
            &[("lambda-runtime-function-error-type", "unhandled")],
            br#"{"errorType":"DeletionFailed","errorMessage":"instance is stuck"}"#,
        )
        .await;
        assert_eq!(posted.status, 202);
        // A second answer for the same invocation is refused.
        let again = raw(runtime_addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], b"{}").await;
        assert_eq!(again.status, 400);
        assert_eq!(again.json()["errorType"], "InvalidRequestID");
    };
    let (completed, ()) = tokio::join!(invoke, client);
    let outcome = completed.unwrap().outcome;
    assert_eq!(outcome.error_type(), Some("DeletionFailed"));
    assert!(outcome.response().is_none());
    let Outcome::Error { error_message, header_error_type, body, .. } = outcome else { unreachable!() };
    assert_eq!(error_message, "instance is stuck");
    assert_eq!(header_error_type.as_deref(), Some("unhandled"));
    assert_eq!(body["errorType"], "DeletionFailed");
}

#[tokio::test]
async fn two_concurrent_pollers_each_receive_a_different_invocation() {
    let api = RuntimeApi::start().await.unwrap();
    let worker = |name: &'static str| {
        let api = &api;
        async move {
            let invocation = next(api).await;
            let id = request_id(&invocation);
            let body = json!({ "worker": name, "event": invocation.json() }).to_string();
            raw(runtime_addr(api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], body.as_bytes()).await;
            id
        }
    };
    let first = api.invoke(json!(1), Invoke::default());
    let second = api.invoke(json!(2), Invoke::default());
    let (a, b, one, two) = tokio::join!(worker("a"), worker("b"), first, second);
    assert_ne!(a, b);
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.outcome.response().unwrap()["event"], 1);
    assert_eq!(two.outcome.response().unwrap()["event"], 2);
    assert_ne!(one.outcome.response().unwrap()["worker"], two.outcome.response().unwrap()["worker"]);
}

#[tokio::test]
async fn a_missing_deadline_omits_the_header_and_a_fixed_one_is_sent_as_is() {
    let api = RuntimeApi::start().await.unwrap();
    for (deadline, expected) in [(Deadline::Missing, None), (Deadline::AtEpochMillis(0), Some("0"))] {
        let invoke = api.invoke(json!({}), Invoke { deadline, ..Default::default() });
        let client = async {
            let invocation = next(&api).await;
            assert_eq!(invocation.header("lambda-runtime-deadline-ms"), expected);
            let id = request_id(&invocation);
            raw(runtime_addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], b"null").await;
        };
        let (completed, ()) = tokio::join!(invoke, client);
        assert_eq!(completed.unwrap().outcome.response(), Some(&serde_json::Value::Null));
    }
}

#[tokio::test]
async fn an_unknown_request_id_is_refused_with_400() {
    let api = RuntimeApi::start().await.unwrap();
    let response = raw(runtime_addr(&api), "POST", "/2018-06-01/runtime/invocation/nope/response", &[], b"{}").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["errorType"], "InvalidRequestID");
    let unknown_route = raw(runtime_addr(&api), "GET", "/2018-06-01/runtime/other", &[], b"").await;
    assert_eq!(unknown_route.status, 404);
}

#[tokio::test]
async fn invoke_gives_up_when_no_function_answers() {
    let api = RuntimeApi::start().await.unwrap();
    let err = api.invoke(json!({}), Invoke { give_up_after: Duration::from_millis(50), ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, RuntimeApiError::GaveUp { handed_out: false, .. }), "{err}");

    // A poller arriving later does not receive the abandoned invocation.
    let invoke = api.invoke(json!("fresh"), Invoke::default());
    let client = async {
        let invocation = next(&api).await;
        assert_eq!(invocation.json(), json!("fresh"));
        let id = request_id(&invocation);
        raw(runtime_addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], b"plain text").await;
    };
    let (completed, ()) = tokio::join!(invoke, client);
    assert_eq!(completed.unwrap().outcome.response(), Some(&json!("plain text")), "non-JSON kept as a string");
}

#[tokio::test]
async fn duplicate_pending_request_ids_are_refused() {
    let api = RuntimeApi::start().await.unwrap();
    let options = Invoke { request_id: Some("same".into()), give_up_after: Duration::from_millis(100), ..Default::default() };
    let (first, second) = tokio::join!(api.invoke(json!(1), options.clone()), async {
        tokio::task::yield_now().await;
        api.invoke(json!(2), options.clone()).await
    });
    assert!(matches!(first, Err(RuntimeApiError::GaveUp { .. })));
    assert_eq!(second.unwrap_err(), RuntimeApiError::DuplicateRequestId("same".into()));
}

#[tokio::test]
async fn init_errors_are_kept_and_raw_payloads_are_delivered_untouched() {
    let api = RuntimeApi::start().await.unwrap();
    assert!(api.init_error().is_none());
    let posted = raw(
        runtime_addr(&api),
        "POST",
        "/2018-06-01/runtime/init/error",
        &[("lambda-runtime-function-error-type", "Runtime.InitError")],
        br#"{"errorType":"Config","errorMessage":"missing TABLE"}"#,
    )
    .await;
    assert_eq!(posted.status, 202);
    assert_eq!(api.init_error().unwrap()["errorMessage"], "missing TABLE");

    let invoke = api.invoke_raw(bytes::Bytes::from_static(b"not json at all"), Invoke::default());
    let client = async {
        let invocation = next(&api).await;
        assert_eq!(invocation.body, "not json at all");
        let id = request_id(&invocation);
        let huge = vec![b'x'; supplychain_emulator::runtime_api::MAX_RESPONSE_BYTES + 1];
        let refused = raw(runtime_addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], &huge).await;
        assert_eq!(refused.status, 413);
    };
    let (completed, ()) = tokio::join!(invoke, client);
    assert_eq!(completed.unwrap().outcome.error_type(), Some("Function.ResponseSizeTooLarge"));
}
