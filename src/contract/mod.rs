//! The bus contract: every event the stack puts on or reads from its event bus, each with its
//! source, its detail-type and its detail as a type. An event can only be put through an
//! [`Announcement`] made from its typed detail ([`Detail`]), so no detail goes out under another
//! event's name, and the size rule of PutEvents is written here once ([`within_event_limit`]).
//!
//! The events, by who puts them:
//! - the delete function: `Deletion Started` ([`DeletionStarted`]);
//! - the status checker: `Deleted`, `Deletion Failed`, `Deletion Timed Out` ([`DeletionFinished`]);
//! - the sweep: `Deletion Requested` ([`DeletionRequested`], which the delete function reads, as it
//!   reads the same detail-type from any other source), `Deletion Scheduled` and `Deletion
//!   Cancelled` ([`DeletionScheduled`], [`DeletionCancelled`]), `Sweep Completed` ([`SweepReport`])
//!   and `Organization Sweep Completed` ([`OrganizationSummary`]); with approval, `Organization
//!   Sweep Plan Ready`, `Plan Approved`, `Plan Rejected` and `Plan Expired` ([`PlanReady`],
//!   [`PlanApproved`], [`PlanRejected`], [`PlanExpired`]).

use serde::Serialize;

mod approval;
mod deletion;
mod organization;
mod sweep;

pub use approval::{ApprovalCommands, PlanApproved, PlanExpired, PlanFile, PlanReady, PlanRejected};
pub use deletion::{DeletionFinished, DeletionRequested, DeletionStarted};
pub use organization::{ExecuteOutcome, ExecutedInstance, FailedTarget, OrganizationSummary, Phase, PlanSummary, PlannedInstance};
pub use sweep::{
    DeletionCancelled, DeletionScheduled, NoticeSubject, Reason, SweepCounts, SweepEntry, SweepReport, TargetReport, TargetStatus,
};

/// The `source` of the events the delete function and the status checker put. Events from it are
/// never deletion requests.
pub const EVENT_SOURCE: &str = "supplychain-delete-instance";

/// The `source` of every event the sweep puts; the sweep's IAM policy is limited to it.
pub const SWEEP_SOURCE: &str = "supplychain-instance-sweep";

/// Every event of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    DeletionRequested,
    DeletionStarted,
    Deleted,
    DeletionFailed,
    DeletionTimedOut,
    DeletionScheduled,
    DeletionCancelled,
    SweepCompleted,
    OrganizationSweepCompleted,
    PlanReady,
    PlanApproved,
    PlanRejected,
    PlanExpired,
}

impl Event {
    /// The whole catalogue, in the order a deletion meets them.
    pub const ALL: [Event; 13] = [
        Event::DeletionRequested,
        Event::DeletionStarted,
        Event::Deleted,
        Event::DeletionFailed,
        Event::DeletionTimedOut,
        Event::DeletionScheduled,
        Event::DeletionCancelled,
        Event::SweepCompleted,
        Event::OrganizationSweepCompleted,
        Event::PlanReady,
        Event::PlanApproved,
        Event::PlanRejected,
        Event::PlanExpired,
    ];

