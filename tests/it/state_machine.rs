//! The DeletionWorkflow state machine, checked offline: its definition passes asl-validator (as does
//! the OrganizationSweep's, whose runs are in tests/it/organization_sweep.rs), and it
//! runs under aws-local-stepfunctions with its task states bound to the real compiled functions
//! (through the emulator's Lambda Invoke and Runtime APIs) against the Supply Chain emulator.
//!
//! The functions run with `AWS_MAX_ATTEMPTS=1`, so every fault the emulator injects reaches the
//! state machine, whose `Retry` is what these tests exercise (the SDK's own retries are tested in
//! tests/it/delete_instance.rs). Wait states and retry intervals take no time.

use serde_json::{json, Value};
use supplychain_emulator::invoke_api::InvokeApi;
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Fault, FaultRule, Role, SeedInstance, StaticCredentials};

use crate::support::{
    assert_placeholders_inside_strings, tools, FunctionProcess, ACCESS_KEY_ID, CHECK_ARN, DELETE_ARN, SECRET_ACCESS_KEY, SWEEP_ARN,
};
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
        Stack::start_with(EmulatorConfig::default()).await
    }

    /// The stack on an emulator configured as given (its accounts and regions), serving STS too.
    async fn start_with(config: EmulatorConfig) -> Stack {
        let emulator = Emulator::start(EmulatorConfig {
            credentials: Some(StaticCredentials {
                access_key_id: ACCESS_KEY_ID.into(),
                secret_access_key: SECRET_ACCESS_KEY.into(),
                session_token: None,
            }),
            ..config
        })
        .await
        .expect("the emulator starts");
        let env = [
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint()),
            ("AWS_ENDPOINT_URL_STS", emulator.endpoint()),
            ("AWS_MAX_ATTEMPTS", "1".to_owned()),
            ("ALLOWED_REGIONS", "eu-west-1".to_owned()),
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
        self.execute_with(input, json!({})).await
    }

    /// [`Stack::execute`] with some of the template's parameters replaced by `parameters`.
    async fn execute_with(&self, input: Value, parameters: Value) -> Value {
        let substitutions = tools::workflow_substitutions(DELETE_ARN, CHECK_ARN);
        tools::run_state_machine(tools::definition_path(), substitutions, &parameters, input, self.invoke_api.endpoint())
            .await
            .unwrap_or_else(|stderr| {
                panic!(
                    "the runner failed:\n{stderr}\ndelete-instance:\n{}\ncheck-instance-status:\n{}",
                    self.delete.logs(),
                    self.check.logs()
                )
            })
    }
}

