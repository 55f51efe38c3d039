//! Unit tests of the parent module.

use super::*;
use crate::contract::Event;

const DELETION_STARTED: &str = Event::DeletionStarted.detail_type();
use crate::input::near_miss;
use crate::model::InstanceId;
use serde_json::json;

const ID: &str = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";

fn message(result: Result<DeleteEvent, Error>) -> String {
    match result {
        Err(Error::InvalidInput(message)) => message,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn request(dry_run: bool) -> DeleteRequest {
    DeleteRequest {
        instance_id: InstanceId::parse("instanceId", &json!(ID)).unwrap(),
        target: Target::default(),
        sender: None,
        dry_run,
        metadata: Map::new(),
        sweep: None,
    }
}

#[test]
fn direct_invoke_names_the_instance_by_id() {
    assert_eq!(parse_delete_event(&json!({"instanceId": ID})), Ok(DeleteEvent::Direct(request(false))));
}

#[test]
fn a_previous_output_names_the_instance_by_its_record() {
    let event = json!({"instance": {"instanceId": ID, "state": "Deleting", "awsAccountId": "123456789012"}});
    assert_eq!(parse_delete_event(&event), Ok(DeleteEvent::Direct(request(false))));
}

#[test]
fn dry_run_is_read_from_the_request() {
    assert_eq!(parse_delete_event(&json!({"instanceId": ID, "dryRun": true})), Ok(DeleteEvent::Direct(request(true))));
}

#[test]
fn eventbridge_event_carries_the_request_in_its_detail() {
    let event = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "detail": {"instanceId": ID}});
    assert_eq!(parse_delete_event(&event), Ok(DeleteEvent::EventBridge(request(false))));
}

#[test]
fn sqs_messages_are_judged_one_by_one() {
    let event = json!({"Records": [
        {"messageId": "m1", "eventSource": "aws:sqs", "body": format!("{{\"instanceId\":\"{ID}\"}}")},
        {"messageId": "m2", "eventSource": "aws:sqs", "body": "not json"},
    ]});
    let DeleteEvent::Sqs(items) = parse_delete_event(&event).unwrap() else { panic!("not a batch") };
    assert_eq!(
        items[0],
        SqsItem { message_id: "m1".into(), request: Ok(request(false)), body: Some(format!("{{\"instanceId\":\"{ID}\"}}")) }
    );
    assert_eq!(items[1].message_id, "m2");
    assert!(matches!(&items[1].request, Err(Error::InvalidInput(m)) if m.contains("is not JSON")));
}

#[test]
fn an_sqs_body_may_be_an_eventbridge_event() {
    let body = json!({"detail-type": "x", "source": "ops", "detail": {"instanceId": ID, "dryRun": true}}).to_string();
    let event = json!({"Records": [{"messageId": "m1", "body": body}]});
    let DeleteEvent::Sqs(items) = parse_delete_event(&event).unwrap() else { panic!("not a batch") };
    assert_eq!(items[0].request, Ok(request(true)));
}

#[test]
fn a_record_without_message_id_fails_the_whole_batch() {
    let m = message(parse_delete_event(&json!({"Records": [{"body": "{}"}]})));
    assert!(m.contains("Records[0] has no \"messageId\""), "{m}");
}

#[test]
fn records_from_other_services_are_refused() {
    let m = message(parse_delete_event(&json!({"Records": [{"eventSource": "aws:sns", "messageId": "x"}]})));
    assert!(m.contains("\"aws:sns\""), "{m}");
}

#[test]
fn non_objects_are_refused_with_the_accepted_shapes() {
    for event in [json!([]), json!("x"), json!(null), json!(1), json!(true)] {
        let m = message(parse_delete_event(&event));
        assert!(m.contains("must be a JSON object") && m.contains("accepted shapes"), "{m}");
    }
}

#[test]
fn a_misspelt_dry_run_is_refused_rather_than_ignored() {
    for member in ["dry_run", "dryrun", "DryRun", "Dry-Run", "DRYRUN", "dry-run"] {
        let m = message(parse_delete_event(&json!({"instanceId": ID, member: true})));
        assert!(m.contains(&format!("the member \"{member}\"")) && m.contains("did you mean dryRun?"), "{m}");
    }
}