    /// The `source` the stack puts the event under.
    pub const fn source(self) -> &'static str {
        match self {
            Event::DeletionStarted | Event::Deleted | Event::DeletionFailed | Event::DeletionTimedOut => EVENT_SOURCE,
            Event::DeletionRequested
            | Event::DeletionScheduled
            | Event::DeletionCancelled
            | Event::SweepCompleted
            | Event::OrganizationSweepCompleted
            | Event::PlanReady
            | Event::PlanApproved
            | Event::PlanRejected
            | Event::PlanExpired => SWEEP_SOURCE,
        }
    }

    /// The event's `detail-type`.
    pub const fn detail_type(self) -> &'static str {
        match self {
            Event::DeletionRequested => "Supply Chain Instance Deletion Requested",
            Event::DeletionStarted => "Supply Chain Instance Deletion Started",
            Event::Deleted => "Supply Chain Instance Deleted",
            Event::DeletionFailed => "Supply Chain Instance Deletion Failed",
            Event::DeletionTimedOut => "Supply Chain Instance Deletion Timed Out",
            Event::DeletionScheduled => "Supply Chain Instance Deletion Scheduled",
            Event::DeletionCancelled => "Supply Chain Instance Deletion Cancelled",
            Event::SweepCompleted => "Supply Chain Instance Sweep Completed",
            Event::OrganizationSweepCompleted => "Supply Chain Organization Sweep Completed",
            Event::PlanReady => "Supply Chain Organization Sweep Plan Ready",
            Event::PlanApproved => "Supply Chain Organization Sweep Plan Approved",
            Event::PlanRejected => "Supply Chain Organization Sweep Plan Rejected",
            Event::PlanExpired => "Supply Chain Organization Sweep Plan Expired",
        }
    }

    /// The event of this detail-type, whatever its source.
    pub fn of_detail_type(detail_type: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|event| event.detail_type() == detail_type)
    }
}

/// A detail the stack puts on the bus: it names its own event.
pub trait Detail: Serialize {
    fn event(&self) -> Event;
}

/// PutEvents takes at most 256 KiB an entry, and as much a call, counting each entry's source,
/// detail-type, detail and resources, and 14 bytes for its time.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// The most a detail that grows with a run (a report, a summary) may take: 1 KiB of the entry is
/// kept for the rest.
pub const MAX_DETAIL_BYTES: usize = MAX_ENTRY_BYTES - 1024;

/// One event to put on the bus: its detail, already written, and the ARNs it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    event: Event,
    detail: String,
    resources: Vec<String>,
}

impl Announcement {
    /// The event of `detail`, about `resources` (the instance's ARN, so rules can match on it).
    pub fn new(detail: &impl Detail, resources: Vec<String>) -> Self {
        let written = serde_json::to_string(detail).expect("a detail of the contract always serialises");
        Announcement { event: detail.event(), detail: written, resources }
    }

    pub fn event(&self) -> Event {
        self.event
    }

    /// The detail as it is put: JSON text.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The detail read back, for tests to look into.
    #[cfg(test)]
    pub fn detail_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.detail).expect("a detail is JSON")
    }

    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// The size PutEvents counts for this entry.
    pub fn size(&self) -> usize {
        14 + self.event.source().len()
            + self.event.detail_type().len()
            + self.detail.len()
            + self.resources.iter().map(String::len).sum::<usize>()
    }
}

/// A detail whose lists grow with a run, and can be cut to fit an event.
pub trait Cuttable: Serialize + Clone {
    /// The length of its longest list.
    fn longest(&self) -> usize;
    /// The same detail with each list cut to at most `keep` entries, and marked as cut; the counts
    /// keep the whole lengths.
    fn cut(&self, keep: usize) -> Self;
}

/// The one size rule: `detail` as it is when it fits [`MAX_DETAIL_BYTES`], else cut to the longest
/// lists that fit (0 always does: a detail without entries is a few hundred bytes).
pub fn within_event_limit<T: Cuttable>(detail: T) -> T {
    let fits = |detail: &T| serde_json::to_string(detail).is_ok_and(|text| text.len() <= MAX_DETAIL_BYTES);
    if fits(&detail) {
        return detail;
    }
    let (mut fitting, mut too_big) = (0, detail.longest());
    while too_big - fitting > 1 {
        let middle = (fitting + too_big) / 2;
        if fits(&detail.cut(middle)) {
            fitting = middle;
        } else {
            too_big = middle;
        }
    }
    detail.cut(fitting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_detail_type_names_one_event_and_each_event_one_source_of_the_stack() {
        for event in Event::ALL {
            assert_eq!(Event::of_detail_type(event.detail_type()), Some(event));
            assert!([EVENT_SOURCE, SWEEP_SOURCE].contains(&event.source()), "{event:?}");
        }
        assert_eq!(Event::of_detail_type("Supply Chain Instance Deletion Wanted"), None);
    }
}
