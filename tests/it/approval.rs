//! The organization sweep's frozen plan, approved (src/sweep/organization/), step by step through
//! the compiled sweep binary: a target's run that only plans, the plan phase's summary writing the
//! plan file, Plan Ready with the commands, the approver's answer checked against the plan, each
//! approved instance re-checked and requested or found changed, the execution's summary, and a
//! plan rejected or expired. Against the Supply Chain emulator (the home account), moto's S3 (the
//! stack's bucket) and EventBridge (a subscriber to the sweep's events); with notice, each day is a
//! sweep process whose clock libfaketime moves ahead, as in tests/it/notice.rs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::events::{CANCELLED, COMPLETED, PLAN_APPROVED, PLAN_EXPIRED, PLAN_READY, PLAN_REJECTED, REQUESTED, SCHEDULED, SUMMARY};
use crate::support::fleet::{world_of_a_fleet, Deletions, Fleet, OWNER};
use crate::support::*;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome};
use supplychain_emulator::{Fault, FaultRule};

/// The plan the tests run: as the plan step names it, its invocation's id.
const PLAN: &str = "5a0d7c3e-9b1f-4e62-8c4a-7f2e1d9b3c60";
const MARK: &str = "DeletionScheduledFor";
const HOUR: u64 = 3_600;
/// An hour after a notice of `NOTICE_HOURS=168` given on day 0 ran out.
const AFTER_THE_NOTICE: u64 = 169 * HOUR;

const A: &str = "a0000000-0000-4000-8000-000000000001";
const B: &str = "b0000000-0000-4000-8000-000000000002";
const C: &str = "c0000000-0000-4000-8000-000000000003";
const D: &str = "d0000000-0000-4000-8000-000000000004";
const E: &str = "e0000000-0000-4000-8000-000000000005";

/// An owner's fleet ([`Fleet`]) and the stack's bucket, in moto.
struct World {
    fleet: Fleet,
    bucket: String,
    s3: aws_sdk_s3::Client,
}

world_of_a_fleet!(World);

impl World {
    async fn start() -> World {
        let fleet = Fleet::start(Deletions::StayDeleting).await;
        let bucket = format!("plans-{}", unique_name());
        let s3 = aws_sdk_s3::Client::new(&fleet.moto.sdk_config);
        s3.create_bucket().bucket(&bucket).send().await.expect("the stack's bucket is made");
        World { fleet, bucket, s3 }
    }

    /// The sweep binary with the stack's bucket and approval on, `NOTICE_HOURS` as given, its clock
    /// `ahead` seconds ahead of the real one.
    async fn sweep(&self, notice_hours: &str, ahead: u64) -> Sweep {
        let mut env = self.moto.function_env(self.emulator.endpoint());
        env.extend([
            ("NOTICE_HOURS", notice_hours.to_owned()),
            ("PLAN_BUCKET", self.bucket.clone()),
            ("AWS_ENDPOINT_URL_S3", self.moto.proxy.endpoint()),
            ("APPROVAL_REQUIRED", "true".to_owned()),
            // One member account allowed, so that a line of another account fails before any call.
            ("ALLOWED_ACCOUNT_IDS", "111111111111".to_owned()),
        ]);
        if ahead > 0 {
            env.extend(faked_clock(&format!("+{ahead}")));
        }
        Sweep { process: FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await, ahead }
    }

    async fn put(&self, key: &str, body: String) {
        self.s3.put_object().bucket(&self.bucket).key(key).body(body.into_bytes().into()).send().await.unwrap();
    }

    /// The object at `key`, or `None`.
    async fn object(&self, key: &str) -> Option<String> {
        let object = self.s3.get_object().bucket(&self.bucket).key(key).send().await.ok()?;
        Some(String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap())
    }

