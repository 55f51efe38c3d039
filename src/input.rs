//! Input shapes: each event is classified by hand into what the functions act on, so that anything
//! else becomes `InvalidInput` with a sentence saying what was wrong and which shapes are accepted.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::record::InstanceRecord;

/// The `source` of every event this project puts on a bus. Events from it are never deletion requests.
pub const EVENT_SOURCE: &str = "supplychain-delete-instance";

/// The shapes the delete function accepts, for error messages.
pub const DELETE_SHAPES: &str = "accepted shapes: {\"instanceId\": \"<uuid>\"} with an optional \"dryRun\": true; \
a previous output {\"instance\": {\"instanceId\": \"<uuid>\", ...}}; an EventBridge event whose \"detail\" is one of those; \
or an SQS batch (\"Records\") whose message bodies are one of those (see events/)";

/// The shapes the status checker accepts, for error messages.
pub const CHECK_SHAPES: &str = "accepted shapes: a \"Supply Chain Instance Deletion Started\" event; a Lambda destination record \
(\"Lambda Function Invocation Result - Success\") of the delete function; the checker's own {\"statusCheck\": {...}}; \
or a Step Functions input {\"instanceId\": \"<uuid>\"} or {\"instance\": {\"instanceId\": \"<uuid>\", ...}} (see events/)";

/// The event exactly as the runtime hands it over: JSON, or why it is not JSON. Deserialising into
/// this never fails, so that bytes that are not JSON (or JSON nested deeper than the parser's limit)
/// become our `InvalidInput` instead of the runtime's own deserialisation error.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    NotJson(String),
}

impl<'de> serde::Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match <Value as serde::Deserialize>::deserialize(deserializer) {
            Ok(value) => Payload::Json(value),
            Err(error) => Payload::NotJson(error.to_string()),
        })
    }
}

impl Payload {
    /// The JSON value, or `InvalidInput` naming the parse error and the accepted shapes.
    pub fn json(&self, shapes: &str) -> Result<&Value, Error> {
        match self {
            Payload::Json(value) => Ok(value),
            Payload::NotJson(reason) => Err(invalid(format!("the event is not JSON ({}); {shapes}", quoted(reason)))),
        }
    }
}

/// An AWS Supply Chain instance id, checked against the model's `UUID` shape: 36 characters,
/// lowercase hexadecimal digits in groups of 8-4-4-4-12 separated by `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(String);

