//! The wire forms the functions write, against the fixtures of `events/` that earlier versions wrote:
//! each record, output, report and request reads into its type and writes back to the same JSON, so
//! a change inside the types (an id validated, a state typed) cannot change what subscribers,
//! state machines and re-check schedules receive.

mod support;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use supplychain_delete_instance::model::{DeleteOutput, InstanceRecord};
use supplychain_delete_instance::sweep::SweepDeletionRequest;
use supplychain_delete_instance::SweepReport;
use support::*;

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
fn the_sweeps_report_and_its_deletion_request_write_back_exactly_as_the_fixtures_hold_them() {
    let report = &fixture("sweep/sweep-completed.json")["detail"];
    assert_eq!(&round_trip::<SweepReport>(report), report);
    let request = &fixture("sweep/deletion-requested.json")["detail"];
    assert_eq!(&round_trip::<SweepDeletionRequest>(request), request);
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