    /// Writes a Map's results as its ResultWriter does, under `prefix`: a manifest and one file of
    /// succeeded children, each with its input and output. Returns the manifest's place.
    async fn results(&self, prefix: &str, children: &[(Value, Value)]) -> Value {
        let executions: Vec<Value> = children
            .iter()
            .enumerate()
            .map(|(n, (input, output))| {
                json!({"ExecutionArn": format!("arn:aws:states:us-east-1:123456789012:execution:child:{n}"), "Name": n.to_string(),
                       "Status": "SUCCEEDED", "Input": input.to_string(), "Output": output.to_string()})
            })
            .collect();
        let file = format!("{prefix}SUCCEEDED_0.json");
        self.put(&file, Value::Array(executions).to_string()).await;
        let manifest = json!({"DestinationBucket": self.bucket, "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:x",
                              "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": file, "Size": 1}]}});
        let key = format!("{prefix}manifest.json");
        self.put(&key, manifest.to_string()).await;
        json!({"Bucket": self.bucket, "Key": key})
    }

    /// The plan step's summary of the plan file `plans/<PLAN>/plan.jsonl` holding `lines`.
    async fn put_plan(&self, lines: &[Value]) -> Value {
        let key = format!("plans/{PLAN}/plan.jsonl");
        self.put(&key, lines.iter().map(|line| format!("{line}\n")).collect()).await;
        json!({"file": {"Bucket": self.bucket, "Key": key}, "instances": lines.len(), "accounts": {ACCOUNT: lines.len()}})
    }
}

/// A sweep process, its clock `ahead` of the real one.
struct Sweep {
    process: FunctionProcess,
    ahead: u64,
}

impl Sweep {
    async fn invoke(&self, payload: Value) -> Outcome {
        // Lambda's deadline as the process's clock reads it: a minute from its own now.
        let deadline = SystemTime::now() + Duration::from_secs(self.ahead + 60);
        let deadline = Deadline::AtEpochMillis(deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64);
        self.process.invoke_with(payload, Invoke { function_arn: SWEEP_ARN.to_owned(), deadline, ..Default::default() }).await
    }

    /// The answer of a successful invocation.
    async fn answer(&self, payload: Value) -> Value {
        let outcome = self.invoke(payload).await;
        outcome.response().cloned().unwrap_or_else(|| panic!("{outcome:?}\n{}", self.process.logs()))
    }

    /// Ends the process as Lambda does, so that libfaketime removes its files.
    async fn end(mut self) {
        self.process.terminate();
        assert!(self.process.exit_within(Duration::from_secs(10)).await.is_some(), "the sweep exits on SIGTERM");
    }
}

fn of_type<'a>(events: &'a [Value], detail_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|event| event["detail-type"] == detail_type).collect()
}

/// A one-target run of the plan: the home account and region, in delete mode.
fn target(plan_only: bool) -> Value {
    json!({"accountId": ACCOUNT, "region": REGION, "mode": "delete", "maxDeletions": 10, "planId": PLAN, "planOnly": plan_only})
}