impl InstanceId {
    /// Validates `value`, naming `field` (for example `detail.instanceId`) in the error.
    pub fn parse(field: &str, value: &Value) -> Result<InstanceId, Error> {
        let Value::String(text) = value else {
            return Err(invalid(format!("{field} must be a string, got {}", kind_of(value))));
        };
        match uuid_problem(text) {
            None => Ok(InstanceId(text.clone())),
            Some(problem) => Err(invalid(format!(
                "{field} {} is not a valid Supply Chain instance id: {problem}; expected 36 characters, \
                 a lowercase hexadecimal UUID such as \"1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1\"",
                quoted(text)
            ))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with `text` as a lowercase UUID, or `None` when nothing is.
fn uuid_problem(text: &str) -> Option<String> {
    let count = text.chars().count();
    if count != 36 {
        return Some(format!("it has {count} characters"));
    }
    for (index, c) in text.chars().enumerate() {
        let position = index + 1;
        if matches!(index, 8 | 13 | 18 | 23) {
            if c != '-' {
                return Some(format!("character {position} is {c:?}, where a '-' belongs"));
            }
        } else if !matches!(c, '0'..='9' | 'a'..='f') {
            return Some(format!("character {position} is {c:?}, not a lowercase hexadecimal digit"));
        }
    }
    None
}

/// One deletion to make (or, with `dry_run`, to describe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub instance_id: InstanceId,
    pub dry_run: bool,
    /// The request's other members (who asked, why, a workflow's state): not acted on, but carried
    /// under `request` in the Deletion Started announcement so that subscribers see them.
    pub metadata: Map<String, Value>,
}

/// Where a delete request came from; decides the shape of the response.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteEvent {
    /// A direct invoke or a Step Functions task.
    Direct(DeleteRequest),
    /// An EventBridge event carrying the request in `detail`.
    EventBridge(DeleteRequest),
    /// An SQS batch: each message on its own.
    Sqs(Vec<SqsItem>),
}

/// One SQS message of a batch, with its request or the reason it cannot be one.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsItem {
    pub message_id: String,
    pub request: Result<DeleteRequest, Error>,
    /// The body as received (when it is a string), so a message that failed for good can be moved
    /// to the dead-letter queue unchanged.
    pub body: Option<String>,
}

/// Classifies a delete-function event.
pub fn parse_delete_event(event: &Value) -> Result<DeleteEvent, Error> {
    let object = as_object("the event", event, DELETE_SHAPES)?;
    if object.contains_key("Records") {
        return parse_sqs_batch(object).map(DeleteEvent::Sqs);
    }
    if object.contains_key("detail-type") || object.contains_key("detail") {
        return parse_eventbridge_request(object).map(DeleteEvent::EventBridge);
    }
    parse_request_object("the event", object).map(DeleteEvent::Direct)
}

/// The members a delete request object may carry; any other member is metadata (see [`DeleteRequest`]).
pub const REQUEST_MEMBERS: [&str; 3] = ["instanceId", "instance", "dryRun"];

/// The largest metadata a delete request may carry, as JSON. The Deletion Started announcement carries
/// it, and PutEvents takes at most 256 KiB an entry: this leaves 16 KiB for the instance record, the
/// source, the detail-type and the resources, so a request that is accepted can always be announced.
pub const MAX_METADATA_BYTES: usize = 240 * 1024;

/// `{"instanceId": ...}` or `{"instance": {"instanceId": ...}}`, with an optional `dryRun`. Other
/// members are kept as metadata, except near misses of the members above: a misspelt `dryRun` must
/// never turn into a real deletion.
fn parse_request_object(what: &str, object: &Map<String, Value>) -> Result<DeleteRequest, Error> {
    refuse_near_misses(what, object, &REQUEST_MEMBERS)?;
    let instance_id = instance_id_of(what, object, DELETE_SHAPES)?;
    let dry_run = match object.get("dryRun") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => {
            return Err(invalid(format!("{what} has \"dryRun\" {}, but it must be true or false", kind_of(other))));
        }
    };
    let metadata: Map<String, Value> =
        object.iter().filter(|(key, _)| !REQUEST_MEMBERS.contains(&key.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let size = serde_json::to_string(&metadata).map_or(usize::MAX, |text| text.len());
    if size > MAX_METADATA_BYTES {
        return Err(invalid(format!(
            "{what} carries {size} bytes of members besides \"instanceId\", \"instance\" and \"dryRun\"; at most \
             {MAX_METADATA_BYTES} are accepted, so that the Deletion Started announcement that carries them stays within \
             PutEvents' 256 KiB limit"
        )));
    }
    Ok(DeleteRequest { instance_id, dry_run, metadata })
}

/// The member of `known` that `member` is a near miss of: the same once case, `_` and `-` are
/// ignored (`dry_run`, `DryRun`, `Dry-Run` for `dryRun`), but not the same. `None` for an exact
/// member or one that is merely unknown.
pub fn near_miss<'a>(member: &str, known: &[&'a str]) -> Option<&'a str> {
    fn folded(text: &str) -> String {
        text.chars().filter(|c| !matches!(c, '_' | '-')).flat_map(char::to_lowercase).collect()
    }
    let member_folded = folded(member);
    known.iter().copied().find(|k| *k != member && folded(k) == member_folded)
}

/// Refuses an object with a near miss of one of the `known` members ([`near_miss`]), naming the
/// member meant. Members that are merely unknown pass.
pub fn refuse_near_misses(what: &str, object: &Map<String, Value>, known: &[&str]) -> Result<(), Error> {
    for member in object.keys() {
        if let Some(meant) = near_miss(member, known) {
            return Err(invalid(format!(
                "{what} has the member {}, which is not accepted: did you mean {meant}? Members are matched exactly, \
                 so that a misspelt one is never ignored",
                quoted(member)
            )));
        }
    }
    Ok(())
}

