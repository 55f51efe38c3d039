//! The DeletionWorkflow state machine, checked offline: its definition passes asl-validator, and it
//! runs under aws-local-stepfunctions with its task states bound to the real compiled functions
//! (through the emulator's Lambda Invoke and Runtime APIs) against the Supply Chain emulator.
//!
//! The functions run with `AWS_MAX_ATTEMPTS=1`, so every fault the emulator injects reaches the
//! state machine, whose `Retry` is what these tests exercise (the SDK's own retries are tested in
//! tests/delete_instance.rs). Wait states and retry intervals take no time.

mod support;

use serde_json::{json, Value};
use supplychain_emulator::invoke_api::InvokeApi;
use supplychain_emulator::{Emulator, EmulatorConfig, Fault, FaultRule, SeedInstance, StaticCredentials};

use support::{tools, FunctionProcess, ACCESS_KEY_ID, CHECK_ARN, DELETE_ARN, SECRET_ACCESS_KEY};
const ID: &str = "0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40";

/// The emulator, and both functions reachable through a Lambda Invoke API.
struct Stack {
    emulator: Emulator,
    invoke_api: InvokeApi,
    delete: FunctionProcess,
    check: FunctionProcess,
}

impl Stack {
    async fn start() -> Stack {
        let emulator = Emulator::start(EmulatorConfig {
            credentials: Some(StaticCredentials {
                access_key_id: ACCESS_KEY_ID.into(),
                secret_access_key: SECRET_ACCESS_KEY.into(),
                session_token: None,
            }),
            ..EmulatorConfig::default()
        })
        .await
        .expect("the emulator starts");
        let env = [
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint()),
            ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ];
        let delete = FunctionProcess::spawn(env!("CARGO_BIN_EXE_delete-instance"), "delete-instance", &env).await;
        let check = FunctionProcess::spawn(env!("CARGO_BIN_EXE_check-instance-status"), "check-instance-status", &env).await;
        let invoke_api = InvokeApi::start().await.expect("the invoke API starts");
        delete.register(&invoke_api, DELETE_ARN);
        check.register(&invoke_api, CHECK_ARN);
        Stack { emulator, invoke_api, delete, check }
    }

    fn seed(&self, seed: SeedInstance) {
        self.emulator.seed(SeedInstance { instance_id: Some(ID.into()), ..seed });
    }

    /// Runs the state machine on `input` and returns the runner's report:
    /// `{status, output, error, cause, states, retries, caught}`.
    async fn execute(&self, input: Value) -> Value {
        let request = json!({
            "definition": tools::definition_path(),
            "substitutions": tools::workflow_substitutions(DELETE_ARN, CHECK_ARN),
            "input": input,
            "lambdaEndpoint": self.invoke_api.endpoint(),
        })
        .to_string();
        let mut command = tools::node_with("aws-local-stepfunctions");
        command.arg(tools::tools_dir().join("run-state-machine.mjs"));
        // The runner calls back into the Invoke API served by this runtime: wait for it off the runtime.
        let output = tokio::task::spawn_blocking(move || tools::run(&mut command, &request)).await.unwrap();
        assert!(
            output.status.success(),
            "the runner failed:\n{}\ndelete-instance:\n{}\ncheck-instance-status:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.delete.logs(),
            self.check.logs()
        );
        tools::json_stdout("the state machine runner", &output)
    }
}

