//! The status checker's input: a Deletion Started event, a Lambda destination record, its own
//! re-check and marker schedules, or a Step Functions task.

use serde_json::{Map, Value};

use super::{as_object, instance_id_of, invalid, refuse_near_misses, refuse_replay};
use crate::contract::Event;
use crate::error::{quoted, Error};
use crate::model::{
    carried_request, AccountId, AnnouncedMarker, FollowRequest, InstanceId, InstanceRecord, Recheck, ReportRequest, SweepOrigin, Target,
};

const DELETION_STARTED: &str = Event::DeletionStarted.detail_type();

/// The shapes the status checker accepts, for error messages.
pub const CHECK_SHAPES: &str = "accepted shapes: a \"Supply Chain Instance Deletion Started\" event; a Lambda destination record \
(\"Lambda Function Invocation Result - Success\") of the delete function; the checker's own {\"statusCheck\": {...}}; \
or a Step Functions input {\"instanceId\": \"<uuid>\"} or {\"instance\": {\"instanceId\": \"<uuid>\", ...}}, each with optional \
\"accountId\" and \"region\" (see events/)";

/// What the status checker was asked to do.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per invocation, read once
pub enum CheckEvent {
    /// Driven by EventBridge (a Deletion Started event, a Lambda destination record, or a scheduled
    /// re-check): follow the deletion with schedules and announce its end.
    Follow(FollowRequest),
    /// A Step Functions task: report the state only.
    Report(ReportRequest),
    /// A destination record of a dry run: there is no deletion to follow.
    DryRun(InstanceId),
    /// The expiry of the marker left after a final announcement: nothing to do.
    MarkerExpired(InstanceId),
}

const LAMBDA_SUCCESS: &str = "Lambda Function Invocation Result - Success";

/// Classifies a status-checker event. `now` stands in for a start time the event does not carry.
pub fn parse_check_event(event: &Value, now: aws_smithy_types::DateTime) -> Result<CheckEvent, Error> {
    let object = as_object("the event", event, CHECK_SHAPES)?;
    // A replayed Deletion Started is history: the deletion it shows was followed then.
    refuse_replay("the event", object)?;
    if let Some(detail_type) = object.get("detail-type") {
        return eventbridge_event(object, detail_type, now);
    }
    // The checker's own schedules: each input is read with the type that wrote it.
    if object.contains_key("deletionAnnounced") {
        let marker: AnnouncedMarker =
            read_own("\"deletionAnnounced\"", event, "{\"deletionAnnounced\": {\"instanceId\", \"outcome\", \"announcedAt\"}}")?;
        return Ok(CheckEvent::MarkerExpired(marker.deletion_announced.instance_id));
    }
    if object.contains_key("statusCheck") {
        let Recheck { status_check } = read_own(
            "\"statusCheck\"",
            event,
            "{\"statusCheck\": {\"instanceId\", \"attempt\" (a whole number from 1), \"startedAt\" (RFC 3339), \"lastSeen\", \
             \"request\", \"sweepId\", \"reason\", \"reasonDetail\", \"scheduledFor\"}}",
        )?;
        if status_check.attempt == 0 {
            return Err(invalid("\"statusCheck.attempt\" must be a whole number from 1".to_owned()));
        }
        return Ok(CheckEvent::Follow(status_check));
    }
    // A state machine loops on the checker, feeding its report back in, and a workflow's state may
    // carry more than the instance: other members are accepted, near misses of these are not.
    refuse_near_misses("the event", object, &["instanceId", "instance", "done", "outcome", "dryRun", "accountId", "region"])?;
    let instance_id = instance_id_of("the event", object, CHECK_SHAPES)?;
    let target = Target::read("the event", object)?;
    let last_seen = last_seen(object);
    let deletion_seen = last_seen.as_ref().is_some_and(InstanceRecord::deletion_started);
    Ok(CheckEvent::Report(ReportRequest { instance_id, target, deletion_seen, last_seen }))
}