/// The instance ids of a list of the report.
fn ids(list: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = list.as_array().unwrap().iter().map(|entry| entry["instanceId"].as_str().unwrap()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_plan_only_run_requests_nothing_and_lists_what_it_would_request_with_the_plan_s_id() {
    let world = World::start().await;
    let expired = world.seed_expired(A);
    world.seed(B, "Active", &[("ExpiresAt", &time_from_now(-60)), ("DeletionProtection", "true")]);
    world.seed(C, "Active", &[("ExpiresAt", &time_from_now(86_400))]);
    let sweep = world.sweep("0", 0).await;

    let report = sweep.answer(target(true)).await;

    let line = json!({"planId": PLAN, "accountId": ACCOUNT, "region": REGION, "instanceId": A, "instanceArn": world.arn(A),
                      "instanceName": "team-a", "reason": "ExpiryTagPassed", "detail": format!("tag ExpiresAt={expired:?} has passed"),
                      "selectedOn": format!("ExpiryTagPassed tag \"ExpiresAt\"={expired:?}"), "owner": OWNER});
    assert_eq!(report["planned"], json!([line]), "{report:#}");
    assert_eq!((&report["planId"], &report["requested"]), (&json!(PLAN), &json!([])));
    assert_eq!(report["counts"], json!({"selected": 1, "requested": 0, "deferred": 0, "skipped": 1, "planned": 1}));
    let events = world.events().await;
    assert!(of_type(&events, REQUESTED).is_empty(), "{events:#?}");
    let completed = of_type(&events, COMPLETED);
    assert_eq!((completed.len(), &completed[0]["detail"]), (1, &report));
    assert_eq!(world.emulator.call_count("DeleteInstance"), 0);

    // The same target, not only planning: requested, with the plan's id, and an empty plan.
    let report = sweep.answer(target(false)).await;
    assert_eq!((&report["planned"], ids(&report["requested"])), (&json!([]), vec![A]));
    let events = world.events().await;
    let requested = of_type(&events, REQUESTED);
    assert_eq!(requested.len(), 1, "{events:#?}");
    assert_eq!(requested[0]["detail"], json!({"instanceId": A, "reason": "ExpiryTagPassed", "sweepId": report["sweepId"], "planId": PLAN}));
    // A run the organization sweep did not start reads as it always has.
    let report = sweep.answer(json!({"mode": "report"})).await;
    assert!(report.get("planned").is_none() && report.get("planId").is_none(), "{report:#}");
    sweep.end().await;
}

#[tokio::test]
async fn with_notice_a_plan_only_run_gives_notice_with_the_plan_s_id_and_plans_an_instance_once_its_notice_ran_out() {
    let world = World::start().await;
    world.seed_expired(A);
    world.seed_expired(B);
    let day_0 = world.sweep("168", 0).await;
    let report = day_0.answer(target(true)).await;
    day_0.end().await;
    assert_eq!((&report["planned"], ids(&report["marked"])), (&json!([]), vec![A, B]), "{report:#}");
    let events = world.events().await;
    let scheduled = of_type(&events, SCHEDULED);
    assert_eq!(scheduled.len(), 2, "{events:#?}");
    assert!(scheduled.iter().all(|event| event["detail"]["planId"] == PLAN), "{scheduled:#?}");
    let mark = world.owner.list_tags_for_resource().resource_arn(world.arn(A)).send().await.unwrap().tags()[MARK].clone();
    let scheduled_for = mark.split(" sig=").next().unwrap().to_owned();
    // B's owner keeps it: its expiry moves on, and its notice is cancelled by the next run.
    world.tag(B, "ExpiresAt", &time_from_now(30 * 86_400)).await;

    let after = world.sweep("168", AFTER_THE_NOTICE).await;
    let report = after.answer(target(true)).await;

    let planned = report["planned"].as_array().unwrap();
    assert_eq!(planned.len(), 1, "{report:#}");
    assert_eq!((&planned[0]["instanceId"], &planned[0]["scheduledFor"]), (&json!(A), &json!(scheduled_for)));
    assert!(planned[0]["detail"].as_str().unwrap().starts_with(&format!("scheduled for deletion at {scheduled_for}, with notice: ")));
    let events = world.events().await;
    assert!(of_type(&events, REQUESTED).is_empty(), "{events:#?}");
    let cancelled = of_type(&events, CANCELLED);
    assert_eq!((cancelled.len(), &cancelled[0]["detail"]["instanceId"], &cancelled[0]["detail"]["planId"]), (1, &json!(B), &json!(PLAN)));

    // Executed while its mark still counts: requested, with the mark's time.
    let line = planned[0].clone();
    let answer = after.answer(json!({"execute": line})).await;
    assert_eq!(answer["outcome"], "requested", "{answer:#}");
    let events = world.events().await;
    let requested = of_type(&events, REQUESTED);
    assert_eq!(requested.len(), 1);
    assert_eq!((&requested[0]["detail"]["scheduledFor"], &requested[0]["detail"]["planId"]), (&json!(scheduled_for), &json!(PLAN)));
    // Its mark forged, then gone: changed since the plan, nothing requested.
    world.tag(A, MARK, &format!("{scheduled_for} sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")).await;
    let forged = after.answer(json!({"execute": line})).await;
    assert_eq!(forged["outcome"], "changedSincePlan");
    assert!(forged["detail"].as_str().unwrap().contains("does not count as notice"), "{forged:#}");
    world.untag(A, MARK).await;
    let gone = after.answer(json!({"execute": line})).await;
    assert_eq!(gone["outcome"], "changedSincePlan");
    assert!(gone["detail"].as_str().unwrap().contains("no longer carries its mark DeletionScheduledFor"), "{gone:#}");
    assert!(of_type(&world.events().await, REQUESTED).is_empty());
    after.end().await;
}

/// The lines of a plan of `ids`, each as the home target's plan-only run writes them.
async fn planned(world: &World, sweep: &Sweep, ids: &[&str]) -> Vec<Value> {
    for id in ids {
        world.seed_expired(id);
    }
    let report = sweep.answer(target(true)).await;
    let mut lines = report["planned"].as_array().unwrap().clone();
    lines.sort_by(|a, b| a["instanceId"].as_str().cmp(&b["instanceId"].as_str()));
    assert_eq!(lines.len(), ids.len(), "{report:#}");
    world.events().await;
    lines
}

#[tokio::test]
async fn the_plan_phase_s_summary_writes_the_plan_file_and_counts_it_per_account_from_the_run_s_own_results_only() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A, B]).await;
    let mut other = lines[0].clone();
    other["accountId"] = json!("210987654321");
    other["instanceArn"] = json!("arn:aws:scn:us-east-1:210987654321:instance/f0000000-0000-4000-8000-000000000006");
    let item = |account: &str, planned: Vec<Value>| {
        let input = json!({"accountId": account, "region": REGION, "mode": "delete", "maxDeletions": 5, "planId": PLAN, "planOnly": true});
        let mut output = input.clone();
        output["report"] = json!({"examined": 3, "complete": true, "planned": planned,
                                  "counts": {"selected": 2, "requested": 0, "deferred": 0, "skipped": 1, "planned": 2}});
        (input, output)
    };
    let children = [item(ACCOUNT, lines.clone()), item("210987654321", vec![other.clone()])];
    let manifest = world.results(&format!("results/{PLAN}/run/"), &children).await;

    let summary =
        sweep.answer(json!({"summarize": {"sweepId": PLAN, "mode": "delete", "resultWriterDetails": manifest, "phase": "plan"}})).await;

    let file = json!({"Bucket": world.bucket, "Key": format!("plans/{PLAN}/plan.jsonl")});
    assert_eq!(summary["plan"], json!({"file": file, "instances": 3, "accounts": {ACCOUNT: 2, "210987654321": 1}}), "{summary:#}");
    assert_eq!((&summary["planId"], &summary["phase"], &summary["targets"]), (&json!(PLAN), &json!("plan"), &json!(2)));
    assert_eq!(summary["counts"]["planned"], 4, "the targets' counts, added up");
    let written: Vec<Value> =
        world.object(&format!("plans/{PLAN}/plan.jsonl")).await.unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(written, [lines[0].clone(), lines[1].clone(), other]);
    let events = world.events().await;
    assert_eq!(of_type(&events, SUMMARY).iter().map(|event| &event["detail"]).collect::<Vec<_>>(), [&summary]);

    // Results elsewhere than results/<sweepId>/, or a manifest naming another bucket: refused.
    let elsewhere = world.results("results/another-run/", &children).await;
    let mut foreign = world.results(&format!("results/{PLAN}/foreign/"), &children).await;
    let text = world.object(foreign["Key"].as_str().unwrap()).await.unwrap().replace(&world.bucket, "someone-elses-bucket");
    world.put(foreign["Key"].as_str().unwrap(), text).await;
    for manifest in [elsewhere, std::mem::take(&mut foreign)] {
        let outcome =
            sweep.invoke(json!({"summarize": {"sweepId": PLAN, "mode": "delete", "resultWriterDetails": manifest, "phase": "plan"}})).await;
        let (error_type, message) = error_of(&outcome);
        assert_eq!(error_type, "InvalidInput", "{message}");
        assert!(message.contains("only the run's own results are read"), "{message}");
    }
    assert!(world.events().await.is_empty(), "a refused summary announces nothing");
    sweep.end().await;
}

