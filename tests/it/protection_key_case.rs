//! The protection tag's key matched as IAM matches it, without regard to case, by both binaries that
//! ask the protection rule: the sweep never selects (so never requests, nor counts against its cap)
//! an instance whose Deny in IAM would refuse the deletion, and the delete function refuses it before
//! `DeleteInstance`. Against the Supply Chain emulator and moto's EventBridge.

use std::time::{Duration, SystemTime};

use crate::support::*;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Value};
use supplychain_emulator::SeedInstance;

const LOWER: &str = "10000000-0000-4000-8000-000000000001";
const UPPER: &str = "10000000-0000-4000-8000-000000000002";
const UNPROTECTED: &str = "10000000-0000-4000-8000-000000000003";

#[tokio::test]
async fn an_instance_whose_protection_key_differs_only_in_case_is_never_requested_by_the_sweep_nor_deleted() {
    let emulator = emulator().await;
    let expired = DateTime::from_secs(DateTime::from(SystemTime::now()).secs() - 3_600).fmt(Format::DateTime).unwrap();
    for (id, tags) in [
        (LOWER, vec![("deletionprotection", "TRUE")]),
        // Two keys differing only in case: one true one protects.
        (UPPER, vec![("DELETIONPROTECTION", " true "), ("DeletionProtection", "false")]),
        (UNPROTECTED, vec![("deletionprotection", "no")]),
    ] {
        let mut tags: Vec<(String, String)> = tags.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        tags.push(("ExpiresAt".to_owned(), expired.clone()));
        emulator.seed(SeedInstance { instance_id: Some(id.into()), tags: tags.into_iter().collect(), ..Default::default() });
    }
    let moto = Moto::start().await;
    moto.subscribe("supplychain-instance-sweep").await;
    let env = moto.function_env(emulator.endpoint());
    let sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await;
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &env).await;

    let outcome = sweep.invoke(json!({"mode": "delete", "maxDeletions": 1}), SWEEP_ARN, Duration::from_secs(30)).await;

    let report = response(&outcome);
    let requested: Vec<&str> = report["requested"].as_array().unwrap().iter().map(|e| e["instanceId"].as_str().unwrap()).collect();
    assert_eq!(requested, [UNPROTECTED], "the cap of 1 goes to the one instance IAM would let be deleted: {report}");
    let skipped: Vec<(&str, &str, &str)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["instanceId"].as_str().unwrap(), e["reason"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(skipped.len(), 2, "{report}");
    for (id, key) in [(LOWER, "deletionprotection=\"TRUE\""), (UPPER, "DELETIONPROTECTION=\" true \"")] {
        let (_, reason, detail) = skipped.iter().find(|(skipped, _, _)| *skipped == id).unwrap_or_else(|| panic!("{id}: {report}"));
        assert_eq!(*reason, "DeletionProtected");
        assert!(detail.contains(key), "the key as the instance has it: {detail}");
    }
    let requests: Vec<Value> =
        moto.received().await.into_iter().filter(|e| e["detail-type"] == "Supply Chain Instance Deletion Requested").collect();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["detail"]["instanceId"], UNPROTECTED);

    // Asked directly, the delete function refuses both before DeleteInstance.
    for id in [LOWER, UPPER] {
        let outcome = delete.invoke(json!({"instanceId": id}), DELETE_ARN, Duration::from_secs(20)).await;
        assert_eq!(error_type(&outcome), "DeletionProtected", "{id}");
    }
    assert_eq!(emulator.call_count("DeleteInstance"), 0);
    for id in [LOWER, UPPER, UNPROTECTED] {
        assert_eq!(states(&emulator, id), ["Active"], "{id}");
    }
}
