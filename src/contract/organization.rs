//! The organization sweep's summary (`Organization Sweep Completed`), and what its phases with
//! approval pass on: the plan file's lines ([`PlannedInstance`]) and each approved instance's
//! execution ([`ExecutedInstance`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Cuttable, Detail, Event, Reason, SweepCounts};
use crate::config::SweepMode;
use crate::model::{AccountId, InstanceId, PlanId, Region, S3Location};

/// The organization's report. In the phases of an approved plan (`phase`), the plan phase adds
/// `plan` (its file and counts), and the execution phase counts the approved instances as its
/// targets and lists them in `requested`, `changedSincePlan` and `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSummary {
    pub sweep_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SweepMode>,
    /// The plan the run is, when the plan step gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<PlanId>,
    /// With approval: `plan` (the targets planned) or `execute` (the approved instances requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The plan phase: the plan file and its counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    /// Targets in the plan's results.
    pub targets: usize,
    /// Targets every instance of which was examined.
    pub swept: usize,
    /// Targets whose deadline came before every instance was examined.
    pub incomplete: usize,
    /// Targets that could not be swept, each with its errorType.
    pub failed: Vec<FailedTarget>,
    /// `failed`'s whole length, kept when the list is cut.
    pub failed_count: usize,
    pub examined: usize,
    /// The sum of every swept target's counts.
    pub counts: SweepCounts,
    /// The execution phase: the approved instances whose deletion was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<Vec<ExecutedInstance>>,
    /// The execution phase: the approved instances not requested, as they changed since the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_since_plan: Option<Vec<ExecutedInstance>>,
    /// `true` when `failed` (and the execution phase's lists) were cut to keep the summary within
    /// PutEvents' 256 KiB; the counts are whole.
    pub truncated: bool,
}

/// The phase of an organization sweep with approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Plan,
    Execute,
}

/// The plan phase's file, `plans/<planId>/plan.jsonl`, and its count of instances, in all and per account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanSummary {
    pub file: S3Location,
    pub instances: usize,
    pub accounts: BTreeMap<AccountId, usize>,
}

/// A target (or, in the execution phase, an approved instance: `instanceArn`) that failed, with its errorType.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedTarget {
    pub account_id: AccountId,
    pub region: Region,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_arn: Option<String>,
    pub error_type: String,
    pub error: String,
}

/// One instance a run of the plan phase would have requested: a line of the plan file (and of the
/// approved file), and the input of its execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlannedInstance {
    pub plan_id: PlanId,
    pub account_id: AccountId,
    pub region: Region,
    pub instance_id: InstanceId,
    pub instance_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// The policy's reason.
    pub reason: Reason,
    /// The reason in words, as the run's report wrote it.
    pub detail: String,
    /// What it was selected on (the expiry tag and its value, or the age rule): the selection a
    /// notice mark's signature covers, which its execution finds unchanged or does not request it.
    pub selected_on: String,
    /// The owner tag's value (`OWNER_TAG`), when the instance has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// With notice: the time its mark held, which had passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
}

/// What the execution of one approved instance did: requested its deletion, or found it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutedInstance {
    pub plan_id: PlanId,
    pub instance_arn: String,
    pub account_id: AccountId,
    pub region: Region,
    pub outcome: ExecuteOutcome,
    /// What was requested, or what changed, in words.
    pub detail: String,
}

/// The outcome of one approved instance's execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExecuteOutcome {
    /// Unchanged since the plan: its Deletion Requested event was put.
    Requested,
    /// Changed since the plan ([`Reason::ChangedSincePlan`]): nothing was requested.
    ChangedSincePlan,
}

impl Detail for OrganizationSummary {
    fn event(&self) -> Event {
        Event::OrganizationSweepCompleted
    }
}

impl Cuttable for OrganizationSummary {
    fn longest(&self) -> usize {
        let executed = [&self.requested, &self.changed_since_plan].into_iter().flatten().map(Vec::len);
        executed.chain([self.failed.len()]).max().unwrap_or(0)
    }

    fn cut(&self, keep: usize) -> Self {
        let mut cut = self.clone();
        cut.failed.truncate(keep);
        for list in [&mut cut.requested, &mut cut.changed_since_plan].into_iter().flatten() {
            list.truncate(keep);
        }
        cut.truncated = true;
        cut
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::contract::{within_event_limit, MAX_DETAIL_BYTES};

    #[test]
    fn a_summary_too_large_for_an_event_keeps_its_counts() {
        let failed = FailedTarget {
            account_id: AccountId::parse("a", &json!("111111111111")).unwrap(),
            region: Region::parse("r", &json!("eu-west-1")).unwrap(),
            instance_arn: None,
            error_type: "RoleNotAssumable".into(),
            error: "x".repeat(512),
        };
        let summary = OrganizationSummary {
            sweep_id: "s".into(),
            mode: None,
            plan_id: None,
            phase: None,
            plan: None,
            targets: 2_000,
            swept: 0,
            incomplete: 0,
            failed: vec![failed; 2_000],
            failed_count: 2_000,
            examined: 0,
            counts: SweepCounts::default(),
            requested: None,
            changed_since_plan: None,
            truncated: false,
        };
        let cut = within_event_limit(summary);
        assert!(cut.truncated && cut.failed.len() < 2_000 && cut.failed_count == 2_000);
        assert!(serde_json::to_string(&cut).unwrap().len() <= MAX_DETAIL_BYTES);
    }

    #[test]
    fn a_target_planning_the_most_instances_of_the_longest_names_and_tags_fits_in_its_256_kib_map_item() {
        // Tag keys of 128 characters and values of 256, AWS's longest (quotes are not among a tag's characters).
        let (key, value, owner) = ("k".repeat(128), "v".repeat(256), "o".repeat(256));
        let line = PlannedInstance {
            plan_id: PlanId::parse("p", &json!("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")).unwrap(),
            account_id: AccountId::parse("a", &json!("111111111111")).unwrap(),
            region: Region::parse("r", &json!("ap-southeast-5")).unwrap(),
            instance_id: InstanceId::parse("i", &json!("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")).unwrap(),
            instance_arn: "arn:aws-iso-b:scn:ap-southeast-5:111111111111:instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
            instance_name: Some("n".repeat(63)),
            reason: Reason::ExpiryTagPassed,
            detail: format!("scheduled for deletion at 2026-12-06T10:00:00.000Z, with notice: tag {key}={value:?} has passed"),
            selected_on: format!("ExpiryTagPassed tag {key:?}={value:?}"),
            owner: Some(owner),
            scheduled_for: Some("2026-12-06T10:00:00.000Z".into()),
        };
        // The child's item: its target, and its report's numbers and planned instances.
        let item = json!({
            "accountId": "111111111111", "region": "ap-southeast-5", "mode": "delete", "maxDeletions": crate::config::MAX_PLANNED,
            "planId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "planOnly": true,
            "report": {"examined": 100_000, "complete": true, "counts": SweepCounts::default(),
                       "planned": vec![line; crate::config::MAX_PLANNED as usize]},
        });
        let size = item.to_string().len();
        assert!(size < 256 * 1024, "{size} bytes");
    }
}