/// An EventBridge event: a Deletion Started announcement, or a Lambda destination's success record.
fn eventbridge_event(object: &Map<String, Value>, detail_type: &Value, now: aws_smithy_types::DateTime) -> Result<CheckEvent, Error> {
    let started_at = match object.get("time").and_then(Value::as_str) {
        Some(time) => parse_time("the event's \"time\"", time)?,
        None => now,
    };
    let detail = match object.get("detail") {
        Some(Value::Object(detail)) => detail,
        _ => return Err(invalid(format!("the EventBridge event has no \"detail\" object; {CHECK_SHAPES}"))),
    };
    let (what, payload) = match detail_type.as_str() {
        Some(DELETION_STARTED) => ("the event's detail", detail),
        Some(LAMBDA_SUCCESS) => match detail.get("responsePayload") {
            Some(Value::Object(payload)) => ("the destination record's responsePayload", payload),
            _ => return Err(invalid(format!("the Lambda destination record has no \"responsePayload\" object; {CHECK_SHAPES}"))),
        },
        _ => {
            return Err(invalid(format!(
                "the EventBridge event's detail-type is {}, which the status checker does not follow; {CHECK_SHAPES}",
                detail_type
            )))
        }
    };
    let instance_id = instance_id_of(what, payload, CHECK_SHAPES)?;
    if payload.get("dryRun") == Some(&Value::Bool(true)) {
        return Ok(CheckEvent::DryRun(instance_id));
    }
    let target = Target::read(what, payload)?;
    let last_seen = last_seen(payload);
    let request = match payload.get("request") {
        Some(Value::Object(metadata)) => Some(carried_request(metadata)),
        _ => None,
    };
    // The delete function writes when it sent DeleteInstance; earlier versions did not, and
    // then the event's time stands for it.
    let started_at = match payload.get("startedAt") {
        Some(Value::String(time)) => parse_time(&format!("\"startedAt\" in {what}"), time)?,
        _ => started_at,
    };
    let sweep = SweepOrigin::written_in(payload);
    // Who sent the request, and whether its instance was found, as the delete function wrote them.
    let sender = match payload.get("sender") {
        Some(account) => Some(AccountId::parse(&format!("\"sender\" in {what}"), account)?),
        None => None,
    };
    let instance_not_found = payload.get("instanceNotFound") == Some(&Value::Bool(true));
    Ok(CheckEvent::Follow(FollowRequest {
        instance_id,
        target,
        request,
        sweep,
        sender,
        instance_not_found,
        attempt: 1,
        started_at,
        last_seen,
    }))
}

/// An input of the checker's own schedules, read with the type that wrote it; `shape` says what it
/// must be.
fn read_own<T: serde::de::DeserializeOwned>(what: &str, event: &Value, shape: &str) -> Result<T, Error> {
    serde_json::from_value(event.clone())
        .map_err(|error| invalid(format!("{what} is not as the checker writes it ({}); it must be {shape}", quoted(&error.to_string()))))
}

/// The `instance` record an event carries; a partial one is simply not used.
fn last_seen(object: &Map<String, Value>) -> Option<InstanceRecord> {
    object.get("instance").and_then(|i| serde_json::from_value(i.clone()).ok())
}

