//! End to end: the compiled `delete-instance` and `check-instance-status` binaries driven through
//! the Lambda Runtime API (`/runtime/invocation/next`, `/response`, `/error`) with real request ids
//! and deadlines, against the emulator over HTTP.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::*;
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome};
use supplychain_emulator::{Emulator, Fault, FaultRule, SeedInstance};

#[tokio::test]
async fn the_binary_deletes_the_instance_of_each_fixture_and_answers_the_record() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_process(&emulator, &[]).await;

    let outcome = function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&outcome)["instance"]["state"], "Deleting");
    assert_eq!(response(&outcome)["instance"]["instanceId"], FIXTURE_ID);

    // Delivered again (at-least-once): success, and no second deletion.
    for name in ["eventbridge-deletion-requested.json", "previous-output.json"] {
        let outcome = function.invoke(fixture(name), DELETE_ARN, Duration::from_secs(20)).await;
        assert_eq!(response(&outcome)["instance"]["instanceId"], FIXTURE_ID, "{name}");
    }
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"]);
}

#[tokio::test]
async fn the_binary_answers_a_partial_batch_response_for_sqs() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed_with_tags(&emulator, FIXTURE_ID_2, &[("DeletionProtection", "true")]);
    let function = delete_process(&emulator, &[]).await;

    let outcome = function.invoke(fixture("sqs-batch.json"), DELETE_ARN, Duration::from_secs(20)).await;

    assert_eq!(response(&outcome), &json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]}));
}

#[tokio::test]
async fn invalid_input_fails_with_its_error_type_on_the_wire() {
    let emulator = emulator().await;
    let function = delete_process(&emulator, &[]).await;

    for (name, payload) in fixtures_in("invalid") {
        let outcome = function.invoke(payload, DELETE_ARN, Duration::from_secs(20)).await;
        assert_eq!(error_type(&outcome), "InvalidInput", "{name}");
        let Outcome::Error { error_message, .. } = &outcome else { unreachable!() };
        assert!(["accepted", "expected", "must"].iter().any(|w| error_message.contains(w)), "{name}: {error_message}");
    }
    assert!(emulator.calls().is_empty());
}

#[tokio::test]
async fn a_payload_that_is_not_json_fails_visibly() {
    let emulator = emulator().await;
    let function = delete_process(&emulator, &[]).await;

    let completed = function.runtime.invoke_raw(bytes::Bytes::from_static(b"not json"), Invoke::default()).await.unwrap();

    assert_eq!(error_type(&completed.outcome), "InvalidInput");
    let Outcome::Error { error_message, .. } = &completed.outcome else { unreachable!() };
    assert!(error_message.contains("is not JSON"), "{error_message}");
    assert!(emulator.calls().is_empty());
}

#[tokio::test]
async fn each_service_error_reaches_the_wire_as_its_error_type() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed_with_tags(&emulator, FIXTURE_ID_2, &[("DeletionProtection", "true")]);
    let function = delete_process(&emulator, &[]).await;

    let protected = function.invoke(json!({"instanceId": FIXTURE_ID_2}), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&protected), "DeletionProtected");

    let missing = function.invoke(json!({"instanceId": "99999999-9999-4999-8999-999999999999"}), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&missing), "InstanceNotFound");

    emulator.inject(FaultRule::new("DeleteInstance", 100, Fault::Throttle));
    let throttled = function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&throttled), "Throttled");
    assert_eq!(emulator.call_count("DeleteInstance"), 3, "the SDK's standard retries ran first");
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"]);
}

#[tokio::test]
async fn brief_throttling_is_absorbed_by_the_sdk_retries() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::Throttle));
    let function = delete_process(&emulator, &[]).await;

    let outcome = function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;

    assert_eq!(response(&outcome)["instance"]["state"], "Deleting");
    assert_eq!(emulator.call_count("DeleteInstance"), 2);
}

