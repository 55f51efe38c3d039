//! The whole chain against the emulator (Supply Chain) and moto's server (EventBridge, Scheduler,
//! SQS): delete, the Deletion Started event as a subscriber receives it, the checker, its schedules
//! fired by the test as Scheduler would, and the final event.

use std::time::{Duration, SystemTime};

use crate::support::*;
use serde_json::{json, Value};
use supplychain_delete_instance::model::InstanceId;
use supplychain_delete_instance::Scheduler;
use supplychain_delete_instance::{marker_name, schedule_name};
use supplychain_delete_instance::{CheckFunction, CheckResponse, DeleteFunction, Error};
use supplychain_emulator::{Emulator, Fault, FaultRule, SeedInstance};

struct Stack {
    emulator: Emulator,
    moto: Moto,
    delete: DeleteFunction,
    check: CheckFunction,
}

async fn stack(seed: SeedInstance, check_env: &[(&str, &str)]) -> Stack {
    let emulator = emulator().await;
    emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), ..seed });
    let moto = Moto::start().await;
    let delete =
        DeleteFunction::new(supply_chain(&emulator.endpoint()).await, Some(moto.bus_client()), settings(&[("EVENT_BUS_NAME", &moto.bus)]));
    let mut env = vec![("EVENT_BUS_NAME", moto.bus.as_str()), ("SCHEDULE_GROUP", moto.group.as_str())];
    env.extend_from_slice(check_env);
    let check = CheckFunction::new(
        supply_chain(&emulator.endpoint()).await,
        Some(moto.bus_client()),
        moto.scheduler_client(),
        check_settings(&env),
    );
    Stack { emulator, moto, delete, check }
}

impl Stack {
    /// Deletes the fixture instance and returns the Deletion Started event the subscriber received.
    async fn start_deletion(&self) -> Value {
        self.delete.handle(event(fixture("direct.json"))).await.expect("deletion starts");
        let mut received = self.moto.received().await;
        assert_eq!(received.len(), 1, "{received:?}");
        received.remove(0)
    }

    async fn check(&self, payload: Value) -> Value {
        let response = self.check.handle(check_event(payload)).await.expect("check succeeds");
        serde_json::to_value(response).unwrap()
    }
}

