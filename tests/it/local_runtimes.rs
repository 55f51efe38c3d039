//! What a function meets outside Lambda and from other producers, end to end through the compiled
//! binaries: the placeholder ARNs of local runtimes, a Runtime API without the Extensions API, JSON
//! logs down to the last line, producers' metadata, and times as the service gives them.

use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::RuntimeApi;
use supplychain_emulator::SeedInstance;

/// What cargo-lambda sends as the invoked function ARN.
const PLACEHOLDER_ARN: &str = "function-arn";

/// The lines of a log that are not one JSON object each.
fn lines_not_json(logs: &str) -> Vec<&str> {
    logs.lines().filter(|line| !line.trim().is_empty()).filter(|line| !matches!(serde_json::from_str(line), Ok(Value::Object(_)))).collect()
}

#[tokio::test]
async fn under_a_placeholder_function_arn_deletion_protection_is_checked_with_the_account_of_the_instance() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed_with_tags(&emulator, FIXTURE_ID_2, &[("DeletionProtection", "true")]);
    let function = delete_process(&emulator, &[]).await;

    let dry_run = function.invoke(fixture("direct-dry-run.json"), PLACEHOLDER_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&dry_run)["dryRun"], true);
    let protected = function.invoke(json!({"instanceId": FIXTURE_ID_2}), PLACEHOLDER_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_of(&protected).0, "DeletionProtected");
    let deleted = function.invoke(fixture("direct.json"), PLACEHOLDER_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&deleted)["instance"]["state"], "Deleting");

    // Each request read the instance's record for its account, then its tags by the ARN built from
    // it (the emulator answers 404 for an ARN of another account); the dry run used that one read.
    let operations: Vec<String> = emulator.calls().into_iter().map(|call| call.operation).collect();
    assert_eq!(
        operations,
        [
            "GetInstance",
            "ListTagsForResource",
            "GetInstance",
            "ListTagsForResource",
            "GetInstance",
            "ListTagsForResource",
            "DeleteInstance"
        ]
    );
    assert_eq!(states(&emulator, FIXTURE_ID_2), ["Active"]);
}

#[tokio::test]
async fn a_runtime_api_without_the_extensions_api_is_served_without_graceful_shutdown() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let runtime = RuntimeApi::start_without_extensions().await.unwrap();
    let env = [("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint())];
    let function = FunctionProcess::spawn_on(runtime, DELETE_BIN, "delete-instance", &env);

    let deleted = function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;

    assert_eq!(response(&deleted)["instance"]["state"], "Deleting");
    assert!(function.runtime.extensions().is_empty());
    let logs = function.logs();
    let warnings: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["level"] == "WARN" && line["fields"]["message"].as_str().is_some_and(|m| m.contains("graceful shutdown is off"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test]
async fn under_the_json_log_format_every_line_is_json_down_to_the_shutdown() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let mut function = delete_process(&emulator, &[]).await;
    function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    function.invoke(json!({"instanceId": "bad"}), DELETE_ARN, Duration::from_secs(20)).await;

    function.runtime.begin_shutdown("spindown", Duration::from_millis(500));
    function.terminate();
    let status = function.exit_within(Duration::from_secs(5)).await.expect("exits after SIGTERM");

    assert!(status.success(), "{status:?}");
    let logs = function.logs();
    assert!(logs.contains("shutting down") && logs.contains("SIGTERM"), "{logs}");
    assert_eq!(lines_not_json(&logs), Vec::<&str>::new(), "{logs}");
}

#[tokio::test]
async fn producer_metadata_is_accepted_and_announced_under_request_while_near_misses_are_refused() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed(&emulator, FIXTURE_ID_2);
    let moto = Moto::start().await;
    let function = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &moto.function_env(emulator.endpoint())).await;

    let from_eventbridge = function.invoke(fixture_now("eventbridge-with-metadata.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&from_eventbridge)["instance"]["state"], "Deleting");
    // A Step Functions task whose input is the workflow's whole state.
    let state = json!({"instanceId": FIXTURE_ID_2, "execution": {"name": "cleanup-42", "step": 3}});
    let from_a_workflow = function.invoke(state, DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&from_a_workflow)["instance"]["state"], "Deleting");
    for (payload, meant) in
        [(fixture("invalid/near-miss-instance-id.json"), "instanceId"), (fixture("invalid/misspelt-dry-run.json"), "dryRun")]
    {
        let refused = function.invoke(payload, DELETE_ARN, Duration::from_secs(20)).await;
        let (error_type, message) = error_of(&refused);
        assert_eq!(error_type, "InvalidInput");
        assert!(message.contains(&format!("did you mean {meant}?")), "{message}");
    }

    let mut requests: Vec<(String, Value)> = moto
        .received()
        .await
        .into_iter()
        .map(|event| (event["detail"]["instance"]["instanceId"].as_str().unwrap().to_owned(), event["detail"]["request"].clone()))
        .collect();
    requests.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        requests,
        [
            (FIXTURE_ID.to_owned(), json!({"requestedBy": "nightly-cleanup", "ticket": 42})),
            (FIXTURE_ID_2.to_owned(), json!({"execution": {"name": "cleanup-42", "step": 3}})),
        ]
    );
    assert_eq!(states(&emulator, FIXTURE_ID)[..2], ["Active", "Deleting"]);
}

#[tokio::test]
async fn times_are_written_as_the_service_gives_them_to_the_millisecond() {
    let emulator = emulator().await;
    // The emulator, as the service, sends epoch seconds with millisecond precision.
    let seeded = emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), ..Default::default() });
    let function = delete_process(&emulator, &[]).await;

    let outcome = function.invoke(fixture("direct-dry-run.json"), DELETE_ARN, Duration::from_secs(20)).await;

    let record = &response(&outcome)["instance"];
    for (member, sent) in [("createdTime", seeded.created_time), ("lastModifiedTime", seeded.last_modified_time)] {
        let text = record[member].as_str().unwrap_or_else(|| panic!("{member} in {record}"));
        let (seconds, fraction) = text.strip_suffix('Z').and_then(|t| t.split_once('.')).map_or((&text[..19], ""), |(s, f)| (s, f));
        assert_eq!(seconds.len(), 19, "{member}: {text}");
        assert!(fraction.len() <= 3 && fraction.bytes().all(|b| b.is_ascii_digit()), "{member}: {text}");
        let read = aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime).unwrap();
        assert_eq!(read.to_millis().unwrap(), (sent * 1000.0).round() as i64, "{member}: {text}");
    }
}
