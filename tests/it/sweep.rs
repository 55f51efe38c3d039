//! The sweep with the real SDK clients, against the Supply Chain emulator seeded with a fleet of 64
//! instances over four pages (every case of the policy), and moto's EventBridge: what it selects
//! and skips, what it sends in delete mode, faults, the deadline, and the whole chain through the
//! compiled binaries. Expiry tags and creation times are set relative to now.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::events::SWEEP_SOURCE;
use crate::support::*;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use supplychain_delete_instance::{Error, SweepFunction, SweepSettings};
use supplychain_emulator::{Emulator, EmulatorConfig, Fault, FaultRule, SeedInstance};

const DAY: i64 = 86_400;

/// What the policy must make of a seeded instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Kept,
    Selected(&'static str),
    Skipped(&'static str),
}

/// The seeded instances, in listing order, with what the sweep must decide for each.
struct Fleet {
    expected: Vec<(String, Expect)>,
}

impl Fleet {
    fn ids(&self, wanted: impl Fn(Expect) -> bool) -> Vec<String> {
        self.expected.iter().filter(|(_, e)| wanted(*e)).map(|(id, _)| id.clone()).collect()
    }

    fn selected(&self) -> Vec<String> {
        self.ids(|e| matches!(e, Expect::Selected(_)))
    }

    fn expect(&self, id: &str) -> Expect {
        self.expected.iter().find(|(i, _)| i == id).map(|(_, e)| *e).unwrap()
    }
}

/// The day `offset` days from today (UTC), as `YYYY-MM-DD`.
fn day_from_today(offset: i64) -> String {
    time_from_now(offset * DAY)[..10].to_owned()
}

/// 64 instances over four pages of 20: every case of the policy, with `MAX_AGE_DAYS=30` and
/// `NAME_PREFIX=trial-`. The emulator keeps `Initializing` instances so for an hour.
fn seed_fleet(emulator: &Emulator) -> Fleet {
    let expired = time_from_now(-3_600);
    // The same hour written with a +02:00 offset: local time two hours ahead of UTC.
    let expired_with_offset = time_from_now(-3_600 + 2 * 3_600).replace('Z', "+02:00");
    let expired_day = day_from_today(-2);
    let future = time_from_now(10 * DAY);
    let future_day = day_from_today(2);

    type Group<'a> = (u32, &'static str, Option<&'static str>, Vec<(&'static str, &'a str)>, Option<i64>, Expect);
    let groups: Vec<Group> = vec![
        (6, "Active", None, vec![("ExpiresAt", &expired)], None, Expect::Selected("ExpiryTagPassed")),
        (2, "Active", None, vec![("ExpiresAt", &expired_with_offset)], None, Expect::Selected("ExpiryTagPassed")),
        (6, "Active", None, vec![("ExpiresAt", &expired_day)], None, Expect::Selected("ExpiryTagPassed")),
        (5, "Active", None, vec![("ExpiresAt", &future)], None, Expect::Kept),
        (3, "Active", None, vec![("ExpiresAt", &future_day)], None, Expect::Kept),
        (1, "Active", None, vec![("ExpiresAt", "next week")], None, Expect::Skipped("InvalidExpiryTag")),
        (1, "Active", None, vec![("ExpiresAt", "2026-13-45")], None, Expect::Skipped("InvalidExpiryTag")),
        (1, "Active", None, vec![("ExpiresAt", "31/12/2025")], None, Expect::Skipped("InvalidExpiryTag")),
        (1, "Active", Some("trial-bad-tag"), vec![("ExpiresAt", "")], Some(40 * DAY), Expect::Skipped("InvalidExpiryTag")),
        (4, "Active", None, vec![("ExpiresAt", &expired), ("DeletionProtection", "true")], None, Expect::Skipped("DeletionProtected")),
        (1, "Active", None, vec![("ExpiresAt", &future), ("DeletionProtection", "true")], None, Expect::Kept),
        (3, "Initializing", None, vec![("ExpiresAt", &expired)], None, Expect::Skipped("StateNotEligible")),
        (3, "Deleting", None, vec![("ExpiresAt", &expired_day)], None, Expect::Skipped("StateNotEligible")),
        (2, "DeleteFailed", None, vec![("ExpiresAt", &expired)], None, Expect::Selected("ExpiryTagPassed")),
        (4, "Active", Some("trial-old"), vec![], Some(40 * DAY), Expect::Selected("MaxAgeExceeded")),
        (4, "Active", Some("team-old"), vec![], Some(40 * DAY), Expect::Kept),
        (2, "Active", Some("trial-young"), vec![], Some(DAY), Expect::Kept),
        (1, "Active", Some("trial-old-kept-by-tag"), vec![("ExpiresAt", &future_day)], Some(40 * DAY), Expect::Kept),
        (9, "Active", Some("sandbox"), vec![], None, Expect::Kept),
        (5, "Active", None, vec![("team", "planning")], None, Expect::Kept),
    ];
    let mut expected = Vec::new();
    for (group, (count, state, name, tags, age, expect)) in groups.into_iter().enumerate() {
        for n in 0..count {
            let id = format!("{:08x}-0000-4000-8000-{n:012x}", group + 1);
            emulator.seed(SeedInstance {
                instance_id: Some(id.clone()),
                instance_name: name.map(|name| format!("{name}-{n}")),
                state: Some(state.to_owned()),
                tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                created_seconds_ago: age.map(|age| age as u64),
                // Stays Deleting: the sweep never reads the instance.
                delete_polls: (state == "Deleting").then_some(1),
                ..Default::default()
            });
            expected.push((id, expect));
        }
    }
    assert_eq!(expected.len(), 64);
    Fleet { expected }
}

async fn fleet_emulator() -> (Emulator, Fleet) {
    let emulator = emulator_with(EmulatorConfig { create_delay: Duration::from_secs(3_600), ..Default::default() }).await;
    let fleet = seed_fleet(&emulator);
    (emulator, fleet)
}

async fn moto() -> Moto {
    let moto = Moto::start().await;
    moto.subscribe(SWEEP_SOURCE).await;
    moto
}

fn sweep_settings(moto: &Moto, env: &[(&str, &str)]) -> SweepSettings {
    let mut all: Vec<(String, String)> = vec![
        ("EVENT_BUS_NAME".into(), moto.bus.clone()),
        ("MAX_AGE_DAYS".into(), "30".into()),
        ("NAME_PREFIX".into(), "trial-".into()),
        // Today's delete mode, requests at once; the notice has tests of its own (tests/it/notice.rs).
        ("NOTICE_HOURS".into(), "0".into()),
    ];
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    SweepSettings::from_lookup(&|name| all.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
}

async fn sweep_function(emulator: &Emulator, moto: &Moto, env: &[(&str, &str)]) -> SweepFunction {
    SweepFunction::new(supply_chain(&emulator.endpoint()).await, moto.bus_client(), sweep_settings(moto, env))
}

/// Runs the sweep once, with a deadline `within` from now; the request id becomes the sweep id.
async fn run(function: &SweepFunction, payload: Value, request_id: &str, within: Duration) -> Result<Value, Error> {
    let mut context = context(SWEEP_ARN, within);
    context.request_id = request_id.to_owned();
    let report = function.handle(LambdaEvent::new(Payload::Json(payload), context)).await?;
    Ok(serde_json::to_value(report).unwrap())
}

/// The ids of a report list, in order.
fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|entry| entry["instanceId"].as_str().unwrap().to_owned()).collect()
}

