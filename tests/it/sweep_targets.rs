//! The sweep's targets through the compiled `sweep-instances` binary: one named target in a member
//! account and another region, followed to its deletion by the compiled `delete-instance`;
//! `SWEEP_ACCOUNTS` x `SWEEP_REGIONS` one after the other, an account without the member role
//! failed while the others go on, each role assumed once; a slow target leaving the later ones
//! deferred; the cap bounding the whole run across targets; and the organization plan of an input
//! account list, its shares of the cap run as the children would run them. The emulator holds
//! instances of several accounts in two regions, serves STS `AssumeRole`, and logs the account and
//! region each call acted in; moto's EventBridge receives the reports and the requests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::{json, Value};
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Fault, FaultRule, Role, SeedInstance};

const HOME: &str = ACCOUNT;
const MEMBER: &str = "210987654321";
const MEMBER_2: &str = "210987654322";
/// An account without the member role.
const STRANGER: &str = "333333333333";
/// An account the plan is given but `ALLOWED_ACCOUNT_IDS` does not name.
const OUTSIDER: &str = "444444444444";
const ROLE: &str = "SupplyChainInstanceDeletion";
const OTHER_REGION: &str = "eu-west-1";
const SWEEP_SOURCE: &str = "supplychain-instance-sweep";
const REQUESTED: &str = "Supply Chain Instance Deletion Requested";
const COMPLETED: &str = "Supply Chain Instance Sweep Completed";

/// What one account and region holds, in listing order within each kind.
#[derive(Debug, Clone, Default)]
struct Seeded {
    account: &'static str,
    region: &'static str,
    /// Expiry tag passed: selected.
    expired: Vec<String>,
    /// Expiry tag passed and protected: skipped as `DeletionProtected`.
    protected: Vec<String>,
    /// Expiry tag in the future: kept, not listed in the report.
    kept: Vec<String>,
    /// `Deleted` (still listed for a while): kept without a tag read.
    deleted: Vec<String>,
}

impl Seeded {
    /// Every listed instance.
    fn listed(&self) -> usize {
        self.expired.len() + self.protected.len() + self.kept.len() + self.deleted.len()
    }

    /// The instances whose tags the sweep reads: all but the `Deleted` ones.
    fn read(&self) -> BTreeSet<String> {
        self.expired.iter().chain(&self.protected).chain(&self.kept).cloned().collect()
    }

    /// ListInstances pages of 20.
    fn pages(&self) -> usize {
        self.listed().div_ceil(20).max(1)
    }
}

/// How many instances of each kind to seed in one account and region.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    expired: u32,
    protected: u32,
    kept: u32,
    deleted: u32,
}

/// Seeds `counts` in `account` and `region`; `target` (below 0x10000) keeps the ids of each account
/// and region apart, and they sort in the order they are seeded, which is the listing order.
fn seed(emulator: &Emulator, target: u32, account: &'static str, region: &'static str, counts: Counts) -> Seeded {
    let (expired, future) = (time_from_now(-3_600), time_from_now(10 * 86_400));
    let mut seeded = Seeded { account, region, ..Default::default() };
    // (kind, how many, state, tags)
    type Kind<'a> = (u32, u32, &'static str, Vec<(&'static str, &'a str)>);
    let kinds: [Kind; 4] = [
        (1, counts.expired, "Active", vec![("ExpiresAt", &expired)]),
        (2, counts.protected, "Active", vec![("ExpiresAt", &expired), ("DeletionProtection", "true")]),
        (3, counts.kept, "Active", vec![("ExpiresAt", &future)]),
        (4, counts.deleted, "Deleted", vec![("ExpiresAt", &expired)]),
    ];
    for (kind, count, state, tags) in kinds {
        for n in 0..count {
            let id = format!("{target:04x}{kind:04x}-0000-4000-8000-{n:012x}");
            emulator.seed(SeedInstance {
                instance_id: Some(id.clone()),
                instance_name: Some(format!("t{target}-k{kind}-{n}")),
                aws_account_id: Some(account.to_owned()),
                region: Some(region.to_owned()),
                state: Some(state.to_owned()),
                tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                ..Default::default()
            });
            match kind {
                1 => seeded.expired.push(id),
                2 => seeded.protected.push(id),
                3 => seeded.kept.push(id),
                _ => seeded.deleted.push(id),
            }
        }
    }
    seeded
}

/// The emulator serving both regions, with two member accounts whose role trusts the home account
/// and one account without the role; moto with a bus whose sweep events a queue receives.
async fn stack() -> (Emulator, Moto) {
    let emulator = emulator_with(EmulatorConfig {
        extra_regions: vec![OTHER_REGION.to_owned()],
        accounts: vec![
            Account::new(MEMBER, vec![Role::trusting(ROLE, &[HOME])]),
            Account::new(MEMBER_2, vec![Role::trusting(ROLE, &[HOME])]),
            Account::new(STRANGER, vec![]),
        ],
        ..Default::default()
    })
    .await;
    let moto = Moto::start().await;
    moto.subscribe(SWEEP_SOURCE).await;
    (emulator, moto)
}