fn id() -> InstanceId {
    InstanceId::parse("instanceId", &json!(FIXTURE_ID)).unwrap()
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn time_secs(time: &str) -> f64 {
    aws_smithy_types::DateTime::from_str(time, aws_smithy_types::date_time::Format::DateTime).unwrap().as_secs_f64()
}

fn at_secs(expression: &str) -> f64 {
    let time = expression.strip_prefix("at(").and_then(|e| e.strip_suffix(')')).expect(expression);
    aws_smithy_types::DateTime::from_str(&format!("{time}Z"), aws_smithy_types::date_time::Format::DateTime).unwrap().as_secs_f64()
}

/// Scheduler retries the target for as long as it allows (185 retries within 24 hours), then puts
/// the check in the stack's dead-letter queue instead of dropping it.
fn assert_keeps_undelivered_checks(moto: &Moto, target: &aws_sdk_scheduler::types::Target) {
    let retry = target.retry_policy().expect("a retry policy");
    assert_eq!((retry.maximum_retry_attempts(), retry.maximum_event_age_in_seconds()), (Some(185), Some(86_400)));
    assert_eq!(target.dead_letter_config().and_then(|d| d.arn()), Some(moto.schedule_dead_letter_arn.as_str()));
}

#[tokio::test]
async fn a_deletion_is_announced_followed_by_schedules_and_announced_as_deleted() {
    let stack = stack(SeedInstance { delete_polls: Some(2), ..Default::default() }, &[("POLL_INTERVAL_SECONDS", "60")]).await;

    let started = stack.start_deletion().await;
    assert_eq!(started["source"], "supplychain-delete-instance");
    assert_eq!(started["detail-type"], "Supply Chain Instance Deletion Started");
    assert_eq!(started["detail"]["instance"]["instanceId"], FIXTURE_ID);
    assert_eq!(started["detail"]["instance"]["state"], "Deleting");
    assert_eq!(started["resources"], json!([format!("arn:aws:scn:us-east-1:123456789012:instance/{FIXTURE_ID}")]));

    // First check: still deleting, so the second is scheduled a poll interval later.
    let before = now_secs();
    let first = stack.check(started.clone()).await;
    assert_eq!((first["done"].clone(), first["outcome"].clone(), first["attempt"].clone()), (json!(false), json!("Deleting"), json!(1)));
    let name = schedule_name(&id(), 2);
    assert_eq!(first["nextCheck"]["scheduleName"], name);
    let schedule = stack.moto.schedule(&name).await.expect("second check scheduled");
    let at = at_secs(schedule.schedule_expression().unwrap());
    assert!(at >= before + 59.0 && at <= now_secs() + 61.0, "{at} vs {before}");
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(schedule.flexible_time_window().unwrap().mode().as_str(), "OFF");
    let target = schedule.target().unwrap();
    assert_eq!(target.arn(), CHECK_ARN);
    assert_eq!(target.role_arn(), SCHEDULER_ROLE_ARN);
    assert_keeps_undelivered_checks(&stack.moto, target);
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(input["statusCheck"]["instanceId"], FIXTURE_ID);
    assert_eq!(input["statusCheck"]["attempt"], 2);
    // The deletion is followed from when the delete function sent DeleteInstance, which its event records.
    let sent = started["detail"]["startedAt"].as_str().expect("the Deletion Started event says when DeleteInstance was sent");
    assert!(sent.ends_with('Z') && time_secs(sent) <= time_secs(started["time"].as_str().unwrap()) + 1.0, "{sent} vs {}", started["time"]);
    assert_eq!(input["statusCheck"]["startedAt"], sent);

    // Second check: the interval doubles.
    let second = stack.check(stack.moto.fire(&name).await).await;
    assert_eq!(second["outcome"], "Deleting");
    let third_name = schedule_name(&id(), 3);
    let third = stack.moto.schedule(&third_name).await.expect("third check scheduled");
    assert!(at_secs(third.schedule_expression().unwrap()) >= now_secs() + 118.0);
    assert!(stack.moto.received().await.is_empty(), "nothing is announced while the deletion is under way");

    // Third check: deleted, announced once.
    let last = stack.check(stack.moto.fire(&third_name).await).await;
    assert_eq!((last["done"].clone(), last["outcome"].clone()), (json!(true), json!("Deleted")));
    assert_eq!(last["announced"], "Supply Chain Instance Deleted");
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 1, "{received:?}");
    let done = &received[0];
    assert_eq!(done["detail-type"], "Supply Chain Instance Deleted");
    assert_eq!(done["detail"]["outcome"], "Deleted");
    assert_eq!(done["detail"]["attempts"], 3);
    assert_eq!(done["detail"]["instance"]["state"], "Deleted");
    assert_eq!(done["detail"]["startedAt"], sent);
    assert!(done["detail"]["finishedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(done["detail"]["deduplicationId"], format!("{FIXTURE_ID}:Deleted"));
    assert_eq!(stack.emulator.call_count("GetInstance"), 3);
    // Only the marker of the announced end is left.
    assert_eq!(stack.moto.schedule_names().await, [marker_name(&id(), &format!("{FIXTURE_ID}:Deleted"))]);
}

#[tokio::test]
async fn a_started_event_of_an_earlier_version_is_followed_from_its_time() {
    let stack = stack(SeedInstance::default(), &[]).await;
    stack.start_deletion().await;
    // Written before the delete function said when it sent DeleteInstance: the event's time stands for it.
    let earlier = fixture_now("check/deletion-started.json");
    assert!(earlier["detail"].get("startedAt").is_none(), "{earlier}");

    let report = stack.check(earlier.clone()).await;

    assert_eq!(report["outcome"], "Deleted");
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["detail"]["startedAt"], earlier["time"]);
    assert!(received[0]["detail"].get("sweepId").is_none(), "{}", received[0]);
}

#[tokio::test]
async fn a_failed_deletion_is_announced_with_its_error_message() {
    let stack = stack(SeedInstance { fail_deletion: Some("The KMS key is disabled".into()), ..Default::default() }, &[]).await;

    let started = stack.start_deletion().await;
    let report = stack.check(started).await;

    assert_eq!((report["done"].clone(), report["outcome"].clone()), (json!(true), json!("DeleteFailed")));
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["detail-type"], "Supply Chain Instance Deletion Failed");
    assert_eq!(received[0]["detail"]["outcome"], "DeleteFailed");
    assert_eq!(received[0]["detail"]["instance"]["errorMessage"], "The KMS key is disabled");
}

