//! The OrganizationSweep's frozen plan, approved, run for real: the definition under
//! tools/run-state-machine.mjs with every task bound to the compiled sweep-instances (the
//! organization_sweep module's stack: the emulator's accounts and regions, moto's S3 and bus), the
//! approval answered while the execution waits, with the exact command its Plan Ready event carries,
//! run by the AWS CLI against the runner's Step Functions endpoint.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::organization_sweep::{objects, of_type, Stack, HOME};
use crate::support::events::{PLAN_APPROVED, PLAN_EXPIRED, PLAN_READY, PLAN_REJECTED, REQUESTED, SWEEP_SOURCE};
use crate::support::runner::StateMachineRun;
use crate::support::*;

const MEMBER: &str = "100000000001";
/// The callback task's timeouts as they are: no test of these waits for them but the expiry's.
const REAL_TIME: f64 = 1.0;

/// The stack with approval required, instances in the home account and one member, both regions.
async fn stack(settings: &[(&'static str, String)]) -> Stack {
    let accounts = [HOME.to_owned(), MEMBER.to_owned()];
    let mut env = vec![("APPROVAL_REQUIRED", "true".to_owned())];
    env.extend(settings.iter().cloned());
    Stack::start_seeding(&accounts, &[], accounts.len(), json!({"source": [SWEEP_SOURCE]}), &env).await
}

fn delete_run() -> Value {
    json!({"accounts": [HOME, MEMBER], "mode": "delete", "maxDeletions": 100})
}

/// A run waiting for its approval: its Plan Ready event's detail, and its plan file's lines. Until
/// then nothing was requested, and the plan names exactly the selected instances.
struct Waiting {
    run: StateMachineRun,
    ready: Value,
    plan: Vec<Value>,
}

impl Waiting {
    async fn start(stack: &Stack, time_scale: f64) -> Waiting {
        let mut run = stack.start_run(delete_run(), time_scale).await;
        let wait = run.callback_of("AwaitApproval").await;
        let events = stack.events().await;
        assert!(of_type(&events, REQUESTED).is_empty(), "requested before any approval: {events:#?}");
        let ready = of_type(&events, PLAN_READY);
        assert_eq!(ready.len(), 1, "{events:#?}");
        let ready = ready[0]["detail"].clone();
        assert_eq!(ready["taskToken"], wait.task_token.as_str(), "the event carries the token of the waiting task");
        let plan_id = ready["planId"].as_str().unwrap().to_owned();
        let files = objects(stack, &format!("plans/{plan_id}/plan.jsonl")).await;
        assert_eq!(files.len(), 1, "{ready:#}");
        let plan: Vec<Value> = files[0].1.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let selected: BTreeSet<String> = stack.seeded.iter().flat_map(|s| s.expired.iter().cloned()).collect();
        assert_eq!(ids(plan.iter()), selected, "the plan holds every selected instance and nothing else");
        assert_eq!(ready["instances"], selected.len());
        assert!(plan.iter().all(|line| line["planId"] == plan_id.as_str()), "{plan:#?}");
        Waiting { run, ready, plan }
    }

    fn plan_id(&self) -> &str {
        self.ready["planId"].as_str().unwrap()
    }

    fn command(&self, name: &str) -> String {
        self.ready["commands"][name].as_str().unwrap_or_else(|| panic!("no command {name}: {:#}", self.ready)).to_owned()
    }

    /// The `approveSome` command with `arns` in place of its placeholders.
    fn approve_some(&self, arns: &[&str]) -> String {
        self.command("approveSome").replace(r#"["<instanceArn>","<instanceArn>"]"#, &serde_json::to_string(arns).unwrap())
    }

    /// Runs `command` as an approver pastes it; the AWS CLI must accept it.
    async fn answer(&self, command: &str) {
        let output = self.run.sh(command).await;
        assert!(output.succeeded(), "{command}\n{}\n{}", output.stderr, self.run.stderr());
    }

    async fn finish(self, stack: &Stack) -> Value {
        let report = self.run.report().await.unwrap_or_else(|stderr| panic!("the runner failed:\n{stderr}\n{}", stack.sweep.logs()));
        assert_eq!(report["status"], "SUCCEEDED", "{report:#}\nsweep-instances:\n{}", stack.sweep.logs());
        report
    }
}

fn ids<'a>(entries: impl Iterator<Item = &'a Value>) -> BTreeSet<String> {
    entries.map(|entry| entry["instanceId"].as_str().unwrap().to_owned()).collect()
}

/// The Deletion Requested events on the bus since the last read, each carrying `plan_id`.
async fn requested(stack: &Stack, plan_id: &str) -> Vec<Value> {
    let requested: Vec<Value> = of_type(&stack.events().await, REQUESTED).into_iter().map(|event| event["detail"].clone()).collect();
    for detail in &requested {
        assert_eq!(detail["planId"], plan_id, "{detail:#}");
    }
    requested
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_plan_requests_exactly_its_instances_and_nothing_before_the_approval() {
    let stack = stack(&[]).await;
    let waiting = Waiting::start(&stack, REAL_TIME).await;
    let plan_id = waiting.plan_id().to_owned();
    let planned = ids(waiting.plan.iter());
    let command = waiting.command("approveAll").replace(r#""approve":"all""#, r#""approve":"all","approvedBy":"jane@example.com""#);
    waiting.answer(&command).await;
    let report = waiting.finish(&stack).await;

    let states = report["states"].as_array().unwrap();
    assert!(states.ends_with(&[json!("AwaitApproval"), json!("Approve"), json!("ExecutePlan"), json!("SummarizeExecution")]), "{states:?}");
    let events = stack.events().await;
    let approved = of_type(&events, PLAN_APPROVED);
    assert_eq!(approved.len(), 1);
    assert_eq!(
        (&approved[0]["detail"]["approved"], &approved[0]["detail"]["approvedBy"]),
        (&json!(planned.len()), &json!("jane@example.com"))
    );
    let requested: Vec<Value> = of_type(&events, REQUESTED).into_iter().map(|event| event["detail"].clone()).collect();
    assert_eq!(ids(requested.iter()), planned, "exactly the plan, each once");
    assert_eq!(requested.len(), planned.len());
    assert!(requested.iter().all(|detail| detail["planId"] == plan_id.as_str()), "{requested:#?}");
    let summary = &report["output"];
    assert_eq!((&summary["planId"], &summary["phase"]), (&json!(plan_id), &json!("execute")), "{summary:#}");
    assert_eq!(summary["counts"]["requested"], planned.len());
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 0, "the sweep only requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_may_approve_a_part_of_the_plan_and_only_that_part_is_requested() {
    let stack = stack(&[]).await;
    let waiting = Waiting::start(&stack, REAL_TIME).await;
    let plan_id = waiting.plan_id().to_owned();
    let chosen = waiting.plan[waiting.plan.len() - 1].clone();
    let command = waiting.approve_some(&[chosen["instanceArn"].as_str().unwrap()]);
    waiting.answer(&command).await;
    let report = waiting.finish(&stack).await;

    let requested = requested(&stack, &plan_id).await;
    assert_eq!(ids(requested.iter()), ids(std::iter::once(&chosen)), "{requested:#?}");
    assert_eq!(report["output"]["counts"]["requested"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_plan_requests_nothing_and_is_announced_with_the_approver_s_reason() {
    let stack = stack(&[]).await;
    let waiting = Waiting::start(&stack, REAL_TIME).await;
    let plan_id = waiting.plan_id().to_owned();
    waiting.answer(&waiting.command("reject").replace("<why>", "team-a still needs them")).await;
    let report = waiting.finish(&stack).await;

    assert_eq!(report["states"].as_array().unwrap().last().unwrap(), "PlanRejected");
    let events = stack.events().await;
    assert!(of_type(&events, REQUESTED).is_empty(), "{events:#?}");
    let rejected = of_type(&events, PLAN_REJECTED);
    assert_eq!(rejected.len(), 1, "{events:#?}");
    let detail = &rejected[0]["detail"];
    assert_eq!(
        (&detail["planId"], &detail["error"], &detail["cause"]),
        (&json!(plan_id), &json!("PlanRejected"), &json!("team-a still needs them"))
    );
    assert_eq!(&report["output"], detail, "the execution's output is the announcement");
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_naming_an_instance_outside_the_plan_rejects_the_plan_and_requests_nothing() {
    let stack = stack(&[]).await;
    let waiting = Waiting::start(&stack, REAL_TIME).await;
    let plan_id = waiting.plan_id().to_owned();
    // One instance of the plan, and one of the same account that the plan does not hold.
    let inside = waiting.plan[0]["instanceArn"].as_str().unwrap().to_owned();
    let outside = format!("{}ffff", &inside[..inside.len() - 4]);
    waiting.answer(&waiting.approve_some(&[&inside, &outside])).await;
    let report = waiting.finish(&stack).await;

    assert!(requested(&stack, &plan_id).await.is_empty());
    let output = &report["output"];
    assert_eq!((&output["planId"], &output["error"]), (&json!(plan_id), &json!("InvalidInput")), "{output:#}");
    assert!(output["cause"].as_str().unwrap().contains(&outside), "{output:#}");
    assert_eq!(report["states"].as_array().unwrap().last().unwrap(), "PlanRejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_nobody_answers_expires_requests_nothing_and_is_announced() {
    // One hour, played in 3.6 s of the runner's clock.
    let stack = stack(&[("APPROVAL_TIMEOUT_HOURS", "1".to_owned())]).await;
    let waiting = Waiting::start(&stack, 0.001).await;
    let plan_id = waiting.plan_id().to_owned();
    let report = waiting.finish(&stack).await;

    assert_eq!(report["states"].as_array().unwrap().last().unwrap(), "PlanExpired");
    let events = stack.events().await;
    assert!(of_type(&events, REQUESTED).is_empty(), "{events:#?}");
    let expired = of_type(&events, PLAN_EXPIRED);
    assert_eq!(expired.len(), 1, "{events:#?}");
    assert_eq!(expired[0]["detail"]["planId"], plan_id);
    assert_eq!(report["tasks"]["AwaitApproval"]["callbacks"][0]["status"], "TIMED_OUT", "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_changed_between_the_plan_and_the_approval_are_not_requested_and_are_reported_changed_since_plan() {
    let stack = stack(&[]).await;
    let waiting = Waiting::start(&stack, REAL_TIME).await;
    let plan_id = waiting.plan_id().to_owned();
    let planned = ids(waiting.plan.iter());
    // While the plan waits: an owner protects one home instance, and another is being deleted.
    let home: Vec<&Value> = waiting.plan.iter().filter(|line| line["accountId"] == HOME).collect();
    let (protected, deleting) = (home[0]["instanceId"].as_str().unwrap().to_owned(), home[1]["instanceId"].as_str().unwrap().to_owned());
    let changed_arns =
        BTreeSet::from([home[0]["instanceArn"].as_str().unwrap().to_owned(), home[1]["instanceArn"].as_str().unwrap().to_owned()]);
    let region = home[0]["region"].as_str().unwrap();
    let owner = aws_sdk_supplychain::Client::from_conf(
        aws_sdk_supplychain::config::Builder::from(&sdk_config(&stack.emulator.endpoint(), SECRET_ACCESS_KEY).await)
            .region(aws_sdk_supplychain::config::Region::new(region.to_owned()))
            .build(),
    );
    owner.tag_resource().resource_arn(home[0]["instanceArn"].as_str().unwrap()).tags("DeletionProtection", "true").send().await.unwrap();
    stack.emulator.set_state(&deleting, "Deleting", None);
    waiting.answer(&waiting.command("approveAll")).await;
    let report = waiting.finish(&stack).await;

    let requested = ids(requested(&stack, &plan_id).await.iter());
    let changed = BTreeSet::from([protected, deleting]);
    assert_eq!(requested, planned.difference(&changed).cloned().collect(), "every unchanged instance, and only those");
    let summary = &report["output"];
    assert_eq!(summary["counts"]["changedSincePlan"], 2, "{summary:#}");
    let reported: BTreeSet<String> =
        summary["changedSincePlan"].as_array().unwrap().iter().map(|entry| entry["instanceArn"].as_str().unwrap().to_owned()).collect();
    assert_eq!(reported, changed_arns, "{summary:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_of_nothing_ends_without_waiting_for_anyone() {
    let accounts = [HOME.to_owned(), MEMBER.to_owned()];
    let stack =
        Stack::start_seeding(&accounts, &[], 0, json!({"source": [SWEEP_SOURCE]}), &[("APPROVAL_REQUIRED", "true".to_owned())]).await;
    let report = stack.start_run(delete_run(), REAL_TIME).await.report().await.unwrap();
    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["states"].as_array().unwrap().last().unwrap(), "NothingToApprove");
    assert_eq!(report["output"]["instances"], 0);
    assert!(of_type(&stack.events().await, PLAN_READY).is_empty());
    assert!(report["tasks"].get("AwaitApproval").is_none_or(|task| task["invocations"] == 0), "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_awaits_approval_refuses_a_cap_larger_than_its_map_items_can_carry() {
    let stack = stack(&[]).await;
    let input = json!({"accounts": [HOME, MEMBER], "mode": "delete", "maxDeletions": 151});
    let report = stack.start_run(input, REAL_TIME).await.report().await.unwrap();
    assert_eq!((&report["status"], &report["error"]), (&json!("FAILED"), &json!("InvalidInput")), "{report:#}");
    assert!(report["cause"].as_str().unwrap().contains("at most 150"), "{report:#}");
    assert_eq!(report["states"], json!(["ReadSettings", "ApplyDefaults", "Plan"]));
    assert!(stack.emulator.calls().is_empty(), "nothing was swept");
}
