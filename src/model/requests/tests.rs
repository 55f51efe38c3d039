//! Unit tests of the parent module.

use super::*;
use crate::contract::DeletionStarted;
use crate::model::ReportedInstance;
use serde_json::json;

fn id() -> InstanceId {
    InstanceId::parse("instanceId", &json!("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1")).unwrap()
}

#[test]
fn a_recheck_reads_back_as_it_was_written() {
    let record = InstanceRecord::new(id(), "123456789012", aws_sdk_supplychain::types::InstanceState::Deleting);
    let recheck = Recheck {
        status_check: FollowRequest {
            instance_id: id(),
            request: Some(Map::from_iter([("requestedBy".to_owned(), json!("team-planning"))])),
            sweep: None,
            target: serde_json::from_value(json!({"accountId": "222222222222", "region": "eu-west-1"})).unwrap(),
            attempt: 3,
            started_at: DateTime::from_secs(1_767_323_045),
            sender: Some(AccountId::parse("account", &json!("222222222222")).unwrap()),
            instance_not_found: true,
            last_seen: Some(record),
        },
    };
    let written = serde_json::to_value(&recheck).unwrap();
    assert_eq!(written["statusCheck"]["startedAt"], "2026-01-02T03:04:05Z");
    assert_eq!((&written["statusCheck"]["sender"], &written["statusCheck"]["instanceNotFound"]), (&json!("222222222222"), &json!(true)));
    assert_eq!(written["statusCheck"]["lastSeen"]["state"], "Deleting");
    assert_eq!((&written["statusCheck"]["accountId"], &written["statusCheck"]["region"]), (&json!("222222222222"), &json!("eu-west-1")));
    assert_eq!(serde_json::from_value::<Recheck>(written).unwrap(), recheck);
}

#[test]
fn small_request_metadata_is_carried_whole_and_large_metadata_as_a_note_of_its_size() {
    let small = Map::from_iter([("requestedBy".to_owned(), json!("team-planning"))]);
    assert_eq!(carried_request(&small), small);
    let large = Map::from_iter([("padding".to_owned(), json!("x".repeat(MAX_CARRIED_REQUEST_BYTES)))]);
    let carried = carried_request(&large);
    assert_eq!(carried.keys().collect::<Vec<_>>(), ["omitted"]);
    assert!(carried["omitted"].as_str().unwrap().contains("Deletion Started event holds them whole"));
}

#[test]
fn a_marker_reads_back_as_it_was_written() {
    let marker = AnnouncedMarker::new(id(), Outcome::TimedOut, DateTime::from_millis(1_767_323_045_250));
    let written = serde_json::to_value(&marker).unwrap();
    assert_eq!(
        written,
        json!({"deletionAnnounced": {"instanceId": id().as_str(), "outcome": "TimedOut", "announcedAt": "2026-01-02T03:04:05.25Z"}})
    );
    assert_eq!(serde_json::from_value::<AnnouncedMarker>(written).unwrap(), marker);
}

fn sweep_detail() -> Map<String, Value> {
    let detail = json!({"instanceId": id().as_str(), "reason": "ExpiryTagPassed", "sweepId": "8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11",
        "detail": "tag ExpiresAt=\"2026-11-01\" passed", "scheduledFor": "2026-11-28T09:00:02Z"});
    detail.as_object().unwrap().clone()
}

#[test]
fn a_sweep_request_gives_its_run_its_reason_in_name_and_words_and_its_scheduled_time() {
    let origin = SweepOrigin::read("the detail", &sweep_detail()).unwrap();
    assert_eq!(
        origin,
        SweepOrigin {
            sweep_id: "8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11".into(),
            reason: "ExpiryTagPassed".into(),
            reason_detail: Some("tag ExpiresAt=\"2026-11-01\" passed".into()),
            scheduled_for: Some("2026-11-28T09:00:02Z".into()),
        }
    );
    // The request as the sweep sends it today, without notice: no words, no scheduled time.
    let mut today = sweep_detail();
    today.remove("detail");
    today.remove("scheduledFor");
    let origin = SweepOrigin::read("the detail", &today).unwrap();
    assert_eq!((origin.reason_detail, origin.scheduled_for), (None, None));
}