/// The instance id of a request object: from `instanceId`, or from a previous output's `instance.instanceId`.
fn instance_id_of(what: &str, object: &Map<String, Value>, shapes: &str) -> Result<InstanceId, Error> {
    match (object.get("instanceId"), object.get("instance")) {
        (Some(id), None) => InstanceId::parse(&field_name(what, "instanceId"), id),
        (None, Some(Value::Object(instance))) => match instance.get("instanceId") {
            Some(id) => InstanceId::parse(&field_name(what, "instance.instanceId"), id),
            None => Err(invalid(format!("{what} has an \"instance\" without \"instanceId\"; {shapes}"))),
        },
        (None, Some(other)) => {
            Err(invalid(format!("{what} has \"instance\" {}, but it must be an object; {shapes}", kind_of(other))))
        }
        (Some(_), Some(_)) => Err(invalid(format!(
            "{what} has both \"instanceId\" and \"instance\"; exactly one of them is accepted, so that the instance to act on is never ambiguous"
        ))),
        (None, None) => Err(invalid(format!("{what} names no instance (no \"instanceId\" and no \"instance\"); {shapes}"))),
    }
}

fn parse_eventbridge_request(event: &Map<String, Value>) -> Result<DeleteRequest, Error> {
    // Our own announcements carry instance records too; acting on them would delete in a loop.
    if event.get("source").and_then(Value::as_str) == Some(EVENT_SOURCE) {
        let detail_type = event.get("detail-type").and_then(Value::as_str).unwrap_or("");
        return Err(invalid(format!(
            "the EventBridge event is this project's own announcement ({detail_type:?} from {EVENT_SOURCE:?}), \
             not a deletion request; the accepted events are deletion requests such as \"Supply Chain Instance Deletion Requested\" from another source"
        )));
    }
    match event.get("detail") {
        Some(Value::Object(detail)) => parse_request_object("the EventBridge event's detail", detail),
        Some(other) => Err(invalid(format!(
            "the EventBridge event's \"detail\" is {}, but it must be an object; {DELETE_SHAPES}",
            kind_of(other)
        ))),
        None => Err(invalid(format!("the EventBridge event has no \"detail\"; {DELETE_SHAPES}"))),
    }
}

/// The batch structure itself must be sound (otherwise no message could be reported as failed);
/// each message body is judged on its own.
fn parse_sqs_batch(object: &Map<String, Value>) -> Result<Vec<SqsItem>, Error> {
    let Some(Value::Array(records)) = object.get("Records") else {
        return Err(invalid(format!("\"Records\" must be an array of SQS messages; {DELETE_SHAPES}")));
    };
    let mut items = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let what = format!("Records[{index}]");
        let record = as_object(&what, record, DELETE_SHAPES)?;
        if let Some(source) = record.get("eventSource").and_then(Value::as_str) {
            if source != "aws:sqs" {
                return Err(invalid(format!(
                    "{what} comes from {}, but only SQS messages (\"aws:sqs\") are accepted; {DELETE_SHAPES}",
                    quoted(source)
                )));
            }
        }
        let message_id = match record.get("messageId") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(invalid(format!("{what} has no \"messageId\" string; {DELETE_SHAPES}"))),
        };
        let request = match record.get("body") {
            Some(Value::String(body)) => parse_sqs_body(&message_id, body),
            Some(other) => Err(invalid(format!(
                "the body of SQS message {message_id} is {}, but it must be a string of JSON",
                kind_of(other)
            ))),
            None => Err(invalid(format!("SQS message {message_id} has no \"body\""))),
        };
        let body = record.get("body").and_then(Value::as_str).map(str::to_owned);
        items.push(SqsItem { message_id, request, body });
    }
    Ok(items)
}

fn parse_sqs_body(message_id: &str, body: &str) -> Result<DeleteRequest, Error> {
    let what = format!("the body of SQS message {message_id}");
    let value: Value = serde_json::from_str(body)
        .map_err(|e| invalid(format!("{what} is not JSON ({e}); {DELETE_SHAPES}")))?;
    let object = as_object(&what, &value, DELETE_SHAPES)?;
    if object.contains_key("detail-type") || object.contains_key("detail") {
        parse_eventbridge_request(object)
    } else {
        parse_request_object(&what, object)
    }
}

/// What the status checker was asked to do.
#[derive(Debug, Clone, PartialEq)]
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

