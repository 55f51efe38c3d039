//! Duplicates, concurrency and shutdown, with the compiled binaries: the same request many times
//! through several processes, a mixed SQS batch, several invocations at once in one process
//! (Lambda Managed Instances), deletion protection under all of them, and SIGTERM.

use std::time::{Duration, Instant};

use crate::support::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::{Deadline, Invoke, RuntimeApiError};
use supplychain_emulator::{Emulator, Fault, FaultRule};

const PROTECTED: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const MISSING: &str = "99999999-9999-4999-8999-999999999999";
/// Lambda's Shutdown phase for a function with an internal extension.
const SHUTDOWN_WINDOW: Duration = Duration::from_millis(500);

fn options(arn: &str) -> Invoke {
    Invoke { function_arn: arn.into(), deadline: Deadline::In(Duration::from_secs(20)), ..Default::default() }
}

fn assert_never_deleted(emulator: &Emulator, id: &str) {
    assert_eq!(states(emulator, id), ["Active"], "instance {id} was touched");
    assert!(
        emulator.calls().iter().all(|c| !(c.operation == "DeleteInstance" && c.instance_id.as_deref() == Some(id))),
        "DeleteInstance was called for the protected instance {id}"
    );
}

#[tokio::test]
async fn copies_of_one_request_through_several_processes_delete_once_and_all_succeed() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let processes = join_all((0..3).map(|_| delete_process(&emulator, &[]))).await;

    // One after another, through each process in turn.
    for process in &processes {
        let outcome = process.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
        assert_eq!(outcome.response().expect("success")["instance"]["instanceId"], FIXTURE_ID);
    }
    // At once: four copies to each process.
    let outcomes =
        join_all(processes.iter().flat_map(|p| (0..4).map(move |_| p.runtime.invoke(fixture("direct.json"), options(DELETE_ARN))))).await;
    for completed in outcomes {
        let state = completed.unwrap().outcome.response().expect("success")["instance"]["state"].clone();
        assert!(state == "Deleting" || state == "Deleted", "{state}");
    }

    assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"], "one deletion");
    assert_eq!(emulator.call_count("DeleteInstance"), 15);
}

#[tokio::test]
async fn an_sqs_batch_of_ten_mixed_messages_lists_exactly_the_failed_ones() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed(&emulator, FIXTURE_ID_2);
    seed_with_tags(&emulator, PROTECTED, &[("DeletionProtection", "True")]);
    let process = delete_process(&emulator, &[]).await;
    let body = |v: Value| v.to_string();
    let messages = [
        ("valid-1", body(json!({"instanceId": FIXTURE_ID}))),
        ("valid-2", body(json!({"instance": {"instanceId": FIXTURE_ID_2, "state": "Active"}}))),
        ("duplicate-1", body(json!({"instanceId": FIXTURE_ID}))),
        (
            "duplicate-2",
            body(json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "detail": {"instanceId": FIXTURE_ID}})),
        ),
        ("invalid-upper", body(json!({"instanceId": FIXTURE_ID.to_uppercase()}))),
        ("invalid-json", "{not json".to_owned()),
        ("protected", body(json!({"instanceId": PROTECTED}))),
        ("protected-dry-run", body(json!({"instanceId": PROTECTED, "dryRun": true}))),
        ("missing", body(json!({"instanceId": MISSING}))),
        ("dry-run", body(json!({"instanceId": FIXTURE_ID_2, "dryRun": true}))),
    ];
    let records: Vec<Value> = messages.iter().map(|(id, body)| json!({"messageId": id, "eventSource": "aws:sqs", "body": body})).collect();

    let outcome = process.invoke(json!({ "Records": records }), DELETE_ARN, Duration::from_secs(20)).await;

    let failures: Vec<&str> = outcome.response().expect("a batch response")["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failures, ["invalid-upper", "invalid-json", "protected", "protected-dry-run", "missing"]);
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"], "one deletion");
    assert_eq!(states(&emulator, FIXTURE_ID_2), ["Active", "Deleting", "Deleted"], "one deletion");
    assert_eq!(emulator.call_count("DeleteInstance"), 2, "duplicates reach the service once");
    assert_never_deleted(&emulator, PROTECTED);
}