fn states(report: &Value) -> Vec<&str> {
    report["states"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

/// The settings read, `DeleteInstance`, then `polls` rounds of wait, check and choice (the waits
/// of the template's defaults, which double from 60 s, stay below its longest wait of 900 s).
fn polling_path(polls: usize) -> Vec<&'static str> {
    let mut path = vec!["ReadSettings", "DeleteInstance", "IsDryRun"];
    for poll in 0..polls {
        if poll > 0 {
            path.extend(["CountCheck", "ShouldCheckAgain"]);
        }
        path.extend(["WaitBeforeCheck", "CheckInstanceStatus", "IsDeletionFinished"]);
    }
    path
}

/// Step Functions' quota of events in one execution's history.
const HISTORY_EVENT_LIMIT: u64 = 25_000;

/// The most history events a state can add each time it is entered: entered and exited, and for a
/// Task scheduled, started and its end, once plus once per retry its `Retry` allows.
fn most_events(state: &Value) -> u64 {
    if state["Type"] != "Task" {
        return 2;
    }
    let retries: u64 = state["Retry"].as_array().into_iter().flatten().map(|r| r["MaxAttempts"].as_u64().unwrap()).sum();
    2 + 3 * (1 + retries)
}

fn definition() -> Value {
    serde_json::from_str(&tools::read(&tools::definition_path())).expect("the definition is JSON as it is, placeholders included")
}

#[test]
fn the_state_machine_definitions_pass_asl_validator() {
    let definitions = [
        (tools::definition_path(), tools::workflow_substitutions(DELETE_ARN, CHECK_ARN)),
        (
            tools::organization_sweep_definition_path(),
            tools::state_machine_substitutions("OrganizationSweep", &[("SweepInstancesFunction", SWEEP_ARN)]),
        ),
    ];
    for (definition, substitutions) in definitions {
        let request = json!({ "definition": definition, "substitutions": substitutions });
        let mut command = tools::node_with("asl-validator");
        command.arg(tools::tools_dir().join("validate-state-machine.mjs"));
        let output = tools::run(&mut command, &request.to_string());
        let report = tools::json_stdout("asl-validator", &output);
        assert_eq!(
            report,
            json!({ "isValid": true, "errors": [] }),
            "{}: {}",
            definition.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{}", definition.display());
    }
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
async fn a_deletion_in_another_account_and_region_is_followed_there_to_its_end() {
    const MEMBER: &str = "210987654321";
    let stack = Stack::start_with(EmulatorConfig {
        extra_regions: vec!["eu-west-1".to_owned()],
        accounts: vec![Account::new(MEMBER, vec![Role::trusting("SupplyChainInstanceDeletion", &["123456789012"])])],
        ..EmulatorConfig::default()
    })
    .await;
    stack.seed(SeedInstance {
        delete_polls: Some(2),
        aws_account_id: Some(MEMBER.into()),
        region: Some("eu-west-1".into()),
        ..Default::default()
    });

    let report = stack.execute(json!({ "instanceId": ID, "accountId": MEMBER, "region": "eu-west-1" })).await;

    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!((&report["output"]["state"], &report["output"]["awsAccountId"]), (&json!("Deleted"), &json!(MEMBER)));
    let mut path = polling_path(3);
    path.push("Deleted");
    assert_eq!(states(&report), path);
    // Every Supply Chain call acted in the member account and region, with one role session.
    let calls: Vec<_> = stack.emulator.calls().into_iter().filter(|call| call.operation != "AssumeRole").collect();
    assert_eq!(calls.iter().filter(|call| call.operation == "GetInstance").count(), 3);
    for call in &calls {
        assert_eq!((call.account_id.as_deref(), call.region.as_deref()), (Some(MEMBER), Some("eu-west-1")), "{}", call.operation);
    }
    // One session for each function's process.
    assert_eq!(stack.emulator.call_count("AssumeRole"), 2);
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
    assert_eq!(states(&report), ["ReadSettings", "DeleteInstance", "DeletionFailed"]);
    assert_eq!(report["retries"], json!([]), "InvalidInput is never retried");
    assert_eq!(report["caught"], json!([{ "state": "DeleteInstance", "error": "InvalidInput" }]));
    assert!(stack.emulator.calls().is_empty(), "{:?}", stack.emulator.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_succeeds_with_the_dry_run_record_and_neither_checks_nor_waits() {
    let stack = Stack::start().await;
    stack.seed(SeedInstance { instance_name: Some("example-team".into()), ..Default::default() });

    let report = stack.execute(json!({ "instanceId": ID, "dryRun": true })).await;

    assert_eq!(report["status"], "SUCCEEDED", "{report:#}");
    assert_eq!(report["output"]["dryRun"], true, "{report:#}");
    assert_eq!(report["output"]["instance"]["instanceId"], ID);
    assert_eq!(report["output"]["instance"]["state"], "Active");
    assert_eq!(report["output"]["instance"]["instanceName"], "example-team");
    assert_eq!(report["output"].as_object().unwrap().len(), 2, "the record as the function returned it: {report:#}");
    assert_eq!(states(&report), ["ReadSettings", "DeleteInstance", "IsDryRun", "DryRun"]);
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 0);
    assert_eq!(stack.emulator.call_count("GetInstance"), 1, "the dry run's own read, no status check");
}

#[test]
fn the_definition_is_json_on_its_own_with_every_placeholder_inside_a_string() {
    let everywhere = assert_placeholders_inside_strings(&tools::read(&tools::definition_path()));
    assert!(everywhere.contains(&"MaxWaitSeconds".to_owned()) && everywhere.contains(&"PollIntervalSeconds".to_owned()));
}

/// A function whose process ends mid-invocation (killed, out of memory, past its timeout) fails its
/// task with Lambda.Unknown: not retried, a DeleteInstance sent by that invocation would never be
/// announced nor followed (the soak, tests/it/soak.rs, kills processes and finds none such).
#[test]
fn both_tasks_retry_a_function_whose_process_ended_mid_invocation_and_every_lambda_service_error() {
    let definition = definition();
    for task in ["DeleteInstance", "CheckInstanceStatus"] {
        let retried: Vec<&str> = definition["States"][task]["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()))
            .collect();
        for error in [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.ClientExecutionTimeoutException",
            "Lambda.TooManyRequestsException",
            "Lambda.Unknown",
        ] {
            assert!(retried.contains(&error), "{task} does not retry {error}");
        }
    }
}

#[test]
fn the_longest_execution_stays_within_the_history_event_limit() {
    let definition = definition();
    let state = |name: &str| &definition["States"][name];
    // The loop may run as many times as the check count allows, each time through every state of
    // the loop with every retry used.
    let limit = state("ShouldCheckAgain")["Choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Variable"] == "$.poll.checks")
        .expect("a bound on the number of checks")["NumericGreaterThanEquals"]
        .as_u64()
        .unwrap();
    let per_loop: u64 = ["WaitBeforeCheck", "CheckInstanceStatus", "IsDeletionFinished", "CountCheck", "ShouldCheckAgain", "CapWait"]
        .into_iter()
        .map(|name| most_events(state(name)))
        .sum();
    let before: u64 = ["ReadSettings", "DeleteInstance", "IsDryRun"].into_iter().map(|name| most_events(state(name))).sum();
    // Execution started and ended, and the way out: DescribeTimeout, then DeletionFailed.
    let after = 2 + most_events(state("DescribeTimeout")) + most_events(state("DeletionFailed"));
    assert_eq!(per_loop, 48, "the figure the definition's comment gives");

    let longest = before + limit * per_loop + after;

    assert!(longest < HISTORY_EVENT_LIMIT, "{longest} events: {limit} checks of at most {per_loop} events each");
    assert!(state("ShouldCheckAgain")["Comment"].as_str().unwrap().contains(&format!("after {limit} checks")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_that_never_ends_gives_up_after_the_bounded_number_of_checks() {
    let stack = Stack::start().await;
    stack.seed(SeedInstance { delete_polls: Some(100_000), ..Default::default() });

    // One-second waits that never grow, against a day: only the check count ends the loop.
    let parameters = json!({ "PollIntervalSeconds": 1, "MaxPollIntervalSeconds": 1, "MaxWaitSeconds": 86_400 });
    let report = stack.execute_with(json!({ "instanceId": ID }), parameters).await;

    assert_eq!(report["status"], "FAILED", "{report:#}");
    assert_eq!(report["error"], "TimedOut");
    let cause = report["cause"].as_str().unwrap();
    assert!(cause.starts_with("the deletion was still under way after 500 checks and 500 seconds of waiting"), "{cause}");
    assert!(cause.contains("\"state\":\"Deleting\""), "{cause}");
    let path = states(&report);
    assert_eq!(path.iter().filter(|s| **s == "CheckInstanceStatus").count(), 500);
    assert_eq!(&path[path.len() - 2..], ["DescribeTimeout", "DeletionFailed"]);
    assert_eq!(stack.emulator.call_count("GetInstance"), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waits_double_up_to_the_longest_wait_and_the_deletion_times_out_after_the_maximum_wait() {
    let stack = Stack::start().await;
    stack.seed(SeedInstance { delete_polls: Some(1_000), ..Default::default() });

    let parameters = json!({ "PollIntervalSeconds": 60, "MaxPollIntervalSeconds": 900, "MaxWaitSeconds": 3_600 });
    let report = stack.execute_with(json!({ "instanceId": ID }), parameters).await;

    // 60 + 120 + 240 + 480 + 900 + 900 + 900 = 3600 s of waiting, in 7 checks.
    assert_eq!(report["status"], "FAILED", "{report:#}");
    assert_eq!(report["error"], "TimedOut");
    let cause = report["cause"].as_str().unwrap();
    assert!(cause.starts_with("the deletion was still under way after 7 checks and 3600 seconds of waiting"), "{cause}");
    let path = states(&report);
    assert_eq!(path.iter().filter(|s| **s == "CheckInstanceStatus").count(), 7);
    assert_eq!(path.iter().filter(|s| **s == "CapWait").count(), 3, "the waits after 900 s are capped: {path:?}");
}
