//! Drives the Extensions API the local Lambda Runtime API serves on its address, with a fake
//! extension speaking raw HTTP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{raw, runtime_addr, RawResponse};
use serde_json::json;
use supplychain_emulator::runtime_api::RuntimeApi;

async fn register(api: &RuntimeApi, name: &str, events: &str) -> RawResponse {
    raw(
        runtime_addr(api),
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
    let nameless = raw(runtime_addr(&api), "POST", "/2020-01-01/extension/register", &[], b"{\"events\": []}").await;
    assert_eq!(nameless.status, 400, "{}", nameless.body);
}

#[tokio::test]
async fn an_extension_registered_after_the_first_poll_is_marked_as_late() {
    let api = RuntimeApi::start().await.unwrap();
    let poller = tokio::spawn({
        let address = runtime_addr(&api);
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
        let address = runtime_addr(&api);
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
    let waiting = raw(runtime_addr(&api), "GET", "/2020-01-01/extension/event/next", &headers, b"");
    assert!(tokio::time::timeout(Duration::from_millis(200), waiting).await.is_err(), "no event is sent to it");

    let unknown =
        raw(runtime_addr(&api), "GET", "/2020-01-01/extension/event/next", &[("Lambda-Extension-Identifier", "nobody")], b"").await;
    assert_eq!(unknown.status, 403, "{}", unknown.body);

    let reported = raw(
        runtime_addr(&api),
        "POST",
        "/2020-01-01/extension/exit/error",
        &[("Lambda-Extension-Identifier", id.as_str()), ("Lambda-Extension-Function-Error-Type", "Extension.Crash")],
        b"{\"errorMessage\": \"m\"}",
    )
    .await;
    assert_eq!(reported.status, 202);
    assert_eq!(api.extension_errors(), vec![json!({"kind": "exit", "errorType": "Extension.Crash", "body": {"errorMessage": "m"}})]);
}
