//! The OrganizationSweep state machine, run for real: its definition under aws-local-stepfunctions
//! (tools/run-state-machine.mjs), its Plan, its Distributed Map's child task and its Summarize bound
//! to the compiled sweep-instances binary through the emulator's Lambda Invoke and Runtime APIs,
//! against the Supply Chain emulator holding the instances of five accounts in two regions (its STS
//! issuing the member roles' credentials) and moto's Organizations (ListAccounts, through the fault
//! proxy that counts the calls) and EventBridge. And the definition itself, offline: its retries
//! against the function's errorTypes, its timeouts against the function's, and its state for 900
//! targets against Step Functions' 256 KiB.

use crate::support::events::{REQUESTED, SUMMARY, SWEEP_SOURCE};
use crate::support::*;
use serde_json::{json, Value};
use supplychain_delete_instance::Error;
use supplychain_emulator::invoke_api::InvokeApi;
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Role, SeedInstance};

/// The management account of moto's organization, and the function's own.
pub(crate) const HOME: &str = ACCOUNT;
const OTHER_REGION: &str = "eu-west-1";
const REGIONS: [&str; 2] = [REGION, OTHER_REGION];
const MEMBER_ROLE: &str = "SupplyChainInstanceDeletion";
/// The sweep function's role, which the member roles trust.
const SWEEP_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/SweepInstancesRole";
/// Step Functions' quota on the data a state passes on (its input or output), in bytes.
const STATE_DATA_LIMIT: usize = 256 * 1024;

/// What was seeded in one account and region.
#[derive(Debug, Clone)]
pub(crate) struct Seeded {
    pub(crate) account: String,
    pub(crate) region: &'static str,
    /// Expiry tag passed: the sweep selects them.
    pub(crate) expired: Vec<String>,
    /// Expiry tag passed, but protected: the sweep skips them.
    protected: usize,
    /// Every instance of the target.
    instances: usize,
}

/// The emulator with `accounts` in both regions (each member's role trusting the sweep function's
/// role, but for those in `without_role`), moto with a bus whose sweep events a queue receives, and
/// the sweep binary reachable through a Lambda Invoke API.
pub(crate) struct Stack {
    pub(crate) emulator: Emulator,
    pub(crate) moto: Moto,
    invoke_api: InvokeApi,
    pub(crate) sweep: FunctionProcess,
    pub(crate) seeded: Vec<Seeded>,
    /// The stack's bucket of plans and results, in moto: one a test.
    pub(crate) bucket: String,
}

impl Stack {
    async fn start(accounts: &[String], without_role: &[String]) -> Stack {
        Stack::start_seeding(accounts, without_role, accounts.len(), json!({"source": [SWEEP_SOURCE]}), &[]).await
    }

