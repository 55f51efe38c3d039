//! Callback tasks (`lambda:invoke.waitForTaskToken`) under the local runner
//! (tools/run-state-machine.mjs), answered by the real AWS CLI of the venv through the runner's
//! callback endpoint (`AWS_ENDPOINT_URL_SFN`). The definition is tests/it/fixtures/callback.asl.json:
//! its tasks hand the token to the compiled check-instance-status binary (through the emulator's
//! Lambda Invoke and Runtime APIs, against the Supply Chain emulator), then wait; its second task
//! keeps the run going, so that a late callback to the first still reaches the runner.

use serde_json::{json, Value};
use supplychain_emulator::invoke_api::InvokeApi;
use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance};

use crate::support::runner::{self, CallbackWait, RunOptions, StateMachineRun};
use crate::support::{repo_path, FunctionProcess, CHECK_ARN, CHECK_BIN, FIXTURE_ID};

const DECISION: &str = "AwaitDecision";
const RELEASE: &str = "AwaitRelease";
/// With it, the input's timeouts of an hour or two take 3.6 and 7.2 seconds.
const FAST: f64 = 0.001;

/// The emulator holding one instance, and the status checker reachable through a Lambda Invoke API.
struct Stack {
    emulator: Emulator,
    invoke_api: InvokeApi,
    check: FunctionProcess,
}

impl Stack {
    async fn start() -> Stack {
        let emulator = Emulator::start(EmulatorConfig::default()).await.expect("the emulator starts");
        emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), ..Default::default() });
        let env = [("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint()), ("AWS_MAX_ATTEMPTS", "1".to_owned())];
        let check = FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &env).await;
        let invoke_api = InvokeApi::start().await.expect("the invoke API starts");
        check.register(&invoke_api, CHECK_ARN);
        Stack { emulator, invoke_api, check }
    }

    /// Starts the callback definition on `input`, the callback tasks' timeouts times `time_scale`.
    async fn start_run(&self, input: Value, time_scale: Option<f64>) -> StateMachineRun {
        runner::start_state_machine(
            repo_path("tests/it/fixtures/callback.asl.json"),
            json!({ "CheckFunctionArn": CHECK_ARN }),
            &json!({}),
            input,
            self.invoke_api.endpoint(),
            RunOptions { time_scale, ..RunOptions::default() },
        )
        .await
    }

    /// The run's report, once it has ended.
    async fn report(&self, run: StateMachineRun) -> Value {
        run.report().await.unwrap_or_else(|stderr| panic!("the runner failed:\n{stderr}\ncheck-instance-status:\n{}", self.check.logs()))
    }
}

/// The input: the seeded instance, and the first task's TimeoutSeconds and HeartbeatSeconds.
fn input(timeout_seconds: u64, heartbeat_seconds: u64) -> Value {
    json!({ "instanceId": FIXTURE_ID, "timeoutSeconds": timeout_seconds, "heartbeatSeconds": heartbeat_seconds })
}

/// Timeouts no test reaches.
fn patient() -> Value {
    input(3600, 7200)
}

