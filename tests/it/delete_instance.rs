//! The delete function against the Supply Chain emulator over HTTP, with the real SDK client:
//! every fixture, every error type, dry run, protection, retries, deadlines and duplicates.

use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::{json, Value};
use supplychain_delete_instance::{DeleteResponse, Error};
use supplychain_emulator::{EmulatorConfig, Fault, FaultRule, SeedInstance};

fn record(response: DeleteResponse) -> Value {
    match response {
        DeleteResponse::Instance(output) => serde_json::to_value(output).unwrap(),
        other => panic!("expected a record, got {other:?}"),
    }
}

fn failures(response: DeleteResponse) -> Vec<String> {
    match response {
        DeleteResponse::Batch(batch) => batch.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
        other => panic!("expected a batch response, got {other:?}"),
    }
}

// The emulator runs with no delays here, so a deletion has finished by the time its history is read.

#[tokio::test]
async fn every_single_request_fixture_deletes_the_instance_it_names() {
    for name in ["direct.json", "previous-output.json", "eventbridge-deletion-requested.json", "sqs-message-body.json"] {
        let emulator = emulator().await;
        seed(&emulator, FIXTURE_ID);
        let function = delete_function(&emulator, &[]).await;

        let output = record(function.handle(event(fixture(name))).await.unwrap());

        assert_eq!(output["instance"]["instanceId"], FIXTURE_ID, "{name}");
        assert_eq!(output["instance"]["state"], "Deleting", "{name}");
        assert_eq!(output["instance"]["awsAccountId"], ACCOUNT, "{name}");
        assert!(output.get("dryRun").is_none(), "{name}");
        assert_eq!(emulator.call_count("ListTagsForResource"), 1, "{name}");
        assert_eq!(emulator.call_count("DeleteInstance"), 1, "{name}");
        assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"], "{name}");
    }
}

#[tokio::test]
async fn the_output_carries_the_api_members_with_rfc3339_times() {
    let emulator = emulator().await;
    emulator.seed(SeedInstance {
        instance_id: Some(FIXTURE_ID.into()),
        instance_name: Some("planning".into()),
        instance_description: Some("Planning sandbox".into()),
        web_app_dns_domain: Some("planning-team".into()),
        kms_key_arn: Some("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()),
        ..Default::default()
    });
    let function = delete_function(&emulator, &[]).await;

    let output = record(function.handle(event(fixture("direct.json"))).await.unwrap());

    let instance = output["instance"].as_object().unwrap();
    for member in ["instanceName", "instanceDescription", "webAppDnsDomain", "kmsKeyArn", "versionNumber"] {
        assert!(instance.contains_key(member), "{member} missing from {output}");
    }
    assert!(!instance.contains_key("errorMessage"), "{output}");
    for member in ["createdTime", "lastModifiedTime"] {
        let time = instance[member].as_str().unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{member} = {time}");
        aws_smithy_types::DateTime::from_str(time, aws_smithy_types::date_time::Format::DateTime).unwrap();
    }
}

#[tokio::test]
async fn the_sqs_batch_fixture_deletes_each_instance_and_reports_no_failure() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed(&emulator, FIXTURE_ID_2);
    let function = delete_function(&emulator, &[]).await;

    let response = function.handle(event(fixture("sqs-batch.json"))).await.unwrap();

    assert_eq!(serde_json::to_value(&response).unwrap(), json!({"batchItemFailures": []}));
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"]);
    assert_eq!(states(&emulator, FIXTURE_ID_2), ["Active", "Deleting", "Deleted"]);
}

#[tokio::test]
async fn a_dry_run_describes_the_instance_and_deletes_nothing() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[]).await;

    let output = record(function.handle(event(fixture("direct-dry-run.json"))).await.unwrap());

    assert_eq!(output["dryRun"], true);
    assert_eq!(output["instance"]["state"], "Active");
    assert_eq!(emulator.call_count("DeleteInstance"), 0);
    assert_eq!(emulator.call_count("GetInstance"), 1);
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"]);
}

#[tokio::test]
async fn every_invalid_fixture_is_refused_before_any_call() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[]).await;

    for (name, payload) in fixtures_in("invalid") {
        let error = function.handle(event(payload)).await.unwrap_err();
        assert_eq!(error.error_type(), "InvalidInput", "{name}: {error}");
        assert!(error.to_string().len() > 30, "{name}: the message must say what was wrong: {error}");
    }
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}

