//! One deployment, many accounts and regions, through the compiled binaries: the emulator holds
//! instances of three accounts in two regions, serves STS `AssumeRole` for the member role, and
//! logs in which account and region each call acted.

use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::Outcome;
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Role, SeedInstance};

const HOME: &str = "123456789012";
const MEMBER: &str = "210987654321";
/// An account with no member role.
const STRANGER: &str = "333333333333";
const ROLE: &str = "SupplyChainInstanceDeletion";
const OTHER_REGION: &str = "eu-west-1";

const HOME_ID: &str = "10000000-0000-4000-8000-000000000001";
const MEMBER_ID: &str = "20000000-0000-4000-8000-000000000002";
const MEMBER_EU_ID: &str = "20000000-0000-4000-8000-000000000003";
const PROTECTED_MEMBER_ID: &str = "20000000-0000-4000-8000-000000000004";

/// Three accounts in two regions: the home account, a member whose role trusts the home account,
/// and one without the role.
async fn accounts(min_session_seconds: u64) -> Emulator {
    let emulator = emulator_with(EmulatorConfig {
        extra_regions: vec![OTHER_REGION.to_owned()],
        accounts: vec![Account::new(MEMBER, vec![Role::trusting(ROLE, &[HOME])]), Account::new(STRANGER, vec![])],
        min_session_seconds,
        ..Default::default()
    })
    .await;
    let seed = |id: &str, account: &str, region: Option<&str>, tags: &[(&str, &str)]| {
        emulator.seed(SeedInstance {
            instance_id: Some(id.to_owned()),
            aws_account_id: Some(account.to_owned()),
            region: region.map(str::to_owned),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        });
    };
    seed(HOME_ID, HOME, None, &[]);
    seed(MEMBER_ID, MEMBER, None, &[]);
    seed(MEMBER_EU_ID, MEMBER, Some(OTHER_REGION), &[]);
    seed(PROTECTED_MEMBER_ID, MEMBER, None, &[("DeletionProtection", "true")]);
    emulator
}

/// The function's environment: the emulator serves Supply Chain and STS.
fn env(emulator: &Emulator, moto: &Moto, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = moto.function_env(emulator.endpoint());
    env.push(("AWS_ENDPOINT_URL_STS", emulator.endpoint()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

/// Whether the instance's deletion was started: its states so far went through `Deleting`.
fn deletion_started(emulator: &Emulator, id: &str) -> bool {
    states(emulator, id).iter().any(|state| state == "Deleting")
}

/// The Supply Chain calls (every call but STS's), as (operation, account, region).
fn supply_chain_calls(emulator: &Emulator) -> Vec<(String, String, String)> {
    emulator
        .calls()
        .into_iter()
        .filter(|call| call.operation != "AssumeRole")
        .map(|call| (call.operation, call.account_id.unwrap_or_default(), call.region.unwrap_or_default()))
        .collect()
}

fn error_type(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Error { error_type, .. } => error_type,
        Outcome::Response(response) => panic!("expected an error, got {response}"),
    }
}

#[tokio::test]
async fn a_request_for_another_account_deletes_there_and_nowhere_else() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[])).await;

    let request = fixture("direct-other-account.json");
    assert_eq!((&request["instanceId"], &request["accountId"]), (&json!(MEMBER_ID), &json!(MEMBER)));
    let outcome = delete.invoke(request, DELETE_ARN, Duration::from_secs(20)).await;

    let output = response(&outcome);
    assert_eq!(output["instance"]["state"], "Deleting", "{}", delete.logs());
    // Its own region, named or not, is no target of its own: only the account is.
    assert_eq!((&output["accountId"], output.get("region")), (&json!(MEMBER), None), "{output}");
    assert!(deletion_started(&emulator, MEMBER_ID));
    assert!(!deletion_started(&emulator, HOME_ID));
    assert_eq!(emulator.call_count("AssumeRole"), 1);
    let assumed = emulator.calls().into_iter().find(|call| call.operation == "AssumeRole").unwrap();
    assert_eq!(assumed.role_arn.as_deref(), Some(format!("arn:aws:iam::{MEMBER}:role/{ROLE}").as_str()));
    for (operation, account, region) in supply_chain_calls(&emulator) {
        assert_eq!((account.as_str(), region.as_str()), (MEMBER, "us-east-1"), "{operation}");
    }
    // The announcement names the instance in its own account, and the target for the checker.
    let started = moto.received().await.into_iter().find(|e| e["detail-type"] == "Supply Chain Instance Deletion Started").unwrap();
    assert_eq!(started["resources"], json!([format!("arn:aws:scn:us-east-1:{MEMBER}:instance/{MEMBER_ID}")]));
    assert_eq!(started["detail"]["accountId"], MEMBER);
}