#[tokio::test]
async fn a_deletion_that_outlasts_the_maximum_wait_is_announced_as_timed_out() {
    let stack = stack(SeedInstance { delete_polls: Some(1_000), ..Default::default() }, &[("MAX_WAIT_SECONDS", "3600")]).await;
    let mut started = stack.start_deletion().await;
    // The deletion started two hours ago, as far as the checker can tell.
    let two_hours_ago = aws_smithy_types::DateTime::from_secs(now_secs() as i64 - 7_200);
    started["time"] = json!(two_hours_ago.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap());
    started["detail"]["startedAt"] = started["time"].clone();

    let report = stack.check(started).await;

    assert_eq!((report["done"].clone(), report["outcome"].clone()), (json!(true), json!("TimedOut")));
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["detail-type"], "Supply Chain Instance Deletion Timed Out");
    assert_eq!(received[0]["detail"]["instance"]["state"], "Deleting");
}

#[tokio::test]
async fn the_last_check_before_the_maximum_wait_is_scheduled_at_its_end() {
    let stack = stack(
        SeedInstance { delete_polls: Some(1_000), ..Default::default() },
        &[("MAX_WAIT_SECONDS", "3600"), ("POLL_INTERVAL_SECONDS", "600"), ("MAX_POLL_INTERVAL_SECONDS", "900")],
    )
    .await;
    let mut started = stack.start_deletion().await;
    let started_at = now_secs() as i64 - 3_300;
    started["time"] = json!(aws_smithy_types::DateTime::from_secs(started_at).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap());
    started["detail"]["startedAt"] = started["time"].clone();

    stack.check(started).await;

    let schedule = stack.moto.schedule(&schedule_name(&id(), 2)).await.unwrap();
    assert_eq!(at_secs(schedule.schedule_expression().unwrap()), (started_at + 3_600) as f64);
}

#[tokio::test]
async fn an_instance_that_vanishes_is_announced_as_deleted_with_the_last_record_seen() {
    let stack = stack(SeedInstance::default(), &[]).await;
    let started = stack.start_deletion().await;
    stack.emulator.remove(FIXTURE_ID);

    let report = stack.check(started).await;

    assert_eq!((report["done"].clone(), report["outcome"].clone()), (json!(true), json!("Deleted")));
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["detail-type"], "Supply Chain Instance Deleted");
    assert_eq!(received[0]["detail"]["instance"]["instanceId"], FIXTURE_ID);
    assert_eq!(received[0]["detail"]["instance"]["state"], "Deleting", "the last record seen, not an invented one");
}

