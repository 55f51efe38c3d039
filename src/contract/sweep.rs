//! The sweep's events: its report (`Sweep Completed`), and the notices before a deletion
//! (`Deletion Scheduled`, `Deletion Cancelled`).

use serde::{Deserialize, Serialize};

use super::{Cuttable, Detail, Event, PlannedInstance};
use crate::config::SweepMode;
use crate::model::{PlanId, Target};

/// Why an instance was selected or skipped: stable names, for rules and people reading reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Selected: its expiry tag holds a time (or a day) that has passed.
    ExpiryTagPassed,
    /// Selected: no expiry tag, its name starts with `NAME_PREFIX` and it is older than `MAX_AGE_DAYS`.
    MaxAgeExceeded,
    /// Skipped: its expiry tag is neither an RFC 3339 time nor a `YYYY-MM-DD` date.
    InvalidExpiryTag,
    /// Skipped: expired, but protected by the deletion-protection tag.
    DeletionProtected,
    /// Skipped: expired, but neither `Active` nor `DeleteFailed` (for example `Initializing`, `Deleting`).
    StateNotEligible,
    /// Skipped: its tags could not be read, so nothing is known about its expiry or protection.
    TagsUnreadable,
    /// Reported: its schedule mark is not an RFC 3339 time; a fresh mark replaces it, restarting the notice.
    InvalidScheduleTag,
    /// Cancelled: it was marked for deletion, but the policy no longer selects it.
    NotSelected,
    /// Skipped: its notice could not be given (the mark not signed or written, the notice not
    /// announced), its mark not checked or not removed; the next run tries again.
    MarkFailed,
    /// Skipped: selected and due, but its Deletion Requested event could not be put on the bus
    /// while others of the run were; the next run selects it anew.
    RequestFailed,
    /// Not requested: an instance of an approved plan that changed between the plan and its
    /// execution (protected now, no longer selected or selected on something else, no longer
    /// `Active` or `DeleteFailed`, its mark gone or no longer counting).
    ChangedSincePlan,
}

impl Reason {
    /// The reason's name, as the report writes it and as the metrics' `Reason` dimension holds it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::ExpiryTagPassed => "ExpiryTagPassed",
            Reason::MaxAgeExceeded => "MaxAgeExceeded",
            Reason::InvalidExpiryTag => "InvalidExpiryTag",
            Reason::DeletionProtected => "DeletionProtected",
            Reason::StateNotEligible => "StateNotEligible",
            Reason::TagsUnreadable => "TagsUnreadable",
            Reason::InvalidScheduleTag => "InvalidScheduleTag",
            Reason::NotSelected => "NotSelected",
            Reason::MarkFailed => "MarkFailed",
            Reason::RequestFailed => "RequestFailed",
            Reason::ChangedSincePlan => "ChangedSincePlan",
        }
    }
}

/// One instance in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepEntry {
    pub instance_id: String,
    /// Where the instance lives, when the run swept several targets or another than the function's own.
    #[serde(flatten)]
    pub target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    pub state: String,
    pub reason: Reason,
    /// The reason in words: the tag and its value, the age, the error.
    pub detail: String,
}

/// The length of each list of the report, kept when the lists are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepCounts {
    pub selected: usize,
    pub requested: usize,
    pub deferred: usize,
    pub skipped: usize,
    /// With notice (`NOTICE_HOURS` above 0, delete mode): instances marked and announced this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marked: Option<usize>,
    /// With notice: marked instances whose time has come and that the policy still selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<usize>,
    /// With notice: marked instances no longer selected, whose marks were removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<usize>,
    /// In a run of an organization sweep's plan (`planId`, `planOnly`): the instances it would
    /// have requested, listed in `planned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<usize>,
    /// In the summary of an approved plan's execution: the instances not requested because they
    /// changed since the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_since_plan: Option<usize>,
}