fn states(report: &Value) -> Vec<&str> {
    report["states"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

/// `DeleteInstance`, then `polls` rounds of wait, check and choice.
fn polling_path(polls: usize) -> Vec<&'static str> {
    let mut path = vec!["DeleteInstance"];
    for _ in 0..polls {
        path.extend(["WaitBeforeCheck", "CheckInstanceStatus", "IsDeletionFinished"]);
    }
    path
}

#[test]
fn the_state_machine_definition_passes_asl_validator() {
    let request = json!({
        "definition": tools::definition_path(),
        "substitutions": tools::workflow_substitutions(DELETE_ARN, CHECK_ARN),
    });
    let mut command = tools::node_with("asl-validator");
    command.arg(tools::tools_dir().join("validate-state-machine.mjs"));
    let output = tools::run(&mut command, &request.to_string());
    let report = tools::json_stdout("asl-validator", &output);
    assert_eq!(report, json!({ "isValid": true, "errors": [] }), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_that_takes_several_polls_succeeds_with_the_final_record() {
    let stack = Stack::start().await;
    stack.seed(SeedInstance { delete_polls: Some(3), instance_name: Some("example-team".into()), ..Default::default() });

    let report = stack.execute(json!({ "instanceId": ID })).await;

    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["output"]["instanceId"], ID);
    assert_eq!(report["output"]["state"], "Deleted");
    assert_eq!(report["output"]["instanceName"], "example-team");
    // Three reads still see Deleting, the fourth sees the end.
    let mut path = polling_path(4);
    path.push("Deleted");
    assert_eq!(states(&report), path);
    assert_eq!(report["retries"], json!([]));
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 1);
    assert_eq!(stack.emulator.call_count("GetInstance"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_that_ends_delete_failed_ends_in_the_failure_state_with_the_instance_error() {
    let stack = Stack::start().await;
    stack.seed(SeedInstance {
        delete_polls: Some(1),
        fail_deletion: Some("the KMS key of the instance is disabled".into()),
        ..Default::default()
    });

    let report = stack.execute(json!({ "instanceId": ID })).await;

    assert_eq!(report["status"], "FAILED", "{report:#}");
    assert_eq!(report["error"], "DeleteFailed");
    let cause: Value = serde_json::from_str(report["cause"].as_str().unwrap()).expect("the cause is the final record");
    assert_eq!(cause["instanceId"], ID);
    assert_eq!(cause["state"], "DeleteFailed");
    assert_eq!(cause["errorMessage"], "the KMS key of the instance is disabled");
    let mut path = polling_path(2);
    path.extend(["DescribeFailure", "DeletionFailed"]);
    assert_eq!(states(&report), path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_of_the_deletion_is_absorbed_by_the_retry() {
    let stack = Stack::start().await;
    stack.seed(SeedInstance { delete_polls: Some(0), ..Default::default() });
    stack.emulator.inject(FaultRule::new("DeleteInstance", 2, Fault::Throttle));

    let report = stack.execute(json!({ "instanceId": ID })).await;

    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["output"]["state"], "Deleted");
    assert_eq!(
        report["retries"],
        json!([
            { "state": "DeleteInstance", "error": "Throttled" },
            { "state": "DeleteInstance", "error": "Throttled" },
        ])
    );
    assert_eq!(report["caught"], json!([]));
    let mut path = polling_path(1);
    path.push("Deleted");
    assert_eq!(states(&report), path);
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_instance_id_is_caught_into_the_failure_state_without_any_call() {
    let stack = Stack::start().await;

    let report = stack.execute(json!({ "instanceId": "0C3B2F4E-8A1D-4C6E-9F2B-7D5A1E3C9B40" })).await;

    assert_eq!(report["status"], "FAILED", "{report:#}");
    assert_eq!(report["error"], "InvalidInput");
    let cause: Value = serde_json::from_str(report["cause"].as_str().unwrap()).expect("the cause is the error payload");
    assert_eq!(cause["errorType"], "InvalidInput");
    assert!(cause["errorMessage"].as_str().unwrap().contains("not a lowercase hexadecimal digit"), "{cause}");
    assert_eq!(states(&report), ["DeleteInstance", "DeletionFailed"]);
    assert_eq!(report["retries"], json!([]), "InvalidInput is never retried");
    assert_eq!(report["caught"], json!([{ "state": "DeleteInstance", "error": "InvalidInput" }]));
    assert!(stack.emulator.calls().is_empty(), "{:?}", stack.emulator.calls());
}