/// A function's environment: Supply Chain and STS at the emulator, the other region allowed, and
/// `extra` after these (a later value of a name wins).
fn env(emulator: &Emulator, moto: &Moto, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = moto.function_env(emulator.endpoint());
    env.push(("AWS_ENDPOINT_URL_STS", emulator.endpoint()));
    env.push(("ALLOWED_REGIONS", OTHER_REGION.to_owned()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

async fn sweep_process(emulator: &Emulator, moto: &Moto, extra: &[(&'static str, &str)]) -> FunctionProcess {
    FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env(emulator, moto, extra)).await
}

/// Invokes the sweep with a deadline 30 s away and answers its report.
async fn sweep(process: &FunctionProcess, payload: Value) -> Value {
    let outcome = process.invoke(payload, SWEEP_ARN, Duration::from_secs(30)).await;
    match outcome.response() {
        Some(report) => report.clone(),
        None => panic!("expected a report, got {outcome:?}\n{}", process.logs()),
    }
}

/// The Supply Chain calls (every call but STS's), as (operation, account, region, instance).
fn supply_chain_calls(emulator: &Emulator) -> Vec<(String, String, String, Option<String>)> {
    emulator
        .calls()
        .into_iter()
        .filter(|call| call.operation != "AssumeRole")
        .map(|call| (call.operation, call.account_id.unwrap_or_default(), call.region.unwrap_or_default(), call.instance_id))
        .collect()
}

/// How many calls of each operation acted in each account and region.
fn calls_by_target(emulator: &Emulator) -> BTreeMap<(String, String, String), usize> {
    let mut counted = BTreeMap::new();
    for (operation, account, region, _) in supply_chain_calls(emulator) {
        *counted.entry((operation, account, region)).or_default() += 1;
    }
    counted
}

/// What the calls must have been for the targets in `swept`: one ListInstances per page and one
/// ListTagsForResource per instance that is not `Deleted`, and nothing else.
fn reads_of(swept: &[&Seeded]) -> BTreeMap<(String, String, String), usize> {
    let mut expected = BTreeMap::new();
    for target in swept {
        let key = |operation: &str| (operation.to_owned(), target.account.to_owned(), target.region.to_owned());
        expected.insert(key("ListInstances"), target.pages());
        if !target.read().is_empty() {
            expected.insert(key("ListTagsForResource"), target.read().len());
        }
    }
    expected
}

/// The instances whose tags were read, each as often as it was read.
fn tags_read(emulator: &Emulator) -> BTreeMap<String, usize> {
    let mut read = BTreeMap::new();
    for (operation, _, _, instance) in supply_chain_calls(emulator) {
        if operation == "ListTagsForResource" {
            *read.entry(instance.expect("a tag read names its instance")).or_default() += 1;
        }
    }
    read
}

/// The role each AssumeRole asked for, with how many times it was asked.
fn assumed(emulator: &Emulator) -> BTreeMap<String, usize> {
    let mut roles = BTreeMap::new();
    for call in emulator.calls().into_iter().filter(|call| call.operation == "AssumeRole") {
        *roles.entry(call.role_arn.unwrap_or_default()).or_default() += 1;
    }
    roles
}

fn role_of(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/{ROLE}")
}

/// The sweep's events on the bus, as a subscriber receives them.
async fn sweep_events(moto: &Moto) -> Vec<Value> {
    moto.received().await.into_iter().filter(|event| event["source"] == SWEEP_SOURCE).collect()
}

fn of_type(events: &[Value], detail_type: &str) -> Vec<Value> {
    events.iter().filter(|event| event["detail-type"] == detail_type).cloned().collect()
}

/// The ids of a report list, in order.
fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap_or_else(|| panic!("not a list: {list}")).iter().map(|e| e["instanceId"].as_str().unwrap().to_owned()).collect()
}

/// The (account, region) each entry of a report list names.
fn places(list: &Value) -> Vec<(String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
    list.as_array().unwrap().iter().map(|entry| (text(&entry["accountId"]), text(&entry["region"]))).collect()
}

/// `targets` in order, as (account, region) with `ids` of each.
fn in_order<'a>(targets: &[&'a Seeded], ids: impl Fn(&'a Seeded) -> &'a [String]) -> (Vec<String>, Vec<(String, String)>) {
    let mut all = Vec::new();
    let mut at = Vec::new();
    for target in targets {
        for id in ids(target) {
            all.push(id.clone());
            at.push((target.account.to_owned(), target.region.to_owned()));
        }
    }
    (all, at)
}

/// Each target of a report, as (account, region, status, examined).
fn target_rows(report: &Value) -> Vec<(&str, &str, &str, u64)> {
    report["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|t| {
            (
                t["accountId"].as_str().unwrap(),
                t["region"].as_str().unwrap(),
                t["status"].as_str().unwrap(),
                t["examined"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The target (in a member account and the other region, with every kind of instance) and the
/// expired instances of three others: the function's own, the member's in the home region, and
/// another member's in the other region.
fn one_target_among_others(emulator: &Emulator) -> (Seeded, Vec<String>) {
    let full = Counts { expired: 2, protected: 1, kept: 1, deleted: 1 };
    let home = seed(emulator, 1, HOME, REGION, Counts { expired: 2, ..Default::default() });
    let member_home_region = seed(emulator, 2, MEMBER, REGION, Counts { expired: 2, ..Default::default() });
    let target = seed(emulator, 3, MEMBER, OTHER_REGION, full);
    let other_member = seed(emulator, 4, MEMBER_2, OTHER_REGION, Counts { expired: 2, ..Default::default() });
    let others = home.expired.into_iter().chain(member_home_region.expired).chain(other_member.expired).collect();
    (target, others)
}

/// The report names the target at the top and in every entry, and lists only its instances.
fn assert_the_report_is_of_the_target_alone(report: &Value, target: &Seeded) {
    assert_eq!((&report["accountId"], &report["region"], &report["mode"]), (&json!(MEMBER), &json!(OTHER_REGION), &json!("report")));
    assert!(report.get("targets").is_none(), "a one-target run has no targets list: {report}");
    assert_eq!((&report["examined"], &report["complete"]), (&json!(target.listed()), &json!(true)), "{report}");
    assert_eq!(ids(&report["selected"]), target.expired);
    assert_eq!(ids(&report["skipped"]), target.protected);
    assert_eq!(report["skipped"][0]["reason"], "DeletionProtected");
    for list in ["selected", "skipped"] {
        assert!(places(&report[list]).iter().all(|place| place == &(MEMBER.to_owned(), OTHER_REGION.to_owned())), "{list}: {report}");
    }
    assert_eq!(report["counts"], json!({"selected": 2, "requested": 0, "deferred": 0, "skipped": 1}));
}

/// Only that account and region was read: one page, each instance but the Deleted one once; and
/// the report is on the bus.
async fn assert_only_the_target_was_read_and_its_report_announced(emulator: &Emulator, moto: &Moto, target: &Seeded, report: &Value) {
    assert_eq!(calls_by_target(emulator), reads_of(&[target]));
    assert_eq!(tags_read(emulator), target.read().into_iter().map(|id| (id, 1)).collect());
    assert_eq!(assumed(emulator), BTreeMap::from([(role_of(MEMBER), 1)]));
    let events = sweep_events(moto).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((&events[0]["detail-type"], &events[0]["detail"]), (&json!(COMPLETED), report));
}

/// Each request names the target, so the delete function acts there; answers the requests.
async fn assert_each_request_names_the_target(emulator: &Emulator, moto: &Moto, target: &Seeded, report: &Value) -> Vec<Value> {
    assert_eq!(ids(&report["requested"]), target.expired, "{report}");
    assert_eq!(emulator.call_count("AssumeRole"), 0, "the member role's session of the first run is kept");
    let requests = of_type(&sweep_events(moto).await, REQUESTED);
    assert_eq!(requests.len(), 2);
    for (request, id) in requests.iter().zip(&target.expired) {
        assert_eq!(
            request["detail"],
            json!({"instanceId": id, "accountId": MEMBER, "region": OTHER_REGION, "reason": "ExpiryTagPassed", "sweepId": report["sweepId"]})
        );
        assert_eq!(request["resources"], json!([format!("arn:aws:scn:{OTHER_REGION}:{MEMBER}:instance/{id}")]));
        assert_eq!(request["resources"], json!([emulator.instance_arn(id)]));
    }
    assert_eq!(emulator.call_count("DeleteInstance"), 0, "the sweep never deletes by itself");
    requests
}

/// The compiled delete function, given each request as its rule delivers it, deletes the instance
/// in the member account's other region and nowhere else: `left_alone` stays `Active`.
async fn assert_the_delete_function_deletes_only_in_the_target(
    emulator: &Emulator,
    moto: &Moto,
    requests: &[Value],
    target: &Seeded,
    left_alone: &[String],
) {
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env(emulator, moto, &[])).await;
    for request in requests {
        let outcome = delete.invoke(request.clone(), DELETE_ARN, Duration::from_secs(30)).await;
        let output = outcome.response().unwrap_or_else(|| panic!("{outcome:?}\n{}", delete.logs()));
        assert_eq!(
            (&output["instance"]["state"], &output["accountId"], &output["region"]),
            (&json!("Deleting"), &json!(MEMBER), &json!(OTHER_REGION))
        );
    }
    for id in &target.expired {
        assert!(states(emulator, id).iter().any(|state| state == "Deleting"), "{id}: {:?}", states(emulator, id));
    }
    for id in left_alone.iter().chain(&target.protected) {
        assert_eq!(states(emulator, id), ["Active"], "{id} was left alone");
    }
    let deletes: Vec<_> = supply_chain_calls(emulator).into_iter().filter(|(op, ..)| op == "DeleteInstance").collect();
    assert_eq!(deletes.len(), 2);
    assert!(deletes.iter().all(|(_, account, region, _)| (account.as_str(), region.as_str()) == (MEMBER, OTHER_REGION)), "{deletes:?}");
}

#[tokio::test]
async fn one_named_target_in_a_member_account_and_another_region_is_the_only_one_examined_and_its_requests_delete_there() {
    let (emulator, moto) = stack().await;
    let (target, others) = one_target_among_others(&emulator);
    let process = sweep_process(&emulator, &moto, &[]).await;

    // GIVEN the fixture a user invokes; WHEN it runs in report mode
    let request = fixture("sweep/one-target.json");
    assert_eq!(request, json!({"accountId": MEMBER, "region": OTHER_REGION, "mode": "report"}), "the fixture names this target");
    let report = sweep(&process, request).await;

    // THEN the report is of the target alone, and only the target was read
    assert_the_report_is_of_the_target_alone(&report, &target);
    assert_only_the_target_was_read_and_its_report_announced(&emulator, &moto, &target, &report).await;

    // WHEN it runs in delete mode, in the same warm process
    emulator.clear_calls();
    let report = sweep(&process, json!({"accountId": MEMBER, "region": OTHER_REGION, "mode": "delete"})).await;

    // THEN each request names the target, so the delete function acts there
    let requests = assert_each_request_names_the_target(&emulator, &moto, &target, &report).await;

    // AND the compiled delete function deletes each instance there and nowhere else
    emulator.clear_calls();
    assert_the_delete_function_deletes_only_in_the_target(&emulator, &moto, &requests, &target, &others).await;
}

#[tokio::test]
async fn a_named_target_whose_role_cannot_be_assumed_fails_the_invocation_and_puts_nothing_on_the_bus() {
    let (emulator, moto) = stack().await;
    let stranger = seed(&emulator, 1, STRANGER, REGION, Counts { expired: 2, ..Default::default() });
    let process = sweep_process(&emulator, &moto, &[]).await;

    let outcome = process.invoke(json!({"accountId": STRANGER, "mode": "delete"}), SWEEP_ARN, Duration::from_secs(30)).await;

    let (error_type, message) = error_of(&outcome);
    assert_eq!(error_type, "RoleNotAssumable", "{message}");
    assert!(message.contains(&role_of(STRANGER)), "{message}");
    assert!(supply_chain_calls(&emulator).is_empty(), "nothing acted in any account: {:?}", supply_chain_calls(&emulator));
    assert!(assumed(&emulator).keys().all(|role| *role == role_of(STRANGER)), "{:?}", assumed(&emulator));
    assert_eq!(sweep_events(&moto).await, Vec::<Value>::new());
    for id in &stranger.expired {
        assert_eq!(states(&emulator, id), ["Active"]);
    }
}

/// Three accounts in two regions, the second ([`STRANGER`]) without the member role, and the
/// function's own account, which is not configured: the four targets to sweep, in target order
/// (the third seeds nothing), and the instances of the others.
fn three_accounts_in_two_regions(emulator: &Emulator) -> ([Seeded; 4], Vec<String>) {
    let member_us = seed(emulator, 1, MEMBER, REGION, Counts { expired: 3, protected: 1, kept: 16, deleted: 1 });
    let member_eu = seed(emulator, 2, MEMBER, OTHER_REGION, Counts { expired: 1, kept: 2, ..Default::default() });
    let stranger_us = seed(emulator, 3, STRANGER, REGION, Counts { expired: 2, ..Default::default() });
    let stranger_eu = seed(emulator, 4, STRANGER, OTHER_REGION, Counts { expired: 1, ..Default::default() });
    let member_2_us = Seeded { account: MEMBER_2, region: REGION, ..Default::default() };
    let member_2_eu = seed(emulator, 6, MEMBER_2, OTHER_REGION, Counts { expired: 2, protected: 1, deleted: 1, ..Default::default() });
    let home = seed(emulator, 7, HOME, REGION, Counts { expired: 2, ..Default::default() });
    let untouched = stranger_us.expired.into_iter().chain(stranger_eu.expired).chain(home.expired).collect();
    ([member_us, member_eu, member_2_us, member_2_eu], untouched)
}

/// The account without the role fails in both regions with its errorType, and the others are swept
/// one after the other, each with its count.
fn assert_only_the_account_without_the_role_fails(report: &Value) {
    assert_eq!(
        target_rows(report),
        [
            (MEMBER, REGION, "swept", 21),
            (MEMBER, OTHER_REGION, "swept", 3),
            (STRANGER, REGION, "failed", 0),
            (STRANGER, OTHER_REGION, "failed", 0),
            (MEMBER_2, REGION, "swept", 0),
            (MEMBER_2, OTHER_REGION, "swept", 4),
        ],
        "{report}"
    );
    let targets = report["targets"].as_array().unwrap();
    for failed in &targets[2..4] {
        assert_eq!(failed["errorType"], "RoleNotAssumable", "{failed}");
        assert!(failed["error"].as_str().unwrap().contains(&role_of(STRANGER)), "{failed}");
    }
    for swept in targets.iter().filter(|t| t["status"] == "swept") {
        assert!(swept.get("errorType").is_none() && swept.get("error").is_none(), "{swept}");
    }
    assert_eq!(report["complete"], false, "two targets failed");
    assert!(report.get("accountId").is_none() && report.get("region").is_none(), "{report}");
    assert_eq!(report["examined"], 21 + 3 + 4);
}

/// The calls were exactly one ListInstances per page and one tag read per instance that is not
/// Deleted, in the swept targets only, nothing read twice; `untouched` stays `Active`.
fn assert_each_instance_of_the_swept_targets_is_read_once(emulator: &Emulator, swept: &[&Seeded], untouched: &[String]) {
    assert_eq!(calls_by_target(emulator), reads_of(swept), "{:?}", supply_chain_calls(emulator));
    let read: BTreeSet<String> = swept.iter().flat_map(|t| t.read()).collect();
    assert_eq!(tags_read(emulator), read.into_iter().map(|id| (id, 1)).collect());
    // One AssumeRole per account with the role, shared by its regions; the refused one is asked again
    // for its second region, as a refusal is not kept.
    let roles = assumed(emulator);
    assert_eq!(roles.keys().cloned().collect::<Vec<_>>(), [role_of(MEMBER), role_of(MEMBER_2), role_of(STRANGER)], "{roles:?}");
    assert_eq!(roles[&role_of(STRANGER)], 2, "a refusal is not kept: asked again for the second region");
    for id in untouched {
        assert_eq!(states(emulator, id), ["Active"]);
    }
}

/// The report is on the bus. Its targets are compared up to the first failed one: moto's SQS answer
/// rewrites everything from the first `<RequestId>` of a message to its last `</RequestId>`, and the
/// failed targets' errors quote STS's XML answer.
async fn assert_the_report_is_on_the_bus_up_to_its_first_failed_target(moto: &Moto, report: &Value) {
    let events = sweep_events(moto).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], COMPLETED);
    let (mut received, mut sent) = (events[0]["detail"].clone(), report.clone());
    let (received_targets, sent_targets) =
        (received.as_object_mut().unwrap().remove("targets"), sent.as_object_mut().unwrap().remove("targets"));
    assert_eq!(received, sent);
    assert_eq!(received_targets.unwrap().as_array().unwrap()[..2], sent_targets.unwrap().as_array().unwrap()[..2]);
}

#[tokio::test]
async fn sweep_accounts_by_sweep_regions_fails_only_the_account_without_the_role_and_reads_each_instance_of_the_others_once() {
    let (emulator, moto) = stack().await;
    // GIVEN three accounts in two regions, the second without the member role
    let (targets, untouched) = three_accounts_in_two_regions(&emulator);
    assert_eq!(targets[0].pages(), 2, "21 instances take two pages");
    let accounts = format!("{MEMBER},{STRANGER},{MEMBER_2}");
    let regions = format!("{REGION},{OTHER_REGION}");
    let process = sweep_process(&emulator, &moto, &[("SWEEP_ACCOUNTS", &accounts), ("SWEEP_REGIONS", &regions)]).await;

    // WHEN a scheduled run sweeps them
    let report = sweep(&process, fixture("sweep/scheduled-event.json")).await;

    // THEN the account without the role fails in both regions, and the others are swept
    assert_only_the_account_without_the_role_fails(&report);

    // AND every entry names its target, in target order
    let swept: Vec<&Seeded> = targets.iter().collect();
    let (selected, selected_at) = in_order(&swept, |t| &t.expired);
    assert_eq!((ids(&report["selected"]), places(&report["selected"])), (selected, selected_at));
    let (skipped, skipped_at) = in_order(&swept, |t| &t.protected);
    assert_eq!((ids(&report["skipped"]), places(&report["skipped"])), (skipped, skipped_at));
    assert_eq!(report["counts"], json!({"selected": 6, "requested": 0, "deferred": 0, "skipped": 2}));

    // AND each instance of the swept targets was read once, and nothing elsewhere
    assert_each_instance_of_the_swept_targets_is_read_once(&emulator, &swept, &untouched);

    // AND the report is on the bus
    assert_the_report_is_on_the_bus_up_to_its_first_failed_target(&moto, &report).await;
}

#[tokio::test]
async fn a_configured_region_outside_allowed_regions_is_a_failed_target_and_nothing_is_called_there() {
    let (emulator, moto) = stack().await;
    let home_us = seed(&emulator, 1, HOME, REGION, Counts { expired: 1, kept: 1, ..Default::default() });
    let home_eu = seed(&emulator, 2, HOME, OTHER_REGION, Counts { expired: 1, ..Default::default() });
    let regions = format!("{REGION},{OTHER_REGION}");
    let process = sweep_process(&emulator, &moto, &[("SWEEP_REGIONS", &regions), ("ALLOWED_REGIONS", "")]).await;

    let report = sweep(&process, json!({})).await;

    let targets = &report["targets"];
    assert_eq!(targets[0], json!({"region": REGION, "status": "swept", "examined": 2}), "{report}");
    assert_eq!(
        (&targets[1]["region"], &targets[1]["status"], &targets[1]["errorType"]),
        (&json!(OTHER_REGION), &json!("failed"), &json!("RegionNotAllowed"))
    );
    assert_eq!(targets.as_array().unwrap().len(), 2);
    assert!(targets[0].get("accountId").is_none(), "SWEEP_ACCOUNTS unset: the function's own account, unnamed");
    assert_eq!(ids(&report["selected"]), home_us.expired);
    assert_eq!(places(&report["selected"]), [(String::new(), REGION.to_owned())]);
    assert_eq!(calls_by_target(&emulator), reads_of(&[&home_us]));
    assert_eq!(emulator.call_count("AssumeRole"), 0);
    assert_eq!(states(&emulator, &home_eu.expired[0]), ["Active"]);
}

#[tokio::test]
async fn a_single_configured_target_in_a_member_account_is_named_at_the_top_of_the_report() {
    let (emulator, moto) = stack().await;
    let member = seed(&emulator, 1, MEMBER, REGION, Counts { expired: 1, kept: 1, ..Default::default() });
    let process = sweep_process(&emulator, &moto, &[("SWEEP_ACCOUNTS", MEMBER)]).await;

    let report = sweep(&process, json!({})).await;

    // A run of one configured target reads as a one-target run: no targets list, the target at the top.
    assert!(report.get("targets").is_none(), "{report}");
    assert_eq!((&report["accountId"], report.get("region")), (&json!(MEMBER), None), "{report}");
    assert_eq!(ids(&report["selected"]), member.expired);
    assert_eq!(report["selected"][0]["accountId"], MEMBER);
    assert_eq!(calls_by_target(&emulator), reads_of(&[&member]));
}

/// Nothing was called in the account and region of any of the deferred `targets`.
fn assert_nothing_was_called_in(emulator: &Emulator, targets: &[Seeded]) {
    for target in targets {
        let acted =
            supply_chain_calls(emulator).into_iter().any(|(_, a, r, _)| (a.as_str(), r.as_str()) == (target.account, target.region));
        assert!(!acted, "nothing was called in deferred {} {}", target.account, target.region);
    }
}

#[tokio::test]
async fn a_slow_target_leaves_the_later_ones_deferred_and_the_report_still_reaches_the_bus() {
    let (emulator, moto) = stack().await;
    // GIVEN a first target one of whose tag reads takes far longer than the invocation has
    let first = seed(&emulator, 1, MEMBER, REGION, Counts { expired: 4, ..Default::default() });
    let later = [
        seed(&emulator, 2, MEMBER, OTHER_REGION, Counts { expired: 1, ..Default::default() }),
        seed(&emulator, 3, MEMBER_2, REGION, Counts { expired: 1, ..Default::default() }),
        seed(&emulator, 4, MEMBER_2, OTHER_REGION, Counts { expired: 1, ..Default::default() }),
    ];
    let slow = first.expired[3].clone();
    emulator.inject(FaultRule::new("ListTagsForResource", 1, Fault::delay(60_000)).for_instance(&slow));
    let accounts = format!("{MEMBER},{MEMBER_2}");
    let regions = format!("{REGION},{OTHER_REGION}");
    let settings = [
        ("SWEEP_ACCOUNTS", accounts.as_str()),
        ("SWEEP_REGIONS", regions.as_str()),
        ("SWEEP_MODE", "delete"),
        ("DEADLINE_MARGIN_MS", "200"),
        ("SWEEP_SEND_RESERVE_MS", "1500"),
    ];
    let process = sweep_process(&emulator, &moto, &settings).await;
    let deadline = Duration::from_secs(5);
    let started = Instant::now();

    // WHEN a scheduled run has a few seconds
    let outcome = process.invoke(json!({}), SWEEP_ARN, deadline).await;

    // THEN it answers in time: the first target incomplete, the later ones deferred, untouched
    assert!(started.elapsed() < deadline, "answered after {:?}", started.elapsed());
    let report = response(&outcome).clone();
    assert_eq!(
        target_rows(&report),
        [
            (MEMBER, REGION, "incomplete", 3),
            (MEMBER, OTHER_REGION, "deferred", 0),
            (MEMBER_2, REGION, "deferred", 0),
            (MEMBER_2, OTHER_REGION, "deferred", 0)
        ],
        "{report}"
    );
    assert_eq!((&report["complete"], &report["examined"]), (&json!(false), &json!(3)));
    assert_nothing_was_called_in(&emulator, &later);
    assert_eq!(assumed(&emulator), BTreeMap::from([(role_of(MEMBER), 1)]), "the deferred account's role is not assumed");

    // AND what was examined in time is requested, and the report is on the bus
    assert_eq!(ids(&report["requested"]), first.expired[..3]);
    let events = sweep_events(&moto).await;
    let requested: Vec<String> =
        of_type(&events, REQUESTED).iter().map(|e| e["detail"]["instanceId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(requested, first.expired[..3]);
    let reports = of_type(&events, COMPLETED);
    assert_eq!(reports.len(), 1, "{events:?}");
    assert_eq!(reports[0]["detail"], report);
}

/// Two accounts (the function's own, and a member) in two regions, each target with two expired
/// instances and one kept.
fn four_targets_of_two_expired(emulator: &Emulator) -> [Seeded; 4] {
    let counts = Counts { expired: 2, kept: 1, ..Default::default() };
    [
        seed(emulator, 1, HOME, REGION, counts),
        seed(emulator, 2, HOME, OTHER_REGION, counts),
        seed(emulator, 3, MEMBER, REGION, counts),
        seed(emulator, 4, MEMBER, OTHER_REGION, counts),
    ]
}

#[tokio::test]
async fn the_cap_bounds_the_whole_run_across_targets_in_target_order() {
    let (emulator, moto) = stack().await;
    let targets = four_targets_of_two_expired(&emulator);
    let accounts = format!("{HOME},{MEMBER}");
    let regions = format!("{REGION},{OTHER_REGION}");
    let process = sweep_process(&emulator, &moto, &[("SWEEP_ACCOUNTS", &accounts), ("SWEEP_REGIONS", &regions)]).await;

    // WHEN a run of four targets with two expired instances each may request three deletions
    let report = sweep(&process, json!({"mode": "delete", "maxDeletions": 3})).await;

    // THEN the first three in target order are requested, the other five deferred
    let all: Vec<&Seeded> = targets.iter().collect();
    let (selected, selected_at) = in_order(&all, |t| &t.expired);
    assert_eq!(ids(&report["selected"]), selected, "{report}");
    assert_eq!((ids(&report["requested"]), places(&report["requested"])), (selected[..3].to_vec(), selected_at[..3].to_vec()));
    assert_eq!((ids(&report["deferred"]), places(&report["deferred"])), (selected[3..].to_vec(), selected_at[3..].to_vec()));
    assert_eq!(report["counts"], json!({"selected": 8, "requested": 3, "deferred": 5, "skipped": 0}));
    assert!(report["targets"].as_array().unwrap().iter().all(|t| t["status"] == "swept" && t["examined"] == 3), "{report}");
    assert_eq!(report["complete"], true);

    // AND exactly three requests are on the bus, each naming its target
    let events = sweep_events(&moto).await;
    let requests = of_type(&events, REQUESTED);
    let sent: Vec<(String, String, String)> = requests
        .iter()
        .map(|r| {
            let text = |name: &str| r["detail"][name].as_str().unwrap().to_owned();
            (text("instanceId"), text("accountId"), text("region"))
        })
        .collect();
    let expected: Vec<(String, String, String)> =
        selected[..3].iter().zip(&selected_at[..3]).map(|(id, (a, r))| (id.clone(), a.clone(), r.clone())).collect();
    assert_eq!(sent, expected);
    assert_eq!(of_type(&events, COMPLETED).len(), 1);
    assert_eq!(emulator.call_count("DeleteInstance"), 0);
    assert_eq!(assumed(&emulator).into_keys().collect::<Vec<_>>(), [role_of(MEMBER)], "the function's own account needs no role");
}

#[tokio::test]
async fn max_deletions_zero_in_delete_mode_requests_nothing_and_defers_every_selected_instance() {
    let (emulator, moto) = stack().await;
    let targets = four_targets_of_two_expired(&emulator);
    let accounts = format!("{HOME},{MEMBER}");
    let regions = format!("{REGION},{OTHER_REGION}");
    let process = sweep_process(&emulator, &moto, &[("SWEEP_ACCOUNTS", &accounts), ("SWEEP_REGIONS", &regions)]).await;

    // WHEN the configured targets are swept in delete mode with a cap of 0
    let report = sweep(&process, json!({"mode": "delete", "maxDeletions": 0})).await;

    let all: Vec<&Seeded> = targets.iter().collect();
    let (selected, _) = in_order(&all, |t| &t.expired);
    assert_eq!((report["mode"].clone(), ids(&report["selected"])), (json!("delete"), selected.clone()), "{report}");
    assert_eq!((ids(&report["requested"]), ids(&report["deferred"])), (vec![], selected));
    assert_eq!(report["counts"], json!({"selected": 8, "requested": 0, "deferred": 8, "skipped": 0}));

    // AND WHEN one named target is swept so
    let one = sweep(&process, json!({"accountId": MEMBER, "region": OTHER_REGION, "mode": "delete", "maxDeletions": 0})).await;
    assert_eq!((ids(&one["requested"]), ids(&one["deferred"])), (vec![], targets[3].expired.clone()), "{one}");

    // THEN nothing was requested, and only reads were made
    let events = sweep_events(&moto).await;
    assert_eq!(of_type(&events, REQUESTED), Vec::<Value>::new());
    assert_eq!(of_type(&events, COMPLETED).len(), 2);
    assert!(supply_chain_calls(&emulator).iter().all(|(op, ..)| op == "ListInstances" || op == "ListTagsForResource"));
}

#[tokio::test]
async fn a_plan_of_an_input_account_list_splits_the_cap_over_accounts_by_regions_and_its_shares_bound_the_children() {
    let (emulator, moto) = stack().await;
    let counts = Counts { expired: 2, ..Default::default() };
    let seeded = [
        seed(&emulator, 1, MEMBER, REGION, counts),
        seed(&emulator, 2, MEMBER, OTHER_REGION, counts),
        seed(&emulator, 3, MEMBER_2, REGION, counts),
        seed(&emulator, 4, MEMBER_2, OTHER_REGION, counts),
    ];
    let allowed = format!("{MEMBER},{MEMBER_2},{STRANGER}");
    // Organizations through the proxy, which counts its calls: an input list needs none.
    let organizations = moto.proxy.endpoint();
    let process =
        sweep_process(&emulator, &moto, &[("ALLOWED_ACCOUNT_IDS", &allowed), ("AWS_ENDPOINT_URL_ORGANIZATIONS", &organizations)]).await;

    // WHEN the plan is given accounts (one twice, one not allowed) and regions
    let input = json!({"plan": {"accounts": [MEMBER_2, OUTSIDER, MEMBER, MEMBER_2], "regions": [REGION, OTHER_REGION], "mode": "delete", "maxDeletions": 5}});
    let plan = sweep(&process, input).await;

    // THEN it answers each allowed account in each region, with shares adding up to the cap
    assert_eq!(
        (&plan["source"], &plan["accounts"], &plan["excluded"], &plan["regions"], &plan["maxDeletions"], &plan["mode"]),
        (&json!("input"), &json!(2), &json!([OUTSIDER]), &json!([REGION, OTHER_REGION]), &json!(5), &json!("delete")),
        "{plan}"
    );
    assert!(plan["sweepId"].as_str().is_some_and(|id| !id.is_empty()), "{plan}");
    let targets = plan["targets"].as_array().unwrap();
    let planned: Vec<(&str, &str, &str)> =
        targets.iter().map(|t| (t["accountId"].as_str().unwrap(), t["region"].as_str().unwrap(), t["mode"].as_str().unwrap())).collect();
    assert_eq!(
        planned,
        [(MEMBER, REGION, "delete"), (MEMBER, OTHER_REGION, "delete"), (MEMBER_2, REGION, "delete"), (MEMBER_2, OTHER_REGION, "delete")]
    );
    let shares: Vec<u64> = targets.iter().map(|t| t["maxDeletions"].as_u64().unwrap()).collect();
    assert_eq!(shares.iter().sum::<u64>(), 5, "{shares:?}");
    assert!(shares.iter().all(|share| (1..=2).contains(share)), "even shares, the remainder one each: {shares:?}");
    assert_eq!(shares.iter().filter(|share| **share == 2).count(), 1);
    assert!(emulator.calls().is_empty(), "planning reads no instance and assumes no role: {:?}", emulator.calls());
    assert_eq!(moto.proxy.call_count("ListAccounts"), 0);
    assert_eq!(sweep_events(&moto).await, Vec::<Value>::new(), "the plan puts nothing on the bus");

    // AND WHEN each planned target runs as its own invocation, as the Map's children do
    let mut requested = 0;
    for (target, seeded) in targets.iter().zip(&seeded) {
        let report = sweep(&process, target.clone()).await;
        let share = target["maxDeletions"].as_u64().unwrap() as usize;
        assert_eq!(ids(&report["requested"]), seeded.expired[..share], "{target}: {report}");
        // The report names what differs from the function's own account and region.
        let region = Some(&target["region"]).filter(|region| **region != REGION);
        assert_eq!((&report["accountId"], report.get("region")), (&target["accountId"], region), "{report}");
        requested += share;
    }

    // THEN the whole run requested the cap, no more
    assert_eq!(requested, 5);
    assert_eq!(of_type(&sweep_events(&moto).await, REQUESTED).len(), 5);
    assert_eq!(assumed(&emulator).into_keys().collect::<Vec<_>>(), [role_of(MEMBER), role_of(MEMBER_2)]);
}

#[tokio::test]
async fn the_plan_fixture_plans_each_of_its_accounts_in_each_of_its_regions() {
    let (emulator, moto) = stack().await;
    let process = sweep_process(&emulator, &moto, &[]).await;
    let fixture = fixture("sweep/plan.json");
    let asked = &fixture["plan"];

    let plan = sweep(&process, fixture.clone()).await;

    let (accounts, regions) = (asked["accounts"].as_array().unwrap(), asked["regions"].as_array().unwrap());
    let targets = plan["targets"].as_array().unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(targets.len(), accounts.len() * regions.len(), "{plan}");
    let mut expected = Vec::new();
    for account in accounts {
        for region in regions {
            expected.push((account.clone(), region.clone(), asked["mode"].clone()));
        }
    }
    let planned: Vec<(Value, Value, Value)> =
        targets.iter().map(|t| (t["accountId"].clone(), t["region"].clone(), t["mode"].clone())).collect();
    assert_eq!(planned, expected, "the fixture lists its accounts in order");
    let shares: u64 = targets.iter().map(|t| t["maxDeletions"].as_u64().unwrap()).sum();
    assert_eq!(shares, asked["maxDeletions"].as_u64().unwrap());
    assert!(plan.get("excluded").is_none(), "no ALLOWED_ACCOUNT_IDS: every account is planned");
    assert!(emulator.calls().is_empty());
}

#[tokio::test]
async fn one_assume_role_per_member_account_serves_every_region_of_it_for_the_life_of_the_process() {
    let (emulator, moto) = stack().await;
    let counts = Counts { expired: 1, kept: 1, ..Default::default() };
    let seeded = [
        seed(&emulator, 1, MEMBER, REGION, counts),
        seed(&emulator, 2, MEMBER, OTHER_REGION, counts),
        seed(&emulator, 3, MEMBER_2, REGION, counts),
        seed(&emulator, 4, MEMBER_2, OTHER_REGION, counts),
    ];
    let accounts = format!("{MEMBER},{MEMBER_2}");
    let regions = format!("{REGION},{OTHER_REGION}");
    let process = sweep_process(&emulator, &moto, &[("SWEEP_ACCOUNTS", &accounts), ("SWEEP_REGIONS", &regions)]).await;

    // WHEN two scheduled runs sweep both accounts in both regions, and a direct invoke one of them
    for _ in 0..2 {
        let report = sweep(&process, json!({})).await;
        assert!(report["targets"].as_array().unwrap().iter().all(|t| t["status"] == "swept"), "{report}");
    }
    let one = sweep(&process, json!({"accountId": MEMBER_2, "region": OTHER_REGION})).await;
    assert_eq!(ids(&one["selected"]), seeded[3].expired);

    // THEN each account's role was assumed once, its session shared by its regions and the runs
    assert_eq!(assumed(&emulator), BTreeMap::from([(role_of(MEMBER), 1), (role_of(MEMBER_2), 1)]));
    let swept: Vec<&Seeded> = seeded.iter().collect();
    let twice: BTreeMap<_, _> = reads_of(&swept).into_iter().map(|(key, count)| (key, count * 2)).collect();
    let mut expected = twice;
    for (operation, count) in [("ListInstances", 1), ("ListTagsForResource", 2)] {
        *expected.get_mut(&(operation.to_owned(), MEMBER_2.to_owned(), OTHER_REGION.to_owned())).unwrap() += count;
    }
    assert_eq!(calls_by_target(&emulator), expected);
}