#[tokio::test]
async fn a_request_without_a_target_still_acts_in_the_functions_own_account() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[])).await;

    let outcome = delete.invoke(json!({"instanceId": HOME_ID}), DELETE_ARN, Duration::from_secs(20)).await;

    let output = response(&outcome);
    assert_eq!((&output["instance"]["instanceId"], &output["instance"]["state"]), (&json!(HOME_ID), &json!("Deleting")));
    assert!(output.get("accountId").is_none() && output.get("region").is_none(), "the output reads as before: {output}");
    assert_eq!(emulator.call_count("AssumeRole"), 0);
    assert!(supply_chain_calls(&emulator).iter().all(|(_, account, _)| account == HOME));
}

#[tokio::test]
async fn another_region_of_the_member_account_is_reached_when_allowed() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let request = json!({"instanceId": MEMBER_EU_ID, "accountId": MEMBER, "region": OTHER_REGION});
    let refusing = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[])).await;
    let outcome = refusing.invoke(request.clone(), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&outcome), "RegionNotAllowed");
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());

    let allowing =
        FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[("ALLOWED_REGIONS", OTHER_REGION)])).await;
    let output = response(&allowing.invoke(request, DELETE_ARN, Duration::from_secs(20)).await).clone();

    assert_eq!((&output["accountId"], &output["region"]), (&json!(MEMBER), &json!(OTHER_REGION)), "{output}");
    assert!(deletion_started(&emulator, MEMBER_EU_ID));
    for (operation, account, region) in supply_chain_calls(&emulator) {
        assert_eq!((account.as_str(), region.as_str()), (MEMBER, OTHER_REGION), "{operation}");
    }
}

#[tokio::test]
async fn a_confused_deputy_event_and_an_account_outside_the_list_are_refused_before_any_call() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[("ALLOWED_ACCOUNT_IDS", MEMBER)])).await;

    let confused = fixture_now("eventbridge-confused-deputy.json");
    assert_eq!(confused["account"], STRANGER);
    assert_eq!(confused["detail"]["accountId"], MEMBER);
    let outcome = delete.invoke(confused, DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&outcome), "AccountNotAllowed", "{}", delete.logs());

    let outside = delete.invoke(json!({"instanceId": MEMBER_ID, "accountId": STRANGER}), DELETE_ARN, Duration::from_secs(20)).await;
    assert_eq!(error_type(&outside), "AccountNotAllowed");

    assert!(emulator.calls().is_empty(), "no Supply Chain and no STS call: {:?}", emulator.calls());
    assert!(!deletion_started(&emulator, MEMBER_ID));
}

#[tokio::test]
async fn an_event_forwarded_from_a_member_account_deletes_in_that_account() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[])).await;

    let forwarded = fixture_now("eventbridge-forwarded-from-member.json");
    assert_eq!(forwarded["account"], MEMBER);
    assert!(forwarded["detail"].get("accountId").is_none(), "the sender's account is the target");
    let output = response(&delete.invoke(forwarded, DELETE_ARN, Duration::from_secs(20)).await).clone();

    assert_eq!(output["accountId"], MEMBER, "{output}");
    assert!(deletion_started(&emulator, MEMBER_ID));
    assert!(!deletion_started(&emulator, HOME_ID));
}

#[tokio::test]
async fn a_protected_instance_of_another_account_is_never_deleted() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[])).await;

    let outcome = delete.invoke(json!({"instanceId": PROTECTED_MEMBER_ID, "accountId": MEMBER}), DELETE_ARN, Duration::from_secs(20)).await;

    assert_eq!(error_type(&outcome), "DeletionProtected");
    assert_eq!(emulator.call_count("DeleteInstance"), 0);
}