#[tokio::test]
async fn a_protected_instance_is_never_deleted_directly_in_dry_run_repeatedly_or_at_once() {
    let emulator = emulator().await;
    seed_with_tags(&emulator, PROTECTED, &[("DeletionProtection", "true")]);
    let process = delete_process(&emulator, &[("AWS_LAMBDA_MAX_CONCURRENCY", "4".into())]).await;
    let events = [
        json!({"instanceId": PROTECTED}),
        json!({"instanceId": PROTECTED, "dryRun": true}),
        json!({"instance": {"instanceId": PROTECTED}}),
        json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "detail": {"instanceId": PROTECTED}}),
    ];
    for _ in 0..2 {
        let outcomes = join_all(events.iter().map(|e| process.runtime.invoke(e.clone(), options(DELETE_ARN)))).await;
        for completed in outcomes {
            assert_eq!(completed.unwrap().outcome.error_type(), Some("DeletionProtected"));
        }
    }
    assert_eq!(emulator.call_count("ListTagsForResource"), 8);
    assert_never_deleted(&emulator, PROTECTED);
}

#[tokio::test]
async fn one_process_of_each_function_takes_several_invocations_at_once() {
    let emulator = emulator().await;
    let ids: Vec<String> = (0..6).map(|i| format!("00000000-0000-4000-8000-00000000000{i}")).collect();
    for id in &ids {
        seed(&emulator, id);
    }
    // Every call takes 300 ms: six invocations one by one would take at least 1.8 s per function.
    emulator.inject(FaultRule::new("*", 100, Fault::delay(300)));
    let concurrency = [("AWS_LAMBDA_MAX_CONCURRENCY", "6".to_owned())];
    let delete = delete_process(&emulator, &concurrency).await;
    let check = FunctionProcess::spawn(
        CHECK_BIN,
        "check-instance-status",
        &[("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint()), concurrency[0].clone()],
    )
    .await;

    let started = Instant::now();
    let deleted =
        join_all(ids.iter().map(|id| delete.runtime.invoke(json!({"instanceId": id, "dryRun": true}), options(DELETE_ARN)))).await;
    let checked = join_all(ids.iter().map(|id| check.runtime.invoke(json!({"instanceId": id}), options(CHECK_ARN)))).await;
    let elapsed = started.elapsed();

    for (id, (deleted, checked)) in ids.iter().zip(deleted.into_iter().zip(checked)) {
        let deleted = deleted.unwrap();
        assert_eq!(deleted.outcome.response().expect("dry run")["instance"]["instanceId"], id.as_str());
        let checked = checked.unwrap();
        assert_eq!(checked.outcome.response().expect("report")["instance"]["instanceId"], id.as_str());
    }
    // Two calls per dry run and one per report, 300 ms each: well under the sequential 5.4 s.
    assert!(elapsed < Duration::from_millis(2_500), "took {elapsed:?}: the invocations did not overlap");
    assert_eq!(emulator.call_count("GetInstance"), 12);
}

async fn wait_for_calls(emulator: &Emulator, operation: &str, count: usize) {
    let waited = Instant::now();
    while emulator.call_count(operation) < count {
        assert!(waited.elapsed() < Duration::from_secs(10), "{operation} was not called");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn started(emulator: &Emulator) -> FunctionProcess {
    let process = delete_process(emulator, &[]).await;
    process.runtime.wait_for_first_poll().await;
    let extensions = process.runtime.extensions();
    assert_eq!(extensions.len(), 1, "{extensions:?}");
    assert_eq!(extensions[0].name, supplychain_delete_instance::EXTENSION_NAME);
    assert!(extensions[0].during_init && extensions[0].events.is_empty());
    process
}

async fn terminate_and_wait(process: &mut FunctionProcess) -> Duration {
    process.runtime.begin_shutdown("spindown", SHUTDOWN_WINDOW);
    let signalled = Instant::now();
    process.terminate();
    let status = process.exit_within(Duration::from_secs(5)).await.unwrap_or_else(|| panic!("still running; logs:\n{}", process.logs()));
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}; logs:\n{}", process.logs());
    assert!(took < SHUTDOWN_WINDOW, "exited {took:?} after SIGTERM");
    took
}

#[tokio::test]
async fn an_idle_function_exits_cleanly_within_the_shutdown_window_on_sigterm() {
    let emulator = emulator().await;
    let mut process = started(&emulator).await;

    terminate_and_wait(&mut process).await;

    assert!(process.logs().contains("no invocation left in flight"), "{}", process.logs());
}

#[tokio::test]
async fn an_invocation_in_flight_at_sigterm_is_finished_and_answered_before_the_exit() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::delay(150)));
    let mut process = started(&emulator).await;
    let runtime = process.runtime.clone();
    let invocation = tokio::spawn(async move { runtime.invoke(fixture("direct.json"), options(DELETE_ARN)).await });
    wait_for_calls(&emulator, "ListTagsForResource", 1).await;

    terminate_and_wait(&mut process).await;

    let completed = invocation.await.unwrap().expect("answered");
    assert_eq!(completed.outcome.response().expect("success")["instance"]["state"], "Deleting");
    assert!(process.logs().contains("no invocation left in flight"), "{}", process.logs());
}

