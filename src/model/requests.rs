//! What the functions are asked to do, once an event has been read: a deletion, a status check
//! of a deletion being followed (which is also the input of its re-check schedule), a Step
//! Functions status check, and the marker of an announced end.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{timestamp, AccountId, InstanceId, InstanceRecord, Outcome, Target};

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
    /// When the deletion was first seen; `MAX_WAIT_SECONDS` counts from here. RFC 3339 on the wire.
    #[serde(serialize_with = "write_time", deserialize_with = "read_time")]
    pub started_at: DateTime,
    /// Who asked for the deletion and why (`request` of the Deletion Started event), carried to the
    /// final announcement; cut to a note past [`MAX_CARRIED_REQUEST_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Map<String, Value>>,
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

fn read_record_if_whole<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<InstanceRecord>, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?.and_then(|value| serde_json::from_value(value).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
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
                target: serde_json::from_value(json!({"accountId": "222222222222", "region": "eu-west-1"})).unwrap(),
                attempt: 3,
                started_at: DateTime::from_secs(1_767_323_045),
                last_seen: Some(record),
            },
        };
        let written = serde_json::to_value(&recheck).unwrap();
        assert_eq!(written["statusCheck"]["startedAt"], "2026-01-02T03:04:05Z");
        assert_eq!(written["statusCheck"]["lastSeen"]["state"], "Deleting");
        assert_eq!(
            (&written["statusCheck"]["accountId"], &written["statusCheck"]["region"]),
            (&json!("222222222222"), &json!("eu-west-1"))
        );
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

    #[test]
    fn a_partial_last_seen_record_is_left_out_rather_than_refused() {
        let read: FollowRequest = serde_json::from_value(
            json!({"instanceId": id().as_str(), "attempt": 2, "startedAt": "2026-01-02T03:04:05Z", "lastSeen": {"state": 1}}),
        )
        .unwrap();
        assert_eq!(read.last_seen, None);
    }
}