#[tokio::test]
async fn fifty_warm_invocations_for_one_member_account_assume_its_role_once_and_again_once_it_expires() {
    // Sessions of 15 s: the SDK's identity cache renews credentials 10 s before they expire.
    let emulator = accounts(1).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[("MEMBER_SESSION_SECONDS", "15")])).await;
    let dry_run = json!({"instanceId": MEMBER_ID, "accountId": MEMBER, "dryRun": true});

    for _ in 0..50 {
        let output = response(&delete.invoke(dry_run.clone(), DELETE_ARN, Duration::from_secs(20)).await).clone();
        assert_eq!(output["dryRun"], true);
    }
    assert_eq!(emulator.call_count("AssumeRole"), 1, "one AssumeRole for 50 invocations");

    // The credentials' end: invocations go on until one renews them, within a bound.
    let started = std::time::Instant::now();
    while emulator.call_count("AssumeRole") < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "the credentials were never renewed");
        response(&delete.invoke(dry_run.clone(), DELETE_ARN, Duration::from_secs(20)).await);
    }
    assert_eq!(emulator.call_count("AssumeRole"), 2);
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_a_permanent_error_naming_the_role_and_deletes_nothing() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[])).await;

    let outcome = delete.invoke(json!({"instanceId": MEMBER_ID, "accountId": STRANGER}), DELETE_ARN, Duration::from_secs(20)).await;

    let Outcome::Error { error_type, error_message, .. } = &outcome else { panic!("expected an error, got {outcome:?}") };
    assert_eq!(error_type, "RoleNotAssumable", "{error_message}");
    assert!(error_message.contains(&format!("arn:aws:iam::{STRANGER}:role/{ROLE}")), "{error_message}");
    assert_eq!(emulator.call_count("DeleteInstance"), 0);
    assert!(!deletion_started(&emulator, MEMBER_ID));
}

#[tokio::test]
async fn the_checker_follows_a_deletion_to_its_end_in_the_member_account_and_announces_who_asked() {
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let env = env(&emulator, &moto, &[]);
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env).await;
    let check = FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &env).await;

    let request = json!({"instanceId": MEMBER_ID, "accountId": MEMBER, "requestedBy": "team-planning", "ticket": "OPS-42"});
    response(&delete.invoke(request, DELETE_ARN, Duration::from_secs(20)).await);
    let started = moto.received().await.into_iter().find(|e| e["detail-type"] == "Supply Chain Instance Deletion Started").unwrap();
    let report = response(&check.invoke(started, CHECK_ARN, Duration::from_secs(20)).await).clone();

    assert_eq!((&report["outcome"], &report["accountId"]), (&json!("Deleted"), &json!(MEMBER)), "{report}");
    let deleted: Vec<Value> = moto.received().await.into_iter().filter(|e| e["detail-type"] == "Supply Chain Instance Deleted").collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["detail"]["accountId"], MEMBER);
    // The outcome records who asked and why, as the request said.
    assert_eq!(deleted[0]["detail"]["request"], json!({"requestedBy": "team-planning", "ticket": "OPS-42"}));
    assert_eq!(deleted[0]["resources"], json!([format!("arn:aws:scn:us-east-1:{MEMBER}:instance/{MEMBER_ID}")]));
    assert!(supply_chain_calls(&emulator).iter().all(|(_, account, _)| account == MEMBER));
}

#[tokio::test]
async fn sts_throttled_or_unavailable_past_its_retries_is_a_retryable_error_and_the_next_invocation_succeeds() {
    use supplychain_emulator::{Fault, FaultRule};
    let emulator = accounts(900).await;
    let moto = Moto::start().await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(&emulator, &moto, &[])).await;
    let dry_run = json!({"instanceId": MEMBER_ID, "accountId": MEMBER, "dryRun": true});

    // Past the SDK's three attempts, each time.
    for (fault, expected) in [(Fault::Throttle, "Throttled"), (Fault::Unavailable, "ServiceUnavailable")] {
        emulator.inject(FaultRule::new("AssumeRole", 3, fault));
        let outcome = delete.invoke(dry_run.clone(), DELETE_ARN, Duration::from_secs(20)).await;
        assert_eq!(error_type(&outcome), expected, "{}", delete.logs());
    }
    assert_eq!(emulator.call_count("AssumeRole"), 6);
    assert_eq!(emulator.call_count("ListTagsForResource"), 0);

    let output = response(&delete.invoke(dry_run, DELETE_ARN, Duration::from_secs(20)).await).clone();
    assert_eq!(output["dryRun"], true);
    assert_eq!(emulator.call_count("AssumeRole"), 7);
}
