//! The execution of an approved plan: each approved line (`{"execute": <line>}`, one child of the
//! second Map each) re-checked and requested, or found changed since the plan; and the execution
//! phase's summary of them ([`ExecutionTally`]).
//!
//! The re-check is a run's own decision for the one instance: it is reached as the sweep reaches
//! its targets (the member role), read with GetInstance and its tags, decided on by the policy
//! ([`examine::decided`]), and, with notice, its mark checked ([`Notice::check`]). Its deletion is
//! requested only if the policy still selects it for the same reason, on the same selection, it is
//! `Active` or `DeleteFailed`, not protected, and with notice its mark counts and is due. Only the
//! instance of its own line can be requested: nothing outside the approved plan ever is.

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use serde::Deserialize;
use serde_json::Value;
use tracing::info;

use super::summary::{child_error, empty_summary, failed, failure, json_of, PhaseTally, Place, Results, SummaryRequest, TargetError};
use crate::config::SweepMode;
use crate::contract::{Announcement, DeletionRequested, ExecuteOutcome, ExecutedInstance, OrganizationSummary, PlannedInstance};
use crate::deadline::Invocation;
use crate::error::Error;
use crate::metrics;
use crate::model::Target;
use crate::plan_store::ChildExecution;
use crate::supply_chain::SupplyChain;
use crate::sweep::examine::{self, Examined};
use crate::sweep::notice::Mark;
use crate::sweep::policy::{self, why_kept, Decision};
use crate::sweep::SweepFunction;

impl SweepFunction {
    /// Re-checks the instance of one approved line and requests its deletion (Deletion Requested,
    /// with the plan's id as its `sweepId` and `planId`), or answers what changed since the plan.
    /// An error (the role not assumable, the service throttling past its retries) fails the step.
    pub(in crate::sweep) async fn execute(&self, line: PlannedInstance, invocation: &Invocation) -> Result<ExecutedInstance, Error> {
        let target = Target { account_id: Some(line.account_id.clone()), region: Some(line.region.clone()) };
        let (resolved, client) = self.supply_chains.reaching(&target, None, &self.settings.common, &invocation.home).await?;
        let answer = |outcome, detail| ExecutedInstance {
            plan_id: line.plan_id.clone(),
            instance_arn: line.instance_arn.clone(),
            account_id: line.account_id.clone(),
            region: line.region.clone(),
            outcome,
            detail,
        };
        let scheduled_for = match self.recheck(&line, &resolved, &client, invocation).await? {
            Ok(scheduled_for) => scheduled_for,
            Err(changed) => {
                info!(plan_id = %line.plan_id, instance_arn = %line.instance_arn, outcome = "changed since the plan", reason = %changed, "not requested");
                metrics::count_by(metrics::INSTANCES_SKIPPED, metrics::REASON, crate::contract::Reason::ChangedSincePlan.as_str());
                return Ok(answer(ExecuteOutcome::ChangedSincePlan, changed));
            }
        };
        let request = DeletionRequested {
            instance_id: line.instance_id.to_string(),
            target: resolved,
            reason: line.reason,
            sweep_id: line.plan_id.to_string(),
            detail: Some(line.detail.clone()),
            scheduled_for,
            plan_id: Some(line.plan_id.clone()),
        };
        self.bus.publish_one(Announcement::new(&request, vec![line.instance_arn.clone()]), &invocation.budget).await?;
        info!(plan_id = %line.plan_id, instance_arn = %line.instance_arn, outcome = "deletion requested", "deletion requested");
        metrics::count(metrics::DELETIONS_REQUESTED, 1);
        Ok(answer(ExecuteOutcome::Requested, format!("unchanged since the plan, its deletion was requested: {}", line.detail)))
    }

