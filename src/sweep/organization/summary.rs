//! The organization sweep's summary: every target's item, from the Map's output or from the files
//! its `ResultWriter` wrote (only the run's own, under `results/<sweepId>/`), added up one target at
//! a time. In the plan phase of a run with approval, the instances the targets would request are
//! gathered on the way into the plan file (`plans/<planId>/plan.jsonl`); the execution phase's
//! items are added up by the [`PhaseTally`] its own module gives.

use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

use super::plan_file::PlanLines;
use super::OrganizationSweep;
use crate::config::SweepMode;
use crate::contract::{within_event_limit, Announcement, FailedTarget, OrganizationSummary, Phase, PlannedInstance, SweepCounts};
use crate::deadline::Invocation;
use crate::error::Error;
use crate::model::{AccountId, PlanId, Region, S3Location};
use crate::plan_store::ChildExecution;

/// What `summarize` takes, for error messages.
const SHAPE: &str = "{\"sweepId\", \"mode\", \"planId\", \"phase\": \"plan\" | \"execute\" (with approval), and \"results\": \
[{\"accountId\", \"region\", \"report\" | \"error\"}] or \"resultWriterDetails\": {\"Bucket\", \"Key\"}}";

/// The summary's input: the Map's output, one item per target (`results`), or where its
/// `ResultWriter` wrote them (`resultWriterDetails`, the manifest in the stack's bucket).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SummaryRequest {
    pub(super) sweep_id: String,
    #[serde(default)]
    pub(super) mode: Option<SweepMode>,
    #[serde(default)]
    pub(super) results: Option<Vec<Value>>,
    #[serde(default)]
    pub(super) result_writer_details: Option<S3Location>,
    /// With approval: the phase the summary closes.
    #[serde(default)]
    pub(super) phase: Option<Phase>,
    /// The plan the run is; with a phase and without it, the `sweepId`.
    #[serde(default)]
    pub(super) plan_id: Option<PlanId>,
}

/// A tally of a Map's items: each item as the Map's output holds it, or each child execution as a
/// `ResultWriter` file lists it.
pub(super) trait Results: Send + 'static {
    fn add_item(&mut self, item: Value) -> Result<(), Error>;
    fn add_child(&mut self, child: ChildExecution);
}

/// The tally of the execution phase's items, whose shape its own module knows.
pub(super) trait PhaseTally: Results {
    fn begin(request: &SummaryRequest) -> Self;
    fn end(self) -> OrganizationSummary;
}

impl OrganizationSweep {
    /// The organization's summary (of a phase, with approval, the execution's added up by `E`), put
    /// on the bus.
    pub(super) async fn summarize_with<E: PhaseTally>(&self, input: &Value, invocation: &Invocation) -> Result<OrganizationSummary, Error> {
        let request: SummaryRequest =
            serde_json::from_value(input.clone()).map_err(|error| Error::InvalidInput(format!("\"summarize\" is not {SHAPE}: {error}")))?;
        let plan_id = match (&request.plan_id, request.phase) {
            (Some(plan_id), _) => Some(plan_id.clone()),
            (None, Some(_)) => Some(run_id(&request.sweep_id)?),
            (None, None) => None,
        };
        let mut summary = match (request.phase, &plan_id) {
            (Some(Phase::Execute), _) => E::end(self.read_results(&request, E::begin(&request), invocation).await?),
            (Some(Phase::Plan), Some(plan_id)) => self.planned(&request, plan_id, invocation).await?,
            _ => self.read_results(&request, Tally::new(request.sweep_id.clone(), request.mode), invocation).await?.done().0,
        };
        summary.plan_id = plan_id;
        summary.phase = request.phase;
        let detail = within_event_limit(summary.clone());
        if let Err(error) = self.bus.publish_one(Announcement::new(&detail, Vec::new()), &invocation.budget).await {
            warn!(error_type = error.error_type(), error = %error, "organization summary not put on the bus");
            return Err(error);
        }
        info!(
            sweep_id = %summary.sweep_id,
            phase = ?summary.phase,
            targets = summary.targets,
            swept = summary.swept,
            failed = summary.failed_count,
            examined = summary.examined,
            requested = summary.counts.requested,
            planned = summary.plan.as_ref().map(|plan| plan.instances),
            "organization sweep completed"
        );
        Ok(detail)
    }