#[tokio::test]
async fn awaiting_approval_puts_plan_ready_with_the_plan_file_its_counts_the_expiry_and_the_commands() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let plan = json!({"file": {"Bucket": world.bucket, "Key": format!("plans/{PLAN}/plan.jsonl")}, "instances": 3,
                      "accounts": {ACCOUNT: 2, "210987654321": 1}});
    let token = "AQCEAAAAKgAAAAMAAAAAAAAAAd0w+token/==";
    let before = DateTime::from(SystemTime::now()).secs();

    let answer =
        sweep.answer(json!({"awaitApproval": {"planId": PLAN, "plan": plan, "taskToken": token, "timeoutSeconds": 72 * HOUR}})).await;

    assert_eq!(answer, json!({}));
    let events = world.events().await;
    let ready = of_type(&events, PLAN_READY);
    assert_eq!(ready.len(), 1, "{events:#?}");
    let detail = &ready[0]["detail"];
    let key = format!("plans/{PLAN}/plan.jsonl");
    assert_eq!(
        (&detail["planId"], &detail["planFile"], &detail["instances"], &detail["accounts"], &detail["taskToken"]),
        (
            &json!(PLAN),
            &json!({"bucket": world.bucket, "key": key, "uri": format!("s3://{}/{key}", world.bucket)}),
            &json!(3),
            &json!({ACCOUNT: 2, "210987654321": 1}),
            &json!(token)
        )
    );
    let expires = DateTime::from_str(detail["expiresAt"].as_str().unwrap(), Format::DateTime).unwrap().secs();
    let after = DateTime::from(SystemTime::now()).secs();
    assert!((before + 72 * HOUR as i64..=after + 72 * HOUR as i64).contains(&expires), "{detail:#}");
    let success = format!("aws stepfunctions send-task-success --region {REGION} --task-token '{token}'");
    assert_eq!(detail["commands"]["approveAll"], format!("{success} --task-output '{{\"approve\":\"all\"}}'"));
    assert!(detail["commands"]["approveSome"].as_str().unwrap().starts_with(&format!("{success} --task-output '{{\"approve\":[")));
    assert_eq!(
        detail["commands"]["reject"],
        format!("aws stepfunctions send-task-failure --region {REGION} --task-token '{token}' --error PlanRejected --cause '<why>'")
    );

    // The bus refusing Plan Ready: the step fails, retryable, so that no execution waits on a plan
    // nobody was told of.
    world.moto.proxy.inject(FaultRule::new("PutEvents", 100, Fault::Internal));
    let outcome = sweep.invoke(json!({"awaitApproval": {"planId": PLAN, "plan": plan, "taskToken": token, "timeoutSeconds": 60}})).await;
    assert_eq!(error_type(&outcome), "PublishFailed", "{outcome:?}");
    world.moto.proxy.clear_faults();

    // A plan file of another bucket: refused, and nobody is told of it.
    let mut elsewhere = plan.clone();
    elsewhere["file"]["Bucket"] = json!("someone-elses-bucket");
    let outcome =
        sweep.invoke(json!({"awaitApproval": {"planId": PLAN, "plan": elsewhere, "taskToken": token, "timeoutSeconds": 60}})).await;
    assert_eq!(error_type(&outcome), "InvalidInput");
    assert!(world.events().await.is_empty());
    sweep.end().await;
}