/// One status check of a deletion being followed.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowRequest {
    pub instance_id: InstanceId,
    /// 1 for the check triggered by the Deletion Started event, then one more per scheduled re-check.
    pub attempt: u32,
    /// When the deletion was first seen; `MAX_WAIT_SECONDS` counts from here.
    pub started_at: aws_smithy_types::DateTime,
    /// The last record of the instance the event carried, if any.
    pub last_seen: Option<InstanceRecord>,
}

/// A Step Functions status check.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRequest {
    pub instance_id: InstanceId,
    /// The input already showed the instance `Deleting` or `Deleted`, so a 404 means it is gone.
    pub deletion_seen: bool,
    /// The record the input carried, if any.
    pub last_seen: Option<InstanceRecord>,
}

pub const DELETION_STARTED: &str = "Supply Chain Instance Deletion Started";
const LAMBDA_SUCCESS: &str = "Lambda Function Invocation Result - Success";

/// Classifies a status-checker event. `now` stands in for a start time the event does not carry.
pub fn parse_check_event(event: &Value, now: aws_smithy_types::DateTime) -> Result<CheckEvent, Error> {
    let object = as_object("the event", event, CHECK_SHAPES)?;
    if let Some(detail_type) = object.get("detail-type") {
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
                _ => {
                    return Err(invalid(format!(
                        "the Lambda destination record has no \"responsePayload\" object; {CHECK_SHAPES}"
                    )))
                }
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
        let last_seen = last_seen(payload);
        return Ok(CheckEvent::Follow(FollowRequest { instance_id, attempt: 1, started_at, last_seen }));
    }
    if let Some(marker) = object.get("deletionAnnounced") {
        let marker = as_object("\"deletionAnnounced\"", marker, CHECK_SHAPES)?;
        return Ok(CheckEvent::MarkerExpired(instance_id_of("\"deletionAnnounced\"", marker, CHECK_SHAPES)?));
    }
    if let Some(check) = object.get("statusCheck") {
        let check = as_object("\"statusCheck\"", check, CHECK_SHAPES)?;
        let instance_id = instance_id_of("\"statusCheck\"", check, CHECK_SHAPES)?;
        let attempt = match check.get("attempt").and_then(Value::as_u64) {
            Some(n) if (1..=u64::from(u32::MAX)).contains(&n) => n as u32,
            _ => return Err(invalid("\"statusCheck.attempt\" must be a whole number from 1".to_owned())),
        };
        let started_at = match check.get("startedAt").and_then(Value::as_str) {
            Some(time) => parse_time("\"statusCheck.startedAt\"", time)?,
            None => return Err(invalid("\"statusCheck.startedAt\" must be an RFC 3339 time".to_owned())),
        };
        let last_seen = check.get("lastSeen").and_then(|i| serde_json::from_value(i.clone()).ok());
        return Ok(CheckEvent::Follow(FollowRequest { instance_id, attempt, started_at, last_seen }));
    }
    // A state machine loops on the checker, feeding its report back in: accept the report's members.
    if let Some(unknown) =
        object.keys().find(|k| !matches!(k.as_str(), "instanceId" | "instance" | "done" | "outcome" | "dryRun"))
    {
        return Err(invalid(format!("the event has an unknown member {}; {CHECK_SHAPES}", quoted(unknown))));
    }
    let instance_id = instance_id_of("the event", object, CHECK_SHAPES)?;
    let last_seen = last_seen(object);
    let deletion_seen = last_seen.as_ref().is_some_and(|r| matches!(r.state.as_str(), "Deleting" | "Deleted"));
    Ok(CheckEvent::Report(ReportRequest { instance_id, deletion_seen, last_seen }))
}

/// The `instance` record an event carries; a partial one is simply not used.
fn last_seen(object: &Map<String, Value>) -> Option<InstanceRecord> {
    object.get("instance").and_then(|i| serde_json::from_value(i.clone()).ok())
}

fn parse_time(what: &str, text: &str) -> Result<aws_smithy_types::DateTime, Error> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .map_err(|_| invalid(format!("{what} is {}, which is not an RFC 3339 time", quoted(text))))
}

