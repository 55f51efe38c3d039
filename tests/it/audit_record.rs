//! Every deletion's final announcement is its audit record: through the compiled binaries, against
//! the Supply Chain emulator and moto's EventBridge and Scheduler, a deletion is requested, followed
//! (through a re-check schedule where it lasts) and announced at its end, and the outcome event
//! alone says what was deleted, why, at whose request, and when.

use std::time::Duration;

use crate::support::*;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Map, Value};
use supplychain_delete_instance::model::InstanceId;
use supplychain_delete_instance::schedule_name;
use supplychain_emulator::{Emulator, Fault, FaultRule, SeedInstance};

const STARTED: &str = "Supply Chain Instance Deletion Started";
const SWEEP_MEMBERS: [&str; 4] = ["sweepId", "reason", "reasonDetail", "scheduledFor"];

/// The two function binaries, wired to the emulator and to a bus and schedule group of their own.
struct Chain {
    emulator: Emulator,
    moto: Moto,
    delete: FunctionProcess,
    check: FunctionProcess,
}

async fn chain(seed: SeedInstance) -> Chain {
    let emulator = emulator().await;
    emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), ..seed });
    let moto = Moto::start().await;
    let env = moto.function_env(emulator.endpoint());
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env).await;
    let check = FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &env).await;
    Chain { emulator, moto, delete, check }
}

impl Chain {
    /// Asks for the deletion, and returns the delete function's answer and its Deletion Started event.
    async fn request(&self, payload: Value) -> (Value, Value) {
        let answer = response(&self.delete.invoke(payload, DELETE_ARN, Duration::from_secs(20)).await).clone();
        let mut received = self.moto.received().await;
        assert_eq!(received.len(), 1, "{received:?}");
        let started = received.remove(0);
        assert_eq!(started["detail-type"], STARTED, "{started}");
        (answer, started)
    }

    async fn check(&self, payload: Value) -> Value {
        response(&self.check.invoke(payload, CHECK_ARN, Duration::from_secs(20)).await).clone()
    }

    /// The one event announced since the last look: the final announcement.
    async fn announced(&self) -> Value {
        let mut received = self.moto.received().await;
        assert_eq!(received.len(), 1, "{received:?}");
        received.remove(0)
    }
}

/// An RFC 3339 time in UTC, to the millisecond at most, as every time this project writes (and the
/// bus's `time`), in seconds.
fn secs(time: &Value) -> f64 {
    let text = time.as_str().unwrap_or_else(|| panic!("{time} is not a time"));
    assert!(text.ends_with('Z') && text.split('.').nth(1).is_none_or(|fraction| fraction.len() <= 4), "{text}");
    DateTime::from_str(text, Format::DateTime).unwrap().as_secs_f64()
}

/// The request's members besides the instance, as the producer put them.
fn metadata(detail: &Value) -> Value {
    let mut members: Map<String, Value> = detail.as_object().unwrap().clone();
    members.remove("instanceId");
    Value::Object(members)
}

/// What was deleted, and when: the instance, its ARN, a start (when DeleteInstance was sent, as the
/// Deletion Started event said) no later than the end, and each no later than the event that
/// announced it. The times are the functions' clocks against the bus's (whose `time` has whole
/// seconds), never the test's own.
fn assert_says_what_and_when(outcome: &Value, started: &Value) {
    let detail = &outcome["detail"];
    assert_eq!(detail["instance"]["instanceId"], FIXTURE_ID, "{outcome}");
    assert_eq!(outcome["resources"], json!([format!("arn:aws:scn:us-east-1:123456789012:instance/{FIXTURE_ID}")]));
    assert_eq!(detail["startedAt"], started["detail"]["startedAt"], "the start is when DeleteInstance was sent");
    let (start, end) = (secs(&detail["startedAt"]), secs(&detail["finishedAt"]));
    assert!(start <= end && end - start < 60.0, "{start} <= {end}");
    assert!(
        start <= secs(&started["time"]) + 1.0,
        "DeleteInstance was sent before Deletion Started was put: {start} vs {}",
        started["time"]
    );
    assert!(end <= secs(&outcome["time"]) + 1.0, "the end was seen before it was announced: {end} vs {}", outcome["time"]);
}