/// What the report decided for every instance it lists as selected or skipped.
fn decisions(report: &Value) -> BTreeMap<String, Expect> {
    let reason = |entry: &Value| -> &'static str {
        let text = entry["reason"].as_str().unwrap();
        ["ExpiryTagPassed", "MaxAgeExceeded", "InvalidExpiryTag", "DeletionProtected", "StateNotEligible", "TagsUnreadable"]
            .into_iter()
            .find(|known| *known == text)
            .unwrap_or_else(|| panic!("unknown reason {text}"))
    };
    let mut found = BTreeMap::new();
    for entry in report["selected"].as_array().unwrap() {
        found.insert(entry["instanceId"].as_str().unwrap().to_owned(), Expect::Selected(reason(entry)));
    }
    for entry in report["skipped"].as_array().unwrap() {
        let previous = found.insert(entry["instanceId"].as_str().unwrap().to_owned(), Expect::Skipped(reason(entry)));
        assert_eq!(previous, None, "an instance both selected and skipped: {entry}");
    }
    found
}

fn expected_decisions(fleet: &Fleet) -> BTreeMap<String, Expect> {
    fleet.expected.iter().filter(|(_, e)| *e != Expect::Kept).cloned().collect()
}

/// The sweep's events on the bus, as a subscriber receives them.
async fn sweep_events(moto: &Moto) -> Vec<Value> {
    moto.received().await.into_iter().filter(|event| event["source"] == SWEEP_SOURCE).collect()
}