#[tokio::test]
async fn approving_all_or_some_writes_the_approved_lines_in_the_plan_s_order_and_announces_how_many_of_how_many() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A, B, C]).await;
    let plan = world.put_plan(&lines).await;
    let approved_key = format!("plans/{PLAN}/approved.jsonl");
    let approved_lines =
        || async { world.object(&approved_key).await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<Value>>() };

    let all = sweep
        .answer(json!({"approve": {"planId": PLAN, "plan": plan, "decision": {"approve": "all", "approvedBy": "ana@example.com"}}}))
        .await;

    let file = json!({"Bucket": world.bucket, "Key": approved_key});
    assert_eq!(all, json!({"planId": PLAN, "approved": 3, "approvedFile": file}));
    assert_eq!(approved_lines().await, lines);
    let events = world.events().await;
    let announced = of_type(&events, PLAN_APPROVED);
    assert_eq!(announced.len(), 1);
    let uri = format!("s3://{}/{approved_key}", world.bucket);
    assert_eq!(
        announced[0]["detail"],
        json!({"planId": PLAN, "approved": 3, "of": 3, "approvedBy": "ana@example.com",
               "approvedFile": {"bucket": world.bucket, "key": approved_key, "uri": uri}})
    );

    let decision = json!({"approve": [world.arn(C), world.arn(A)], "note": "B stays until Friday"});
    let some = sweep.answer(json!({"approve": {"planId": PLAN, "plan": plan, "decision": decision}})).await;

    assert_eq!(some["approved"], 2);
    assert_eq!(approved_lines().await, [lines[0].clone(), lines[2].clone()], "the plan's order, not the answer's");
    let events = world.events().await;
    let announced = &of_type(&events, PLAN_APPROVED)[0]["detail"];
    assert_eq!((&announced["approved"], &announced["of"], &announced["note"]), (&json!(2), &json!(3), &json!("B stays until Friday")));
    sweep.end().await;
}