#[tokio::test]
async fn duplicate_started_events_converge_on_one_chain_and_one_announcement() {
    let stack = stack(SeedInstance { delete_polls: Some(2), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;

    let first = stack.check(started.clone()).await;
    let duplicate = stack.check(started.clone()).await;

    assert_eq!(first["nextCheck"]["created"], true);
    assert_eq!(duplicate["nextCheck"]["created"], false, "the same schedule name exists already");
    assert_eq!(stack.moto.schedule_names().await, [schedule_name(&id(), 2)]);

    let last = stack.check(stack.moto.fire(&schedule_name(&id(), 2)).await).await;
    assert_eq!(last["outcome"], "Deleted");
    let again = stack.check(started).await;
    assert_eq!(again["outcome"], "Deleted");
    assert!(again.get("announced").is_none(), "{again}");
    let received = stack.moto.received().await;
    assert_eq!(received.iter().filter(|e| e["detail-type"] == "Supply Chain Instance Deleted").count(), 1, "{received:?}");
}

#[tokio::test]
async fn a_recheck_arriving_after_the_final_state_announces_nothing_more() {
    let stack = stack(SeedInstance { delete_polls: Some(1), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;
    stack.check(started).await;
    let late_input = stack.moto.fire(&schedule_name(&id(), 2)).await;
    let on_time = stack.check(late_input.clone()).await;
    assert_eq!(on_time["announced"], "Supply Chain Instance Deleted");

    let late = stack.check(late_input).await;

    assert_eq!(late["outcome"], "Deleted");
    assert!(late.get("announced").is_none());
    assert_eq!(stack.moto.received().await.len(), 1);
}

#[tokio::test]
async fn a_failed_deletion_retried_later_is_announced_again_when_it_ends() {
    let stack =
        stack(SeedInstance { fail_deletion: Some("transient".into()), fail_deletion_attempts: Some(1), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;
    assert_eq!(stack.check(started).await["outcome"], "DeleteFailed");
    let failed = stack.moto.received().await;
    assert_eq!(failed[0]["detail-type"], "Supply Chain Instance Deletion Failed");

    let restarted = stack.start_deletion().await;
    let report = stack.check(restarted).await;

    assert_eq!(report["announced"], "Supply Chain Instance Deleted");
    let kinds: Vec<Value> = stack.moto.received().await.into_iter().map(|e| e["detail-type"].clone()).collect();
    assert_eq!(kinds, [json!("Supply Chain Instance Deleted")]);
}

#[tokio::test]
async fn a_lambda_destination_record_is_followed_like_a_started_event() {
    let stack = stack(SeedInstance { delete_polls: Some(5), ..Default::default() }, &[]).await;
    stack.delete.handle(event(fixture("direct.json"))).await.unwrap();

    let report = stack.check(fixture_now("check/lambda-destination-success.json")).await;

    assert_eq!(report["outcome"], "Deleting");
    assert!(stack.moto.schedule(&schedule_name(&id(), 2)).await.is_some());
}

#[tokio::test]
async fn a_lambda_destination_record_older_than_the_maximum_wait_is_announced_as_timed_out() {
    let stack = stack(SeedInstance { delete_polls: Some(1_000), ..Default::default() }, &[("MAX_WAIT_SECONDS", "3600")]).await;
    stack.delete.handle(event(fixture("direct.json"))).await.unwrap();
    stack.moto.received().await;
    let sent = SystemTime::now() - std::time::Duration::from_secs(3_600 + 60);

    let report = stack.check(fixture_at("check/lambda-destination-success.json", sent)).await;

    assert_eq!((report["done"].clone(), report["outcome"].clone()), (json!(true), json!("TimedOut")));
    assert!(stack.moto.schedule(&schedule_name(&id(), 2)).await.is_none(), "no re-check after the maximum wait");
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["detail-type"], "Supply Chain Instance Deletion Timed Out");
}

#[tokio::test]
async fn a_dry_run_destination_record_is_not_followed() {
    let stack = stack(SeedInstance::default(), &[]).await;
    let mut record = fixture_now("check/lambda-destination-success.json");
    record["detail"]["responsePayload"]["dryRun"] = json!(true);

    let report = stack.check(record).await;

    assert!(report["ignored"].as_str().unwrap().contains("dry run"));
    assert!(stack.emulator.calls().is_empty());
    assert!(stack.moto.schedule_names().await.is_empty());
}

#[tokio::test]
async fn a_step_functions_task_gets_a_report_and_nothing_is_scheduled_or_announced() {
    let stack = stack(SeedInstance { delete_polls: Some(1), ..Default::default() }, &[]).await;
    stack.delete.handle(event(fixture("direct.json"))).await.unwrap();
    stack.moto.received().await;

    let pending = stack.check(fixture("check/stepfunctions-task.json")).await;
    assert_eq!(pending, json!({"instance": pending["instance"].clone(), "done": false, "outcome": "Deleting"}));
    let done = stack.check(pending).await;
    assert_eq!((done["done"].clone(), done["outcome"].clone()), (json!(true), json!("Deleted")));
    assert_eq!(done["instance"]["state"], "Deleted");

    assert!(stack.moto.schedule_names().await.is_empty());
    assert!(stack.moto.received().await.is_empty());
}

#[tokio::test]
async fn a_step_functions_check_of_an_unknown_instance_is_instance_not_found() {
    let stack = stack(SeedInstance::default(), &[]).await;
    stack.emulator.remove(FIXTURE_ID);

    let error = stack.check.handle(check_event(fixture("check/stepfunctions-instance-id.json"))).await.unwrap_err();

    assert_eq!(error.error_type(), "InstanceNotFound");
}

#[tokio::test]
async fn the_deletions_of_an_sqs_batch_are_each_announced() {
    let stack = stack(SeedInstance::default(), &[]).await;
    stack.emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID_2.into()), ..Default::default() });

    let response = stack.delete.handle(event(fixture("sqs-batch.json"))).await.unwrap();

    assert_eq!(serde_json::to_value(response).unwrap(), json!({"batchItemFailures": []}));
    let mut ids: Vec<String> =
        stack.moto.received().await.into_iter().map(|e| e["detail"]["instance"]["instanceId"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, [FIXTURE_ID, FIXTURE_ID_2]);
}

#[tokio::test]
async fn a_dry_run_is_not_announced() {
    let stack = stack(SeedInstance::default(), &[]).await;

    stack.delete.handle(event(fixture("direct-dry-run.json"))).await.unwrap();

    assert!(stack.moto.received().await.is_empty());
}

#[tokio::test]
async fn every_checker_fixture_is_accepted() {
    let stack = stack(SeedInstance { delete_polls: Some(10), ..Default::default() }, &[]).await;
    stack.delete.handle(event(fixture("direct.json"))).await.unwrap();
    for (name, _) in fixtures_in("check") {
        let payload = fixture_now(&format!("check/{name}"));
        let response = stack.check.handle(check_event(payload)).await;
        assert!(matches!(response, Ok(CheckResponse::Report(_) | CheckResponse::Follow(_))), "{name}: {response:?}");
    }
}

#[tokio::test]
async fn checker_input_that_is_none_of_its_shapes_is_invalid_input() {
    let stack = stack(SeedInstance::default(), &[]).await;
    for payload in [
        fixture("eventbridge-deletion-requested.json"),
        json!({"statusCheck": {"instanceId": FIXTURE_ID}}),
        json!({"instanceId": "0C3B2F4E-8A1D-4C6E-9F2B-7D5A1E3C9B40"}),
        json!([]),
    ] {
        let error = stack.check.handle(check_event(payload.clone())).await.unwrap_err();
        assert_eq!(error.error_type(), "InvalidInput", "{payload}: {error}");
    }
    assert!(stack.emulator.calls().is_empty());
}

#[tokio::test]
async fn a_deletion_started_from_another_account_or_replayed_from_the_archive_is_refused_by_the_binary_before_any_call() {
    let stack = stack(SeedInstance { delete_polls: Some(10), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;
    let process = FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &stack.moto.function_env(stack.emulator.endpoint())).await;
    let calls_before = stack.emulator.calls().len();
    let operations = ["GetSchedule", "CreateSchedule", "PutEvents"];
    let proxied_before: Vec<usize> = operations.iter().map(|operation| stack.moto.proxy.call_count(operation)).collect();

    let refused = fixtures_in("check/invalid");
    assert_eq!(refused.len(), 2);
    for (name, payload) in refused {
        let outcome = process.invoke(payload, CHECK_ARN, Duration::from_secs(20)).await;
        let (error_type, message) = error_of(&outcome);
        assert_eq!(error_type, "InvalidInput", "{name}: {message}");
        assert!(message.contains("account 210987654321") || message.contains("\"replay-name\""), "{name}: {message}");
    }

    assert_eq!(stack.emulator.calls().len(), calls_before, "no Supply Chain call");
    let proxied: Vec<usize> = operations.iter().map(|operation| stack.moto.proxy.call_count(operation)).collect();
    assert_eq!(proxied, proxied_before, "no call to {operations:?}");
    // The stack's own Deletion Started, as EventBridge delivered it, is followed.
    assert_eq!(started["account"], ACCOUNT);
    let followed = process.invoke(started, CHECK_ARN, Duration::from_secs(20)).await;
    assert_eq!(response(&followed)["nextCheck"]["created"], true);
}

/// Starts a deletion that takes more than one check, then runs its first check with a checker whose
/// schedules `scheduler` makes, which must fail: the stack, and that check's error.
async fn first_check_with(scheduler: impl FnOnce(&Moto) -> Scheduler) -> (Stack, Error) {
    let stack = stack(SeedInstance { delete_polls: Some(3), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;
    let check = CheckFunction::new(
        supply_chain(&stack.emulator.endpoint()).await,
        Some(stack.moto.bus_client()),
        scheduler(&stack.moto),
        check_settings(&[("EVENT_BUS_NAME", &stack.moto.bus)]),
    );
    let error = check.handle(check_event(started)).await.unwrap_err();
    (stack, error)
}

#[tokio::test]
async fn without_a_scheduler_role_a_pending_check_fails_visibly() {
    let (_stack, error) =
        first_check_with(|moto| Scheduler::new(aws_sdk_scheduler::Client::new(&moto.sdk_config), &moto.group, None)).await;

    assert_eq!(error.error_type(), "ScheduleFailed");
    assert!(error.to_string().contains("SCHEDULER_ROLE_ARN"));
}

#[tokio::test]
async fn without_a_dead_letter_queue_for_its_schedules_a_pending_check_fails_visibly() {
    let (stack, error) = first_check_with(|moto| {
        Scheduler::new(aws_sdk_scheduler::Client::new(&moto.function_config), &moto.group, Some(SCHEDULER_ROLE_ARN.to_owned()))
    })
    .await;

    assert_eq!(error.error_type(), "ScheduleFailed");
    assert!(error.to_string().contains("SCHEDULE_DEAD_LETTER_ARN"), "{error}");
    assert!(stack.moto.schedule_names().await.is_empty());
    assert_eq!(stack.moto.proxy.call_count("CreateSchedule"), 0);
}

#[tokio::test]
async fn a_refused_announcement_fails_the_invocation_and_its_retry_announces() {
    let stack = stack(SeedInstance::default(), &[]).await;
    stack.moto.proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entries("InternalFailure", "try again")));

    let error = stack.delete.handle(event(fixture("direct.json"))).await.unwrap_err();
    assert_eq!(error.error_type(), "PublishFailed");
    assert!(error.to_string().contains("InternalFailure"), "{error}");

    // Lambda retries the event: the deletion is already under way, and this time it is announced.
    let retried = stack.delete.handle(event(fixture("direct.json"))).await.unwrap();
    assert!(matches!(retried, supplychain_delete_instance::DeleteResponse::Instance(_)));
    // The proxy lets the refused entry reach moto too, so the subscriber sees both attempts; the
    // retry's announcement carries the record as it is now.
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[1]["detail-type"], "Supply Chain Instance Deletion Started");
    assert_eq!(stack.moto.proxy.call_count("PutEvents"), 2);
}

#[tokio::test]
async fn a_refused_announcement_fails_only_its_sqs_message() {
    let stack = stack(SeedInstance::default(), &[]).await;
    stack.emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID_2.into()), ..Default::default() });
    stack.moto.proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entry(1, "ThrottlingException", "slow down")));

    let response = stack.delete.handle(event(fixture("sqs-batch.json"))).await.unwrap();

    assert_eq!(
        serde_json::to_value(response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]})
    );
    assert_eq!(stack.moto.proxy.call_count("PutEvents"), 1, "both entries went in one call");
}

