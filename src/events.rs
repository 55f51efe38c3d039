//! The adapter to EventBridge: announcements ([`crate::contract`]) put on the project's bus, with
//! every failed entry reported rather than ignored.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use aws_smithy_types::DateTime;

use crate::contract::{Announcement, MAX_ENTRY_BYTES};
use crate::deadline::Budget;
use crate::error::{describe, Error};

/// PutEvents takes at most 10 entries per call, and [`MAX_ENTRY_BYTES`] over all of them.
const MAX_ENTRIES: usize = 10;

/// The bus, with the SDK client built once at init.
#[derive(Debug, Clone)]
pub struct EventBus {
    client: Client,
    name: String,
    /// The `time` of every event put; `None`: when PutEvents receives it.
    time: Option<DateTime>,
}

impl EventBus {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        EventBus { client, name: name.into(), time: None }
    }

    /// The same bus, putting every event with `time`: the instant the events speak of, where it is
    /// not when they are put (a notice counts from its run's clock).
    pub(crate) fn dated(&self, time: DateTime) -> Self {
        EventBus { time: Some(time), ..self.clone() }
    }

    /// Puts every announcement; result `i` tells the fate of announcement `i`.
    pub(crate) async fn publish(&self, announcements: &[Announcement], budget: &Budget) -> Vec<Result<(), Error>> {
        let mut results = Vec::with_capacity(announcements.len());
        let mut start = 0;
        while start < announcements.len() {
            // Fill a call up to the entry and size limits; a single oversized entry still goes alone,
            // so that PutEvents names the problem for it.
            let mut end = start;
            let mut bytes = 0;
            while end < announcements.len() && end - start < MAX_ENTRIES {
                let size = announcements[end].size();
                if end > start && bytes + size > MAX_ENTRY_BYTES {
                    break;
                }
                bytes += size;
                end += 1;
            }
            results.extend(self.put(&announcements[start..end], budget).await);
            start = end;
        }
        let failed = results.iter().filter(|result| result.is_err()).count();
        if failed > 0 {
            crate::metrics::count(crate::metrics::ANNOUNCEMENTS_FAILED, failed as u64);
        }
        results
    }

    /// Puts one announcement; its result.
    pub(crate) async fn publish_one(&self, announcement: Announcement, budget: &Budget) -> Result<(), Error> {
        let mut results = self.publish(std::slice::from_ref(&announcement), budget).await;
        results.pop().unwrap_or_else(|| Err(Error::Unexpected("PutEvents gave no result for one announcement".to_owned())))
    }

    async fn put(&self, announcements: &[Announcement], budget: &Budget) -> Vec<Result<(), Error>> {
        const OP: &str = "PutEvents";
        let all_failed = |error: Error| vec![Err(error); announcements.len()];
        let entries = announcements.iter().map(|a| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.name)
                .source(a.event().source())
                .detail_type(a.event().detail_type())
                .detail(a.detail())
                .set_resources(Some(a.resources().to_vec()))
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
                    announcements[i].event().detail_type(),
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