fn of_type<'a>(events: &'a [Value], detail_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|event| event["detail-type"] == detail_type).collect()
}

#[tokio::test]
async fn report_mode_selects_and_skips_exactly_the_expired_instances_and_changes_nothing() {
    let (emulator, fleet) = fleet_emulator().await;
    let moto = moto().await;
    let function = sweep_function(&emulator, &moto, &[]).await;

    let report = run(&function, fixture("sweep/scheduled.json"), "sweep-report", Duration::from_secs(30)).await.unwrap();

    assert_eq!(report["mode"], "report");
    assert_eq!((report["examined"].clone(), report["complete"].clone()), (json!(64), json!(true)));
    assert_eq!(decisions(&report), expected_decisions(&fleet));
    assert_eq!(ids(&report["selected"]), fleet.selected(), "selected in listing order");
    assert_eq!((report["requested"].clone(), report["deferred"].clone()), (json!([]), json!([])));
    assert_eq!(report["counts"], json!({"selected": 20, "requested": 0, "deferred": 0, "skipped": 14}));
    assert_eq!(report["truncated"], false);
    let protected = report["skipped"].as_array().unwrap().iter().find(|e| e["reason"] == "DeletionProtected").unwrap();
    assert!(protected["detail"].as_str().unwrap().contains("DeletionProtection=\"true\""), "{protected}");
    let old = report["selected"].as_array().unwrap().iter().find(|e| e["reason"] == "MaxAgeExceeded").unwrap();
    assert_eq!(old["instanceName"], "trial-old-0");

    // Only reads: one list per page of 20, one tag read per instance.
    let operations: Vec<String> = emulator.calls().into_iter().map(|call| call.operation).collect();
    assert!(operations.iter().all(|op| op == "ListInstances" || op == "ListTagsForResource"), "{operations:?}");
    assert_eq!((emulator.call_count("ListInstances"), emulator.call_count("ListTagsForResource")), (4, 64));
    for (id, _) in &fleet.expected {
        assert_eq!(states(&emulator, id).len(), 1, "instance {id} changed state");
    }

    // The report, and nothing else, is on the bus.
    let events = sweep_events(&moto).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "Supply Chain Instance Sweep Completed");
    assert_eq!(events[0]["detail"], report);
}