#[test]
fn a_misspelt_instance_id_is_refused_naming_the_member_meant() {
    for member in ["InstanceId", "instance_id", "INSTANCEID", "instance-id"] {
        let m = message(parse_delete_event(&json!({ member: ID })));
        assert!(m.contains("did you mean instanceId?"), "{m}");
    }
    let m = message(parse_delete_event(&json!({"instanceId": ID, "Instance": {"instanceId": ID}})));
    assert!(m.contains("did you mean instance?"), "{m}");
}

#[test]
fn other_members_are_kept_as_metadata() {
    let event = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops",
        "detail": {"instanceId": ID, "requestedBy": "nightly-cleanup", "ticket": 42}});
    let DeleteEvent::EventBridge(request) = parse_delete_event(&event).unwrap() else { panic!("not an EventBridge request") };
    assert_eq!(request.instance_id.as_str(), ID);
    assert!(!request.dry_run);
    assert_eq!(Value::Object(request.metadata), json!({"requestedBy": "nightly-cleanup", "ticket": 42}));
}

#[test]
fn a_deletion_requested_by_the_sweep_names_its_run_and_reason_and_keeps_its_detail_as_metadata() {
    let detail = json!({"instanceId": ID, "reason": "ExpiryTagPassed", "sweepId": "8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11",
        "detail": "tag ExpiresAt passed", "scheduledFor": "2026-11-28T09:00:02Z"});
    let event = json!({"detail-type": DELETION_REQUESTED, "source": SWEEP_SOURCE, "account": "123456789012", "detail": detail});
    let DeleteEvent::EventBridge(request) = parse_delete_event(&event).unwrap() else { panic!("not an EventBridge request") };
    let sweep = request.sweep.expect("a sweep request");
    assert_eq!((sweep.sweep_id.as_str(), sweep.reason.as_str()), ("8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11", "ExpiryTagPassed"));
    assert_eq!(
        (sweep.reason_detail.as_deref(), sweep.scheduled_for.as_deref()),
        (Some("tag ExpiresAt passed"), Some("2026-11-28T09:00:02Z"))
    );
    let mut metadata = detail.as_object().unwrap().clone();
    metadata.remove("instanceId");
    assert_eq!(request.metadata, metadata, "the request as the sweep put it");
    // The same through an SQS queue that a rule delivers to.
    let batch = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": event.to_string()}]});
    let DeleteEvent::Sqs(items) = parse_delete_event(&batch).unwrap() else { panic!("not a batch") };
    assert_eq!(items[0].request.as_ref().unwrap().sweep.as_ref().map(|s| s.reason.as_str()), Some("ExpiryTagPassed"));
}

#[test]
fn sweep_members_from_another_source_or_detail_type_are_metadata_alone() {
    let detail = json!({"instanceId": ID, "reason": "ExpiryTagPassed", "sweepId": "s-1"});
    for detail_type in [DELETION_REQUESTED, "Supply Chain Instance Deletion Wanted"] {
        let event = json!({"detail-type": detail_type, "source": "ops", "detail": detail});
        let DeleteEvent::EventBridge(request) = parse_delete_event(&event).unwrap() else { panic!("not an EventBridge request") };
        assert_eq!(request.sweep, None, "{detail_type}");
        assert_eq!(Value::Object(request.metadata), json!({"reason": "ExpiryTagPassed", "sweepId": "s-1"}));
    }
    let direct = json!({"instanceId": ID, "reason": "ExpiryTagPassed", "sweepId": "s-1"});
    let DeleteEvent::Direct(request) = parse_delete_event(&direct).unwrap() else { panic!("not direct") };
    assert_eq!(request.sweep, None);
}