    /// Whether the instance of `line` is as it was planned: `Ok(scheduled_for)` (with notice, its
    /// mark's time) when it is, `Err(what changed)` when not.
    async fn recheck(
        &self,
        line: &PlannedInstance,
        target: &Target,
        client: &SupplyChain,
        invocation: &Invocation,
    ) -> Result<Result<Option<String>, String>, Error> {
        let budget = &invocation.budget;
        let now = DateTime::from(SystemTime::now());
        let record = match client.get_instance(&line.instance_id, budget).await {
            Ok(record) => record,
            Err(Error::InstanceNotFound(_)) => return Ok(Err("the instance is no longer there (GetInstance did not find it)".to_owned())),
            Err(error) => return Err(error),
        };
        let arn = client.instance_arn(&line.instance_id, &invocation.home, Some(&record)).unwrap_or_default();
        if arn != line.instance_arn {
            return Err(Error::InvalidInput(format!(
                "the line's instanceArn {} is not the ARN of its instance, account and region ({arn}): nothing is requested for it",
                line.instance_arn
            )));
        }
        if !policy::deletable(&record.state) {
            let state = record.state.as_str();
            return Ok(Err(format!("the instance is {state} now; only Active and DeleteFailed instances are deleted")));
        }
        let tags = match client.tags(&arn, budget).await {
            Ok(tags) => tags,
            // Deleted between the two reads: as changed as an instance gets.
            Err(Error::InstanceNotFound(_)) => return Ok(Err("the instance is no longer there (its tags could not be read)".to_owned())),
            Err(error) => return Err(error),
        };
        let examined = examine::decided(&self.settings, examine::unjudged(client, &record, target, arn, tags), &record, now);
        if let Err(changed) = self.still_selected(line, &examined) {
            return Ok(Err(changed));
        }
        let Some(notice) = self.notice(SweepMode::Delete, now)? else {
            return Ok(Ok(None));
        };
        Ok(match notice.check(&examined, budget).await? {
            Mark::Due(when) => Ok(Some(when)),
            Mark::Pending => Err(format!("its notice has not run out: its mark {} is not due", notice.tag)),
            Mark::Missing => Err(format!("it no longer carries its mark {}: no notice counts for it", notice.tag)),
            Mark::Invalid(words) | Mark::Unchecked(words) => Err(words),
        })
    }

    /// Whether the policy selects `examined` now as it did for the plan: the same reason, on the
    /// same selection; else what changed, in words.
    fn still_selected(&self, line: &PlannedInstance, examined: &Examined) -> Result<(), String> {
        match &examined.decision {
            Decision::Selected(reason, _)
                if *reason == line.reason && examined.selected_on.as_deref() == Some(line.selected_on.as_str()) =>
            {
                Ok(())
            }
            Decision::Selected(reason, detail) => Err(format!(
                "it is selected on something else now ({}: {detail}), not on what the plan was approved on ({})",
                reason.as_str(),
                line.selected_on
            )),
            Decision::Skipped(_, detail) => Err(format!("the policy no longer selects it: {detail}")),
            Decision::Kept => Err(format!("the policy no longer selects it: {}", why_kept(&self.settings, &examined.tags))),
        }
    }
}

/// An execution item whose step failed, as its Catch wrote it: the line and the error.
#[derive(Debug, Clone, Deserialize)]
struct CaughtLine {
    execute: Place,
    error: TargetError,
}

/// The execution phase's summary being added up, one approved instance at a time: its targets are
/// the approved instances, `swept` those re-checked, and `requested`, `changedSincePlan` and
/// `failed` list what became of each.
pub(super) struct ExecutionTally {
    summary: OrganizationSummary,
    unnamed_failures: usize,
}

impl ExecutionTally {
    pub(super) fn new(request: &SummaryRequest) -> ExecutionTally {
        let mut summary = empty_summary(request.sweep_id.clone(), request.mode.or(Some(SweepMode::Delete)));
        summary.requested = Some(Vec::new());
        summary.changed_since_plan = Some(Vec::new());
        summary.counts.changed_since_plan = Some(0);
        ExecutionTally { summary, unnamed_failures: 0 }
    }

    fn add_executed(&mut self, executed: ExecutedInstance) {
        let summary = &mut self.summary;
        summary.targets += 1;
        summary.swept += 1;
        summary.examined += 1;
        summary.counts.selected += 1;
        match executed.outcome {
            ExecuteOutcome::Requested => summary.requested.get_or_insert_with(Vec::new).push(executed),
            ExecuteOutcome::ChangedSincePlan => summary.changed_since_plan.get_or_insert_with(Vec::new).push(executed),
        }
    }

    fn add_failed(&mut self, place: Option<Place>, error: TargetError) {
        self.summary.targets += 1;
        self.summary.counts.selected += 1;
        match place {
            Some(place) => {
                let (error_type, error) = failure(Some(error));
                self.summary.failed.push(failed(place, error_type, error));
            }
            None => self.unnamed_failures += 1,
        }
    }