#[tokio::test]
async fn delete_mode_requests_up_to_the_cap_and_the_next_run_takes_the_deferred_ones() {
    let (emulator, fleet) = fleet_emulator().await;
    let moto = moto().await;
    let function = sweep_function(&emulator, &moto, &[("MAX_DELETIONS_PER_SWEEP", "50")]).await;
    let selected = fleet.selected();

    let first = run(&function, fixture("sweep/delete.json"), "sweep-1", Duration::from_secs(30)).await.unwrap();

    assert_eq!(first["mode"], "delete");
    assert_eq!(ids(&first["selected"]), selected);
    assert_eq!(ids(&first["requested"]), selected[..5], "the direct invoke's cap of 5 overrides the setting");
    assert_eq!(ids(&first["deferred"]), selected[5..]);
    assert_eq!(first["counts"], json!({"selected": 20, "requested": 5, "deferred": 15, "skipped": 14}));
    let events = sweep_events(&moto).await;
    let requests = of_type(&events, "Supply Chain Instance Deletion Requested");
    assert_eq!(requests.len(), 5, "{events:?}");
    for (request, id) in requests.iter().zip(&selected[..5]) {
        let Expect::Selected(reason) = fleet.expect(id) else { unreachable!() };
        assert_eq!(request["detail"], json!({"instanceId": id, "reason": reason, "sweepId": "sweep-1"}));
        assert_eq!(request["resources"], json!([emulator.instance_arn(id)]));
    }
    assert_eq!(of_type(&events, "Supply Chain Instance Sweep Completed").len(), 1);
    assert_eq!(emulator.call_count("DeleteInstance"), 0, "the sweep never deletes by itself");

    // The delete function takes each request as its rule delivers it.
    let delete = delete_function(&emulator, &[]).await;
    for request in requests {
        let response = delete.handle(crate::support::event(request.clone())).await.unwrap();
        assert_eq!(serde_json::to_value(response).unwrap()["instance"]["state"], "Deleting");
    }

    emulator.clear_calls();
    let second = run(&function, fixture("sweep/delete.json"), "sweep-2", Duration::from_secs(30)).await.unwrap();

    assert_eq!(second["examined"], 64);
    assert_eq!(emulator.call_count("ListTagsForResource"), 64 - 5, "Deleted instances are not read");

    assert_eq!(ids(&second["selected"]), selected[5..], "the deleted instances are no longer selected");
    assert_eq!(ids(&second["requested"]), selected[5..10]);
    assert_eq!(ids(&second["deferred"]), selected[10..]);
    let events = sweep_events(&moto).await;
    let requested: Vec<&str> =
        of_type(&events, "Supply Chain Instance Deletion Requested").iter().map(|e| e["detail"]["instanceId"].as_str().unwrap()).collect();
    assert_eq!(requested, selected[5..10]);
    for id in &selected[..5] {
        assert_eq!(states(&emulator, id), ["Active", "Deleting", "Deleted"]);
    }

    // Without the override the configured cap of 50 applies: fewer are selected, all are requested.
    let third = run(&function, json!({"mode": "delete"}), "sweep-3", Duration::from_secs(30)).await.unwrap();

    assert_eq!(ids(&third["requested"]), selected[5..], "the ten requested by the second run are not deleted yet");
    assert_eq!(third["deferred"], json!([]));
    let events = sweep_events(&moto).await;
    assert_eq!(of_type(&events, "Supply Chain Instance Deletion Requested").len(), 15);
}

#[tokio::test]
async fn the_configured_cap_applies_without_an_override() {
    let (emulator, fleet) = fleet_emulator().await;
    let moto = moto().await;
    let function = sweep_function(&emulator, &moto, &[("SWEEP_MODE", "delete"), ("MAX_DELETIONS_PER_SWEEP", "3")]).await;

    let report = run(&function, fixture("sweep/scheduled-event.json"), "sweep-scheduled", Duration::from_secs(30)).await.unwrap();

    assert_eq!(report["mode"], "delete");
    assert_eq!(ids(&report["requested"]), fleet.selected()[..3]);
    assert_eq!(report["counts"]["deferred"], 17);
    assert_eq!(of_type(&sweep_events(&moto).await, "Supply Chain Instance Deletion Requested").len(), 3);
}

#[tokio::test]
async fn a_throttled_list_page_is_retried_and_every_instance_is_examined() {
    let (emulator, fleet) = fleet_emulator().await;
    emulator.inject(FaultRule::new("ListInstances", 1, Fault::Throttle).after(1));
    let moto = moto().await;
    let function = sweep_function(&emulator, &moto, &[]).await;

    let report = run(&function, json!({}), "sweep-throttled", Duration::from_secs(30)).await.unwrap();

    assert_eq!((report["examined"].clone(), report["complete"].clone()), (json!(64), json!(true)));
    assert_eq!(decisions(&report), expected_decisions(&fleet));
    let lists: Vec<Option<String>> = emulator.calls().into_iter().filter(|c| c.operation == "ListInstances").map(|c| c.fault).collect();
    assert_eq!(lists, [None, Some("throttle".to_owned()), None, None, None]);
}