#[test]
fn the_sweeps_notices_and_reports_are_never_deletion_requests() {
    for detail_type in ["Supply Chain Instance Deletion Scheduled", "Supply Chain Instance Deletion Cancelled", "anything else"] {
        let event = json!({"detail-type": detail_type, "source": SWEEP_SOURCE, "account": "123456789012",
            "detail": {"instanceId": ID, "reason": "ExpiryTagPassed", "sweepId": "s-1"}});
        let m = message(parse_delete_event(&event));
        assert!(m.contains("the sweep's own announcement") && m.contains(DELETION_REQUESTED), "{m}");
    }
}

#[test]
fn a_replayed_event_is_refused_in_every_shape() {
    let replayed = json!({"detail-type": DELETION_REQUESTED, "source": "ops", "account": "123456789012",
        "replay-name": "audit-2026-11", "detail": {"instanceId": ID}});
    let m = message(parse_delete_event(&replayed));
    assert!(m.contains("carries \"replay-name\" (\"audit-2026-11\")") && m.contains("never acted on again"), "{m}");
    assert!(message(parse_delete_event(&json!({"instanceId": ID, "replay-name": "r"}))).contains("replay-name"));
    // In a batch, only the replayed message fails, in both body shapes.
    let batch = json!({"Records": [
        {"messageId": "replayed", "eventSource": "aws:sqs", "body": replayed.to_string()},
        {"messageId": "direct", "eventSource": "aws:sqs", "body": json!({"instanceId": ID, "replay-name": "r"}).to_string()},
        {"messageId": "fresh", "eventSource": "aws:sqs", "body": json!({"instanceId": ID}).to_string()},
    ]});
    let DeleteEvent::Sqs(items) = parse_delete_event(&batch).unwrap() else { panic!("not a batch") };
    for item in &items[..2] {
        assert!(matches!(&item.request, Err(Error::InvalidInput(m)) if m.contains("replay-name")), "{item:?}");
    }
    assert_eq!(items[2].request, Ok(request(false)));
}

#[test]
fn an_sqs_body_holding_an_eventbridge_envelope_keeps_the_sender_of_the_envelope() {
    let envelope = json!({"detail-type": DELETION_REQUESTED, "source": "com.example.platform", "account": "210987654321",
        "detail": {"instanceId": ID, "accountId": "333333333333"}});
    let batch = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": envelope.to_string()}]});
    let DeleteEvent::Sqs(items) = parse_delete_event(&batch).unwrap() else { panic!("not a batch") };
    let request = items[0].request.as_ref().unwrap();
    assert_eq!(request.sender.as_ref().map(AccountId::as_str), Some("210987654321"));
    assert_eq!(request.target.account_id.as_ref().map(AccountId::as_str), Some("333333333333"));
}

#[test]
fn a_sweep_request_that_does_not_say_why_is_refused_before_any_call() {
    let event = json!({"detail-type": DELETION_REQUESTED, "source": SWEEP_SOURCE, "detail": {"instanceId": ID, "sweepId": "s-1"}});
    let m = message(parse_delete_event(&event));
    assert!(m.contains("the EventBridge event's detail has no \"reason\""), "{m}");
}

#[test]
fn metadata_too_large_to_announce_is_refused_before_any_call() {
    let big = "x".repeat(MAX_METADATA_BYTES);
    let m = message(parse_delete_event(&json!({"instanceId": ID, "note": big})));
    assert!(m.contains("256 KiB"), "{m}");
    let fits = "x".repeat(MAX_METADATA_BYTES - 20);
    assert!(parse_delete_event(&json!({"instanceId": ID, "note": fits})).is_ok());
}

#[test]
fn near_misses_are_told_apart_from_unknown_members() {
    assert_eq!(near_miss("dry_run", &REQUEST_MEMBERS), Some("dryRun"));
    assert_eq!(near_miss("dryRun", &REQUEST_MEMBERS), None);
    assert_eq!(near_miss("requestedBy", &REQUEST_MEMBERS), None);
    assert_eq!(near_miss("instances", &REQUEST_MEMBERS), None);
}

#[test]
fn dry_run_must_be_a_boolean() {
    let m = message(parse_delete_event(&json!({"instanceId": ID, "dryRun": "yes"})));
    assert!(m.contains("\"dryRun\" a string"), "{m}");
}