#[tokio::test]
async fn a_protected_instance_is_refused_and_never_deleted_even_in_a_dry_run() {
    let emulator = emulator().await;
    seed_with_tags(&emulator, FIXTURE_ID, &[("DeletionProtection", "True")]);
    let function = delete_function(&emulator, &[]).await;

    for name in ["direct.json", "direct-dry-run.json"] {
        let error = function.handle(event(fixture(name))).await.unwrap_err();
        assert_eq!(error.error_type(), "DeletionProtected", "{name}");
        assert!(error.to_string().contains("DeletionProtection"), "{error}");
    }
    assert_eq!(emulator.call_count("ListTagsForResource"), 2);
    assert_eq!(emulator.call_count("DeleteInstance"), 0);
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"]);
}

#[tokio::test]
async fn the_protection_tag_name_is_configurable_and_a_false_value_allows_deletion() {
    let emulator = emulator().await;
    seed_with_tags(&emulator, FIXTURE_ID, &[("DeletionProtection", "true"), ("keep", "false")]);
    let function = delete_function(&emulator, &[("DELETION_PROTECTION_TAG", "keep")]).await;

    let output = record(function.handle(event(fixture("direct.json"))).await.unwrap());

    assert_eq!(output["instance"]["state"], "Deleting");
}

#[tokio::test]
async fn an_empty_protection_tag_name_turns_the_check_off() {
    let emulator = emulator().await;
    seed_with_tags(&emulator, FIXTURE_ID, &[("DeletionProtection", "true")]);
    let function = delete_function(&emulator, &[("DELETION_PROTECTION_TAG", "")]).await;

    let output = record(function.handle(event(fixture("direct.json"))).await.unwrap());

    assert_eq!(output["instance"]["state"], "Deleting");
    assert_eq!(emulator.call_count("ListTagsForResource"), 0);
}

#[tokio::test]
async fn a_missing_instance_is_instance_not_found() {
    let emulator = emulator().await;
    let function = delete_function(&emulator, &[("DELETION_PROTECTION_TAG", "")]).await;

    let error = function.handle(event(fixture("direct.json"))).await.unwrap_err();

    assert_eq!(error.error_type(), "InstanceNotFound");
    assert!(error.to_string().contains("ResourceNotFoundException"), "{error}");
    assert!(error.to_string().contains("request id"), "{error}");
}

#[tokio::test]
async fn the_sdk_retries_absorb_brief_throttling_and_server_errors() {
    for fault in [Fault::Throttle, Fault::Internal, Fault::Unavailable] {
        let emulator = emulator().await;
        seed(&emulator, FIXTURE_ID);
        emulator.inject(FaultRule::new("DeleteInstance", 2, fault.clone()));
        let function = delete_function(&emulator, &[]).await;

        let output = record(function.handle(event(fixture("direct.json"))).await.unwrap());

        assert_eq!(output["instance"]["state"], "Deleting", "{fault:?}");
        assert_eq!(emulator.call_count("DeleteInstance"), 3, "{fault:?}");
        assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"], "{fault:?}");
    }
}

#[tokio::test]
async fn persistent_faults_end_in_their_error_type_after_the_sdk_retries() {
    let cases = [
        (Fault::Throttle, "Throttled"),
        (Fault::Internal, "ServiceUnavailable"),
        (Fault::Unavailable, "ServiceUnavailable"),
        (Fault::Error { status: 402, error_type: "ServiceQuotaExceededException".into(), message: Some("quota".into()) }, "QuotaExceeded"),
        (Fault::Error { status: 403, error_type: "AccessDeniedException".into(), message: Some("denied".into()) }, "AccessDenied"),
    ];
    for (fault, error_type) in cases {
        let emulator = emulator().await;
        seed(&emulator, FIXTURE_ID);
        emulator.inject(FaultRule::new("DeleteInstance", 100, fault.clone()));
        let function = delete_function(&emulator, &[]).await;

        let error = function.handle(event(fixture("direct.json"))).await.unwrap_err();

        assert_eq!(error.error_type(), error_type, "{fault:?}: {error}");
        let expected_calls = if error.is_retryable() { 3 } else { 1 };
        assert_eq!(emulator.call_count("DeleteInstance"), expected_calls, "{fault:?}");
        assert_eq!(states(&emulator, FIXTURE_ID), ["Active"], "{fault:?}");
    }
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::Drop));
    let function = delete_function(&emulator, &[]).await;

    let output = record(function.handle(event(fixture("direct.json"))).await.unwrap());

    assert_eq!(output["instance"]["state"], "Deleting");
    assert_eq!(emulator.call_count("DeleteInstance"), 2);
}