#[tokio::test]
async fn a_deletion_the_sweep_requested_ends_in_an_announcement_that_says_what_why_whom_and_when() {
    // Still Deleting at the first check, so the second comes through a re-check schedule.
    let chain = chain(SeedInstance { delete_polls: Some(1), ..Default::default() }).await;
    let requested = fixture_now("eventbridge-deletion-requested-by-sweep.json");

    let (answer, started) = chain.request(requested.clone()).await;
    assert_eq!(answer["instance"]["state"], "Deleting");
    let first = chain.check(started.clone()).await;
    assert_eq!((&first["done"], &first["attempt"]), (&json!(false), &json!(1)), "{first}");
    let id = InstanceId::parse("instanceId", &json!(FIXTURE_ID)).unwrap();
    let recheck = chain.moto.fire(&schedule_name(&id, 2)).await;
    for member in SWEEP_MEMBERS {
        assert!(recheck["statusCheck"].get(member).is_some(), "the re-check carries {member}: {recheck}");
    }
    let last = chain.check(recheck).await;

    assert_eq!((&last["outcome"], &last["announced"]), (&json!("Deleted"), &json!("Supply Chain Instance Deleted")), "{last}");
    let outcome = chain.announced().await;
    assert_eq!(outcome["detail-type"], "Supply Chain Instance Deleted");
    let (detail, asked) = (&outcome["detail"], &requested["detail"]);
    // At whose request, as the sweep put it.
    assert_eq!(detail["request"], metadata(asked), "{outcome}");
    // Why: the sweep's run and the policy's reason, at the top level.
    assert_eq!(detail["sweepId"], asked["sweepId"]);
    assert_eq!(detail["reason"], "ExpiryTagPassed");
    assert_eq!(detail["reasonDetail"], asked["detail"]);
    assert_eq!(detail["scheduledFor"], asked["scheduledFor"]);
    assert_says_what_and_when(&outcome, &started);
    assert_eq!((detail["outcome"].clone(), detail["attempts"].clone()), (json!("Deleted"), json!(2)));
    assert_eq!(chain.emulator.call_count("DeleteInstance"), 1);
}

#[tokio::test]
async fn a_direct_request_with_metadata_ends_in_an_announcement_with_who_asked_and_when_and_no_sweep() {
    let chain = chain(SeedInstance::default()).await;
    // A `reason` of a producer's own is its metadata, not the sweep's policy reason.
    let requested = json!({"instanceId": FIXTURE_ID, "requestedBy": "team-planning", "ticket": "OPS-42", "reason": "quarter closed"});

    let (_, started) = chain.request(requested.clone()).await;
    let report = chain.check(started.clone()).await;

    assert_eq!(report["outcome"], "Deleted", "{report}");
    let outcome = chain.announced().await;
    assert_eq!(outcome["detail"]["request"], json!({"requestedBy": "team-planning", "ticket": "OPS-42", "reason": "quarter closed"}));
    // A direct invocation has no envelope, so no sending account to name.
    assert!(started["detail"].get("sender").is_none() && outcome["detail"].get("sender").is_none(), "{outcome}");
    for member in SWEEP_MEMBERS {
        assert!(outcome["detail"].get(member).is_none(), "no {member} without the sweep: {outcome}");
    }
    assert_says_what_and_when(&outcome, &started);
}

#[tokio::test]
async fn a_sweep_request_for_an_instance_already_deleted_ends_at_once_and_its_end_still_says_why() {
    let chain = chain(SeedInstance { state: Some("Deleted".into()), ..Default::default() }).await;
    let requested = fixture_now("eventbridge-deletion-requested-by-sweep.json");

    let (answer, started) = chain.request(requested.clone()).await;
    assert_eq!(answer["instance"]["state"], "Deleted");
    for member in SWEEP_MEMBERS {
        assert!(started["detail"].get(member).is_some(), "the Deletion Started event carries {member}: {started}");
    }
    let report = chain.check(started.clone()).await;

    assert_eq!((&report["outcome"], &report["attempt"]), (&json!("Deleted"), &json!(1)), "{report}");
    let outcome = chain.announced().await;
    assert_eq!((&outcome["detail"]["sweepId"], &outcome["detail"]["reason"]), (&requested["detail"]["sweepId"], &json!("ExpiryTagPassed")));
    assert_eq!(outcome["detail"]["request"], metadata(&requested["detail"]));
    assert_says_what_and_when(&outcome, &started);
}

#[tokio::test]
async fn a_failed_deletion_the_sweep_requested_is_announced_with_why_it_was_asked_for() {
    let chain = chain(SeedInstance { fail_deletion: Some("The KMS key is disabled".into()), ..Default::default() }).await;
    let requested = fixture_now("eventbridge-deletion-requested-by-sweep.json");

    let (_, started) = chain.request(requested.clone()).await;
    let report = chain.check(started.clone()).await;

    assert_eq!(report["outcome"], "DeleteFailed", "{report}");
    let outcome = chain.announced().await;
    assert_eq!(outcome["detail-type"], "Supply Chain Instance Deletion Failed");
    assert_eq!(outcome["detail"]["instance"]["errorMessage"], "The KMS key is disabled");
    for (member, asked) in [("sweepId", "sweepId"), ("reason", "reason"), ("reasonDetail", "detail"), ("scheduledFor", "scheduledFor")] {
        assert_eq!(outcome["detail"][member], requested["detail"][asked], "{member}");
    }
    assert_says_what_and_when(&outcome, &started);
}