#[tokio::test]
async fn an_answer_naming_an_instance_outside_the_plan_or_of_another_shape_is_refused_and_approves_nothing() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A, B]).await;
    let plan = world.put_plan(&lines[..1]).await;
    let outside = world.arn(B);
    let mut another_plan = plan.clone();
    another_plan["file"]["Key"] = json!("plans/another-plan/plan.jsonl");

    for (request, words) in [
        (json!({"planId": PLAN, "plan": plan, "decision": {"approve": [world.arn(A), outside]}}), format!("names {outside:?}")),
        (json!({"planId": PLAN, "plan": plan, "decision": {"approve": "yes"}}), "{\"approve\": \"all\"}".to_owned()),
        (json!({"planId": PLAN, "plan": plan, "decision": {"approve": []}}), "{\"approve\": \"all\"}".to_owned()),
        (json!({"planId": PLAN, "plan": another_plan, "decision": {"approve": "all"}}), "reads only its own plan's files".to_owned()),
    ] {
        let outcome = sweep.invoke(json!({"approve": request})).await;
        let (error_type, message) = error_of(&outcome);
        assert_eq!(error_type, "InvalidInput", "{request}: {message}");
        assert!(message.contains(&words), "{request}: {message}");
    }
    assert_eq!(world.object(&format!("plans/{PLAN}/approved.jsonl")).await, None);
    assert!(world.events().await.is_empty());
    sweep.end().await;
}

#[tokio::test]
async fn a_plan_file_written_to_since_plan_ready_announced_it_approves_nothing_even_all() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A, B]).await;
    // Plan Ready announced one instance; a line was added to the file since.
    let announced = world.put_plan(&lines[..1]).await;
    world.put(&format!("plans/{PLAN}/plan.jsonl"), lines.iter().map(|line| format!("{line}\n")).collect()).await;

    let outcome = sweep.invoke(json!({"approve": {"planId": PLAN, "plan": announced, "decision": {"approve": "all"}}})).await;

    let (error_type, message) = error_of(&outcome);
    assert_eq!(error_type, "InvalidInput", "{message}");
    assert!(message.contains("holds 2 instances") && message.contains("announced 1"), "{message}");
    assert_eq!(world.object(&format!("plans/{PLAN}/approved.jsonl")).await, None);
    assert!(world.events().await.is_empty());
    sweep.end().await;
}

#[tokio::test]
async fn an_execute_line_whose_arn_is_not_its_own_instance_s_is_refused_before_any_call() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A, B]).await;
    world.emulator.clear_calls();
    let mut crossed = lines[0].clone();
    crossed["instanceArn"] = lines[1]["instanceArn"].clone();

    let outcome = sweep.invoke(json!({"execute": crossed})).await;

    let (error_type, message) = error_of(&outcome);
    assert_eq!(error_type, "InvalidInput", "{message}");
    assert!(message.contains("a line names one instance"), "{message}");
    assert!(world.emulator.calls().is_empty(), "refused before any call");
    assert!(world.events().await.is_empty());
    sweep.end().await;
}

