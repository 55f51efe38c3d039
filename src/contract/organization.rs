//! The organization sweep's event: its summary (`Organization Sweep Completed`).

use serde::{Deserialize, Serialize};

use super::{Cuttable, Detail, Event, SweepCounts};
use crate::config::SweepMode;
use crate::model::{AccountId, Region};

/// The organization's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSummary {
    pub sweep_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SweepMode>,
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
    /// `true` when `failed` was cut to keep the summary within PutEvents' 256 KiB.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedTarget {
    pub account_id: AccountId,
    pub region: Region,
    pub error_type: String,
    pub error: String,
}

impl Detail for OrganizationSummary {
    fn event(&self) -> Event {
        Event::OrganizationSweepCompleted
    }
}

impl Cuttable for OrganizationSummary {
    fn longest(&self) -> usize {
        self.failed.len()
    }

    fn cut(&self, keep: usize) -> Self {
        let mut cut = self.clone();
        cut.failed.truncate(keep);
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
            error_type: "RoleNotAssumable".into(),
            error: "x".repeat(512),
        };
        let summary = OrganizationSummary {
            sweep_id: "s".into(),
            mode: None,
            targets: 2_000,
            swept: 0,
            incomplete: 0,
            failed: vec![failed; 2_000],
            failed_count: 2_000,
            examined: 0,
            counts: SweepCounts::default(),
            truncated: false,
        };
        let cut = within_event_limit(summary);
        assert!(cut.truncated && cut.failed.len() < 2_000 && cut.failed_count == 2_000);
        assert!(serde_json::to_string(&cut).unwrap().len() <= MAX_DETAIL_BYTES);
    }
}