/// Ends the run: the release task succeeds.
async fn release(run: &mut StateMachineRun) {
    let CallbackWait { task_token, .. } = run.callback_of(RELEASE).await;
    let sent =
        run.aws(&["stepfunctions", "send-task-success", "--task-token", &task_token, "--task-output", r#"{"released": true}"#]).await;
    assert!(sent.succeeded(), "{sent:?}");
}

fn callbacks<'a>(report: &'a Value, state: &str) -> &'a Vec<Value> {
    report["tasks"][state]["callbacks"].as_array().unwrap_or_else(|| panic!("no callbacks of {state}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_task_succeeds_with_the_output_sent_by_aws_stepfunctions_send_task_success() {
    let stack = Stack::start().await;
    let mut run = stack.start_run(patient(), None).await;

    let decision = run.callback_of(DECISION).await;
    let heartbeat = run.aws(&["stepfunctions", "send-task-heartbeat", "--task-token", &decision.task_token]).await;
    assert!(heartbeat.succeeded(), "{heartbeat:?}");
    // The command as an approver pastes it from a Plan Ready event.
    let approve = format!(
        "aws stepfunctions send-task-success --task-token '{}' --task-output '{{\"approve\":\"all\",\"approvedBy\":\"ops\"}}' --region us-east-1",
        decision.task_token
    );
    let approved = run.sh(&approve).await;
    assert!(approved.succeeded(), "{approved:?}");
    release(&mut run).await;
    let report = stack.report(run).await;

    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["output"]["decision"], json!({ "approve": "all", "approvedBy": "ops" }));
    assert_eq!(report["output"]["release"], json!({ "released": true }));
    assert_eq!(report["states"], json!([DECISION, RELEASE]));
    let entries = callbacks(&report, DECISION);
    assert_eq!(
        entries,
        &vec![json!({
            "taskToken": decision.task_token,
            "status": "SUCCEEDED",
            "heartbeats": 1,
            "payload": { "instanceId": FIXTURE_ID, "taskToken": decision.task_token },
            "output": { "approve": "all", "approvedBy": "ops" },
        })]
    );
    let release_token = callbacks(&report, RELEASE)[0]["taskToken"].as_str().unwrap();
    assert_ne!(release_token, decision.task_token, "each task entry has a token of its own");
    assert!(decision.task_token.len() >= 64, "a token too short to be unguessable: {}", decision.task_token);
    // Each task's function ran once, for real: the checker read the instance.
    assert_eq!(report["tasks"][DECISION]["invocations"], 1);
    assert_eq!(stack.emulator.call_count("GetInstance"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_task_failure_with_an_error_name_is_caught_by_the_catch_on_that_name() {
    let stack = Stack::start().await;
    let mut run = stack.start_run(patient(), None).await;

    let decision = run.callback_of(DECISION).await;
    let rejected = run
        .aws(&[
            "stepfunctions",
            "send-task-failure",
            "--task-token",
            &decision.task_token,
            "--error",
            "Rejected",
            "--cause",
            "not this week",
        ])
        .await;
    assert!(rejected.succeeded(), "{rejected:?}");
    release(&mut run).await;
    let report = stack.report(run).await;

    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["caught"], json!([{ "state": DECISION, "error": "Rejected" }]));
    assert_eq!(report["output"]["failure"], json!({ "Error": "Rejected", "Cause": "not this week" }));
    assert!(report["output"].get("decision").is_none(), "{report:#}");
    let entry = &callbacks(&report, DECISION)[0];
    assert_eq!((&entry["status"], &entry["error"], &entry["cause"]), (&json!("FAILED"), &json!("Rejected"), &json!("not this week")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_sent_without_an_error_name_fails_the_run_with_no_error_name_as_step_functions_does() {
    let stack = Stack::start().await;
    let mut run = stack.start_run(patient(), None).await;

    let decision = run.callback_of(DECISION).await;
    let failed = run.aws(&["stepfunctions", "send-task-failure", "--task-token", &decision.task_token]).await;
    assert!(failed.succeeded(), "{failed:?}");
    let report = stack.report(run).await;

    // No Catch names a missing error: only States.ALL (or States.TaskFailed) would catch it.
    assert_eq!(report["status"], "FAILED", "{report:#}");
    assert_eq!((&report["error"], &report["cause"]), (&Value::Null, &Value::Null));
    assert_eq!(report["caught"], json!([]));
    let entry = &callbacks(&report, DECISION)[0];
    assert_eq!((&entry["status"], &entry["error"], &entry["cause"]), (&json!("FAILED"), &Value::Null, &Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_task_past_its_scaled_timeout_is_caught_as_states_timeout_and_a_later_success_answers_task_timed_out() {
    let stack = Stack::start().await;
    // An hour's TimeoutSeconds, scaled to 3.6 s.
    let mut run = stack.start_run(input(3600, 7200), Some(FAST)).await;

    let decision = run.callback_of(DECISION).await;
    // The release task waits only once the first has timed out and its Catch has been taken.
    let release_wait = run.callback_of(RELEASE).await;
    let late = run.aws(&["stepfunctions", "send-task-success", "--task-token", &decision.task_token, "--task-output", "{}"]).await;
    let late_heartbeat = run.aws(&["stepfunctions", "send-task-heartbeat", "--task-token", &decision.task_token]).await;
    let released =
        run.aws(&["stepfunctions", "send-task-success", "--task-token", &release_wait.task_token, "--task-output", "true"]).await;
    assert!(released.succeeded(), "{released:?}");
    let report = stack.report(run).await;

    assert_eq!(late.error_code(), Some("TaskTimedOut"), "{late:?}");
    assert_eq!(late_heartbeat.error_code(), Some("TaskTimedOut"), "{late_heartbeat:?}");
    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["caught"], json!([{ "state": DECISION, "error": "States.Timeout" }]));
    assert_eq!(report["output"]["failure"], json!({ "Error": "States.Timeout", "Cause": "" }));
    assert_eq!(callbacks(&report, DECISION)[0]["status"], "TIMED_OUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_task_without_a_heartbeat_within_its_scaled_heartbeat_seconds_is_caught_as_states_heartbeat_timeout() {
    let stack = Stack::start().await;
    // HeartbeatSeconds of an hour (3.6 s scaled) inside TimeoutSeconds of two.
    let mut run = stack.start_run(input(7200, 3600), Some(FAST)).await;

    let decision = run.callback_of(DECISION).await;
    let release_wait = run.callback_of(RELEASE).await;
    let late = run.aws(&["stepfunctions", "send-task-success", "--task-token", &decision.task_token, "--task-output", "{}"]).await;
    let released =
        run.aws(&["stepfunctions", "send-task-success", "--task-token", &release_wait.task_token, "--task-output", "true"]).await;
    assert!(released.succeeded(), "{released:?}");
    let report = stack.report(run).await;

    assert_eq!(late.error_code(), Some("TaskTimedOut"), "{late:?}");
    assert_eq!(report["caught"], json!([{ "state": DECISION, "error": "States.HeartbeatTimeout" }]), "{report:#}");
    assert_eq!(report["output"]["failure"]["Error"], "States.HeartbeatTimeout");
    assert_eq!(callbacks(&report, DECISION)[0]["status"], "HEARTBEAT_TIMED_OUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_given_out_answers_task_does_not_exist_and_leaves_the_task_waiting() {
    let stack = Stack::start().await;
    let mut run = stack.start_run(patient(), None).await;

    let decision = run.callback_of(DECISION).await;
    // A token of the runner's form, one character changed.
    let mut forged = decision.task_token.clone();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    let success = run.aws(&["stepfunctions", "send-task-success", "--task-token", &forged, "--task-output", "{}"]).await;
    let failure = run.aws(&["stepfunctions", "send-task-failure", "--task-token", &forged, "--error", "Rejected"]).await;
    let heartbeat = run.aws(&["stepfunctions", "send-task-heartbeat", "--task-token", &forged]).await;
    let approved = run.aws(&["stepfunctions", "send-task-success", "--task-token", &decision.task_token, "--task-output", "\"yes\""]).await;
    assert!(approved.succeeded(), "{approved:?}");
    release(&mut run).await;
    let report = stack.report(run).await;

    for answer in [&success, &failure, &heartbeat] {
        assert_eq!(answer.error_code(), Some("TaskDoesNotExist"), "{answer:?}");
    }
    assert_eq!(report["output"]["decision"], "yes", "{report:#}");
    assert_eq!(callbacks(&report, DECISION)[0]["heartbeats"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_success_for_the_same_token_answers_task_does_not_exist_and_changes_nothing() {
    let stack = Stack::start().await;
    let mut run = stack.start_run(patient(), None).await;

    let decision = run.callback_of(DECISION).await;
    let first =
        run.aws(&["stepfunctions", "send-task-success", "--task-token", &decision.task_token, "--task-output", r#"{"n": 1}"#]).await;
    let second =
        run.aws(&["stepfunctions", "send-task-success", "--task-token", &decision.task_token, "--task-output", r#"{"n": 2}"#]).await;
    let failure = run.aws(&["stepfunctions", "send-task-failure", "--task-token", &decision.task_token, "--error", "Rejected"]).await;
    release(&mut run).await;
    let report = stack.report(run).await;

    assert!(first.succeeded(), "{first:?}");
    assert_eq!(second.error_code(), Some("TaskDoesNotExist"), "{second:?}");
    assert_eq!(failure.error_code(), Some("TaskDoesNotExist"), "{failure:?}");
    assert_eq!(report["output"]["decision"], json!({ "n": 1 }), "{report:#}");
    assert_eq!(report["caught"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_that_is_not_json_answers_invalid_output_and_leaves_the_task_waiting() {
    let stack = Stack::start().await;
    let mut run = stack.start_run(patient(), None).await;

    let decision = run.callback_of(DECISION).await;
    let invalid =
        run.aws(&["stepfunctions", "send-task-success", "--task-token", &decision.task_token, "--task-output", "approve all"]).await;
    let valid = run.aws(&["stepfunctions", "send-task-success", "--task-token", &decision.task_token, "--task-output", "[]"]).await;
    assert!(valid.succeeded(), "{valid:?}");
    release(&mut run).await;
    let report = stack.report(run).await;

    assert_eq!(invalid.error_code(), Some("InvalidOutput"), "{invalid:?}");
    assert_eq!(report["output"]["decision"], json!([]), "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_fails_the_callback_task_before_any_wait() {
    let stack = Stack::start().await;
    let invalid_id = "0C3B2F4E-8A1D-4C6E-9F2B-7D5A1E3C9B40";
    let run = stack.start_run(json!({ "instanceId": invalid_id, "timeoutSeconds": 3600, "heartbeatSeconds": 7200 }), None).await;

    // Nobody calls back: the run ends on the function's error alone.
    let report = stack.report(run).await;

    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["states"], json!([DECISION, "FunctionFailed"]));
    assert_eq!(report["caught"], json!([{ "state": DECISION, "error": "InvalidInput" }]));
    let entry = &callbacks(&report, DECISION)[0];
    assert_eq!(entry["status"], "FUNCTION_FAILED");
    assert_eq!(entry["payload"]["taskToken"], entry["taskToken"]);
    assert!(stack.emulator.calls().is_empty(), "{:?}", stack.emulator.calls());
}