#[tokio::test]
async fn one_failing_tag_read_skips_only_that_instance() {
    let (emulator, fleet) = fleet_emulator().await;
    let failing = fleet.selected()[3].clone();
    emulator.inject(FaultRule::new("ListTagsForResource", 100, Fault::Internal).for_instance(&failing));
    let moto = moto().await;
    let function = sweep_function(&emulator, &moto, &[]).await;

    let report = run(&function, json!({}), "sweep-tag-fault", Duration::from_secs(30)).await.unwrap();

    let mut expected = expected_decisions(&fleet);
    expected.insert(failing.clone(), Expect::Skipped("TagsUnreadable"));
    assert_eq!(decisions(&report), expected);
    assert_eq!(report["complete"], true);
    let skipped = report["skipped"].as_array().unwrap().iter().find(|e| e["instanceId"] == failing.as_str()).unwrap();
    assert!(skipped["detail"].as_str().unwrap().starts_with("ServiceUnavailable: ListTagsForResource failed"), "{skipped}");
    let reads =
        emulator.calls().into_iter().filter(|c| c.operation == "ListTagsForResource" && c.instance_id.as_deref() == Some(&failing)).count();
    assert_eq!(reads, 3, "the SDK's retries ran first");
}

#[tokio::test]
async fn a_failing_listing_fails_the_run_with_a_retryable_error_and_sends_nothing() {
    let (emulator, _) = fleet_emulator().await;
    emulator.inject(FaultRule::new("ListInstances", 100, Fault::Unavailable).after(2));
    let moto = moto().await;
    let function = sweep_function(&emulator, &moto, &[("SWEEP_MODE", "delete")]).await;

    let error = run(&function, json!({}), "sweep-list-fault", Duration::from_secs(30)).await.unwrap_err();

    assert_eq!(error.error_type(), "ServiceUnavailable");
    assert!(error.is_retryable());
    assert_eq!(sweep_events(&moto).await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_refused_announcement_fails_the_run_with_publish_failed() {
    let (emulator, _) = fleet_emulator().await;
    let moto = moto().await;
    moto.proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entries("InternalFailure", "try again")));
    let function = sweep_function(&emulator, &moto, &[]).await;

    let error = run(&function, json!({}), "sweep-publish-fault", Duration::from_secs(30)).await.unwrap_err();

    assert_eq!(error.error_type(), "PublishFailed");
    assert!(error.to_string().contains("InternalFailure"), "{error}");
    assert!(error.is_retryable());
}