#[tokio::test]
async fn an_approved_instance_is_requested_only_if_nothing_changed_since_the_plan() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A, B, C, D, E]).await;
    // A is left as planned; each of the others changes as an owner or the service would change it.
    world.tag(B, "DeletionProtection", "true").await;
    world.tag(C, "ExpiresAt", &time_from_now(-7 * 86_400)).await;
    world.tag(D, "ExpiresAt", &time_from_now(30 * 86_400)).await;
    world.owner.delete_instance().instance_id(E).send().await.expect("E is being deleted");
    world.emulator.clear_calls();

    let mut answers = Vec::new();
    for line in &lines {
        answers.push(sweep.answer(json!({"execute": line})).await);
    }

    let outcome = |n: usize| (answers[n]["outcome"].as_str().unwrap(), answers[n]["detail"].as_str().unwrap());
    assert_eq!(outcome(0).0, "requested", "{:#}", answers[0]);
    for (n, words) in
        [(1, "is protected by"), (2, "selected on something else now"), (3, "has not passed"), (4, "the instance is Deleting now")]
    {
        assert_eq!(outcome(n).0, "changedSincePlan", "{:#}", answers[n]);
        assert!(outcome(n).1.contains(words), "{:#}", answers[n]);
    }
    assert_eq!(
        answers[0],
        json!({"planId": PLAN, "instanceArn": world.arn(A), "accountId": ACCOUNT, "region": REGION, "outcome": "requested",
               "detail": format!("unchanged since the plan, its deletion was requested: {}", lines[0]["detail"].as_str().unwrap())})
    );
    let events = world.events().await;
    let requested = of_type(&events, REQUESTED);
    assert_eq!(requested.len(), 1, "only the unchanged instance: {events:#?}");
    assert_eq!(
        requested[0]["detail"],
        json!({"instanceId": A, "reason": "ExpiryTagPassed", "sweepId": PLAN, "planId": PLAN, "detail": lines[0]["detail"]})
    );
    assert_eq!(requested[0]["resources"], json!([world.arn(A)]));
    assert_eq!(events.len(), 1, "the execution puts nothing else: {events:#?}");
    let writes: Vec<String> = world
        .emulator
        .calls()
        .into_iter()
        .map(|call| call.operation)
        .filter(|op| !["GetInstance", "ListTagsForResource"].contains(&op.as_str()))
        .collect();
    assert!(writes.is_empty(), "a re-check only reads: {writes:?}");

    assert_an_error_fails_the_step_with_its_error_type(&world, &sweep, &lines[0]).await;
    assert_the_execution_s_summary_adds_up_what_was_requested_changed_and_failed(&world, &sweep, &lines, &answers).await;
    sweep.end().await;
}

/// An error fails the step with its errorType, for the state machine to catch into the item.
async fn assert_an_error_fails_the_step_with_its_error_type(world: &World, sweep: &Sweep, line: &Value) {
    let mut elsewhere = line.clone();
    elsewhere["accountId"] = json!("210987654321");
    elsewhere["instanceArn"] = json!(world.arn(A).replace(&format!(":{ACCOUNT}:"), ":210987654321:"));
    let outcome = sweep.invoke(json!({"execute": elsewhere})).await;
    assert_eq!(error_type(&outcome), "AccountNotAllowed", "{outcome:?}");
    assert!(world.events().await.is_empty());
}

/// The execution's summary, from the run's own results: what was requested, changed and failed.
async fn assert_the_execution_s_summary_adds_up_what_was_requested_changed_and_failed(
    world: &World,
    sweep: &Sweep,
    lines: &[Value],
    answers: &[Value],
) {
    let line = &lines[0];
    let caught = json!({"execute": line, "error": {"Error": "RoleNotAssumable", "Cause": "{\"errorMessage\":\"role cannot be assumed\"}"}});
    let mut children: Vec<(Value, Value)> =
        lines.iter().zip(answers).map(|(line, answer)| (json!({"execute": line}), answer.clone())).collect();
    children.push((json!({"execute": line}), caught));
    let manifest = world.results(&format!("results/{PLAN}/execute/run/"), &children).await;

    let summary =
        sweep.answer(json!({"summarize": {"sweepId": PLAN, "mode": "delete", "resultWriterDetails": manifest, "phase": "execute"}})).await;

    assert_eq!(
        (&summary["planId"], &summary["phase"], &summary["targets"], &summary["swept"]),
        (&json!(PLAN), &json!("execute"), &json!(6), &json!(5))
    );
    assert_eq!(summary["counts"], json!({"selected": 6, "requested": 1, "deferred": 0, "skipped": 4, "changedSincePlan": 4}));
    assert_eq!((summary["requested"].as_array().unwrap().len(), summary["changedSincePlan"].as_array().unwrap().len()), (1, 4));
    assert_eq!(
        summary["failed"],
        json!([{"accountId": ACCOUNT, "region": REGION, "instanceArn": world.arn(A), "errorType": "RoleNotAssumable", "error": "role cannot be assumed"}])
    );
    assert_eq!(summary["failedCount"], 1);
    let events = world.events().await;
    assert_eq!(of_type(&events, SUMMARY).iter().map(|event| &event["detail"]).collect::<Vec<_>>(), [&summary]);
}

