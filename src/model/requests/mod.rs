//! What the functions are asked to do, once an event has been read: a deletion, a status check
//! of a deletion being followed (which is also the input of its re-check schedule), a Step
//! Functions status check, and the marker of an announced end; and what a deletion carries from
//! its request to its final announcement: the sweep behind it, when and who asked.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{timestamp, AccountId, InstanceId, InstanceRecord, Outcome, Target};
use crate::error::{kind_of, quoted, Error};

/// One deletion to make (or, with `dry_run`, to describe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub instance_id: InstanceId,
    /// The account and region the request names, if any.
    pub target: Target,
    /// The account an EventBridge event came from (its `account`), which limits the target.
    pub sender: Option<AccountId>,
    pub dry_run: bool,
    /// The request's other members (who asked, why, a workflow's state): not acted on, but carried
    /// under `request` in the Deletion Started announcement so that subscribers see them.
    pub metadata: Map<String, Value>,
    /// The sweep run and policy reason, when the sweep asked for the deletion.
    pub sweep: Option<SweepOrigin>,
}

impl DeleteRequest {
    /// Refuses a request that claims the sweep's source but was not sent by the stack's own account
    /// (`home`, from the invoked function's ARN): another account could otherwise borrow the
    /// sweep's name, reason and notice for a deletion nobody gave notice of, and write them into
    /// the audit record. Only the sweep's requests ([`SweepOrigin`]) claim it: the parser refuses
    /// every other event of the stack's sources. Without `home` (a local runtime's placeholder ARN)
    /// nothing tells the accounts apart, and the sender is taken as the function's own, as
    /// [`Target::resolve`] does.
    pub fn refuse_borrowed_source(&self, home: Option<&AccountId>) -> Result<(), Error> {
        let (Some(_), Some(home)) = (&self.sweep, home) else {
            return Ok(());
        };
        let sender = match &self.sender {
            Some(sender) if sender == home => return Ok(()),
            Some(sender) => format!("comes from account {sender}"),
            None => "names no \"account\"".to_owned(),
        };
        Err(Error::InvalidInput(format!(
            "the EventBridge event has the sweep's source but {sender}: only the stack's own account {home} may \
             send the sweep's deletion requests, so that no other account can borrow its reason and notice; accepted from other \
             accounts: a \"Supply Chain Instance Deletion Requested\" event from a source of their own, which acts in the sending \
             account only"
        )))
    }
}

/// Why the sweep asked for a deletion: its run and the policy's reason, read from its `Supply Chain
/// Instance Deletion Requested` event and written as top-level members of the Deletion Started
/// announcement, each re-check and the final announcement, so that the outcome alone tells why the
/// instance was deleted. The request's `request` still holds the event's detail as the sweep put it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepOrigin {
    /// The run that selected the instance (the sweep report's `sweepId`).
    pub sweep_id: String,
    /// The policy's reason name, as the sweep's report writes it (`ExpiryTagPassed`, `MaxAgeExceeded`).
    pub reason: String,
    /// The reason in words (the sweep's `detail`), cut past `MAX_REASON_DETAIL_BYTES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_detail: Option<String>,
    /// When the deletion was scheduled for, when the sweep gave notice first: RFC 3339, as the
    /// sweep wrote it (its schedule mark's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
}

/// The longest `sweepId`, `reason` or `scheduledFor` accepted: the sweep writes a request id, a
/// reason name and a tag's value.
pub const MAX_SWEEP_MEMBER_CHARS: usize = 256;

/// The most of the reason in words that a deletion carries at the top level. Every announcement and
/// re-check repeats it beside `request` (which holds it whole in the Deletion Started event), so it
/// is bounded to keep them within PutEvents' and Scheduler's limits.
pub const MAX_REASON_DETAIL_BYTES: usize = 1024;

impl SweepOrigin {
    /// Reads the sweep's members from the detail of its Deletion Requested event: `sweepId` and
    /// `reason` strings, and the optional `detail` (the reason in words) and `scheduledFor` strings.
    /// `what` names the detail in errors: a sweep request that does not say why is refused.
    pub fn read(what: &str, detail: &Map<String, Value>) -> Result<SweepOrigin, Error> {
        let text = |member: &str| -> Result<Option<&str>, Error> {
            match detail.get(member) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(other) => Err(Error::InvalidInput(format!(
                    "{what} has \"{member}\" {}, but the sweep's deletion requests carry it as a string",
                    kind_of(other)
                ))),
            }
        };
        let short = |member: &str| -> Result<Option<String>, Error> {
            match text(member)? {
                Some(text) if !text.is_empty() && text.chars().count() <= MAX_SWEEP_MEMBER_CHARS => Ok(Some(text.to_owned())),
                Some(text) => Err(Error::InvalidInput(format!(
                    "{what} has \"{member}\" {}, but it must be 1 to {MAX_SWEEP_MEMBER_CHARS} characters",
                    quoted(text)
                ))),
                None => Ok(None),
            }
        };
        let named = |member: &str| -> Result<String, Error> {
            short(member)?.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{what} has no \"{member}\": a deletion the sweep requests names its run (\"sweepId\") and the policy's \
                     reason (\"reason\"), which its final announcement records"
                ))
            })
        };
        Ok(SweepOrigin {
            sweep_id: named("sweepId")?,
            reason: named("reason")?,
            reason_detail: text("detail")?.map(cut_reason_detail),
            // The schedule mark's value, which the sweep read as a time before it asked: recorded as
            // it was written, never acted on.
            scheduled_for: short("scheduledFor")?,
        })
    }

    /// The sweep's members a Deletion Started detail carries (`sweepId`, `reason`, `reasonDetail`,
    /// `scheduledFor`), or none when they are not all there as the delete function writes them.
    pub fn written_in(detail: &Map<String, Value>) -> Option<SweepOrigin> {
        let members: Map<String, Value> = ["sweepId", "reason", "reasonDetail", "scheduledFor"]
            .into_iter()
            .filter_map(|member| detail.get(member).map(|value| (member.to_owned(), value.clone())))
            .collect();
        if members.is_empty() {
            return None;
        }
        serde_json::from_value(Value::Object(members)).ok()
    }
}