/// The cap bounds what one run requests, and Lambda retries a failed run (`MaximumRetryAttempts`):
/// were a run to fail after some of its requests went out, its retry would request up to the cap
/// again. So once a request is sent the run answers its report, with the requests that could not be
/// put listed as `RequestFailed`.
#[tokio::test]
async fn a_run_that_sent_some_requests_never_fails_so_a_retry_never_requests_past_the_cap() {
    let (emulator, fleet) = fleet_emulator().await;
    let moto = moto().await;
    let mut env = moto.function_env(emulator.endpoint());
    env.extend([("MAX_AGE_DAYS", "30".to_owned()), ("NAME_PREFIX", "trial-".to_owned())]);
    let sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await;
    // Twelve requests take two PutEvents (ten entries a call): the second one fails on each of the
    // SDK's three attempts, and reaches no bus.
    moto.proxy.inject(FaultRule::new("PutEvents", 3, Fault::Internal).after(1));

    let outcome = sweep.invoke(json!({"mode": "delete", "maxDeletions": 12}), SWEEP_ARN, Duration::from_secs(30)).await;

    let report = response(&outcome);
    let selected = fleet.selected();
    assert_eq!(ids(&report["requested"]), selected[..10], "{report}");
    let failed: Vec<&Value> = report["skipped"].as_array().unwrap().iter().filter(|e| e["reason"] == "RequestFailed").collect();
    assert_eq!(failed.iter().map(|e| e["instanceId"].as_str().unwrap()).collect::<Vec<_>>(), selected[10..12]);
    assert!(failed[0]["detail"].as_str().unwrap().contains("could not be put: PublishFailed: "), "{}", failed[0]);
    assert_eq!(report["counts"]["requested"], 10);
    let events = sweep_events(&moto).await;
    assert_eq!(of_type(&events, "Supply Chain Instance Deletion Requested").len(), 10);
    assert_eq!(of_type(&events, "Supply Chain Instance Sweep Completed").len(), 1);
    assert_eq!(moto.proxy.call_count("PutEvents"), 5, "ten requests, three attempts at two, the report");

    // A report that cannot be put after requests went out does not fail the run either.
    moto.proxy.clear_calls();
    moto.proxy.inject(FaultRule::new("PutEvents", 3, Fault::Internal).after(1));

    let outcome = sweep.invoke(json!({"mode": "delete", "maxDeletions": 3}), SWEEP_ARN, Duration::from_secs(30)).await;

    assert_eq!(ids(&response(&outcome)["requested"]), selected[..3]);
    assert_eq!(moto.proxy.call_count("PutEvents"), 4, "the requests, then three attempts at the report");
    assert_eq!(of_type(&sweep_events(&moto).await, "Supply Chain Instance Sweep Completed").len(), 0);
}

#[tokio::test]
async fn a_short_deadline_stops_examining_sends_what_was_selected_and_reports_incomplete() {
    let (emulator, _) = fleet_emulator().await;
    emulator.inject(FaultRule::new("ListTagsForResource", 1_000, Fault::delay(250)));
    let moto = moto().await;
    let env = [("SWEEP_MODE", "delete"), ("SWEEP_CONCURRENCY", "2"), ("DEADLINE_MARGIN_MS", "200"), ("SWEEP_SEND_RESERVE_MS", "600")];
    let function = sweep_function(&emulator, &moto, &env).await;
    let deadline = Duration::from_millis(2_500);
    let started = Instant::now();

    let report = run(&function, json!({}), "sweep-short", deadline).await.unwrap();

    assert!(started.elapsed() < deadline, "answered after {:?}", started.elapsed());
    assert_eq!(report["complete"], false);
    let examined = report["examined"].as_u64().unwrap();
    assert!((2..64).contains(&examined), "examined {examined}");
    let events = sweep_events(&moto).await;
    let reports = of_type(&events, "Supply Chain Instance Sweep Completed");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["detail"]["complete"], false);
    assert_eq!(
        of_type(&events, "Supply Chain Instance Deletion Requested").len(),
        report["counts"]["requested"].as_u64().unwrap() as usize
    );
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_call() {
    let (emulator, _) = fleet_emulator().await;
    let moto = moto().await;
    let function = sweep_function(&emulator, &moto, &[]).await;

    for (name, payload) in fixtures_in("sweep/invalid") {
        let error = run(&function, payload, "sweep-invalid", Duration::from_secs(30)).await.unwrap_err();
        assert_eq!(error.error_type(), "InvalidInput", "{name}");
        assert!(["accepted", "must", "did you mean"].iter().any(|w| error.to_string().contains(w)), "{name}: {error}");
    }
    assert!(emulator.calls().is_empty());
    assert_eq!(sweep_events(&moto).await, Vec::<Value>::new());
}