#[tokio::test]
async fn a_hung_service_ends_in_timeout_before_the_invocation_deadline() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.inject(FaultRule::new("ListTagsForResource", 100, Fault::Hang));
    let function = delete_process(&emulator, &[("DEADLINE_MARGIN_MS", "500".into())]).await;
    let deadline = Duration::from_secs(2);
    let started = Instant::now();

    let outcome = function.invoke(fixture("direct.json"), DELETE_ARN, deadline).await;

    assert_eq!(error_type(&outcome), "Timeout");
    assert!(started.elapsed() < deadline, "answered after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_service_that_never_answers_any_attempt_ends_in_timeout_naming_the_attempt_limit() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.inject(FaultRule::new("DeleteInstance", 100, Fault::Hang));
    let env = [("DELETION_PROTECTION_TAG", String::new()), ("ATTEMPT_TIMEOUT_MS", "200".to_owned())];
    let function = delete_process(&emulator, &env).await;

    let outcome = function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;

    assert_eq!(error_type(&outcome), "Timeout");
    let Outcome::Error { error_message, .. } = &outcome else { unreachable!() };
    assert!(
        error_message.contains("DeleteInstance got no answer on any attempt within the attempt timeout (ATTEMPT_TIMEOUT_MS)"),
        "{error_message}"
    );
    assert_eq!(emulator.call_count("DeleteInstance"), 3, "each of the SDK's attempts was made");
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"]);
}

#[tokio::test]
async fn the_connection_opened_at_init_over_https_is_the_one_every_call_uses() {
    let identity = supplychain_emulator::tls::TlsIdentity::generate().unwrap();
    let ca_file = std::env::temp_dir().join(format!("emulator-ca-{}-{}.pem", std::process::id(), line!()));
    identity.write_ca_pem(&ca_file).unwrap();

    for (connect_at_init, connections_after_init) in [("true", 1), ("false", 0)] {
        let emulator = https_emulator(&identity).await;
        seed(&emulator, FIXTURE_ID);
        seed(&emulator, FIXTURE_ID_2);
        let env = [
            ("SSL_CERT_FILE", ca_file.display().to_string()),
            ("CONNECT_AT_INIT", connect_at_init.into()),
            ("DELETION_PROTECTION_TAG", String::new()),
        ];
        let function = delete_process(&emulator, &env).await;

        function.runtime.wait_for_first_poll().await;
        assert_eq!(emulator.connections(), connections_after_init, "CONNECT_AT_INIT={connect_at_init}: after init");
        for id in [FIXTURE_ID, FIXTURE_ID_2] {
            let outcome = function.invoke(json!({ "instanceId": id }), DELETE_ARN, Duration::from_secs(20)).await;
            assert_eq!(response(&outcome)["instance"]["state"], "Deleting", "CONNECT_AT_INIT={connect_at_init}");
        }

        assert_eq!(emulator.connections(), 1, "CONNECT_AT_INIT={connect_at_init}: one connection for init and calls");
        // Opening it is an unsigned `HEAD /`: no operation, no permission needed.
        let requests: Vec<(String, String, bool)> =
            emulator.calls().into_iter().map(|call| (call.method, call.operation, call.signed)).collect();
        let mut expected = vec![("DELETE".to_owned(), "DeleteInstance".to_owned(), true); 2];
        if connect_at_init == "true" {
            expected.insert(0, ("HEAD".into(), "Unknown".into(), false));
        }
        assert_eq!(requests, expected, "CONNECT_AT_INIT={connect_at_init}");
    }
}

#[tokio::test]
async fn after_a_transient_error_the_retry_goes_out_on_a_new_connection() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed(&emulator, FIXTURE_ID_2);
    let function = delete_process(&emulator, &[("DELETION_PROTECTION_TAG", String::new())]).await;
    let delete = |id: &'static str| function.invoke(json!({ "instanceId": id }), DELETE_ARN, Duration::from_secs(20));

    assert_eq!(response(&delete(FIXTURE_ID).await)["instance"]["state"], "Deleting");
    assert_eq!(emulator.connections(), 1);
    // A request timeout is transient: the SDK retries it, and takes the connection it came on out
    // of the pool first, so that the retry may reach another host.
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::error(408, "RequestTimeoutException", "the request timed out")));
    assert_eq!(response(&delete(FIXTURE_ID_2).await)["instance"]["state"], "Deleting");

    assert_eq!(emulator.call_count("DeleteInstance"), 3);
    assert_eq!(emulator.connections(), 2, "the retry opened a connection of its own");
}

#[tokio::test]
async fn a_trust_store_setting_without_a_usable_certificate_stops_init_with_a_clear_message() {
    let emulator = emulator().await;
    let missing = std::env::temp_dir().join("no-such-bundle.pem").display().to_string();
    let mut function = delete_process(&emulator, &[("SSL_CERT_FILE", missing.clone())]).await;

    let status = function.wait().await;

    assert!(!status.success());
    let logs = function.logs();
    assert!(logs.contains("no usable certificate in SSL_CERT_FILE") && logs.contains(&missing), "{logs}");
    assert!(logs.contains("unset both to trust the root certificates built into the function"), "{logs}");
}