    /// The plan phase: the targets added up, and what they would request written to the plan file.
    async fn planned(&self, request: &SummaryRequest, plan_id: &PlanId, invocation: &Invocation) -> Result<OrganizationSummary, Error> {
        let plans = self.plans.as_ref().ok_or_else(|| {
            Error::InvalidInput("the plan phase writes its plan file to the stack's bucket, but PLAN_BUCKET is not set".to_owned())
        })?;
        let tally = Tally::new(request.sweep_id.clone(), request.mode).planning(plan_id.clone());
        let (mut summary, lines) = self.read_results(request, tally, invocation).await?.done();
        if let Some(lines) = lines {
            summary.plan = Some(lines.write(plans, &invocation.budget).await?);
        }
        Ok(summary)
    }

    /// Adds up the Map's items into `tally`: inline, or read from the files of the run's own results
    /// (`results/<sweepId>/`) in the stack's bucket.
    async fn read_results<T: Results>(&self, request: &SummaryRequest, mut tally: T, invocation: &Invocation) -> Result<T, Error> {
        match (&request.results, &request.result_writer_details, &self.plans) {
            (Some(results), None, _) => {
                for item in results {
                    tally.add_item(item.clone())?;
                }
                Ok(tally)
            }
            (None, Some(manifest), Some(plans)) => {
                let prefix = format!("results/{}/", run_id(&request.sweep_id)?);
                plans.each_child(manifest, &prefix, tally, T::add_child, &invocation.budget).await
            }
            (None, Some(_), None) => {
                Err(Error::InvalidInput("\"resultWriterDetails\" names results in a bucket, but PLAN_BUCKET is not set".to_owned()))
            }
            _ => Err(Error::InvalidInput("\"summarize\" takes \"results\" or \"resultWriterDetails\", one of them".to_owned())),
        }
    }
}

/// A run's id as it names the run's files: a plan id's characters, so that `results/<sweepId>/` is
/// the run's own prefix and no other's.
fn run_id(sweep_id: &str) -> Result<PlanId, Error> {
    PlanId::parse("\"sweepId\"", &Value::from(sweep_id)).map_err(|error| {
        Error::InvalidInput(format!("{error}: the run's id names its results (results/<sweepId>/) and its plan (plans/<planId>/)"))
    })
}

/// One child's outcome: its report's counts, or the error it ended with after its retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetResult {
    account_id: AccountId,
    region: Region,
    #[serde(default)]
    report: Option<TargetCounts>,
    #[serde(default)]
    error: Option<TargetError>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetCounts {
    examined: usize,
    complete: bool,
    counts: SweepCounts,
    /// A run that only planned: what it would have requested.
    #[serde(default)]
    planned: Option<Vec<PlannedInstance>>,
}

/// As Step Functions' Catch writes it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct TargetError {
    #[serde(rename = "Error")]
    pub(super) error: String,
    #[serde(rename = "Cause", default)]
    pub(super) cause: Option<String>,
}

/// Where a target or an approved instance is, as a child's input names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Place {
    pub(super) account_id: AccountId,
    pub(super) region: Region,
    #[serde(default)]
    pub(super) instance_arn: Option<String>,
}

/// The summary being added up, one target at a time; targets whose input names no account and
/// region are counted as failed without being named.
pub(super) struct Tally {
    summary: OrganizationSummary,
    unnamed_failures: usize,
    /// The plan phase: the plan file being gathered.
    plan: Option<PlanLines>,
}

impl Tally {
    pub(super) fn new(sweep_id: String, mode: Option<SweepMode>) -> Tally {
        Tally { summary: empty_summary(sweep_id, mode), unnamed_failures: 0, plan: None }
    }

    /// The same tally, gathering the planned instances of plan `plan_id`.
    pub(super) fn planning(self, plan_id: PlanId) -> Tally {
        Tally { plan: Some(PlanLines::new(plan_id)), ..self }
    }

    /// One target's item, as the Map's child returned it.
    fn add_result(&mut self, result: TargetResult) {
        let summary = &mut self.summary;
        summary.targets += 1;
        match (result.report, result.error) {
            (Some(report), None) => {
                if report.complete {
                    summary.swept += 1;
                } else {
                    summary.incomplete += 1;
                }
                summary.examined += report.examined;
                summary.counts.add(&report.counts);
                if let (Some(plan), Some(planned)) = (&mut self.plan, report.planned) {
                    planned.into_iter().for_each(|planned| plan.add(planned));
                }
            }
            (_, error) => {
                let (error_type, error) = failure(error);
                let place = Place { account_id: result.account_id, region: result.region, instance_arn: None };
                summary.failed.push(failed(place, error_type, error));
            }
        }
    }

    /// The summary, and the plan file's lines in the plan phase.
    pub(super) fn done(mut self) -> (OrganizationSummary, Option<PlanLines>) {
        self.summary.failed_count = self.summary.failed.len() + self.unnamed_failures;
        (self.summary, self.plan)
    }
}