#[tokio::test]
async fn a_service_that_is_not_listening_is_service_unavailable() {
    let emulator = emulator().await;
    let endpoint = emulator.endpoint();
    drop(emulator);
    let function = supplychain_delete_instance::DeleteFunction::new(supply_chain(&endpoint).await, None, settings(&[]));

    let error = function.handle(event(fixture("direct.json"))).await.unwrap_err();

    assert_eq!(error.error_type(), "ServiceUnavailable", "{error}");
}

#[tokio::test]
async fn a_hung_service_ends_in_timeout_before_the_deadline() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.inject(FaultRule::new("DeleteInstance", 100, Fault::Hang));
    let function = delete_function(&emulator, &[("DEADLINE_MARGIN_MS", "300")]).await;
    let deadline = Duration::from_millis(1_500);
    let started = Instant::now();

    let error = function
        .handle(lambda_runtime::LambdaEvent::new(Payload::Json(fixture("direct.json")), context(DELETE_ARN, deadline)))
        .await
        .unwrap_err();

    assert_eq!(error.error_type(), "Timeout", "{error}");
    assert!(started.elapsed() < deadline, "ended after {:?}", started.elapsed());
    assert!(emulator.call_count("DeleteInstance") >= 1);
}

#[tokio::test]
async fn a_deadline_closer_than_the_margin_fails_without_calling() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[("DEADLINE_MARGIN_MS", "500")]).await;

    let error = function
        .handle(lambda_runtime::LambdaEvent::new(Payload::Json(fixture("direct.json")), context(DELETE_ARN, Duration::from_millis(200))))
        .await
        .unwrap_err();

    assert_eq!(error.error_type(), "Timeout");
    assert!(emulator.calls().is_empty());
}

#[tokio::test]
async fn a_missing_or_past_deadline_falls_back_to_the_configured_budget() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[]).await;

    for deadline_ms in [0, 1_000] {
        let event = lambda_runtime::LambdaEvent::new(Payload::Json(fixture("direct-dry-run.json")), context_at(DELETE_ARN, deadline_ms));
        let output = record(function.handle(event).await.unwrap());
        assert_eq!(output["dryRun"], true);
    }
}

#[tokio::test]
async fn the_same_event_twice_in_a_row_succeeds_twice_with_one_deletion() {
    let emulator = emulator_with(EmulatorConfig { delete_delay: Duration::from_secs(600), ..Default::default() }).await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[]).await;

    let first = record(function.handle(event(fixture("eventbridge-deletion-requested.json"))).await.unwrap());
    let second = record(function.handle(event(fixture("eventbridge-deletion-requested.json"))).await.unwrap());

    assert_eq!(first["instance"]["state"], "Deleting");
    assert_eq!(second["instance"]["state"], "Deleting");
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting"]);
}

#[tokio::test]
async fn the_same_event_twice_at_once_succeeds_twice_with_one_deletion() {
    let emulator = emulator_with(EmulatorConfig { delete_delay: Duration::from_secs(600), ..Default::default() }).await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[]).await;

    let (first, second) = tokio::join!(function.handle(event(fixture("direct.json"))), function.handle(event(fixture("direct.json"))));

    assert_eq!(record(first.unwrap())["instance"]["state"], "Deleting");
    assert_eq!(record(second.unwrap())["instance"]["state"], "Deleting");
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting"]);
}

#[tokio::test]
async fn a_repeat_after_the_deletion_finished_returns_the_deleted_record() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[]).await;

    function.handle(event(fixture("direct.json"))).await.unwrap();
    let repeat = record(function.handle(event(fixture("direct.json"))).await.unwrap());

    assert_eq!(repeat["instance"]["state"], "Deleted");
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"]);
}

#[tokio::test]
async fn a_conflict_with_a_deletion_under_way_is_read_back_as_success() {
    let emulator = emulator_with(EmulatorConfig { delete_delay: Duration::from_secs(600), ..Default::default() }).await;
    seed(&emulator, FIXTURE_ID);
    emulator.set_state(FIXTURE_ID, "Deleting", None);
    emulator.inject(FaultRule::new(
        "DeleteInstance",
        1,
        Fault::Error { status: 409, error_type: "ConflictException".into(), message: Some("deletion in progress".into()) },
    ));
    let function = delete_function(&emulator, &[]).await;

    let output = record(function.handle(event(fixture("direct.json"))).await.unwrap());

    assert_eq!(output["instance"]["state"], "Deleting");
    assert_eq!(emulator.call_count("DeleteInstance"), 1);
    assert_eq!(emulator.call_count("GetInstance"), 1);
}

