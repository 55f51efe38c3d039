//! The adapter to EventBridge: announcements put on the project's bus, with every failed entry
//! reported rather than ignored.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use aws_smithy_types::DateTime;
use serde_json::Value;

use crate::deadline::Budget;
use crate::error::{describe, Error};

/// The `source` of every event the delete function and the status checker put on a bus. Events from
/// it are never deletion requests.
pub(crate) const EVENT_SOURCE: &str = "supplychain-delete-instance";

/// The detail-types of the events this project sends.
pub(crate) const DELETION_STARTED: &str = "Supply Chain Instance Deletion Started";
pub(crate) const DELETED: &str = "Supply Chain Instance Deleted";
pub(crate) const DELETION_FAILED: &str = "Supply Chain Instance Deletion Failed";
pub(crate) const DELETION_TIMED_OUT: &str = "Supply Chain Instance Deletion Timed Out";

/// The `source` of every event the sweep puts on the bus.
pub const SWEEP_SOURCE: &str = "supplychain-instance-sweep";

/// The detail-type of a request to delete one selected instance; the delete function's rule routes it.
pub(crate) const DELETION_REQUESTED: &str = "Supply Chain Instance Deletion Requested";

/// The detail-type of the report.
pub(crate) const SWEEP_COMPLETED: &str = "Supply Chain Instance Sweep Completed";

/// The detail-type of the notice that a selected instance is marked for deletion at a later time.
pub(crate) const DELETION_SCHEDULED: &str = "Supply Chain Instance Deletion Scheduled";

/// The detail-type of the notice that a marked instance is no longer selected and its mark removed.
pub(crate) const DELETION_CANCELLED: &str = "Supply Chain Instance Deletion Cancelled";

/// The detail-type of the organization sweep's summary.
pub(crate) const ORGANIZATION_SWEEP_COMPLETED: &str = "Supply Chain Organization Sweep Completed";

/// PutEvents takes at most 10 entries per call.
const MAX_ENTRIES: usize = 10;
/// PutEvents takes at most 256 KiB per call, counted over each entry's source, detail-type, detail and resources.
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// One event to put on the bus, under the bus's source ([`EVENT_SOURCE`] unless [`EventBus::with_source`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Announcement {
    pub detail_type: &'static str,
    pub detail: Value,
    /// ARNs the event concerns (the instance), so rules can match on them.
    pub resources: Vec<String>,
}

impl Announcement {
    /// The size PutEvents counts for this entry (the time member adds 14 bytes).
    fn size(&self, source: &str, detail: &str) -> usize {
        14 + source.len() + self.detail_type.len() + detail.len() + self.resources.iter().map(String::len).sum::<usize>()
    }
}

/// The bus, with the SDK client built once at init.
#[derive(Debug, Clone)]
pub struct EventBus {
    client: Client,
    name: String,
    source: &'static str,
    /// The `time` of every event put; `None`: when PutEvents receives it.
    time: Option<DateTime>,
}

impl EventBus {
    /// A bus announcing under [`EVENT_SOURCE`].
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        EventBus { client, name: name.into(), source: EVENT_SOURCE, time: None }
    }

    /// The same bus, putting every event with `time`: the instant the events speak of, where it is
    /// not when they are put (a notice counts from its run's clock).
    pub(crate) fn dated(&self, time: DateTime) -> Self {
        EventBus { time: Some(time), ..self.clone() }
    }

    /// The same bus, announcing under `source` (the sweep's own, which its IAM policy is limited to).
    pub(crate) fn with_source(self, source: &'static str) -> Self {
        EventBus { source, ..self }
    }

    /// Puts every announcement; result `i` tells the fate of announcement `i`.
    pub(crate) async fn publish(&self, announcements: &[Announcement], budget: &Budget) -> Vec<Result<(), Error>> {
        let details: Vec<String> = announcements.iter().map(|a| a.detail.to_string()).collect();
        let mut results = Vec::with_capacity(announcements.len());
        let mut start = 0;
        while start < announcements.len() {
            // Fill a call up to the entry and size limits; a single oversized entry still goes alone,
            // so that PutEvents names the problem for it.
            let mut end = start;
            let mut bytes = 0;
            while end < announcements.len() && end - start < MAX_ENTRIES {
                let size = announcements[end].size(self.source, &details[end]);
                if end > start && bytes + size > MAX_REQUEST_BYTES {
                    break;
                }
                bytes += size;
                end += 1;
            }
            results.extend(self.put(&announcements[start..end], &details[start..end], budget).await);
            start = end;
        }
        let failed = results.iter().filter(|result| result.is_err()).count();
        if failed > 0 {
            crate::metrics::count(crate::metrics::ANNOUNCEMENTS_FAILED, failed as u64);
        }
        results
    }

    async fn put(&self, announcements: &[Announcement], details: &[String], budget: &Budget) -> Vec<Result<(), Error>> {
        const OP: &str = "PutEvents";
        let all_failed = |error: Error| vec![Err(error); announcements.len()];
        let entries = announcements.iter().zip(details).map(|(a, detail)| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.name)
                .source(self.source)
                .detail_type(a.detail_type)
                .detail(detail)
                .set_resources(Some(a.resources.clone()))
                .set_time(self.time)
                .build()
        });
        let sent = budget.within(OP, self.client.put_events().set_entries(Some(entries.collect())).send()).await;
        let output = match sent {
            Ok(Ok(output)) => output,
            // Out of time: not called, or no answer in time. Either way nothing is known to be put.
            Err(timeout) => {
                return all_failed(Error::PublishFailed(format!("the announcement was not put on event bus {:?}: {timeout}", self.name)))
            }
            Ok(Err(e)) => {
                return all_failed(Error::PublishFailed(format!(
                    "the announcement was not put on event bus {:?}: {}",
                    self.name,
                    describe(OP, &e)
                )))
            }
        };
        let entries = output.entries();
        (0..announcements.len())
            .map(|i| match entries.get(i) {
                Some(entry) if entry.error_code().is_none() && entry.event_id().is_some() => Ok(()),
                Some(entry) => Err(Error::PublishFailed(format!(
                    "event bus {:?} refused the {:?} announcement: {}: {}",
                    self.name,
                    announcements[i].detail_type,
                    entry.error_code().unwrap_or("no error code"),
                    entry.error_message().unwrap_or("no message")
                ))),
                None => Err(Error::PublishFailed(format!(
                    "PutEvents on event bus {:?} answered {} results for {} entries",
                    self.name,
                    entries.len(),
                    announcements.len()
                ))),
            })
            .collect()
    }
}