impl Results for Tally {
    fn add_item(&mut self, item: Value) -> Result<(), Error> {
        let result: TargetResult =
            serde_json::from_value(item).map_err(|error| Error::InvalidInput(format!("\"summarize\" is not {SHAPE}: {error}")))?;
        self.add_result(result);
        Ok(())
    }

    /// One child execution of a `ResultWriter` file: its output is the target's item; a child that
    /// failed itself (Step Functions' own errors, tolerated by the Map) names its target by its input.
    fn add_child(&mut self, child: ChildExecution) {
        if child.status == "SUCCEEDED" {
            if let Some(Ok(result)) = json_of(&child.output).map(serde_json::from_value::<TargetResult>) {
                return self.add_result(result);
            }
        }
        let error = child_error(&child);
        match json_of(&child.input).map(serde_json::from_value::<Place>) {
            Some(Ok(place)) => {
                self.add_result(TargetResult { account_id: place.account_id, region: place.region, report: None, error: Some(error) })
            }
            _ => {
                self.summary.targets += 1;
                self.unnamed_failures += 1;
            }
        }
    }
}

/// A summary with nothing added up yet.
pub(super) fn empty_summary(sweep_id: String, mode: Option<SweepMode>) -> OrganizationSummary {
    OrganizationSummary {
        sweep_id,
        mode,
        plan_id: None,
        phase: None,
        plan: None,
        targets: 0,
        swept: 0,
        incomplete: 0,
        failed: Vec::new(),
        failed_count: 0,
        examined: 0,
        counts: SweepCounts::default(),
        requested: None,
        changed_since_plan: None,
        truncated: false,
    }
}

/// A child's input or output, JSON text, read.
pub(super) fn json_of(text: &Option<String>) -> Option<Value> {
    text.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok())
}

/// The error a child execution that did not succeed ended with, as Catch would have written it.
pub(super) fn child_error(child: &ChildExecution) -> TargetError {
    TargetError {
        error: child.error.clone().unwrap_or_else(|| format!("States.{}", child.status)),
        cause: Some(child.cause.clone().unwrap_or_else(|| format!("the child execution ended {} without a result", child.status))),
    }
}

/// The errorType and the message of a caught error.
pub(super) fn failure(error: Option<TargetError>) -> (String, String) {
    match error {
        Some(TargetError { error, cause: Some(cause) }) => (error, message_of(&cause)),
        // An item written before the children kept the Cause: the message is where the error happened.
        Some(TargetError { error, cause: None }) => {
            let words = format!(
                "the sweep of this target failed with {error}; its message is in the sweep function's log and in the child \
                 execution's history"
            );
            (error, words)
        }
        None => ("Unexpected".to_owned(), "the target's result holds neither a report nor an error".to_owned()),
    }
}

pub(super) fn failed(place: Place, error_type: String, error: String) -> FailedTarget {
    FailedTarget { account_id: place.account_id, region: place.region, instance_arn: place.instance_arn, error_type, error }
}