    /// [`Stack::start`], with instances in the first `seeded` accounts only, the queue receiving the
    /// events that match `subscribed`, and the sweep function's environment added to by `settings`.
    pub(crate) async fn start_seeding(
        accounts: &[String],
        without_role: &[String],
        seeded: usize,
        subscribed: Value,
        settings: &[(&'static str, String)],
    ) -> Stack {
        let members = accounts
            .iter()
            .filter(|account| account.as_str() != HOME)
            .map(|account| {
                let roles = if without_role.contains(account) { vec![] } else { vec![Role::trusting(MEMBER_ROLE, &[SWEEP_ROLE_ARN])] };
                Account::new(account.clone(), roles)
            })
            .collect();
        let emulator = emulator_with(EmulatorConfig {
            extra_regions: vec![OTHER_REGION.to_owned()],
            accounts: members,
            home_principal_arn: Some(SWEEP_ROLE_ARN.to_owned()),
            ..Default::default()
        })
        .await;
        let seeded =
            accounts.iter().take(seeded).enumerate().flat_map(|(a, account)| REGIONS.map(|region| (a, account, region))).enumerate();
        let seeded = seeded.map(|(t, (a, account, region))| seed(&emulator, a, t, account, region)).collect();
        let moto = Moto::start().await;
        moto.subscribe_matching(&format!("sweep-{}", unique_name()), subscribed).await;
        let bucket = format!("plans-{}", unique_name());
        aws_sdk_s3::Client::new(&moto.sdk_config).create_bucket().bucket(&bucket).send().await.expect("the plan bucket is made");
        let mut env = moto.function_env(emulator.endpoint());
        env.extend([
            ("PLAN_BUCKET", bucket.clone()),
            ("AWS_ENDPOINT_URL_S3", moto.proxy.endpoint()),
            ("AWS_ENDPOINT_URL_STS", emulator.endpoint()),
            ("AWS_ENDPOINT_URL_ORGANIZATIONS", moto.proxy.endpoint()),
            ("ALLOWED_REGIONS", OTHER_REGION.to_owned()),
            ("MEMBER_ROLE_NAME", MEMBER_ROLE.to_owned()),
            // Requests at once, without a notice period, so that delete mode requests this run.
            ("NOTICE_HOURS", "0".to_owned()),
            // Several children at once in one process, as the deployed function takes them.
            ("AWS_LAMBDA_MAX_CONCURRENCY", "8".to_owned()),
        ]);
        env.extend(settings.iter().cloned());
        let sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await;
        let invoke_api = InvokeApi::start().await.expect("the invoke API starts");
        sweep.register(&invoke_api, SWEEP_ARN);
        Stack { emulator, moto, invoke_api, sweep, seeded, bucket }
    }

    /// Runs the state machine on `input`, with the template's default parameters but for the
    /// regions (both of the emulator's) and those in `parameters`; returns the runner's report:
    /// `{status, output, error, cause, states, retries, caught, iterations, tasks}`.
    async fn execute(&self, input: Value, parameters: Value) -> Value {
        let report = self.run(input, parameters).await;
        assert_eq!(report["status"], "SUCCEEDED", "{report:#}\nsweep-instances:\n{}", self.sweep.logs());
        report
    }

    /// Runs the state machine on `input` with the template's default parameters, expecting it to
    /// fail; returns the runner's report.
    async fn execute_expecting_failure(&self, input: Value) -> Value {
        let report = self.run(input, json!({})).await;
        assert_eq!(report["status"], "FAILED", "{report:#}");
        report
    }

    /// The runner's report of one execution, whatever its end.
    async fn run(&self, input: Value, parameters: Value) -> Value {
        let definition = tools::organization_sweep_definition_path();
        let s3 = Some(self.moto.endpoint.clone());
        tools::run_state_machine_with_s3(definition, self.substitutions(), &parameters, input, self.invoke_api.endpoint(), s3)
            .await
            .unwrap_or_else(|stderr| panic!("the runner failed:\n{stderr}\nsweep-instances:\n{}", self.sweep.logs()))
    }

    /// One execution on `input`, started: the test answers its callback task while it runs. Its
    /// callback tasks' timeouts are multiplied by `time_scale`.
    pub(crate) async fn start_run(&self, input: Value, time_scale: f64) -> runner::StateMachineRun {
        let options = runner::RunOptions { s3_endpoint: Some(self.moto.endpoint.clone()), time_scale: Some(time_scale) };
        let definition = tools::organization_sweep_definition_path();
        runner::start_state_machine(definition, self.substitutions(), &json!({}), input, self.invoke_api.endpoint(), options).await
    }

    /// The template's substitutions, with both of the emulator's regions and the test's bucket.
    fn substitutions(&self) -> Value {
        let mut substitutions = tools::state_machine_substitutions("OrganizationSweep", &[("SweepInstancesFunction", SWEEP_ARN)]);
        substitutions["OrganizationSweepRegions"] = json!(REGIONS.join(","));
        substitutions["PlanBucket"] = json!(self.bucket);
        substitutions
    }

    fn seeded_in<'a>(&'a self, accounts: &'a [String]) -> impl Iterator<Item = &'a Seeded> + 'a {
        self.seeded.iter().filter(move |s| accounts.contains(&s.account))
    }

    /// Every sweep event on the bus since the last call, as (detail-type, event).
    pub(crate) async fn events(&self) -> Vec<(String, Value)> {
        self.moto.received().await.into_iter().map(|event| (event["detail-type"].as_str().unwrap().to_owned(), event)).collect()
    }
}

/// One target's instances: from one to three expired ones (by the target's number), one protected
/// expired one and one that expires tomorrow, in `account` and `region`.
fn seed(emulator: &Emulator, account_index: usize, target: usize, account: &str, region: &'static str) -> Seeded {
    let (past, future) = (time_from_now(-3_600), time_from_now(86_400));
    let expired_count = 1 + target % 3;
    let kinds = (0..expired_count).map(|_| (vec![("ExpiresAt", past.as_str())], true)).chain([
        (vec![("ExpiresAt", past.as_str()), ("DeletionProtection", "true")], false),
        (vec![("ExpiresAt", future.as_str())], false),
    ]);
    let mut expired = Vec::new();
    let mut instances = 0;
    for (n, (tags, selected)) in kinds.enumerate() {
        let id = format!("{:08x}-{:04x}-4000-8000-{n:012x}", account_index + 1, target + 1);
        emulator.seed(SeedInstance {
            instance_id: Some(id.clone()),
            aws_account_id: Some(account.to_owned()),
            region: Some(region.to_owned()),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        });
        instances += 1;
        if selected {
            expired.push(id);
        }
    }
    Seeded { account: account.to_owned(), region, expired, protected: 1, instances }
}

/// moto's organization (made once; the management account is [`HOME`]) with `members` new active
/// member accounts and one new closed one, returned in that order. Every member account an earlier
/// run left active is closed first, so the active accounts are the management account and these.
async fn organization(members: usize) -> (Vec<String>, String) {
    use aws_sdk_organizations::types::{AccountState, OrganizationFeatureSet};
    let client = aws_sdk_organizations::Client::new(&sdk_config(&moto_endpoint(), SECRET_ACCESS_KEY).await);
    if client.describe_organization().send().await.is_err() {
        client.create_organization().feature_set(OrganizationFeatureSet::All).send().await.expect("create the organization");
    }
    let pages: Vec<_> = client.list_accounts().into_paginator().send().collect().await;
    for page in pages {
        for account in page.expect("list accounts").accounts() {
            if account.id() != Some(HOME) && account.state() == Some(&AccountState::Active) {
                client.close_account().account_id(account.id().unwrap()).send().await.expect("close an earlier run's account");
            }
        }
    }
    let unique = unique_name();
    let mut created = Vec::new();
    for n in 0..=members {
        let status = client
            .create_account()
            .account_name(format!("member-{unique}-{n}"))
            .email(format!("member-{unique}-{n}@example.com"))
            .send()
            .await
            .expect("create a member account");
        created.push(status.create_account_status().and_then(|s| s.account_id()).expect("the new account's id").to_owned());
    }
    let closed = created.pop().unwrap();
    client.close_account().account_id(&closed).send().await.expect("close an account");
    (created, closed)
}

/// The events of one detail-type.
pub(crate) fn of_type(events: &[(String, Value)], detail_type: &str) -> Vec<Value> {
    events.iter().filter(|(kind, _)| kind == detail_type).map(|(_, event)| event.clone()).collect()
}

fn counts(value: &Value) -> (u64, u64, u64, u64) {
    let n = |name: &str| value[name].as_u64().unwrap_or_else(|| panic!("no count {name} in {value}"));
    (n("selected"), n("requested"), n("deferred"), n("skipped"))
}

/// Five active accounts (the closed one left out) in two regions, each target once.
fn assert_each_active_target_runs_once(stack: &Stack, report: &Value, closed: &str) {
    assert_eq!(report["states"], json!(["ReadSettings", "ApplyDefaults", "Plan", "SweepTargets", "ApprovalRequired", "Summarize"]));
    assert!(stack.moto.proxy.call_count("ListAccounts") >= 1, "the plan lists the organization's accounts");
    let iterations = report["iterations"].as_array().unwrap();
    assert_eq!(iterations.len(), 10, "{report:#}");
    assert_eq!(report["tasks"]["SweepTarget"]["invocations"], 10, "no retries: {report:#}");
    assert!(!stack.emulator.calls().iter().any(|call| call.account_id.as_deref() == Some(closed)));
}

/// The broken account's two targets are caught into their items; the others are swept.
fn assert_only_the_broken_account_s_targets_are_caught(report: &Value, iterations: &[Value]) {
    for iteration in iterations {
        assert_eq!(iteration["status"], "SUCCEEDED", "{iteration}");
        assert_eq!(iteration["retries"], json!([]), "{iteration}");
    }
    let caught: Vec<&Value> = iterations.iter().filter(|i| i["caught"] != json!([])).collect();
    assert_eq!(caught.len(), 2, "{report:#}");
    for iteration in caught {
        assert_eq!(iteration["states"], json!(["SweepTarget", "TargetFailed"]));
        assert_eq!(iteration["caught"], json!([{ "state": "SweepTarget", "error": "RoleNotAssumable" }]));
    }
}

/// Each item is the target with the report's numbers, or with the error as Catch records it.
fn assert_each_item_is_its_target_with_its_report_or_its_error(iterations: &[Value], broken: &str) {
    for iteration in iterations {
        let item = iteration["output"].as_object().unwrap();
        let target = (&item["accountId"], &item["mode"], &item["maxDeletions"]);
        assert!(target.0.is_string() && target.1 == "report" && target.2.is_u64(), "{iteration}");
        // Every item names its plan, and does not only plan: that is for an approval's run.
        assert!(item["planId"].is_string() && item["planOnly"] == false, "{iteration}");
        if item["accountId"] == broken {
            assert_eq!(item.keys().filter(|k| *k != "error").count(), 6, "{iteration}");
            // The errorType and the whole Cause: the item lives in the results file, not in a state.
            assert_eq!(item["error"]["Error"], "RoleNotAssumable");
            let cause: Value = serde_json::from_str(item["error"]["Cause"].as_str().unwrap()).unwrap();
            assert_eq!(cause["errorType"], "RoleNotAssumable");
            assert!(cause["errorMessage"].as_str().unwrap().contains("cannot be assumed"), "{cause}");
        } else {
            assert_eq!(item.keys().filter(|k| *k != "report").count(), 6, "{iteration}");
            let report = item["report"].as_object().unwrap();
            assert_eq!(
                report.keys().map(String::as_str).collect::<std::collections::BTreeSet<_>>(),
                ["complete", "counts", "examined", "planned"].into()
            );
            assert_eq!(report["planned"], json!([]), "{iteration}");
        }
    }
}

/// The failed targets of a summary, as (account, region, errorType), sorted.
fn failed_targets(summary: &Value) -> Vec<(String, String, String)> {
    let mut failed: Vec<(String, String, String)> = summary["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["accountId"].as_str().unwrap().to_owned(),
                f["region"].as_str().unwrap().to_owned(),
                f["errorType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    failed.sort();
    failed
}

/// The summary adds up the swept targets and names the failed ones with their errorType.
fn assert_the_summary_adds_up_the_swept_targets_and_names_the_failed_ones(
    stack: &Stack,
    summary: &Value,
    accounts: &[String],
    broken: &str,
) {
    let swept: Vec<String> = accounts.iter().filter(|a| **a != broken).cloned().collect();
    let selected: usize = stack.seeded_in(&swept).map(|s| s.expired.len()).sum();
    let skipped: usize = stack.seeded_in(&swept).map(|s| s.protected).sum();
    let examined: usize = stack.seeded_in(&swept).map(|s| s.instances).sum();
    assert_eq!(
        (summary["targets"].as_u64(), summary["swept"].as_u64(), summary["incomplete"].as_u64()),
        (Some(10), Some(8), Some(0)),
        "{summary:#}"
    );
    assert_eq!(summary["examined"], examined, "{summary:#}");
    assert_eq!(counts(&summary["counts"]), (selected as u64, 0, 0, skipped as u64), "report mode requests nothing: {summary:#}");
    assert_eq!(summary["failedCount"], 2);
    let mut expected: Vec<(String, String, String)> =
        REGIONS.iter().map(|r| (broken.to_owned(), r.to_string(), "RoleNotAssumable".to_owned())).collect();
    expected.sort();
    assert_eq!(failed_targets(summary), expected);
    // The function's own message, from the Cause the results file keeps.
    let message = summary["failed"][0]["error"].as_str().unwrap();
    assert!(message.starts_with(&format!("role arn:aws:iam::{broken}:role/{MEMBER_ROLE} cannot be assumed")), "{summary:#}");
}

/// The same summary on the bus, once, after a report of each swept target; nothing was requested.
async fn assert_the_summary_is_announced_once_after_each_swept_target_s_report(stack: &Stack, summary: &Value) {
    let events = stack.events().await;
    let announced = of_type(&events, SUMMARY);
    assert_eq!(announced.len(), 1, "{events:#?}");
    assert_eq!(&announced[0]["detail"], summary);
    assert_eq!(announced[0]["source"], SWEEP_SOURCE);
    assert_eq!(of_type(&events, "Supply Chain Instance Sweep Completed").len(), 8);
    assert_eq!(events.len(), 9, "{events:#?}");
}

/// Every member account through its member role, the function's own account with its own
/// credentials; and each Supply Chain call in the account and region of its target.
fn assert_each_call_acts_in_its_target_through_its_member_role(stack: &Stack, members: &[String], broken: &str) {
    for call in stack.emulator.calls().iter().filter(|call| call.operation == "AssumeRole") {
        let role = call.role_arn.as_deref().unwrap();
        assert!(members.iter().any(|m| role == format!("arn:aws:iam::{m}:role/{MEMBER_ROLE}")), "{role}");
    }
    for target in &stack.seeded {
        let listed = stack
            .emulator
            .calls()
            .into_iter()
            .filter(|call| call.operation == "ListInstances" && call.status == 200)
            .filter(|call| call.account_id.as_deref() == Some(target.account.as_str()) && call.region.as_deref() == Some(target.region))
            .count();
        assert_eq!(listed, usize::from(target.account != broken), "{target:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organization_is_swept_account_by_account_and_a_missing_member_role_fails_only_its_targets() {
    let (members, closed) = organization(4).await;
    let broken = members[2].clone();
    let accounts: Vec<String> = [HOME.to_owned()].into_iter().chain(members.iter().cloned()).collect();
    let stack = Stack::start(&accounts, std::slice::from_ref(&broken)).await;

    let report = stack.execute(json!({}), json!({})).await;

    assert_each_active_target_runs_once(&stack, &report, &closed);
    let iterations = report["iterations"].as_array().unwrap();
    assert_only_the_broken_account_s_targets_are_caught(&report, iterations);
    assert_each_item_is_its_target_with_its_report_or_its_error(iterations, &broken);
    let summary = &report["output"];
    assert_the_summary_adds_up_the_swept_targets_and_names_the_failed_ones(&stack, summary, &accounts, &broken);
    assert_the_summary_is_announced_once_after_each_swept_target_s_report(&stack, summary).await;
    assert_each_call_acts_in_its_target_through_its_member_role(&stack, &members, &broken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_named_in_the_input_are_swept_without_listing_the_organization_at_most_max_concurrency_at_once() {
    let accounts: Vec<String> = (1..=5).map(|n| format!("{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}")).collect();
    let stack = Stack::start(&accounts, &[]).await;

    let input = json!({ "accounts": accounts, "regions": REGIONS });
    let report = stack.execute(input, json!({ "OrganizationSweepMaxConcurrency": "2" })).await;

    assert_eq!(stack.moto.proxy.call_count("ListAccounts"), 0);
    assert_eq!(report["iterations"].as_array().unwrap().len(), 10);
    assert_eq!(report["tasks"]["SweepTarget"]["maxInFlight"], 2, "{report:#}");
    let summary = &report["output"];
    assert_eq!((summary["targets"].as_u64(), summary["swept"].as_u64(), summary["failedCount"].as_u64()), (Some(10), Some(10), Some(0)));
    let selected: usize = stack.seeded.iter().map(|s| s.expired.len()).sum();
    assert_eq!(summary["counts"]["selected"], selected);
    // One report per target on the bus besides the summary.
    let events = stack.events().await;
    assert_eq!(of_type(&events, "Supply Chain Instance Sweep Completed").len(), 10);
    assert_eq!(of_type(&events, SUMMARY).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_listed_in_a_file_of_the_bucket_are_swept_and_a_missing_file_fails_the_plan_with_invalid_input() {
    let accounts: Vec<String> = (1..=3).map(|n| format!("{n}2222222222{n}")).collect();
    let stack = Stack::start(&accounts, &[]).await;
    // Two of the three, with a comment and a blank line, as an operator writes the list.
    let listed = format!("# the accounts of this week\n{}\n\n{}\n", accounts[0], accounts[2]);
    let s3 = aws_sdk_s3::Client::new(&stack.moto.sdk_config);
    s3.put_object().bucket(&stack.bucket).key("inputs/accounts.txt").body(listed.into_bytes().into()).send().await.unwrap();

    let report = stack.execute(json!({ "accountsFile": "inputs/accounts.txt", "mode": "report" }), json!({})).await;

    assert_eq!(stack.moto.proxy.call_count("ListAccounts"), 0);
    let summary = &report["output"];
    assert_eq!((summary["targets"].as_u64(), summary["swept"].as_u64()), (Some(4), Some(4)), "{summary:#}");
    let swept: Vec<String> = vec![accounts[0].clone(), accounts[2].clone()];
    assert_eq!(summary["examined"], stack.seeded_in(&swept).map(|s| s.instances).sum::<usize>());
    assert!(!stack.emulator.calls().iter().any(|call| call.account_id.as_deref() == Some(accounts[1].as_str())));

    let missing = stack.execute_expecting_failure(json!({ "accountsFile": "inputs/nowhere.txt" })).await;
    assert_eq!(missing["error"], "InvalidInput", "{missing:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_of_the_organization_bounds_its_deletion_requests_across_every_target() {
    let accounts: Vec<String> = (1..=5).map(|n| format!("{n}0000000000{n}")).collect();
    let stack = Stack::start(&accounts, &[]).await;

    let input = json!({ "accounts": accounts, "mode": "delete", "maxDeletions": 3 });
    let report = stack.execute(input, json!({})).await;

    // Every target has expired instances; the shares of 3 across 10 targets add up to 3.
    let requested = of_type(&stack.events().await, REQUESTED);
    assert_eq!(requested.len(), 3, "{requested:#?}");
    for event in &requested {
        let detail = &event["detail"];
        let id = detail["instanceId"].as_str().unwrap();
        let target = stack.seeded.iter().find(|s| s.expired.iter().any(|e| e == id)).unwrap_or_else(|| panic!("{id} was not expired"));
        assert_eq!(detail["accountId"].as_str().unwrap_or(HOME), target.account, "{event}");
        assert_eq!(detail["region"].as_str().unwrap_or(REGION), target.region, "{event}");
    }
    let summary = &report["output"];
    let selected: usize = stack.seeded.iter().map(|s| s.expired.len()).sum();
    assert_eq!(counts(&summary["counts"]), (selected as u64, 3, selected as u64 - 3, stack.seeded.len() as u64), "{summary:#}");
    assert_eq!(summary["mode"], "delete");
    assert_eq!(report["iterations"].as_array().unwrap().len(), 10);
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 0, "the sweep only requests");
}

fn definition() -> Value {
    serde_json::from_str(&tools::read(&tools::organization_sweep_definition_path()))
        .expect("the definition is JSON as it is, placeholders included")
}

/// Every Task state of the definition, at any depth, by name.
fn tasks(machine: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (name, state) in machine["States"].as_object().unwrap() {
        if state["Type"] == "Task" {
            found.push((name.clone(), state.clone()));
        }
        if let Some(processor) = state.get("ItemProcessor") {
            found.extend(tasks(processor));
        }
    }
    found
}

#[test]
fn the_definition_is_json_on_its_own_with_every_placeholder_inside_a_string() {
    assert_placeholders_inside_strings(&tools::read(&tools::organization_sweep_definition_path()));
}

/// Every errorType of src/error.rs: the match fails to compile when a kind is added, so that it is
/// placed here too.
fn every_error() -> Vec<Error> {
    let all = [
        Error::InvalidInput(String::new()),
        Error::InstanceNotFound(String::new()),
        Error::DeletionProtected(String::new()),
        Error::AccessDenied(String::new()),
        Error::Conflict(String::new()),
        Error::QuotaExceeded(String::new()),
        Error::Throttled(String::new()),
        Error::ServiceUnavailable(String::new()),
        Error::Timeout(String::new()),
        Error::PublishFailed(String::new()),
        Error::ScheduleFailed(String::new()),
        Error::AccountNotAllowed(String::new()),
        Error::RegionNotAllowed(String::new()),
        Error::RoleNotAssumable(String::new()),
        Error::Unexpected(String::new()),
    ];
    for error in &all {
        match error {
            Error::InvalidInput(_)
            | Error::InstanceNotFound(_)
            | Error::DeletionProtected(_)
            | Error::AccessDenied(_)
            | Error::Conflict(_)
            | Error::QuotaExceeded(_)
            | Error::Throttled(_)
            | Error::ServiceUnavailable(_)
            | Error::Timeout(_)
            | Error::PublishFailed(_)
            | Error::ScheduleFailed(_)
            | Error::AccountNotAllowed(_)
            | Error::RegionNotAllowed(_)
            | Error::RoleNotAssumable(_)
            | Error::Unexpected(_) => {}
        }
    }
    all.into()
}

/// Lambda's own errors that a Task retries, sorted.
const LAMBDA_ERRORS: [&str; 5] = [
    "Lambda.AWSLambdaException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.SdkClientException",
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
];

/// The errors a Retry matches, sorted.
fn errors_retried_by(retry: &Value) -> Vec<String> {
    let mut errors: Vec<String> = retry["ErrorEquals"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_owned()).collect();
    errors.sort();
    errors
}

/// The callback task: its wait is the approval's, and an approver's answer may name any error.
const CALLBACK: &str = "AwaitApproval";

#[test]
fn every_task_retries_lambda_s_own_errors_and_exactly_the_function_s_retryable_error_types() {
    let mut retryable: Vec<&str> = every_error().iter().filter(|e| e.is_retryable()).map(|e| e.error_type()).collect();
    retryable.sort();
    let definition = definition();
    let tasks = tasks(&definition);
    let mut names: Vec<&str> = tasks.iter().map(|(name, _)| name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Approve",
            "AwaitApproval",
            "ExecuteInstance",
            "Plan",
            "PlanExpired",
            "PlanRejected",
            "Summarize",
            "SummarizeExecution",
            "SummarizePlan",
            "SweepTarget",
        ]
    );
    for (name, task) in tasks.iter().filter(|(name, _)| name != CALLBACK) {
        let retries = task["Retry"].as_array().unwrap_or_else(|| panic!("{name} has no Retry"));
        assert_eq!(errors_retried_by(&retries[0]), LAMBDA_ERRORS, "{name}");
        assert_eq!(errors_retried_by(&retries[1]), retryable, "{name}");
        for retry in retries {
            // Backoff with full jitter, so that throttled targets do not come back all at once.
            assert_eq!(retry["JitterStrategy"], "FULL", "{name}");
            assert!(retry["BackoffRate"].as_f64().unwrap() > 1.0, "{name}");
        }
    }
}

#[test]
fn any_failure_answer_to_the_approval_rejects_the_plan_and_never_announces_it_again() {
    let definition = definition();
    let wait = &definition["States"][CALLBACK];
    assert_eq!(wait["Resource"], "arn:aws:states:::lambda:invoke.waitForTaskToken");
    // send-task-failure may name any error, a retryable errorType of the function included: a Retry
    // would invoke the function again, and so put a second Plan Ready with a new token.
    assert!(wait.get("Retry").is_none(), "{wait:#}");
    let catches: Vec<(Vec<String>, &str)> =
        wait["Catch"].as_array().unwrap().iter().map(|catch| (errors_retried_by(catch), catch["Next"].as_str().unwrap())).collect();
    assert_eq!(catches, [(vec!["States.Timeout".to_owned()], "PlanExpired"), (vec!["States.ALL".to_owned()], "PlanRejected")]);
    assert_eq!(definition["States"]["Approve"]["Catch"][0]["ErrorEquals"], json!(["States.ALL"]));
    assert_eq!(definition["States"]["Approve"]["Catch"][0]["Next"], "PlanRejected");
}

#[test]
fn every_task_waits_for_the_sweep_function_s_whole_timeout_and_the_approval_for_its_own() {
    let timeout = tools::transformed_template()["Resources"]["SweepInstancesFunction"]["Properties"]["Timeout"].as_u64().unwrap();
    for (name, task) in tasks(&definition()) {
        if name == CALLBACK {
            // The plan's approval.timeoutSeconds: ApprovalTimeoutHours, from 1 hour.
            assert_eq!(task["TimeoutSecondsPath"], "$.plan.approval.timeoutSeconds", "{task:#}");
            assert!(task.get("TimeoutSeconds").is_none());
            continue;
        }
        assert!(task["TimeoutSeconds"].as_u64().unwrap() > timeout, "{name} gives up before the function's {timeout} s");
    }
}

#[test]
fn the_map_is_distributed_over_the_plan_s_targets_with_the_template_s_settings() {
    let definition = definition();
    let map = &definition["States"]["SweepTargets"];
    assert_eq!(map["ItemProcessor"]["ProcessorConfig"], json!({ "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD" }));
    // The targets come from the plan's file, and the results go to the stack's bucket.
    assert!(map.get("ItemsPath").is_none(), "{map}");
    assert_eq!(
        map["ItemReader"],
        json!({"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSONL"},
               "Parameters": {"Bucket.$": "$.plan.targetsFile.Bucket", "Key.$": "$.plan.targetsFile.Key"}})
    );
    assert_eq!(
        map["ResultWriter"],
        json!({"Resource": "arn:aws:states:::s3:putObject",
               "Parameters": {"Bucket": "${PlanBucket}", "Prefix.$": "States.Format('results/{}', $.plan.sweepId)"}})
    );
    // The Map's settings come from the template, through the settings ReadSettings reads.
    let settings = &definition["States"]["ReadSettings"]["Parameters"]["settings"];
    assert_eq!(map["MaxConcurrencyPath"], "$.settings.maxConcurrency");
    assert_eq!(settings["maxConcurrency.$"], "States.StringToJson('${OrganizationSweepMaxConcurrency}')");
    assert_eq!(map["ToleratedFailurePercentagePath"], "$.settings.toleratedFailurePercentage");
    assert_eq!(settings["toleratedFailurePercentage.$"], "States.StringToJson('${OrganizationSweepToleratedFailurePercentage}')");
    // Each child gets exactly the one-target input the function reads, and catches every error.
    let mut selector: Vec<&String> = map["ItemSelector"].as_object().unwrap().keys().collect();
    selector.sort();
    assert_eq!(selector, ["accountId.$", "maxDeletions.$", "mode.$", "planId.$", "planOnly.$", "region.$"]);
    let catch = &map["ItemProcessor"]["States"]["SweepTarget"]["Catch"];
    assert_eq!(catch.as_array().unwrap().len(), 1);
    assert_eq!((&catch[0]["ErrorEquals"], &catch[0]["ResultPath"]), (&json!(["States.ALL"]), &json!("$.error")));
    let failed = &map["ItemProcessor"]["States"][catch[0]["Next"].as_str().unwrap()];
    assert_eq!((&failed["Type"], &failed["End"]), (&json!("Pass"), &json!(true)));
    assert_eq!(failed["Parameters"]["error"], json!({"Error.$": "$.error.Error", "Cause.$": "$.error.Cause"}));
    // The state keeps where the results are, and the summary reads them from there.
    assert_eq!(map["ResultPath"], "$.results");
    let summarize = &definition["States"]["Summarize"]["Parameters"]["Payload"]["summarize"];
    assert_eq!(summarize["resultWriterDetails.$"], "$.results.ResultWriterDetails");
}

#[test]
fn no_state_holds_a_list_that_grows_with_the_targets_so_a_hundred_thousand_fit_in_256_kib() {
    let definition = definition();
    // The Plan keeps the targets' count and file, never the targets.
    let kept: Vec<&String> = definition["States"]["Plan"]["ResultSelector"].as_object().unwrap().keys().collect();
    assert!(kept.iter().all(|key| !key.starts_with("targets.")), "{kept:?}");
    assert!(kept.contains(&&"targetsFile.$".to_owned()) && kept.contains(&&"targetCount.$".to_owned()), "{kept:?}");
    // The state after the Map, for 20,000 accounts in 5 regions (of the longest names): the plan
    // and where the Map wrote its results.
    let state = json!({
        "settings": { "maxConcurrency": 1000, "toleratedFailurePercentage": 100 },
        "plan": {
            "sweepId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "mode": "delete", "maxDeletions": 1000,
            "source": "organization", "accounts": 20_000, "regions": vec!["ap-southeast-5"; 5], "targetCount": 100_000,
            "targetsFile": { "Bucket": "organization-sweep-plans-123456789012", "Key": "plans/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/targets.jsonl" },
        },
        "results": {
            "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:OrganizationSweep/SweepTargets:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "ResultWriterDetails": { "Bucket": "organization-sweep-plans-123456789012",
                                     "Key": "results/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/manifest.json" },
        },
    });
    let size = state.to_string().len();
    assert!(size < 2_048, "{size} bytes, whatever the count of targets");
    assert!(size < STATE_DATA_LIMIT);
}

#[test]
fn the_state_of_an_approved_plan_holds_its_largest_plan_and_answer_within_256_kib() {
    let definition = definition();
    // What the approval adds: the plan's file and counts (one account per instance, at worst), and
    // an answer naming every instance of the plan.
    assert_eq!(
        definition["States"]["SummarizePlan"]["ResultSelector"],
        json!({"file.$": "$.Payload.plan.file", "instances.$": "$.Payload.plan.instances", "accounts.$": "$.Payload.plan.accounts"})
    );
    let most = supplychain_delete_instance::config::MAX_PLANNED as usize;
    let accounts: serde_json::Map<String, Value> =
        (0..most).map(|n| (format!("{:012}", 300_000_000_000u64 + n as u64), json!(1))).collect();
    let arns: Vec<String> = (0..most)
        .map(|n| format!("arn:aws:scn:ap-southeast-5:{:012}:instance/0f1e2d3c-4b5a-6978-8796-{n:012}", 300_000_000_000u64 + n as u64))
        .collect();
    let id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    let file = json!({ "Bucket": "organization-sweep-plans-123456789012", "Key": format!("plans/{id}/plan.jsonl") });
    let results = json!({
        "MapRunArn": format!("arn:aws:states:us-east-1:123456789012:mapRun:OrganizationSweep/SweepTargets:{id}"),
        "ResultWriterDetails": { "Bucket": "organization-sweep-plans-123456789012", "Key": format!("results/{id}/{id}/manifest.json") },
    });
    let state = json!({
        "settings": { "maxConcurrency": 1000, "toleratedFailurePercentage": 100 },
        "plan": {
            "sweepId": id, "planId": id, "mode": "delete", "maxDeletions": most, "source": "organization", "accounts": 20_000,
            "regions": vec!["ap-southeast-5"; 5], "targetCount": 100_000, "approval": { "required": true, "timeoutSeconds": 31_536_000 },
            "targetsFile": { "Bucket": "organization-sweep-plans-123456789012", "Key": format!("plans/{id}/targets.jsonl") },
        },
        "results": results,
        "planned": { "file": file, "instances": most, "accounts": accounts },
        "decision": { "approve": arns, "approvedBy": "x".repeat(256), "note": "x".repeat(1_024) },
        "approved": { "approved": most, "approvedFile": { "Bucket": "organization-sweep-plans-123456789012", "Key": format!("plans/{id}/approved.jsonl") } },
        "executed": results,
    });
    let size = state.to_string().len();
    assert!(size < STATE_DATA_LIMIT / 2, "{size} bytes");
}

/// The objects of the stack's bucket under `prefix`, each read whole.
pub(crate) async fn objects(stack: &Stack, prefix: &str) -> Vec<(String, String)> {
    let s3 = aws_sdk_s3::Client::new(&stack.moto.sdk_config);
    let listed = s3.list_objects_v2().bucket(&stack.bucket).prefix(prefix).send().await.expect("list the bucket");
    let mut found = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_owned();
        let body = s3.get_object().bucket(&stack.bucket).key(&key).send().await.unwrap().body.collect().await.unwrap();
        found.push((key, String::from_utf8(body.to_vec()).unwrap()));
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_targets_are_read_from_the_plan_s_file_and_summed_up_from_the_results_the_map_wrote() {
    // 1,000 accounts in two regions: the first two hold instances, the last has no member role.
    let accounts: Vec<String> =
        std::iter::once(HOME.to_owned()).chain((1..1_000).map(|n| format!("{:012}", 300_000_000_000u64 + n))).collect();
    let broken = accounts.last().unwrap().clone();
    // The queue receives the summary only: 2,000 reports are more than a test needs to read back.
    let summaries = json!({"source": [SWEEP_SOURCE], "detail-type": [SUMMARY]});
    let stack = Stack::start_seeding(&accounts, std::slice::from_ref(&broken), 2, summaries, &[]).await;
    let report = stack.execute(json!({"accounts": accounts, "mode": "report"}), json!({"OrganizationSweepMaxConcurrency": "40"})).await;
    assert_eq!(report["states"], json!(["ReadSettings", "ApplyDefaults", "Plan", "SweepTargets", "ApprovalRequired", "Summarize"]));
    assert_eq!(report["iterations"].as_array().unwrap().len(), 2_000);
    // The plan's file holds every target, one a line; no state held them.
    let plans = objects(&stack, "plans/").await;
    assert_eq!(plans.len(), 1, "{:?}", plans.iter().map(|(key, _)| key).collect::<Vec<_>>());
    let lines: Vec<Value> = plans[0].1.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 2_000);
    let plan_id = &report["output"]["sweepId"];
    assert_eq!(&report["output"]["planId"], plan_id, "the summary names its plan");
    assert_eq!(
        lines[0],
        json!({"accountId": HOME, "region": REGION, "mode": "report", "maxDeletions": 0, "planId": plan_id, "planOnly": false})
    );
    // The Map wrote its manifest and one file of 2,000 children, which the summary read back.
    let results = objects(&stack, "results/").await;
    let manifest: Value = serde_json::from_str(&results.iter().find(|(key, _)| key.ends_with("/manifest.json")).unwrap().1).unwrap();
    let succeeded = manifest["ResultFiles"]["SUCCEEDED"].as_array().unwrap();
    assert_eq!(succeeded.len(), 1, "{manifest}");
    let file = &results.iter().find(|(key, _)| Some(key.as_str()) == succeeded[0]["Key"].as_str()).unwrap().1;
    assert_eq!(serde_json::from_str::<Vec<Value>>(file).unwrap().len(), 2_000);
    let summary = &report["output"];
    let seeded: Vec<&Seeded> = stack.seeded.iter().collect();
    assert_eq!(
        (summary["targets"].as_u64(), summary["swept"].as_u64(), summary["failedCount"].as_u64()),
        (Some(2_000), Some(1_998), Some(2))
    );
    assert_eq!(summary["examined"].as_u64(), Some(seeded.iter().map(|s| s.instances as u64).sum()));
    assert_eq!(summary["counts"]["selected"].as_u64(), Some(seeded.iter().map(|s| s.expired.len() as u64).sum()));
    let failed: Vec<(&str, &str)> = summary["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["accountId"].as_str().unwrap(), f["errorType"].as_str().unwrap()))
        .collect();
    assert_eq!(failed, [(broken.as_str(), "RoleNotAssumable"), (broken.as_str(), "RoleNotAssumable")]);
    // The summary on the bus is the execution's output.
    let events = stack.events().await;
    let on_bus = of_type(&events, SUMMARY);
    assert_eq!(on_bus.len(), 1);
    assert_eq!(&on_bus[0]["detail"], summary);
}