#[tokio::test]
async fn an_invocation_still_hanging_at_sigterm_is_abandoned_so_lambda_retries_it() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::Hang));
    let mut process = started(&emulator).await;
    let runtime = process.runtime.clone();
    let invocation = tokio::spawn(async move {
        runtime.invoke(fixture("direct.json"), Invoke { give_up_after: Duration::from_secs(3), ..options(DELETE_ARN) }).await
    });
    wait_for_calls(&emulator, "DeleteInstance", 1).await;

    terminate_and_wait(&mut process).await;

    let abandoned = invocation.await.unwrap().expect_err("no answer");
    assert!(matches!(abandoned, RuntimeApiError::GaveUp { handed_out: true, .. }), "{abandoned:?}");
    assert!(process.logs().contains("abandoned"), "{}", process.logs());
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"], "the hung call changed nothing");

    // Lambda delivers the event again, to a new process: it finishes the work.
    let retry = delete_process(&emulator, &[]).await;
    let outcome = retry.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(outcome.response().expect("success")["instance"]["state"], "Deleting");
}

#[tokio::test]
async fn copies_of_the_final_check_through_several_processes_announce_the_end_once() {
    let emulator = emulator().await;
    emulator.seed(supplychain_emulator::SeedInstance {
        instance_id: Some(FIXTURE_ID.into()),
        state: Some("Deleted".into()),
        ..Default::default()
    });
    let moto = Moto::start().await;
    let env = moto.function_env(emulator.endpoint());
    let processes = join_all((0..2).map(|_| FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &env))).await;
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap();
    let started = json!({"detail-type": "Supply Chain Instance Deletion Started", "source": "supplychain-delete-instance", "time": now,
        "detail": {"instance": {"instanceId": FIXTURE_ID, "awsAccountId": ACCOUNT, "state": "Deleting"}}});

    // The documented guarantee covers copies that do not run at the very same moment.
    for process in processes.iter().chain(processes.iter()) {
        let completed = process.runtime.invoke(started.clone(), options(CHECK_ARN)).await.unwrap();
        assert_eq!(completed.outcome.response().expect("success")["outcome"], "Deleted");
    }

    let received = moto.received().await;
    let ends: Vec<&Value> = received.iter().filter(|e| e["detail-type"] == "Supply Chain Instance Deleted").collect();
    assert_eq!(ends.len(), 1, "{received:?}");
    assert_eq!(ends[0]["detail"]["deduplicationId"], format!("{FIXTURE_ID}:Deleted"));
    assert_eq!(moto.proxy.call_count("PutEvents"), 1);
    assert_eq!(moto.proxy.call_count("GetSchedule"), 4);
}