/// A Lambda error's cause is its error payload as JSON text: its `errorMessage` is what a person
/// reads. Cut to 512 characters, so that hundreds of failures still fit the summary.
pub(super) fn message_of(cause: &str) -> String {
    let message = serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|value| value.get("errorMessage").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| cause.to_owned());
    message.chars().take(512).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_summary_adds_up_the_swept_targets_and_names_the_failed_ones() {
        let request: SummaryRequest = serde_json::from_value(json!({
            "sweepId": "s", "mode": "delete",
            "results": [
                {"accountId": "111111111111", "region": "eu-west-1", "mode": "delete", "maxDeletions": 1,
                 "report": {"examined": 4, "complete": true, "counts": {"selected": 2, "requested": 1, "deferred": 1, "skipped": 0}}},
                {"accountId": "222222222222", "region": "eu-west-1",
                 "report": {"examined": 3, "complete": false, "counts": {"selected": 1, "requested": 1, "deferred": 0, "skipped": 2, "marked": 1}}},
                {"accountId": "333333333333", "region": "us-east-1",
                 "error": {"Error": "RoleNotAssumable", "Cause": "{\"errorType\":\"RoleNotAssumable\",\"errorMessage\":\"role cannot be assumed\"}"}}
            ]
        }))
        .unwrap();
        let mut tally = Tally::new(request.sweep_id, request.mode);
        for item in request.results.unwrap() {
            tally.add_item(item).unwrap();
        }
        let summary = tally.done().0;
        assert_eq!((summary.targets, summary.swept, summary.incomplete, summary.failed_count), (3, 1, 1, 1));
        assert_eq!(summary.examined, 7);
        assert_eq!((summary.counts.selected, summary.counts.requested, summary.counts.deferred, summary.counts.skipped), (3, 2, 1, 2));
        assert_eq!(summary.counts.marked, Some(1));
        assert_eq!(summary.failed[0].error_type, "RoleNotAssumable");
        assert_eq!(summary.failed[0].error, "role cannot be assumed");
    }

    #[test]
    fn a_results_file_adds_up_as_the_inline_results_and_names_a_child_that_failed_by_its_input() {
        let target = |account: &str| json!({"accountId": account, "region": "eu-west-1", "mode": "delete", "maxDeletions": 1});
        let swept = json!({"accountId": "111111111111", "region": "eu-west-1", "mode": "delete", "maxDeletions": 1,
                           "report": {"examined": 4, "complete": true, "counts": {"selected": 2, "requested": 1, "deferred": 1, "skipped": 0}}});
        let caught = json!({"accountId": "222222222222", "region": "eu-west-1", "mode": "delete", "maxDeletions": 1,
                            "error": {"Error": "RoleNotAssumable", "Cause": "{\"errorMessage\":\"role cannot be assumed\"}"}});
        let children = [
            ChildExecution {
                status: "SUCCEEDED".into(),
                input: Some(target("111111111111").to_string()),
                output: Some(swept.to_string()),
                error: None,
                cause: None,
            },
            ChildExecution {
                status: "SUCCEEDED".into(),
                input: Some(target("222222222222").to_string()),
                output: Some(caught.to_string()),
                error: None,
                cause: None,
            },
            ChildExecution {
                status: "FAILED".into(),
                input: Some(target("333333333333").to_string()),
                output: None,
                error: Some("States.Timeout".into()),
                cause: Some("the child took too long".into()),
            },
            ChildExecution { status: "ABORTED".into(), input: Some("not JSON".into()), output: None, error: None, cause: None },
        ];
        let mut tally = Tally::new("s".into(), Some(SweepMode::Delete));
        for child in children {
            tally.add_child(child);
        }
        let summary = tally.done().0;
        assert_eq!((summary.targets, summary.swept, summary.failed_count, summary.examined), (4, 1, 3, 4));
        assert_eq!(summary.counts.requested, 1);
        let failed: Vec<(&str, &str, &str)> =
            summary.failed.iter().map(|f| (f.account_id.as_str(), f.error_type.as_str(), f.error.as_str())).collect();
        assert_eq!(
            failed,
            [("222222222222", "RoleNotAssumable", "role cannot be assumed"), ("333333333333", "States.Timeout", "the child took too long")]
        );
    }

    #[test]
    fn the_plan_phase_gathers_the_planned_instances_of_its_own_plan_and_counts_them_per_account() {
        let plan_id = PlanId::parse("planId", &json!("p-1")).unwrap();
        let line = |account: &str, n: u8, plan: &str| {
            json!({"planId": plan, "accountId": account, "region": "eu-west-1",
                   "instanceId": format!("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f{n}"), "instanceArn": format!("arn:{account}:{n}"),
                   "reason": "ExpiryTagPassed", "detail": "d", "selectedOn": "s"})
        };
        let item = |account: &str, planned: Vec<Value>| {
            json!({"accountId": account, "region": "eu-west-1", "planId": "p-1", "planOnly": true,
                   "report": {"examined": 3, "complete": true, "counts": {"selected": 2, "requested": 0, "deferred": 0, "skipped": 1,
                              "planned": planned.len()}, "planned": planned}})
        };
        let mut tally = Tally::new("p-1".into(), Some(SweepMode::Delete)).planning(plan_id.clone());
        tally.add_item(item("111111111111", vec![line("111111111111", 1, "p-1"), line("111111111111", 2, "p-1")])).unwrap();
        tally.add_item(item("222222222222", vec![line("222222222222", 3, "p-1")])).unwrap();
        let (summary, lines) = tally.done();
        assert_eq!((summary.counts.planned, summary.counts.requested), (Some(3), 0));
        let lines = lines.unwrap();
        assert_eq!(lines.counts(), (3, vec![("111111111111".to_owned(), 2), ("222222222222".to_owned(), 1)]));
        let mut foreign = Tally::new("p-1".into(), Some(SweepMode::Delete)).planning(plan_id);
        foreign.add_item(item("111111111111", vec![line("111111111111", 1, "p-2")])).unwrap();
        assert!(foreign.done().1.unwrap().foreign().unwrap().contains("not for this plan p-1"));
    }
}