    pub(super) fn done(mut self) -> OrganizationSummary {
        let summary = &mut self.summary;
        summary.failed_count = summary.failed.len() + self.unnamed_failures;
        summary.counts.requested = summary.requested.as_ref().map_or(0, Vec::len);
        let changed = summary.changed_since_plan.as_ref().map_or(0, Vec::len);
        summary.counts.skipped = changed;
        summary.counts.changed_since_plan = Some(changed);
        self.summary
    }
}

impl PhaseTally for ExecutionTally {
    fn begin(request: &SummaryRequest) -> Self {
        ExecutionTally::new(request)
    }

    fn end(self) -> OrganizationSummary {
        self.done()
    }
}

impl Results for ExecutionTally {
    fn add_item(&mut self, item: Value) -> Result<(), Error> {
        if let Ok(executed) = serde_json::from_value::<ExecutedInstance>(item.clone()) {
            self.add_executed(executed);
            return Ok(());
        }
        match serde_json::from_value::<CaughtLine>(item) {
            Ok(caught) => self.add_failed(Some(caught.execute), caught.error),
            Err(error) => {
                return Err(Error::InvalidInput(format!(
                    "an item of the execution's results is neither an execution's answer {{\"planId\", \"instanceArn\", \"accountId\", \
                     \"region\", \"outcome\", \"detail\"}} nor a caught failure {{\"execute\", \"error\"}}: {error}"
                )))
            }
        }
        Ok(())
    }

    /// One child execution of a `ResultWriter` file: its output is the execution's answer or its
    /// caught failure; a child that failed itself names its instance by its input.
    fn add_child(&mut self, child: ChildExecution) {
        if child.status == "SUCCEEDED" {
            if let Some(output) = json_of(&child.output) {
                if self.add_item(output).is_ok() {
                    return;
                }
            }
        }
        let place = json_of(&child.input).and_then(|input| serde_json::from_value::<Place>(input.get("execute")?.clone()).ok());
        self.add_failed(place, child_error(&child));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn executed(n: u8, outcome: &str) -> Value {
        json!({"planId": "p-1", "instanceArn": format!("arn:aws:scn:eu-west-1:111111111111:instance/{n}"), "accountId": "111111111111",
               "region": "eu-west-1", "outcome": outcome, "detail": "d"})
    }

    #[test]
    fn the_execution_s_summary_counts_requested_changed_and_failed_instances() {
        let request: SummaryRequest = serde_json::from_value(json!({"sweepId": "p-1", "phase": "execute"})).unwrap();
        let mut tally = ExecutionTally::new(&request);
        tally.add_item(executed(1, "requested")).unwrap();
        tally.add_item(executed(2, "changedSincePlan")).unwrap();
        let line = json!({"accountId": "222222222222", "region": "eu-west-1", "instanceArn": "arn:3", "planId": "p-1"});
        let caught = json!({"execute": line, "error": {"Error": "RoleNotAssumable", "Cause": "{\"errorMessage\":\"no role\"}"}});
        tally.add_child(ChildExecution {
            status: "SUCCEEDED".into(),
            input: None,
            output: Some(caught.to_string()),
            error: None,
            cause: None,
        });
        let input = json!({"execute": line}).to_string();
        let timed_out =
            ChildExecution { status: "FAILED".into(), input: Some(input), output: None, error: Some("States.Timeout".into()), cause: None };
        tally.add_child(timed_out);
        assert!(tally.add_item(json!({"outcome": "deleted"})).is_err());
        let summary = tally.done();
        assert_eq!((summary.targets, summary.swept, summary.failed_count, summary.mode), (4, 2, 2, Some(SweepMode::Delete)));
        assert_eq!((summary.counts.requested, summary.counts.changed_since_plan, summary.counts.skipped), (1, Some(1), 1));
        assert_eq!(summary.requested.unwrap()[0].instance_arn, "arn:aws:scn:eu-west-1:111111111111:instance/1");
        let failed: Vec<(Option<&str>, &str, &str)> =
            summary.failed.iter().map(|f| (f.instance_arn.as_deref(), f.error_type.as_str(), f.error.as_str())).collect();
        assert_eq!(
            failed,
            [
                (Some("arn:3"), "RoleNotAssumable", "no role"),
                (Some("arn:3"), "States.Timeout", "the child execution ended FAILED without a result")
            ]
        );
    }
}