#[test]
fn a_sweep_request_without_its_run_or_reason_or_with_a_member_of_another_kind_is_refused() {
    let cases: [(&str, Value, &str); 6] = [
        ("sweepId", Value::Null, "has no \"sweepId\""),
        ("reason", Value::Null, "has no \"reason\""),
        ("reason", json!(""), "1 to 256 characters"),
        ("sweepId", json!("x".repeat(MAX_SWEEP_MEMBER_CHARS + 1)), "1 to 256 characters"),
        ("detail", json!(["words"]), "\"detail\" an array"),
        ("scheduledFor", json!(1_795_856_402), "\"scheduledFor\" a number"),
    ];
    for (member, value, expected) in cases {
        let mut detail = sweep_detail();
        detail.insert(member.to_owned(), value);
        let error = SweepOrigin::read("the detail", &detail).unwrap_err();
        assert!(matches!(&error, Error::InvalidInput(m) if m.contains(expected)), "{member}: {error}");
    }
    // The schedule mark's value is recorded as the sweep wrote it.
    let mut offset = sweep_detail();
    offset.insert("scheduledFor".into(), json!(" 2026-11-28T11:00:02+02:00"));
    assert_eq!(SweepOrigin::read("the detail", &offset).unwrap().scheduled_for.as_deref(), Some(" 2026-11-28T11:00:02+02:00"));
}

#[test]
fn a_long_reason_in_words_is_cut_on_a_character_boundary_with_a_note() {
    let mut detail = sweep_detail();
    detail.insert("detail".into(), json!("é".repeat(MAX_REASON_DETAIL_BYTES)));
    let words = SweepOrigin::read("the detail", &detail).unwrap().reason_detail.unwrap();
    let (kept, note) = words.split_once('…').unwrap();
    assert!(kept.len() <= MAX_REASON_DETAIL_BYTES && kept.chars().all(|c| c == 'é'), "{kept}");
    assert!(note.contains("2048 bytes") && note.contains("holds it whole"), "{note}");
}

#[test]
fn a_recheck_of_a_sweep_deletion_carries_the_sweep_beside_its_members_and_reads_back() {
    let recheck = Recheck {
        status_check: FollowRequest {
            instance_id: id(),
            target: Target::default(),
            attempt: 2,
            started_at: DateTime::from_millis(1_767_323_045_250),
            request: Some(sweep_detail()),
            sweep: Some(SweepOrigin::read("the detail", &sweep_detail()).unwrap()),
            sender: None,
            instance_not_found: false,
            last_seen: None,
        },
    };
    let written = serde_json::to_value(&recheck).unwrap();
    let check = &written["statusCheck"];
    assert_eq!((&check["sweepId"], &check["reason"]), (&json!("8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11"), &json!("ExpiryTagPassed")));
    assert_eq!((&check["reasonDetail"], &check["scheduledFor"]), (&sweep_detail()["detail"], &json!("2026-11-28T09:00:02Z")));
    assert_eq!(check["startedAt"], "2026-01-02T03:04:05.25Z");
    assert_eq!(serde_json::from_value::<Recheck>(written).unwrap(), recheck);
    // A re-check written before the sweep was carried reads with none.
    let earlier = json!({"statusCheck": {"instanceId": id().as_str(), "attempt": 2, "startedAt": "2026-01-02T03:04:05Z"}});
    assert_eq!(serde_json::from_value::<Recheck>(earlier).unwrap().status_check.sweep, None);
}