#[tokio::test]
async fn the_start_and_the_end_of_a_deletion_name_the_account_that_sent_the_request_as_eventbridge_set_it() {
    for name in ["eventbridge-deletion-requested.json", "eventbridge-deletion-requested-by-sweep.json"] {
        let chain = chain(SeedInstance::default()).await;
        let requested = fixture_now(name);

        let (_, started) = chain.request(requested.clone()).await;
        chain.check(started.clone()).await;
        let outcome = chain.announced().await;

        assert_eq!(started["detail"]["sender"], requested["account"], "{name}: {started}");
        assert_eq!(outcome["detail"]["sender"], requested["account"], "{name}: {outcome}");
    }
}

/// The first attempt of `requested`: the deletion is sent, its announcement fails on every attempt
/// of PutEvents, and the invocation fails so that it is retried.
async fn first_attempt_sent_but_not_announced(chain: &Chain, requested: &Value) {
    chain.moto.proxy.inject(FaultRule::new("PutEvents", 3, Fault::Internal));
    let outcome = chain.delete.invoke(requested.clone(), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&outcome), "PublishFailed");
    assert_eq!(chain.emulator.call_count("DeleteInstance"), 1, "the deletion was sent");
    assert!(chain.moto.received().await.is_empty(), "and not announced");
}

#[tokio::test]
async fn a_deletion_whose_announcement_failed_is_announced_when_its_retry_finds_the_instance_gone() {
    let chain = chain(SeedInstance::default()).await;
    let requested = fixture_now("eventbridge-deletion-requested-by-sweep.json");
    first_attempt_sent_but_not_announced(&chain, &requested).await;
    // The deletion ends, and the service forgets the instance before the retry.
    chain.emulator.remove(FIXTURE_ID);

    let retry = chain.delete.invoke(requested.clone(), DELETE_ARN, Duration::from_secs(20)).await;

    let (error_type, message) = error_of(&retry);
    assert_eq!(error_type, "InstanceNotFound", "{message}");
    assert!(message.contains("its end is announced all the same"), "{message}");
    let mut received = chain.moto.received().await;
    assert_eq!(received.len(), 1, "{received:?}");
    let started = received.remove(0);
    assert_eq!(started["detail-type"], STARTED);
    assert_eq!(started["resources"], json!([format!("arn:aws:scn:us-east-1:123456789012:instance/{FIXTURE_ID}")]));
    let detail = &started["detail"];
    assert_eq!((&detail["instance"], &detail["instanceNotFound"]), (&json!({"instanceId": FIXTURE_ID}), &json!(true)), "{started}");
    assert_eq!((&detail["sender"], &detail["sweepId"]), (&json!(ACCOUNT), &requested["detail"]["sweepId"]), "{started}");

    let report = chain.check(started).await;
    assert_eq!((&report["outcome"], &report["announced"]), (&json!("Deleted"), &json!("Supply Chain Instance Deleted")), "{report}");
    let outcome = chain.announced().await;
    let detail = &outcome["detail"];
    assert_eq!((&detail["outcome"], &detail["instanceNotFound"], &detail["sender"]), (&json!("Deleted"), &json!(true), &json!(ACCOUNT)));
    assert_eq!((&detail["reason"], &detail["request"]), (&json!("ExpiryTagPassed"), &metadata(&requested["detail"])), "{outcome}");
    assert_eq!(chain.emulator.call_count("DeleteInstance"), 1, "nothing was deleted twice");
}

#[tokio::test]
async fn a_deletion_whose_announcement_failed_is_announced_when_its_retry_finds_it_deleted_and_the_service_answers_404() {
    let chain = chain(SeedInstance::default()).await;
    let requested = json!({"instanceId": FIXTURE_ID, "ticket": "OPS-77"});
    first_attempt_sent_but_not_announced(&chain, &requested).await;
    // The deletion has ended; the service answers 404 to deleting the deleted instance again.
    chain.emulator.set_state(FIXTURE_ID, "Deleted", None);
    chain.emulator.inject(FaultRule::new(
        "DeleteInstance",
        1,
        Fault::Error { status: 404, error_type: "ResourceNotFoundException".into(), message: Some("Instance not found".into()) },
    ));

    let (answer, started) = chain.request(requested.clone()).await;

    assert_eq!(answer["instance"]["state"], "Deleted", "{answer}");
    assert_eq!(started["detail"]["instance"]["state"], "Deleted", "{started}");
    assert!(started["detail"].get("instanceNotFound").is_none(), "{started}");
    let report = chain.check(started).await;
    assert_eq!(report["announced"], "Supply Chain Instance Deleted", "{report}");
    let outcome = chain.announced().await;
    assert_eq!((&outcome["detail"]["outcome"], &outcome["detail"]["request"]), (&json!("Deleted"), &json!({"ticket": "OPS-77"})));
}