#[tokio::test]
async fn end_to_end_the_sweep_requests_the_delete_function_deletes_and_the_checker_announces_each_end() {
    let (emulator, fleet) = fleet_emulator().await;
    let moto = moto().await;
    let mut env = moto.function_env(emulator.endpoint());
    env.extend([("MAX_AGE_DAYS", "30".to_owned()), ("NAME_PREFIX", "trial-".to_owned())]);
    let sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env).await;
    let check = FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &env).await;

    let outcome = sweep.invoke(fixture("sweep/delete.json"), SWEEP_ARN, Duration::from_secs(30)).await;
    let report = response(&outcome);
    let requested = ids(&report["requested"]);
    assert_eq!(requested, fleet.selected()[..5], "the fixture's cap of 5 applies: {report}");

    let events = moto.received().await;
    let requests: Vec<&Value> = events.iter().filter(|e| e["detail-type"] == "Supply Chain Instance Deletion Requested").collect();
    assert_eq!(requests.len(), 5);
    for request in requests {
        let outcome = delete.invoke(request.clone(), DELETE_ARN, Duration::from_secs(30)).await;
        assert_eq!(response(&outcome)["instance"]["state"], "Deleting", "{}", delete.logs());
    }
    let started: Vec<Value> =
        moto.received().await.into_iter().filter(|e| e["detail-type"] == "Supply Chain Instance Deletion Started").collect();
    assert_eq!(started.iter().map(|e| e["detail"]["instance"]["instanceId"].as_str().unwrap()).collect::<Vec<_>>(), requested);
    for event in &started {
        let outcome = check.invoke(event.clone(), CHECK_ARN, Duration::from_secs(30)).await;
        assert_eq!(response(&outcome)["outcome"], "Deleted", "{}", check.logs());
    }
    let deleted: Vec<String> = moto
        .received()
        .await
        .into_iter()
        .filter(|e| e["detail-type"] == "Supply Chain Instance Deleted")
        .map(|e| e["detail"]["instance"]["instanceId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deleted, requested);
    for id in &requested {
        assert_eq!(states(&emulator, id), ["Active", "Deleting", "Deleted"]);
    }
}

#[tokio::test]
async fn a_bad_sweep_setting_stops_the_binary_at_init_naming_the_variable() {
    let emulator = emulator().await;
    let moto = moto().await;
    for (name, value, expected) in [
        ("SWEEP_MODE", "Delete", "but it must be report or delete"),
        ("MAX_AGE_DAYS", "30", "MAX_AGE_DAYS is set without NAME_PREFIX"),
        ("MAX_DELETIONS_PER_SWEEP", "none", "but it must be a whole number of at least 1"),
    ] {
        let mut env = moto.function_env(emulator.endpoint());
        env.push((name, value.to_owned()));
        let mut sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await;

        let status = sweep.wait().await;

        assert!(!status.success(), "{name}");
        let logs = sweep.logs();
        assert!(logs.contains(name) && logs.contains(expected), "{name}: {logs}");
    }
    assert!(emulator.calls().is_empty());
}

/// The delete function keeps a request's other members as metadata and announces them under
/// `request` in Deletion Started (src/delete/mod.rs, `announcement`).
#[tokio::test]
async fn end_to_end_the_deletion_started_announcement_carries_the_sweeps_reason_and_id() {
    let (emulator, fleet) = fleet_emulator().await;
    let moto = moto().await;
    let mut env = moto.function_env(emulator.endpoint());
    env.push(("MAX_DELETIONS_PER_SWEEP", "1".to_owned()));
    let sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env).await;

    let outcome = sweep.invoke(json!({"mode": "delete"}), SWEEP_ARN, Duration::from_secs(30)).await;
    let sweep_id = response(&outcome)["sweepId"].as_str().unwrap().to_owned();
    let request = moto.received().await.into_iter().find(|e| e["detail-type"] == "Supply Chain Instance Deletion Requested").unwrap();
    delete.invoke(request, DELETE_ARN, Duration::from_secs(30)).await;

    let started = moto.received().await.into_iter().find(|e| e["detail-type"] == "Supply Chain Instance Deletion Started").unwrap();
    assert_eq!(started["detail"]["instance"]["instanceId"], fleet.selected()[0].as_str());
    assert_eq!(started["detail"]["request"], json!({"reason": "ExpiryTagPassed", "sweepId": sweep_id}));
}