fn parse_time(what: &str, text: &str) -> Result<aws_smithy_types::DateTime, Error> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .map_err(|_| invalid(format!("{what} is {}, which is not an RFC 3339 time", quoted(text))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::EVENT_SOURCE;
    use aws_sdk_supplychain::types::InstanceState;
    use serde_json::json;

    const ID: &str = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";

    #[test]
    fn started_events_are_followed_from_their_time() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "time": "2026-01-02T03:04:05Z",
            "detail": {"instance": {"instanceId": ID, "state": "Deleting"}}});
        let CheckEvent::Follow(follow) = parse_check_event(&event, now).unwrap() else { panic!() };
        assert_eq!(follow.attempt, 1);
        assert_eq!(follow.started_at, aws_smithy_types::DateTime::from_secs(1_767_323_045));
    }

    #[test]
    fn a_started_event_is_followed_from_when_delete_instance_was_sent_with_the_sweep_behind_it() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "time": "2026-01-02T03:04:05Z",
            "detail": {"instance": {"instanceId": ID, "state": "Deleting"}, "startedAt": "2026-01-02T03:04:04.75Z",
                "sweepId": "s-1", "reason": "ExpiryTagPassed", "reasonDetail": "tag passed", "scheduledFor": "2026-01-01T03:04:04Z",
                "request": {"sweepId": "s-1", "reason": "ExpiryTagPassed", "detail": "tag passed", "scheduledFor": "2026-01-01T03:04:04Z"}}});
        let CheckEvent::Follow(follow) = parse_check_event(&event, now).unwrap() else { panic!() };
        assert_eq!(follow.started_at, aws_smithy_types::DateTime::from_millis(1_767_323_044_750));
        let sweep = follow.sweep.expect("the sweep carried");
        assert_eq!(
            (sweep.sweep_id.as_str(), sweep.reason.as_str(), sweep.reason_detail.as_deref()),
            ("s-1", "ExpiryTagPassed", Some("tag passed"))
        );
        assert_eq!(sweep.scheduled_for.as_deref(), Some("2026-01-01T03:04:04Z"));
        assert_eq!(follow.request.unwrap()["detail"], "tag passed");
    }

    #[test]
    fn a_started_event_whose_start_is_not_a_time_is_refused() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "time": "2026-01-02T03:04:05Z",
            "detail": {"instance": {"instanceId": ID, "state": "Deleting"}, "startedAt": "yesterday"}});
        assert!(matches!(parse_check_event(&event, now), Err(Error::InvalidInput(m)) if m.contains("\"startedAt\" in the event's detail")));
    }

    #[test]
    fn destination_records_of_dry_runs_are_not_followed() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": LAMBDA_SUCCESS, "source": "lambda",
            "detail": {"responsePayload": {"instance": {"instanceId": ID}, "dryRun": true}}});
        assert_eq!(parse_check_event(&event, now), Ok(CheckEvent::DryRun(InstanceId::parse("instanceId", &json!(ID)).unwrap())));
    }

    #[test]
    fn a_report_fed_back_by_a_state_machine_is_accepted() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"instance": {"instanceId": ID, "awsAccountId": "123456789012", "state": "Deleting"},
            "done": false, "outcome": "Deleting"});
        assert_eq!(
            parse_check_event(&event, now),
            Ok(CheckEvent::Report(ReportRequest {
                instance_id: InstanceId::parse("instanceId", &json!(ID)).unwrap(),
                target: Target::default(),
                deletion_seen: true,
                last_seen: Some(InstanceRecord::new(
                    InstanceId::parse("instanceId", &json!(ID)).unwrap(),
                    "123456789012",
                    InstanceState::Deleting
                )),
            }))
        );
    }

    #[test]
    fn a_replayed_deletion_started_is_refused_so_that_it_starts_no_re_checks() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "account": "123456789012",
            "replay-name": "audit-2026-11", "time": "2026-01-02T03:04:05Z", "detail": {"instance": {"instanceId": ID}}});
        assert!(matches!(parse_check_event(&event, now), Err(Error::InvalidInput(m)) if m.contains("\"replay-name\"")));
    }

    #[test]
    fn the_sender_and_an_instance_not_found_are_read_from_the_deletion_started_detail() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "time": "2026-01-02T03:04:05Z",
            "detail": {"instance": {"instanceId": ID}, "sender": "210987654321", "instanceNotFound": true}});
        let CheckEvent::Follow(follow) = parse_check_event(&event, now).unwrap() else { panic!() };
        assert_eq!((follow.sender.as_ref().map(AccountId::as_str), follow.instance_not_found), (Some("210987654321"), true));
        assert_eq!(follow.last_seen, None);
        let forged =
            json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "detail": {"instance": {"instanceId": ID}, "sender": "me"}});
        assert!(matches!(parse_check_event(&forged, now), Err(Error::InvalidInput(m)) if m.contains("\"sender\" in the event's detail")));
    }

    #[test]
    fn status_checks_need_an_attempt_and_a_start() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"statusCheck": {"instanceId": ID, "attempt": 0, "startedAt": "2026-01-02T03:04:05Z"}});
        assert!(matches!(parse_check_event(&event, now), Err(Error::InvalidInput(m)) if m.contains("attempt")));
    }
}