impl SweepCounts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &SweepCounts) {
        let sum =
            |a: Option<usize>, b: Option<usize>| if a.is_none() && b.is_none() { None } else { Some(a.unwrap_or(0) + b.unwrap_or(0)) };
        self.selected += other.selected;
        self.requested += other.requested;
        self.deferred += other.deferred;
        self.skipped += other.skipped;
        self.marked = sum(self.marked, other.marked);
        self.due = sum(self.due, other.due);
        self.cancelled = sum(self.cancelled, other.cancelled);
        self.planned = sum(self.planned, other.planned);
        self.changed_since_plan = sum(self.changed_since_plan, other.changed_since_plan);
    }
}

/// What became of one target of a run that swept several (`SWEEP_ACCOUNTS` x `SWEEP_REGIONS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    #[serde(flatten)]
    pub target: Target,
    pub status: TargetStatus,
    /// Instances of this target decided on.
    pub examined: usize,
    /// When `failed`: the errorType, as a function error would name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How far a run got with one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetStatus {
    /// Every instance listed and decided on.
    Swept,
    /// Begun, but the deadline came before every instance was examined.
    Incomplete,
    /// Not begun: the deadline came first; the next run sweeps it.
    Deferred,
    /// It could not be swept (its role could not be assumed, the service refused, ...): see `errorType`.
    Failed,
}

/// What the sweep returns and puts on the bus as `Supply Chain Instance Sweep Completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// The invocation's request id: a retry of the same invocation keeps it.
    pub sweep_id: String,
    pub mode: SweepMode,
    /// The organization sweep's plan this run belongs to, when the invoke named it (`planId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<PlanId>,
    /// The one target swept, when it is another than the function's own account and region.
    #[serde(flatten)]
    pub target: Target,
    /// When the run swept several targets (`SWEEP_ACCOUNTS` x `SWEEP_REGIONS`): each one's fate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetReport>,
    /// Instances decided on (listed and, unless `Deleted`, their tags read).
    pub examined: usize,
    /// `false` when the deadline came before every instance was listed and examined.
    pub complete: bool,
    /// Every instance selected for deletion.
    pub selected: Vec<SweepEntry>,
    /// In delete mode, the selected instances whose Deletion Requested event was put on the bus.
    pub requested: Vec<SweepEntry>,
    /// In delete mode, the selected instances beyond the cap, left for the next run.
    pub deferred: Vec<SweepEntry>,
    /// Instances not selected for a reason worth reporting.
    pub skipped: Vec<SweepEntry>,
    /// With notice: the instances marked this run, each with its deletion time in `detail`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marked: Vec<SweepEntry>,
    /// With notice: the instances whose scheduled deletion was cancelled this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled: Vec<SweepEntry>,
    /// When the invoke carried `planOnly`: with `true`, the instances the run would have requested
    /// (nothing is requested), each a line of the plan file; with `false`, empty. Left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Vec<PlannedInstance>>,
    pub counts: SweepCounts,
    /// `true` when the lists were cut to keep the report within PutEvents' 256 KiB; `counts` are whole.
    pub truncated: bool,
}

impl SweepReport {
    /// A report with nothing examined yet, complete until a target is left unfinished.
    pub fn new(sweep_id: String, mode: SweepMode) -> SweepReport {
        SweepReport {
            sweep_id,
            mode,
            plan_id: None,
            target: Target::default(),
            targets: Vec::new(),
            examined: 0,
            complete: true,
            selected: Vec::new(),
            requested: Vec::new(),
            deferred: Vec::new(),
            skipped: Vec::new(),
            marked: Vec::new(),
            cancelled: Vec::new(),
            planned: None,
            counts: SweepCounts::default(),
            truncated: false,
        }
    }
}

impl Detail for SweepReport {
    fn event(&self) -> Event {
        Event::SweepCompleted
    }
}

impl Cuttable for SweepReport {
    fn longest(&self) -> usize {
        [&self.selected, &self.requested, &self.deferred, &self.skipped, &self.marked, &self.cancelled]
            .iter()
            .map(|list| list.len())
            .chain(self.planned.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0)
    }

