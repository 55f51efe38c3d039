//! The wire forms the functions write, against the fixtures of `events/` that earlier versions wrote:
//! each record, output, report and request reads into its type and writes back to the same JSON, so
//! a change inside the types (an id validated, a state typed) cannot change what subscribers,
//! state machines and re-check schedules receive.

use crate::support::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use supplychain_delete_instance::contract::{DeletionRequested, DeletionStarted, SweepReport};
use supplychain_delete_instance::model::{DeleteOutput, InstanceRecord, Recheck};

/// Reads `value` into `T` and writes it back.
fn round_trip<T: Serialize + DeserializeOwned>(value: &Value) -> Value {
    let typed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"));
    serde_json::to_value(typed).unwrap()
}

#[test]
fn the_delete_functions_output_writes_back_exactly_as_the_fixtures_hold_it() {
    for name in ["previous-output.json", "check/stepfunctions-task.json"] {
        let output = fixture(name);
        assert_eq!(round_trip::<DeleteOutput>(&output), output, "{name}");
    }
}

#[test]
fn the_deletion_started_record_writes_back_exactly_as_the_fixture_holds_it() {
    let detail = &fixture("check/deletion-started.json")["detail"];
    assert_eq!(&round_trip::<DeleteOutput>(detail), detail);
}

#[test]
fn a_deletion_started_detail_with_its_start_and_sweep_and_one_without_them_write_back_exactly() {
    for name in ["check/deletion-started.json", "check/deletion-started-by-sweep.json"] {
        let detail = &fixture(name)["detail"];
        assert_eq!(&round_trip::<DeletionStarted>(detail), detail, "{name}");
    }
    let by_sweep: DeletionStarted = serde_json::from_value(fixture("check/deletion-started-by-sweep.json")["detail"].clone()).unwrap();
    let sweep = by_sweep.sweep.expect("the sweep's members read back");
    assert_eq!((sweep.reason.as_str(), sweep.scheduled_for.as_deref()), ("ExpiryTagPassed", Some("2026-11-28T09:00:01Z")));
}

#[test]
fn a_recheck_written_before_deletions_carried_their_sweep_writes_back_exactly() {
    let recheck = fixture("check/status-check.json");
    assert_eq!(round_trip::<Recheck>(&recheck), recheck);
}

#[test]
fn the_sweeps_deletion_request_with_its_reason_in_words_and_scheduled_time_is_as_the_sweep_writes_it() {
    let request = &fixture("eventbridge-deletion-requested-by-sweep.json")["detail"];
    assert_eq!(&round_trip::<DeletionRequested>(request), request);
}

#[test]
fn the_sweeps_report_and_its_deletion_request_write_back_exactly_as_the_fixtures_hold_them() {
    let report = &fixture("sweep/sweep-completed.json")["detail"];
    assert_eq!(&round_trip::<SweepReport>(report), report);
    let request = &fixture("sweep/deletion-requested.json")["detail"];
    assert_eq!(&round_trip::<DeletionRequested>(request), request);
}

#[test]
fn a_record_with_every_member_and_a_state_this_version_does_not_know_keeps_its_wire_form() {
    let record = json!({
        "instanceId": "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1", "awsAccountId": "123456789012", "state": "Archiving",
        "errorMessage": "e", "webAppDnsDomain": "example", "createdTime": "2023-11-14T22:13:20Z",
        "lastModifiedTime": "2023-11-14T22:13:21.5Z", "instanceName": "n", "instanceDescription": "d",
        "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k", "versionNumber": 2.0
    });
    assert_eq!(round_trip::<InstanceRecord>(&record), record);
}

#[test]
fn a_record_whose_id_is_not_an_instance_id_is_refused_when_read() {
    let record = json!({"instanceId": "../../etc", "awsAccountId": "123456789012", "state": "Active"});
    let error = serde_json::from_value::<InstanceRecord>(record).unwrap_err();
    assert!(error.to_string().contains("not a valid Supply Chain instance id"), "{error}");
}