#[tokio::test]
async fn a_deadline_in_the_past_falls_back_to_the_configured_budget() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_process(&emulator, &[]).await;
    let an_hour_ago = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 - 3_600_000;

    for deadline in [Deadline::AtEpochMillis(0), Deadline::AtEpochMillis(an_hour_ago)] {
        let options = Invoke { function_arn: DELETE_ARN.into(), deadline, ..Default::default() };
        let outcome = function.invoke_with(fixture("direct-dry-run.json"), options).await;
        assert_eq!(response(&outcome)["dryRun"], true);
    }
}

#[tokio::test]
async fn a_bad_setting_stops_the_function_at_init_with_a_clear_message() {
    let emulator = emulator().await;
    let mut function = delete_process(&emulator, &[("SQS_CONCURRENCY", "many".into())]).await;

    let status = function.wait().await;

    assert!(!status.success());
    let logs = function.logs();
    assert!(logs.contains("SQS_CONCURRENCY is") && logs.contains("must be a whole number"), "{logs}");
}

#[tokio::test]
async fn the_logs_say_what_was_decided_without_payloads_or_credentials() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_process(&emulator, &[]).await;

    function.invoke(fixture("previous-output.json"), DELETE_ARN, Duration::from_secs(20)).await;
    function.invoke(json!({"instanceId": "bad"}), DELETE_ARN, Duration::from_secs(20)).await;

    let logs = function.logs();
    let decision = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["fields"]["outcome"] == "deletion started")
        .unwrap_or_else(|| panic!("no decision line in:\n{logs}"));
    assert_eq!(decision["level"], "INFO");
    assert_eq!(decision["fields"]["instance_id"], FIXTURE_ID);
    assert_eq!(decision["fields"]["state"], "Deleting");
    assert!(logs.contains("InvalidInput"));
    for secret in [SECRET_ACCESS_KEY, ACCESS_KEY_ID, "Planning sandbox", "example-team"] {
        assert!(!logs.contains(secret), "{secret:?} found in logs:\n{logs}");
    }
}

#[tokio::test]
async fn the_status_checker_binary_reports_to_a_step_functions_task() {
    let emulator = emulator().await;
    emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), delete_polls: Some(1), ..Default::default() });
    let delete = delete_process(&emulator, &[]).await;
    let check = FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &[("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint())]).await;

    let deleted = delete.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    let pending = check.invoke(response(&deleted).clone(), CHECK_ARN, Duration::from_secs(20)).await;
    assert_eq!((response(&pending)["done"].clone(), response(&pending)["outcome"].clone()), (json!(false), json!("Deleting")));
    let done = check.invoke(response(&pending).clone(), CHECK_ARN, Duration::from_secs(20)).await;
    assert_eq!((response(&done)["done"].clone(), response(&done)["outcome"].clone()), (json!(true), json!("Deleted")));

    let invalid = check.invoke(json!({"nothing": true}), CHECK_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&invalid), "InvalidInput");
}

#[tokio::test]
async fn the_binary_signs_with_the_session_credentials_it_was_given_and_never_logs_them() {
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENvalue0123456789";
    let emulator_with_token = Emulator::start(supplychain_emulator::EmulatorConfig {
        credentials: Some(supplychain_emulator::StaticCredentials {
            access_key_id: ACCESS_KEY_ID.into(),
            secret_access_key: SECRET_ACCESS_KEY.into(),
            session_token: Some(TOKEN.into()),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    seed(&emulator_with_token, FIXTURE_ID);
    let with_token = delete_process(&emulator_with_token, &[("AWS_SESSION_TOKEN", TOKEN.into())]).await;
    let without_token = delete_process(&emulator_with_token, &[]).await;

    let refused = without_token.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&refused), "AccessDenied");
    let deleted = with_token.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&deleted)["instance"]["state"], "Deleting");

    let calls = emulator_with_token.calls();
    assert!(calls.iter().all(|call| call.signed && call.access_key_id.as_deref() == Some(ACCESS_KEY_ID)), "{calls:?}");
    for logs in [with_token.logs(), without_token.logs()] {
        assert!(!logs.contains(TOKEN) && !logs.contains(SECRET_ACCESS_KEY), "{logs}");
    }
}
