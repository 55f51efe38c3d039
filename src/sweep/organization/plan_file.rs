//! The plan phase's file, `plans/<planId>/plan.jsonl`: the instances the targets of a run awaiting
//! approval would have requested, one JSON object a line, gathered as the summary reads the
//! targets' results and written whole once they are all read (the plan is within the cap, so it is
//! small), with the count of its instances per account.

use std::collections::BTreeMap;

use crate::contract::{PlanSummary, PlannedInstance};
use crate::deadline::Budget;
use crate::error::Error;
use crate::model::{AccountId, PlanId};
use crate::plan_store::PlanStore;

/// The plan file being written: the planned instances of the plan phase's targets, one a line.
pub(super) struct PlanLines {
    plan_id: PlanId,
    body: Vec<u8>,
    instances: usize,
    accounts: BTreeMap<AccountId, usize>,
    /// A line naming another plan, which a target of this one never writes.
    foreign: Option<String>,
}

impl PlanLines {
    pub(super) fn new(plan_id: PlanId) -> PlanLines {
        PlanLines { plan_id, body: Vec::new(), instances: 0, accounts: BTreeMap::new(), foreign: None }
    }

    pub(super) fn add(&mut self, planned: PlannedInstance) {
        if planned.plan_id != self.plan_id {
            let words =
                format!("a target planned {} for plan {}, not for this plan {}", planned.instance_arn, planned.plan_id, self.plan_id);
            self.foreign.get_or_insert(words);
            return;
        }
        match serde_json::to_writer(&mut self.body, &planned) {
            Ok(()) => self.body.push(b'\n'),
            Err(error) => {
                self.foreign.get_or_insert(format!("{} could not be written: {error}", planned.instance_arn));
                return;
            }
        }
        self.instances += 1;
        *self.accounts.entry(planned.account_id).or_default() += 1;
    }

    /// Writes `plans/<planId>/plan.jsonl`, whole, and answers its summary.
    pub(super) async fn write(self, plans: &PlanStore, budget: &Budget) -> Result<PlanSummary, Error> {
        if let Some(words) = self.foreign {
            return Err(Error::Unexpected(format!("the plan file is not written: {words}")));
        }
        let key = format!("{}plan.jsonl", self.plan_id.plans_prefix());
        let file = plans.put_jsonl(&key, self.body, budget).await?;
        Ok(PlanSummary { file, instances: self.instances, accounts: self.accounts })
    }

    /// Its count of instances, in all and per account, for tests to look into.
    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, Vec<(String, usize)>) {
        (self.instances, self.accounts.iter().map(|(account, n)| (account.to_string(), *n)).collect())
    }

    #[cfg(test)]
    pub(super) fn foreign(&self) -> Option<&str> {
        self.foreign.as_deref()
    }
}