#[tokio::test]
async fn a_conflict_with_an_instance_still_initializing_is_a_conflict() {
    let emulator = emulator_with(EmulatorConfig { create_delay: Duration::from_secs(600), ..Default::default() }).await;
    emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), state: Some("Initializing".into()), ..Default::default() });
    let function = delete_function(&emulator, &[]).await;

    let error = function.handle(event(fixture("direct.json"))).await.unwrap_err();

    assert_eq!(error.error_type(), "Conflict", "{error}");
    assert!(error.to_string().contains("Initializing"), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_failed_deletion_is_started_again() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.set_state(FIXTURE_ID, "DeleteFailed", Some("KMS key disabled".into()));
    let function = delete_function(&emulator, &[]).await;

    let output = record(function.handle(event(fixture("direct.json"))).await.unwrap());

    assert_eq!(output["instance"]["state"], "Deleting");
}

#[tokio::test]
async fn wrong_credentials_are_access_denied() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let config = sdk_config(&emulator.endpoint(), "not-the-secret").await;
    let function = supplychain_delete_instance::DeleteFunction::new(
        supplychain_delete_instance::SupplyChain::new(aws_sdk_supplychain::Client::new(&config)),
        None,
        settings(&[]),
    );

    let error = function.handle(event(fixture("direct.json"))).await.unwrap_err();

    assert_eq!(error.error_type(), "AccessDenied", "{error}");
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"]);
}

#[tokio::test]
async fn duplicates_of_one_instance_in_an_sqs_batch_reach_the_service_once() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_function(&emulator, &[]).await;
    let body = json!({"instanceId": FIXTURE_ID}).to_string();
    let batch = json!({"Records": [
        {"messageId": "a", "eventSource": "aws:sqs", "body": body},
        {"messageId": "b", "eventSource": "aws:sqs", "body": body},
        {"messageId": "c", "eventSource": "aws:sqs", "body": body},
    ]});

    let response = function.handle(event(batch)).await.unwrap();

    assert!(failures(response).is_empty());
    assert_eq!(emulator.call_count("DeleteInstance"), 1);
    assert_eq!(emulator.call_count("ListTagsForResource"), 1);
}

#[tokio::test]
async fn an_sqs_batch_lists_exactly_the_messages_that_failed() {
    let emulator = emulator().await;
    let ok = "11111111-1111-4111-8111-111111111111";
    let protected = "22222222-2222-4222-8222-222222222222";
    let missing = "33333333-3333-4333-8333-333333333333";
    seed(&emulator, ok);
    seed_with_tags(&emulator, protected, &[("DeletionProtection", "true")]);
    let function = delete_function(&emulator, &[]).await;
    let message = |id: &str, body: String| json!({"messageId": id, "eventSource": "aws:sqs", "body": body});
    let batch = json!({"Records": [
        message("m-ok", json!({"instanceId": ok}).to_string()),
        message("m-protected", json!({"instanceId": protected}).to_string()),
        message("m-missing", json!({"instanceId": missing}).to_string()),
        message("m-invalid", json!({"instanceId": "nope"}).to_string()),
        message("m-not-json", "{".to_string()),
        message("m-ok-again", json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "detail": {"instanceId": ok}}).to_string()),
    ]});

    let response = function.handle(event(batch)).await.unwrap();

    assert_eq!(failures(response), ["m-protected", "m-missing", "m-invalid", "m-not-json"]);
    assert_eq!(states(&emulator, ok), ["Active", "Deleting", "Deleted"]);
    assert_eq!(states(&emulator, protected), ["Active"]);
    assert_eq!(emulator.call_count("DeleteInstance"), 1);
}

#[tokio::test]
async fn a_whole_batch_of_ten_is_processed_a_few_at_a_time() {
    let emulator = emulator().await;
    let ids: Vec<String> = (0..10).map(|i| format!("{i:08x}-0000-4000-8000-000000000000")).collect();
    for id in &ids {
        seed(&emulator, id);
    }
    emulator.inject(FaultRule::new("DeleteInstance", 10, Fault::Delay { millis: 50 }));
    let function = delete_function(&emulator, &[("SQS_CONCURRENCY", "5")]).await;
    let records: Vec<Value> =
        ids.iter().map(|id| json!({"messageId": id, "eventSource": "aws:sqs", "body": json!({"instanceId": id}).to_string()})).collect();

    let response = function.handle(event(json!({ "Records": records }))).await.unwrap();

    assert!(failures(response).is_empty());
    for id in &ids {
        assert_eq!(states(&emulator, id), ["Active", "Deleting", "Deleted"]);
    }
}