#[test]
fn both_instance_id_and_instance_are_ambiguous() {
    let m = message(parse_delete_event(&json!({"instanceId": ID, "instance": {"instanceId": ID}})));
    assert!(m.contains("both"), "{m}");
}

#[test]
fn malformed_ids_are_refused_with_the_reason() {
    let cases = [
        (json!("1F0E2D3C-4B5A-4697-8877-A6B5C4D3E2F1"), "character 2 is 'F', not a lowercase hexadecimal digit"),
        (json!("abc"), "it has 3 characters"),
        (json!(" 1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1"), "it has 37 characters"),
        (json!("1f0e2d3c_4b5a-4697-8877-a6b5c4d3e2f1"), "character 9 is '_', where a '-' belongs"),
        (json!("../../../../../../../../../../../../"), "character 1 is '.'"),
        (json!("1f0e2d3c%2F4b5a-4697-8877-a6b5c4d3e2"), "character 9 is '%'"),
        // A Cyrillic 'і' looks like 'i' but is two bytes long.
        (json!("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2fі"), "character 36 is 'і'"),
        (json!(12), "instanceId must be a string, got a number"),
    ];
    for (id, expected) in cases {
        let m = message(parse_delete_event(&json!({ "instanceId": id })));
        assert!(m.contains(expected), "{m}");
    }
}

#[test]
fn own_announcements_are_not_deletion_requests() {
    let event = json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "detail": {"instance": {"instanceId": ID}}});
    let m = message(parse_delete_event(&event));
    assert!(m.contains("own announcement"), "{m}");
}

#[test]
fn long_values_are_cut_short_in_messages() {
    let long = "x".repeat(10_000);
    let m = message(parse_delete_event(&json!({ "instanceId": long })));
    assert!(m.len() < 600, "{m}");
    assert!(m.contains("10000 characters"), "{m}");
}

#[test]
fn every_shape_may_name_a_target_and_the_sender_of_an_eventbridge_event_is_kept() {
    let target: Target = serde_json::from_value(json!({"accountId": "210987654321", "region": "eu-west-1"})).unwrap();
    let direct = json!({"instanceId": ID, "accountId": "210987654321", "region": "eu-west-1"});
    let DeleteEvent::Direct(request) = parse_delete_event(&direct).unwrap() else { panic!("not direct") };
    assert_eq!((&request.target, &request.sender), (&target, &None));
    assert!(request.metadata.is_empty(), "the target is no metadata: {:?}", request.metadata);
    let event = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "account": "333333333333",
        "detail": {"instanceId": ID, "accountId": "210987654321", "region": "eu-west-1"}});
    let DeleteEvent::EventBridge(request) = parse_delete_event(&event).unwrap() else { panic!("not EventBridge") };
    assert_eq!(request.target, target);
    assert_eq!(request.sender.as_ref().map(|a| a.as_str()), Some("333333333333"));
    let body = json!({"instanceId": ID, "accountId": "210987654321"}).to_string();
    let batch = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": body}]});
    let DeleteEvent::Sqs(items) = parse_delete_event(&batch).unwrap() else { panic!("not a batch") };
    assert_eq!(items[0].request.as_ref().unwrap().target.account_id.as_ref().map(|a| a.as_str()), Some("210987654321"));
}

#[test]
fn a_malformed_or_misspelt_target_is_refused_naming_what_is_accepted() {
    for (member, value, expected) in [
        ("accountId", json!("2109876543"), "12 digits"),
        ("accountId", json!(210987654321u64), "must be a string"),
        ("region", json!("Europe"), "region name"),
        ("account_id", json!("210987654321"), "did you mean accountId?"),
        ("AccountId", json!("210987654321"), "did you mean accountId?"),
        ("Region", json!("eu-west-1"), "did you mean region?"),
    ] {
        let m = message(parse_delete_event(&json!({ "instanceId": ID, member: value })));
        assert!(m.contains(expected), "{member}: {m}");
    }
    let event = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "account": "me",
        "detail": {"instanceId": ID}});
    assert!(message(parse_delete_event(&event)).contains("12 digits"));
}