    fn cut(&self, keep: usize) -> Self {
        let mut cut = self.clone();
        for list in [&mut cut.selected, &mut cut.requested, &mut cut.deferred, &mut cut.skipped, &mut cut.marked, &mut cut.cancelled] {
            list.truncate(keep);
        }
        if let Some(planned) = &mut cut.planned {
            planned.truncate(keep);
        }
        cut.truncated = true;
        cut
    }
}

/// What every notice names: the instance (with its ARN, which the commands that keep it take),
/// its account and its region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeSubject {
    pub instance_id: String,
    pub instance_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    pub account_id: String,
    pub region: String,
}

/// `Supply Chain Instance Deletion Scheduled`: a selected instance is marked for deletion at
/// `scheduledFor`, unless its owner keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionScheduled {
    #[serde(flatten)]
    pub instance: NoticeSubject,
    pub scheduled_for: String,
    /// The reason in words.
    pub reason: String,
    /// The policy's reason.
    pub policy: Reason,
    pub sweep_id: String,
    /// The organization sweep's plan whose run gave the notice, when it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<PlanId>,
    /// The owner tag's value, when `OWNER_TAG` is set and the instance has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// How an owner keeps the instance, in words.
    pub keep: String,
}

impl Detail for DeletionScheduled {
    fn event(&self) -> Event {
        Event::DeletionScheduled
    }
}

/// `Supply Chain Instance Deletion Cancelled`: a marked instance is no longer selected, and its
/// mark was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionCancelled {
    #[serde(flatten)]
    pub instance: NoticeSubject,
    /// The mark's time, without its signature: what the owner was told.
    pub scheduled_for: Option<String>,
    /// Why, in words.
    pub reason: String,
    pub sweep_id: String,
    /// The organization sweep's plan whose run cancelled it, when it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<PlanId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Detail for DeletionCancelled {
    fn event(&self) -> Event {
        Event::DeletionCancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{within_event_limit, MAX_DETAIL_BYTES};

    #[test]
    fn each_reason_is_named_as_the_report_writes_it() {
        use Reason::*;
        for reason in [
            ExpiryTagPassed,
            MaxAgeExceeded,
            InvalidExpiryTag,
            DeletionProtected,
            StateNotEligible,
            TagsUnreadable,
            InvalidScheduleTag,
            NotSelected,
            MarkFailed,
            RequestFailed,
            ChangedSincePlan,
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }

    #[test]
    fn a_report_too_large_for_an_event_is_cut_and_keeps_its_counts() {
        let entry = |i: usize| SweepEntry {
            instance_id: format!("{i:036}"),
            target: Target::default(),
            instance_name: Some("n".repeat(60)),
            state: "Active".into(),
            reason: Reason::ExpiryTagPassed,
            detail: "d".repeat(200),
        };
        let selected: Vec<SweepEntry> = (0..2_000).map(entry).collect();
        let report = SweepReport {
            sweep_id: "s".into(),
            mode: SweepMode::Report,
            plan_id: None,
            target: Target::default(),
            targets: Vec::new(),
            examined: 2_000,
            complete: true,
            counts: SweepCounts { selected: selected.len(), ..Default::default() },
            selected,
            requested: Vec::new(),
            deferred: Vec::new(),
            skipped: vec![entry(0)],
            marked: Vec::new(),
            cancelled: Vec::new(),
            planned: None,
            truncated: false,
        };
        let cut = within_event_limit(report.clone());
        assert!(cut.truncated);
        assert_eq!(cut.counts, report.counts);
        let size = serde_json::to_string(&cut).unwrap().len();
        assert!(size <= MAX_DETAIL_BYTES && size > MAX_DETAIL_BYTES - 1_000, "{size}");
        assert!(cut.selected.len() < 2_000 && cut.skipped.len() == 1);

        let small = SweepReport { selected: report.selected[..3].to_vec(), ..report };
        assert_eq!(within_event_limit(small.clone()), small);
    }
}