#[test]
fn a_deletion_started_detail_reads_back_as_written_and_the_sweep_is_found_in_it() {
    let detail = json!({"instance": {"instanceId": id().as_str(), "awsAccountId": "123456789012", "state": "Deleting"},
        "startedAt": "2026-11-28T09:00:04.512Z", "sweepId": "8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11", "reason": "MaxAgeExceeded",
        "request": {"reason": "MaxAgeExceeded", "sweepId": "8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11"}});
    let read: DeletionStarted = serde_json::from_value(detail.clone()).unwrap();
    assert_eq!(read.started_at, Some(DateTime::from_millis(1_795_856_404_512)));
    assert_eq!(read.sweep.as_ref().map(|s| s.reason.as_str()), Some("MaxAgeExceeded"));
    assert_eq!(serde_json::to_value(&read).unwrap(), detail);
    assert_eq!(SweepOrigin::written_in(detail.as_object().unwrap()), read.sweep);
    // Written by an earlier version: the record alone.
    let earlier = json!({"instance": {"instanceId": id().as_str(), "awsAccountId": "123456789012", "state": "Deleting"}});
    let read: DeletionStarted = serde_json::from_value(earlier.clone()).unwrap();
    assert_eq!((read.started_at, &read.sweep, &read.request), (None, &None, &None));
    assert_eq!(serde_json::to_value(&read).unwrap(), earlier);
    assert_eq!(SweepOrigin::written_in(earlier.as_object().unwrap()), None);
}

#[test]
fn a_deletion_started_for_an_instance_not_found_names_it_by_id_with_its_sender_and_reads_back() {
    let detail = json!({"instance": {"instanceId": id().as_str()}, "accountId": "210987654321", "sender": "210987654321",
        "instanceNotFound": true, "request": {"ticket": "OPS-7"}});
    let read: DeletionStarted = serde_json::from_value(detail.clone()).unwrap();
    assert_eq!(read.instance, ReportedInstance::Id { instance_id: id() });
    assert_eq!((read.sender.as_ref().map(AccountId::as_str), read.instance_not_found), (Some("210987654321"), true));
    assert_eq!(serde_json::to_value(&read).unwrap(), detail);
}

fn sweep_request(sender: Option<&str>) -> DeleteRequest {
    DeleteRequest {
        instance_id: id(),
        target: Target::default(),
        sender: sender.map(|account| AccountId::parse("account", &json!(account)).unwrap()),
        dry_run: false,
        metadata: sweep_detail(),
        sweep: Some(SweepOrigin::read("the detail", &sweep_detail()).unwrap()),
    }
}

#[test]
fn the_sweeps_requests_are_honoured_only_from_the_stacks_own_account() {
    let home = AccountId::parse("account", &json!("123456789012")).unwrap();
    assert_eq!(sweep_request(Some("123456789012")).refuse_borrowed_source(Some(&home)), Ok(()));
    for (sender, expected) in [(Some("210987654321"), "comes from account 210987654321"), (None, "names no \"account\"")] {
        let error = sweep_request(sender).refuse_borrowed_source(Some(&home)).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput(m) if m.contains(expected) && m.contains("only the stack's own account 123456789012")),
            "{error}"
        );
    }
    // A request of another source is judged by the sender rule of the target alone.
    let plain = DeleteRequest { sweep: None, ..sweep_request(Some("210987654321")) };
    assert_eq!(plain.refuse_borrowed_source(Some(&home)), Ok(()));
    // A local runtime's placeholder ARN names no account to compare with.
    assert_eq!(sweep_request(Some("210987654321")).refuse_borrowed_source(None), Ok(()));
}

#[test]
fn a_partial_last_seen_record_is_left_out_rather_than_refused() {
    let read: FollowRequest = serde_json::from_value(
        json!({"instanceId": id().as_str(), "attempt": 2, "startedAt": "2026-01-02T03:04:05Z", "lastSeen": {"state": 1}}),
    )
    .unwrap();
    assert_eq!(read.last_seen, None);
}