#[tokio::test]
async fn an_instance_whose_protection_tag_key_differs_only_in_case_is_protected_as_iam_protects_it() {
    let emulator = emulator().await;
    seed_with_tags(&emulator, FIXTURE_ID, &[("deletionprotection", "TRUE")]);
    let process = delete_process(&emulator, &[]).await;

    for name in ["direct.json", "eventbridge-deletion-requested.json", "direct-dry-run.json"] {
        let outcome = process.invoke(fixture(name), DELETE_ARN, Duration::from_secs(20)).await;
        let (error_type, message) = error_of(&outcome);
        assert_eq!(error_type, "DeletionProtected", "{name}: {message}");
        assert!(message.contains("its tag deletionprotection=\"TRUE\""), "the key as the instance has it: {message}");
    }

    assert_eq!(emulator.call_count("ListTagsForResource"), 3);
    assert_eq!(emulator.call_count("DeleteInstance"), 0);
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"]);
}

#[tokio::test]
async fn the_sweeps_source_is_honoured_only_from_the_stacks_own_account_and_never_borrowed() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let process = delete_process(&emulator, &[]).await;
    let borrowed = fixture("invalid/sweep-request-from-another-account.json");
    let mut without_account = fixture("eventbridge-deletion-requested-by-sweep.json");
    without_account.as_object_mut().unwrap().remove("account");

    for (what, payload) in [("another account's", borrowed.clone()), ("an envelope without account", without_account)] {
        let outcome = process.invoke(payload, DELETE_ARN, Duration::from_secs(20)).await;
        let (error_type, message) = error_of(&outcome);
        assert_eq!(error_type, "InvalidInput", "{what}: {message}");
        assert!(message.contains("only the stack's own account 123456789012"), "{what}: {message}");
    }
    // Through the request queue too.
    let batch = json!({"Records": [{"messageId": "borrowed", "eventSource": "aws:sqs", "body": borrowed.to_string()}]});
    let outcome = process.invoke(batch, DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&outcome), &json!({"batchItemFailures": [{"itemIdentifier": "borrowed"}]}));
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());

    // The stack's own sweep is honoured.
    let own = process.invoke(fixture("eventbridge-deletion-requested-by-sweep.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&own)["instance"]["state"], "Deleting");
}

#[tokio::test]
async fn a_replayed_request_deletes_nothing_in_any_shape_and_fails_alone_in_a_batch() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed(&emulator, FIXTURE_ID_2);
    let process = delete_process(&emulator, &[]).await;
    let replayed = fixture("invalid/replayed-request.json");

    let outcome = process.invoke(replayed.clone(), DELETE_ARN, Duration::from_secs(20)).await;
    let (error_type, message) = error_of(&outcome);
    assert_eq!((error_type, message.contains("\"replay-name\" (\"audit-2026-11\")")), ("InvalidInput", true), "{message}");
    let plain = json!({"instanceId": FIXTURE_ID, "replay-name": "audit-2026-11"});
    assert_eq!(error_type_of(process.invoke(plain.clone(), DELETE_ARN, Duration::from_secs(20)).await), "InvalidInput");
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());

    let batch = json!({"Records": [
        {"messageId": "replayed", "eventSource": "aws:sqs", "body": replayed.to_string()},
        {"messageId": "replayed-plain", "eventSource": "aws:sqs", "body": plain.to_string()},
        {"messageId": "fresh", "eventSource": "aws:sqs", "body": json!({"instanceId": FIXTURE_ID_2}).to_string()},
    ]});
    let outcome = process.invoke(batch, DELETE_ARN, Duration::from_secs(20)).await;

    assert_eq!(response(&outcome), &json!({"batchItemFailures": [{"itemIdentifier": "replayed"}, {"itemIdentifier": "replayed-plain"}]}));
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"], "the replayed requests' instance is untouched");
    assert_eq!(states(&emulator, FIXTURE_ID_2), ["Active", "Deleting", "Deleted"]);
    assert!(emulator.calls().iter().all(|call| call.instance_id.as_deref() != Some(FIXTURE_ID)), "{:?}", emulator.calls());
}

fn error_type_of(outcome: supplychain_emulator::runtime_api::Outcome) -> String {
    error_type(&outcome).to_owned()
}

#[test]
fn error_names_are_stable() {
    assert_eq!(Error::Timeout(String::new()).error_type(), "Timeout");
}
