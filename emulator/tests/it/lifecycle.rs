//! An instance's lifecycle in the emulator: creation and deletion over its clock, seeded failures,
//! retention of deleted instances, conflicts, and states forced from outside the API.

use std::time::Duration;

use crate::support::supply_chain::{client, failure, seed_active, start, ID};
use aws_sdk_supplychain::types::InstanceState;
use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance};

#[tokio::test]
async fn delete_of_an_active_instance_answers_deleting_and_the_next_read_shows_deleted() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    let deleted = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(deleted.instance().unwrap().state(), &InstanceState::Deleting);
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleted);
    let states: Vec<String> = emulator.history(ID).into_iter().map(|h| h.state).collect();
    assert_eq!(states, ["Active", "Deleting", "Deleted"]);
}

#[tokio::test]
async fn delete_polls_keep_the_instance_deleting_for_exactly_that_many_reads() {
    let emulator = start().await;
    emulator.seed(SeedInstance { instance_id: Some(ID.into()), delete_polls: Some(3), ..Default::default() });
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    // Reads outside the API do not count as polls.
    assert_eq!(emulator.instance(ID).unwrap().state, "Deleting");
    for _ in 0..3 {
        let got = c.get_instance().instance_id(ID).send().await.unwrap();
        assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleting);
    }
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleted);
}

#[tokio::test]
async fn a_deletion_seeded_to_fail_ends_in_delete_failed_with_its_error_message() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        fail_deletion: Some("KMS key is pending deletion".into()),
        delete_polls: Some(1),
        ..Default::default()
    });
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    let first = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(first.instance().unwrap().state(), &InstanceState::Deleting);
    let failed = c.get_instance().instance_id(ID).send().await.unwrap();
    let failed = failed.instance().unwrap();
    assert_eq!(failed.state(), &InstanceState::DeleteFailed);
    assert_eq!(failed.error_message(), Some("KMS key is pending deletion"));
    let last = emulator.history(ID).pop().unwrap();
    assert_eq!(last.state, "DeleteFailed");
    assert_eq!(last.error_message.as_deref(), Some("KMS key is pending deletion"));

    // Without `failDeletionAttempts`, every attempt fails.
    let again = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(again.instance().unwrap().state(), &InstanceState::Deleting);
    assert_eq!(again.instance().unwrap().error_message(), None);
    c.get_instance().instance_id(ID).send().await.unwrap();
    let failed = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(failed.instance().unwrap().state(), &InstanceState::DeleteFailed);
}

#[tokio::test]
async fn a_retried_deletion_succeeds_once_the_failing_attempts_are_used_up() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        fail_deletion: Some("transient".into()),
        fail_deletion_attempts: Some(1),
        ..Default::default()
    });
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(emulator.instance(ID).unwrap().state, "DeleteFailed");
    c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(emulator.instance(ID).unwrap().state, "Deleted");
}

#[tokio::test]
async fn a_deleted_instance_stays_readable_for_the_retention_then_answers_404_everywhere() {
    let emulator = Emulator::start(EmulatorConfig {
        delete_delay: Duration::from_secs(120),
        deleted_retention: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .unwrap();
    seed_active(&emulator, ID);
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    emulator.advance_clock(Duration::from_secs(119));
    assert_eq!(emulator.instance(ID).unwrap().state, "Deleting");
    emulator.advance_clock(Duration::from_secs(1));
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleted);
    let listed = c.list_instances().send().await.unwrap();
    assert_eq!(listed.instances().len(), 1);

    emulator.advance_clock(Duration::from_secs(600));
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c.delete_instance().instance_id(ID).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    assert!(c.list_instances().send().await.unwrap().instances().is_empty());
    // The history outlives the instance, with each transition stamped when it was due.
    let history = emulator.history(ID);
    let states: Vec<&str> = history.iter().map(|h| h.state.as_str()).collect();
    assert_eq!(states, ["Active", "Deleting", "Deleted"]);
    assert!((history[2].at - history[1].at - 120.0).abs() < 0.01);
}

#[tokio::test]
async fn repeat_delete_of_a_deleting_instance_returns_the_current_record() {
    let emulator = Emulator::start(EmulatorConfig { delete_delay: Duration::from_secs(3600), ..Default::default() }).await.unwrap();
    seed_active(&emulator, ID);
    let c = client(&emulator);
    let first = c.delete_instance().instance_id(ID).send().await.unwrap();
    emulator.advance_clock(Duration::from_secs(10));
    let second = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(second.instance().unwrap().state(), &InstanceState::Deleting);
    assert_eq!(first.instance().unwrap().last_modified_time(), second.instance().unwrap().last_modified_time(), "nothing new was started");
    assert_eq!(emulator.history(ID).len(), 2);
}

#[tokio::test]
async fn repeat_delete_of_a_deleted_instance_returns_the_deleted_record() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    let again = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(again.instance().unwrap().state(), &InstanceState::Deleted);
    assert_eq!(emulator.history(ID).len(), 3);
}

#[tokio::test]
async fn deleting_an_initializing_instance_is_a_conflict() {
    let emulator = Emulator::start(EmulatorConfig { create_delay: Duration::from_secs(60), ..Default::default() }).await.unwrap();
    let c = client(&emulator);
    let created = c.create_instance().send().await.unwrap();
    let id = created.instance().unwrap().instance_id().to_owned();
    let err = c.delete_instance().instance_id(&id).send().await.unwrap_err();
    assert_eq!(failure(&err).0, 409);
    assert!(err.into_service_error().is_conflict_exception());

    emulator.advance_clock(Duration::from_secs(60));
    let got = c.get_instance().instance_id(&id).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Active);
    let history = emulator.history(&id);
    assert_eq!(history[1].state, "Active");
    assert!((history[1].at - history[0].at - 60.0).abs() < 0.01);
    assert_eq!(got.instance().unwrap().last_modified_time().unwrap().as_secs_f64(), history[1].at);
}

#[tokio::test]
async fn updating_a_deleting_or_deleted_instance_is_a_conflict() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        state: Some("Deleting".into()),
        delete_polls: Some(5),
        ..Default::default()
    });
    let c = client(&emulator);
    let err = c.update_instance().instance_id(ID).instance_name("x1").send().await.unwrap_err();
    assert!(err.into_service_error().is_conflict_exception());
    emulator.set_state(ID, "Deleted", None);
    let err = c.update_instance().instance_id(ID).instance_name("x1").send().await.unwrap_err();
    assert!(err.into_service_error().is_conflict_exception());
}

#[tokio::test]
async fn forced_states_and_removal_are_seen_by_the_api() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    emulator.set_state(ID, "DeleteFailed", Some("stuck".into()));
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::DeleteFailed);
    assert_eq!(got.instance().unwrap().error_message(), Some("stuck"));
    emulator.remove(ID);
    assert!(emulator.instance(ID).is_none());
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}