#[tokio::test]
async fn a_plan_rejected_or_expired_is_announced_and_nothing_of_it_is_requested() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A]).await;
    world.put_plan(&lines).await;
    world.emulator.clear_calls();

    let rejected = sweep
        .answer(
            json!({"closePlan": {"planId": PLAN, "outcome": "rejected", "refusal": {"Error": "PlanRejected", "Cause": "not this week"}}}),
        )
        .await;
    let refused =
        json!({"Error": "InvalidInput", "Cause": "{\"errorType\":\"InvalidInput\",\"errorMessage\":\"the approval names \\\"arn:x\\\"\"}"});
    let refused = sweep.answer(json!({"closePlan": {"planId": PLAN, "outcome": "rejected", "refusal": refused}})).await;
    let expired = sweep.answer(json!({"closePlan": {"planId": PLAN, "outcome": "expired", "refusal": {"Error": "States.Timeout"}}})).await;

    assert_eq!(rejected, json!({"planId": PLAN, "error": "PlanRejected", "cause": "not this week"}));
    assert_eq!(refused, json!({"planId": PLAN, "error": "InvalidInput", "cause": "the approval names \"arn:x\""}));
    let expired_at = DateTime::from_str(expired["expiredAt"].as_str().unwrap(), Format::DateTime).unwrap().secs();
    assert!((DateTime::from(SystemTime::now()).secs() - expired_at).abs() < 60, "{expired:#}");
    assert_eq!(expired, json!({"planId": PLAN, "expiredAt": expired["expiredAt"]}));
    let events = world.events().await;
    let details = |detail_type| of_type(&events, detail_type).into_iter().map(|event| event["detail"].clone()).collect::<Vec<_>>();
    assert_eq!(details(PLAN_REJECTED), [rejected, refused]);
    assert_eq!(details(PLAN_EXPIRED), [expired]);
    assert_eq!(events.len(), 3, "{events:#?}");
    assert!(world.emulator.calls().is_empty(), "closing a plan calls no Supply Chain");
    assert_eq!(world.object(&format!("plans/{PLAN}/approved.jsonl")).await, None);
    sweep.end().await;
}

#[tokio::test]
async fn an_approved_instance_deleted_between_its_two_reads_is_answered_changed_since_plan_not_failed() {
    let world = World::start().await;
    let sweep = world.sweep("0", 0).await;
    let lines = planned(&world, &sweep, &[A]).await;
    // GetInstance still finds it; by the tags' read it is gone.
    let gone = Fault::Error { status: 404, error_type: "ResourceNotFoundException".into(), message: Some("Instance not found".into()) };
    world.emulator.inject(FaultRule::new("ListTagsForResource", 1, gone).for_instance(A));

    let answer = sweep.answer(json!({"execute": lines[0]})).await;

    assert_eq!(answer["outcome"], "changedSincePlan", "{answer:#}");
    assert!(answer["detail"].as_str().unwrap().contains("no longer there"), "{answer:#}");
    assert_eq!(world.emulator.call_count("ListTagsForResource"), 2, "the plan's read, and the re-check's");
    assert!(of_type(&world.events().await, REQUESTED).is_empty());
    sweep.end().await;
}