fn as_object<'a>(what: &str, value: &'a Value, shapes: &str) -> Result<&'a Map<String, Value>, Error> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(invalid(format!("{what} is {}, but it must be a JSON object; {shapes}", kind_of(other)))),
    }
}

fn field_name(what: &str, field: &str) -> String {
    if what == "the event" {
        field.to_owned()
    } else {
        format!("{field} in {what}")
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}

/// The JSON kind of a value, for messages that must not echo a whole payload.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes user text for a message, escaped and cut short so that a message never carries a payload.
fn quoted(text: &str) -> String {
    const MAX: usize = 64;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}… ({} characters)", text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";

    fn message(result: Result<DeleteEvent, Error>) -> String {
        match result {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn request(dry_run: bool) -> DeleteRequest {
        DeleteRequest { instance_id: InstanceId(ID.into()), dry_run, metadata: Map::new() }
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
        assert_eq!(
            parse_delete_event(&json!({"instanceId": ID, "dryRun": true})),
            Ok(DeleteEvent::Direct(request(true)))
        );
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
    fn started_events_are_followed_from_their_time() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": DELETION_STARTED, "source": EVENT_SOURCE, "time": "2026-01-02T03:04:05Z",
            "detail": {"instance": {"instanceId": ID, "state": "Deleting"}}});
        let CheckEvent::Follow(follow) = parse_check_event(&event, now).unwrap() else { panic!() };
        assert_eq!(follow.attempt, 1);
        assert_eq!(follow.started_at, aws_smithy_types::DateTime::from_secs(1_767_323_045));
    }

    #[test]
    fn destination_records_of_dry_runs_are_not_followed() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"detail-type": LAMBDA_SUCCESS, "source": "lambda",
            "detail": {"responsePayload": {"instance": {"instanceId": ID}, "dryRun": true}}});
        assert_eq!(parse_check_event(&event, now), Ok(CheckEvent::DryRun(InstanceId(ID.into()))));
    }

    #[test]
    fn a_report_fed_back_by_a_state_machine_is_accepted() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"instance": {"instanceId": ID, "awsAccountId": "123456789012", "state": "Deleting"},
            "done": false, "outcome": "Deleting"});
        assert_eq!(
            parse_check_event(&event, now),
            Ok(CheckEvent::Report(ReportRequest {
                instance_id: InstanceId(ID.into()),
                deletion_seen: true,
                last_seen: Some(InstanceRecord {
                    instance_id: ID.into(),
                    aws_account_id: "123456789012".into(),
                    state: "Deleting".into(),
                    error_message: None,
                    web_app_dns_domain: None,
                    created_time: None,
                    last_modified_time: None,
                    instance_name: None,
                    instance_description: None,
                    kms_key_arn: None,
                    version_number: None,
                }),
            }))
        );
    }

    #[test]
    fn status_checks_need_an_attempt_and_a_start() {
        let now = aws_smithy_types::DateTime::from_secs(0);
        let event = json!({"statusCheck": {"instanceId": ID, "attempt": 0, "startedAt": "2026-01-02T03:04:05Z"}});
        assert!(matches!(parse_check_event(&event, now), Err(Error::InvalidInput(m)) if m.contains("attempt")));
    }
}

#[cfg(test)]
mod payload_tests {
    use super::*;
    use serde::Deserialize;

    fn payload(bytes: &[u8]) -> Payload {
        // As the runtime deserialises: serde_path_to_error over a slice deserializer.
        serde_json::from_slice::<Payload>(bytes).unwrap_or_else(|_| {
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            Payload::deserialize(&mut deserializer).unwrap()
        })
    }

    #[test]
    fn bytes_that_are_not_json_become_invalid_input() {
        for bytes in [&b"not json"[..], b"", b"{\"instanceId\":", b"\xff\xfe"] {
            let error = payload(bytes).json(DELETE_SHAPES).unwrap_err();
            assert!(matches!(&error, Error::InvalidInput(m) if m.contains("is not JSON") && m.contains("accepted shapes")), "{error}");
        }
    }

    #[test]
    fn json_nested_past_the_parser_limit_becomes_invalid_input() {
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = payload(nested.as_bytes()).json(DELETE_SHAPES).unwrap_err();
        assert!(matches!(&error, Error::InvalidInput(m) if m.contains("recursion limit")), "{error}");
    }
}