/// The reason in words, whole up to [`MAX_REASON_DETAIL_BYTES`], else its start and a note.
fn cut_reason_detail(text: &str) -> String {
    if text.len() <= MAX_REASON_DETAIL_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_REASON_DETAIL_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes; the request's \"detail\" holds it whole)", &text[..end], text.len())
}

/// One status check of a deletion being followed. The checker writes the next one into its
/// re-check schedule as `{"statusCheck": {...}}` ([`Recheck`]) and reads it back with this same
/// type, so the writer and the reader cannot drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowRequest {
    pub instance_id: InstanceId,
    /// The instance's account and region, when another than the function's own.
    #[serde(flatten)]
    pub target: Target,
    /// 1 for the check triggered by the Deletion Started event, then one more per scheduled re-check.
    pub attempt: u32,
    /// When the delete function sent `DeleteInstance` (the Deletion Started detail's `startedAt`),
    /// else when the deletion was first seen (the event's `time`); `MAX_WAIT_SECONDS` counts from
    /// here, and the final announcement's `startedAt` is this. RFC 3339 on the wire.
    #[serde(serialize_with = "write_time", deserialize_with = "read_time")]
    pub started_at: DateTime,
    /// Who asked for the deletion and why (`request` of the Deletion Started event), carried to the
    /// final announcement; cut to a note past `MAX_CARRIED_REQUEST_BYTES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Map<String, Value>>,
    /// The sweep run and reason behind the deletion, when the sweep asked for it; on the wire its
    /// members stand beside the others (`sweepId`, `reason`, `reasonDetail`, `scheduledFor`).
    #[serde(flatten)]
    pub sweep: Option<SweepOrigin>,
    /// The account that sent the request (the Deletion Started detail's `sender`), carried to the
    /// final announcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<AccountId>,
    /// The Deletion Started detail's `instanceNotFound`, carried to the final announcement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub instance_not_found: bool,
    /// The last record of the instance seen, if any; a partial one is not used.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "read_record_if_whole")]
    pub last_seen: Option<InstanceRecord>,
}

/// The most request metadata a deletion being followed carries: each re-check schedule's input
/// holds it, and Scheduler bounds a target's input (8 KiB), which the rest of the check must fit in too.
pub const MAX_CARRIED_REQUEST_BYTES: usize = 4 * 1024;

/// The request metadata as a followed deletion carries it: whole when small, else a note of its size.
pub fn carried_request(metadata: &Map<String, Value>) -> Map<String, Value> {
    let size = serde_json::to_string(metadata).map_or(usize::MAX, |text| text.len());
    if size <= MAX_CARRIED_REQUEST_BYTES {
        return metadata.clone();
    }
    let note = format!("{size} bytes of request metadata, more than the {MAX_CARRIED_REQUEST_BYTES} a followed deletion carries: the Deletion Started event holds them whole");
    Map::from_iter([("omitted".to_owned(), Value::String(note))])
}

impl FollowRequest {
    /// How long the deletion has been followed at `now` (zero for a start in the future).
    pub fn elapsed(&self, now: DateTime) -> std::time::Duration {
        std::time::Duration::from_secs_f64((now.as_secs_f64() - self.started_at.as_secs_f64()).max(0.0))
    }
}

/// The input of a re-check schedule: `{"statusCheck": {"instanceId", "attempt", "startedAt", "lastSeen"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recheck {
    pub status_check: FollowRequest,
}

/// The input of the marker schedule left after a final announcement:
/// `{"deletionAnnounced": {"instanceId", "outcome", "announcedAt"}}`. When it fires, the checker
/// does nothing; while it exists, a late or duplicate check announces nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnouncedMarker {
    pub deletion_announced: Announced,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Announced {
    pub instance_id: InstanceId,
    pub outcome: Outcome,
    #[serde(serialize_with = "write_time", deserialize_with = "read_time")]
    pub announced_at: DateTime,
}

impl AnnouncedMarker {
    pub fn new(instance_id: InstanceId, outcome: Outcome, announced_at: DateTime) -> AnnouncedMarker {
        AnnouncedMarker { deletion_announced: Announced { instance_id, outcome, announced_at } }
    }
}

/// A Step Functions status check.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRequest {
    pub instance_id: InstanceId,
    /// The instance's account and region, when another than the function's own.
    pub target: Target,
    /// The input already showed the instance `Deleting` or `Deleted`, so a 404 means it is gone.
    pub deletion_seen: bool,
    /// The record the input carried, if any.
    pub last_seen: Option<InstanceRecord>,
}

fn write_time<S: Serializer>(time: &DateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&timestamp(*time))
}

fn read_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    DateTime::from_str(&text, Format::DateTime).map_err(|_| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
}

/// An optional time, RFC 3339 on the wire as [`timestamp`] writes it.
pub(crate) mod optional_time {
    use super::*;

    pub fn serialize<S: Serializer>(time: &Option<DateTime>, serializer: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => write_time(time, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime>, D::Error> {
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(None),
            Some(value) => read_time(value).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

fn read_record_if_whole<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<InstanceRecord>, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?.and_then(|value| serde_json::from_value(value).ok()))
}

#[cfg(test)]
mod tests;
