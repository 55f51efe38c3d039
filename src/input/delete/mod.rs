//! The delete function's input: a direct request, a previous output, an EventBridge event, an SQS batch.

use serde_json::{Map, Value};

use super::{as_object, instance_id_of, invalid, read_json, refuse_near_misses, refuse_replay};
use crate::contract::{Event, EVENT_SOURCE, SWEEP_SOURCE};
use crate::error::{kind_of, quoted, Error};
use crate::model::{AccountId, DeleteRequest, SweepOrigin, Target};

const DELETION_REQUESTED: &str = Event::DeletionRequested.detail_type();

/// The shapes the delete function accepts, for error messages.
pub const DELETE_SHAPES: &str = "accepted shapes: {\"instanceId\": \"<uuid>\"} with an optional \"dryRun\": true and optional \
\"accountId\" (12 digits) and \"region\"; \
a previous output {\"instance\": {\"instanceId\": \"<uuid>\", ...}}; an EventBridge event whose \"detail\" is one of those; \
or an SQS batch (\"Records\") whose message bodies are one of those (see events/)";

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
    refuse_replay("the event", object)?;
    if object.contains_key("detail-type") || object.contains_key("detail") {
        return parse_eventbridge_request(object).map(DeleteEvent::EventBridge);
    }
    parse_request_object("the event", object).map(DeleteEvent::Direct)
}

/// The members a delete request object may carry; any other member is metadata (see [`DeleteRequest`]).
pub const REQUEST_MEMBERS: [&str; 5] = ["instanceId", "instance", "dryRun", "accountId", "region"];

/// The largest metadata a delete request may carry, as JSON. The Deletion Started announcement carries
/// it, and PutEvents takes at most 256 KiB an entry: this leaves 16 KiB for the instance record, the
/// source, the detail-type and the resources, so a request that is accepted can always be announced.
pub(crate) const MAX_METADATA_BYTES: usize = 240 * 1024;

/// `{"instanceId": ...}` or `{"instance": {"instanceId": ...}}`, with an optional `dryRun`. Other
/// members are kept as metadata, except near misses of the members above: a misspelt `dryRun` must
/// never turn into a real deletion.
fn parse_request_object(what: &str, object: &Map<String, Value>) -> Result<DeleteRequest, Error> {
    refuse_near_misses(what, object, &REQUEST_MEMBERS)?;
    let instance_id = instance_id_of(what, object, DELETE_SHAPES)?;
    let target = Target::read(what, object)?;
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
            "{what} carries {size} bytes of members besides \"instanceId\", \"instance\", \"dryRun\", \"accountId\" and \"region\"; at most \
             {MAX_METADATA_BYTES} are accepted, so that the Deletion Started announcement that carries them stays within \
             PutEvents' 256 KiB limit"
        )));
    }
    Ok(DeleteRequest { instance_id, target, sender: None, dry_run, metadata, sweep: None })
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
    // The sweep announces its notices, cancellations and reports under its source too: only its
    // Deletion Requested is a request (and only from the stack's own account: see
    // `DeleteRequest::refuse_borrowed_source`).
    let source = event.get("source").and_then(Value::as_str);
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    if source == Some(SWEEP_SOURCE) && detail_type != Some(DELETION_REQUESTED) {
        return Err(invalid(format!(
            "the EventBridge event is the sweep's own announcement ({:?} from {SWEEP_SOURCE:?}), not a deletion request; of the \
             sweep's events only {DELETION_REQUESTED:?} is accepted",
            detail_type.unwrap_or("")
        )));
    }
    // EventBridge sets `account` to the account that put the event; no sender can forge it.
    let sender = event.get("account").map(|account| AccountId::parse("the EventBridge event's \"account\"", account)).transpose()?;
    match event.get("detail") {
        Some(Value::Object(detail)) => {
            let what = "the EventBridge event's detail";
            let request = parse_request_object(what, detail)?;
            // The sweep's own requests say why it asked, and the outcome must tell it. Only its
            // source marks one (other producers' members stay metadata alone), and the delete
            // function honours it only from the stack's own account.
            let sweep = if source == Some(SWEEP_SOURCE) { Some(SweepOrigin::read(what, detail)?) } else { None };
            Ok(DeleteRequest { sender, sweep, ..request })
        }
        Some(other) => {
            Err(invalid(format!("the EventBridge event's \"detail\" is {}, but it must be an object; {DELETE_SHAPES}", kind_of(other))))
        }
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
            Some(other) => {
                Err(invalid(format!("the body of SQS message {message_id} is {}, but it must be a string of JSON", kind_of(other))))
            }
            None => Err(invalid(format!("SQS message {message_id} has no \"body\""))),
        };
        let body = record.get("body").and_then(Value::as_str).map(str::to_owned);
        items.push(SqsItem { message_id, request, body });
    }
    Ok(items)
}

fn parse_sqs_body(message_id: &str, body: &str) -> Result<DeleteRequest, Error> {
    let what = format!("the body of SQS message {message_id}");
    let value = read_json(&what, body)?;
    let object = as_object(&what, &value, DELETE_SHAPES)?;
    refuse_replay(&what, object)?;
    if object.contains_key("detail-type") || object.contains_key("detail") {
        parse_eventbridge_request(object)
    } else {
        parse_request_object(&what, object)
    }
}

#[cfg(test)]
mod tests;