#[tokio::test]
async fn a_failed_put_events_call_fails_the_invocation_after_the_sdk_retries() {
    let stack = stack(SeedInstance::default(), &[]).await;
    stack.moto.proxy.inject(FaultRule::new("PutEvents", 100, Fault::Internal));

    let error = stack.delete.handle(event(fixture("direct.json"))).await.unwrap_err();

    assert_eq!(error.error_type(), "PublishFailed");
    assert_eq!(stack.moto.proxy.call_count("PutEvents"), 3);
    assert!(stack.moto.received().await.is_empty());
}

#[tokio::test]
async fn brief_scheduler_throttling_is_absorbed_by_the_sdk_retries() {
    let stack = stack(SeedInstance { delete_polls: Some(3), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;
    stack.moto.proxy.inject(FaultRule::new("CreateSchedule", 2, Fault::Throttle));

    let report = stack.check(started).await;

    assert_eq!(report["nextCheck"]["created"], true);
    assert_eq!(stack.moto.proxy.call_count("CreateSchedule"), 3);
    assert!(stack.moto.schedule(&schedule_name(&id(), 2)).await.is_some());
}

#[tokio::test]
async fn persistent_scheduler_throttling_fails_the_check_and_its_retry_schedules() {
    let stack = stack(SeedInstance { delete_polls: Some(3), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;
    stack.moto.proxy.inject(FaultRule::new("CreateSchedule", 3, Fault::Throttle));

    let error = stack.check.handle(check_event(started.clone())).await.unwrap_err();
    assert_eq!(error.error_type(), "ScheduleFailed");
    assert!(error.to_string().contains("ThrottlingException"), "{error}");
    assert!(stack.moto.schedule_names().await.is_empty());

    // Lambda's asynchronous retry of the same event.
    let report = stack.check(started).await;
    assert_eq!(report["nextCheck"]["created"], true);
}

#[tokio::test]
async fn a_final_announcement_that_fails_is_made_by_the_retry_and_only_once() {
    let stack = stack(SeedInstance::default(), &[]).await;
    let started = stack.start_deletion().await;
    stack.moto.proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entries("InternalFailure", "try again")));

    let error = stack.check.handle(check_event(started.clone())).await.unwrap_err();
    assert_eq!(error.error_type(), "PublishFailed");
    assert!(stack.moto.schedule_names().await.is_empty(), "no marker for an end that was not announced");
    stack.moto.received().await;

    let retried = stack.check(started.clone()).await;
    assert_eq!(retried["announced"], "Supply Chain Instance Deleted");
    let duplicate = stack.check(started).await;
    assert!(duplicate.get("announced").is_none());
    assert_eq!(stack.moto.received().await.len(), 1);
}

#[tokio::test]
async fn an_instance_found_in_another_state_is_announced_as_a_failed_deletion_with_that_state() {
    let stack = stack(SeedInstance { delete_polls: Some(5), ..Default::default() }, &[]).await;
    let started = stack.start_deletion().await;
    stack.emulator.set_state(FIXTURE_ID, "Active", None);

    let report = stack.check(started).await;

    assert_eq!((report["done"].clone(), report["outcome"].clone()), (json!(true), json!("Active")));
    let received = stack.moto.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["detail-type"], "Supply Chain Instance Deletion Failed");
    assert_eq!(received[0]["detail"]["outcome"], "Active");
}

#[tokio::test]
async fn the_marker_of_an_announced_end_expires_as_a_no_op() {
    let stack = stack(SeedInstance::default(), &[]).await;
    let started = stack.start_deletion().await;
    stack.check(started).await;
    stack.moto.received().await;
    let marker = marker_name(&id(), &format!("{FIXTURE_ID}:Deleted"));
    let schedule = stack.moto.schedule(&marker).await.expect("marker left");
    let at = at_secs(schedule.schedule_expression().unwrap());
    assert!(at >= now_secs() + 24.0 * 3600.0, "the marker outlives Scheduler's retry window");
    assert_keeps_undelivered_checks(&stack.moto, schedule.target().unwrap());
    let calls_before = stack.emulator.calls().len();

    let expired = stack.check(stack.moto.fire(&marker).await).await;

    assert!(expired["ignored"].as_str().unwrap().contains("marker"), "{expired}");
    assert_eq!(stack.emulator.calls().len(), calls_before, "no call to Supply Chain");
    assert!(stack.moto.received().await.is_empty());
}

#[tokio::test]
async fn announcements_of_a_large_batch_are_put_ten_entries_per_call() {
    let stack = stack(SeedInstance::default(), &[]).await;
    let ids: Vec<String> = (0..12).map(|i| format!("{i:08x}-1111-4111-8111-111111111111")).collect();
    let records: Vec<Value> = ids
        .iter()
        .map(|id| {
            stack.emulator.seed(SeedInstance { instance_id: Some(id.clone()), ..Default::default() });
            json!({"messageId": id, "eventSource": "aws:sqs", "body": json!({"instanceId": id}).to_string()})
        })
        .collect();

    let response = stack.delete.handle(event(json!({ "Records": records }))).await.unwrap();

    assert_eq!(serde_json::to_value(response).unwrap(), json!({"batchItemFailures": []}));
    assert_eq!(stack.moto.proxy.call_count("PutEvents"), 2, "PutEvents takes at most 10 entries");
    assert_eq!(stack.moto.received().await.len(), 12);
}
