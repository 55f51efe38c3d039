//! Drives the local Lambda Runtime API with a fake runtime client speaking raw HTTP.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi, RuntimeApiError};
use support::{raw, RawResponse};

fn addr(api: &RuntimeApi) -> SocketAddr {
    api.address().parse().unwrap()
}

async fn next(api: &RuntimeApi) -> RawResponse {
    raw(addr(api), "GET", "/2018-06-01/runtime/invocation/next", &[], b"").await
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
        let posted = raw(addr(&api), "POST", "/2018-06-01/runtime/invocation/req-1/response", &[], br#"{"ok":true}"#).await;
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
            addr(&api),
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/error"),
            &[("lambda-runtime-function-error-type", "unhandled")],
            br#"{"errorType":"DeletionFailed","errorMessage":"instance is stuck"}"#,
        )
        .await;
        assert_eq!(posted.status, 202);
        // A second answer for the same invocation is refused.
        let again = raw(addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], b"{}").await;
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
            raw(addr(api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], body.as_bytes()).await;
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
            raw(addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], b"null").await;
        };
        let (completed, ()) = tokio::join!(invoke, client);
        assert_eq!(completed.unwrap().outcome.response(), Some(&serde_json::Value::Null));
    }
}

#[tokio::test]
async fn an_unknown_request_id_is_refused_with_400() {
    let api = RuntimeApi::start().await.unwrap();
    let response = raw(addr(&api), "POST", "/2018-06-01/runtime/invocation/nope/response", &[], b"{}").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["errorType"], "InvalidRequestID");
    let unknown_route = raw(addr(&api), "GET", "/2018-06-01/runtime/other", &[], b"").await;
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
        raw(addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], b"plain text").await;
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
        addr(&api),
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
        let refused = raw(addr(&api), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &[], &huge).await;
        assert_eq!(refused.status, 413);
    };
    let (completed, ()) = tokio::join!(invoke, client);
    assert_eq!(completed.unwrap().outcome.error_type(), Some("Function.ResponseSizeTooLarge"));
}

async fn register(api: &RuntimeApi, name: &str, events: &str) -> RawResponse {
    raw(
        addr(api),
        "POST",
        "/2020-01-01/extension/register",
        &[("Lambda-Extension-Name", name), ("Lambda-Extension-Accept-Feature", "accountId")],
        format!("{{\"events\": {events}}}").as_bytes(),
    )
    .await
}

#[tokio::test]
async fn an_extension_registers_during_init_and_gets_an_identifier() {
    let api = RuntimeApi::start().await.unwrap();

    let registered = register(&api, "_no-op", "[]").await;

    assert_eq!(registered.status, 200, "{}", registered.body);
    let id = registered.header("lambda-extension-identifier").expect("identifier header").to_owned();
    let body = registered.json();
    assert_eq!((body["functionVersion"].as_str(), body["accountId"].as_str()), (Some("$LATEST"), Some("123456789012")));
    let extensions = api.extensions();
    assert_eq!(extensions.len(), 1);
    assert_eq!((extensions[0].name.as_str(), extensions[0].id.as_str()), ("_no-op", id.as_str()));
    assert!(extensions[0].events.is_empty());
    assert!(extensions[0].during_init);

    let again = register(&api, "_no-op", "[]").await;
    assert_eq!(again.status, 409, "{}", again.body);
    let nameless = raw(addr(&api), "POST", "/2020-01-01/extension/register", &[], b"{\"events\": []}").await;
    assert_eq!(nameless.status, 400, "{}", nameless.body);
}

#[tokio::test]
async fn an_extension_registered_after_the_first_poll_is_marked_as_late() {
    let api = RuntimeApi::start().await.unwrap();
    let poller = tokio::spawn({
        let address = addr(&api);
        async move { raw(address, "GET", "/2018-06-01/runtime/invocation/next", &[], b"").await }
    });
    api.wait_for_first_poll().await;

    register(&api, "late", "[]").await;

    assert!(!api.extensions()[0].during_init);
    poller.abort();
}

#[tokio::test]
async fn the_next_event_of_a_shutdown_subscriber_is_the_shutdown_event() {
    let api = RuntimeApi::start().await.unwrap();
    let id = register(&api, "watcher", "[\"SHUTDOWN\"]").await.header("lambda-extension-identifier").unwrap().to_owned();
    let next = tokio::spawn({
        let address = addr(&api);
        async move { raw(address, "GET", "/2020-01-01/extension/event/next", &[("Lambda-Extension-Identifier", id.as_str())], b"").await }
    });

    api.begin_shutdown("spindown", Duration::from_millis(500));

    let event = tokio::time::timeout(Duration::from_secs(5), next).await.expect("answered").unwrap();
    assert_eq!(event.status, 200);
    let event = event.json();
    assert_eq!((event["eventType"].as_str(), event["shutdownReason"].as_str()), (Some("SHUTDOWN"), Some("spindown")));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(event["deadlineMs"].as_u64().unwrap() > now);
}

#[tokio::test]
async fn an_extension_without_subscriptions_keeps_waiting_and_unknown_identifiers_are_refused() {
    let api = RuntimeApi::start().await.unwrap();
    let id = register(&api, "quiet", "[]").await.header("lambda-extension-identifier").unwrap().to_owned();
    api.begin_shutdown("spindown", Duration::from_millis(500));

    let headers = [("Lambda-Extension-Identifier", id.as_str())];
    let waiting = raw(addr(&api), "GET", "/2020-01-01/extension/event/next", &headers, b"");
    assert!(tokio::time::timeout(Duration::from_millis(200), waiting).await.is_err(), "no event is sent to it");

    let unknown = raw(addr(&api), "GET", "/2020-01-01/extension/event/next", &[("Lambda-Extension-Identifier", "nobody")], b"").await;
    assert_eq!(unknown.status, 403, "{}", unknown.body);

    let reported = raw(
        addr(&api),
        "POST",
        "/2020-01-01/extension/exit/error",
        &[("Lambda-Extension-Identifier", id.as_str()), ("Lambda-Extension-Function-Error-Type", "Extension.Crash")],
        b"{\"errorMessage\": \"m\"}",
    )
    .await;
    assert_eq!(reported.status, 202);
    assert_eq!(api.extension_errors(), vec![json!({"kind": "exit", "errorType": "Extension.Crash", "body": {"errorMessage": "m"}})]);
}
