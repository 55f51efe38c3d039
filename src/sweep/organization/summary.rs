//! The organization sweep's summary: every target's item, from the Map's output or from the files
//! its `ResultWriter` wrote, added up one target at a time.

use serde::Deserialize;
use serde_json::Value;

use crate::config::SweepMode;
use crate::contract::{FailedTarget, OrganizationSummary, SweepCounts};
use crate::model::{AccountId, Region};
use crate::plan_store::{ChildExecution, S3Location};

use super::PlannedTarget;

/// The summary's input: the Map's output, one item per target (`results`), or where its
/// `ResultWriter` wrote them (`resultWriterDetails`, the manifest in the stack's bucket).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SummaryRequest {
    pub(super) sweep_id: String,
    #[serde(default)]
    pub(super) mode: Option<SweepMode>,
    #[serde(default)]
    pub(super) results: Option<Vec<TargetResult>>,
    #[serde(default)]
    pub(super) result_writer_details: Option<S3Location>,
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
}

/// As Step Functions' Catch writes it.
#[derive(Debug, Clone, Deserialize)]
struct TargetError {
    #[serde(rename = "Error")]
    error: String,
    #[serde(rename = "Cause", default)]
    cause: Option<String>,
}

/// The summary being added up, one target at a time; targets whose input names no account and
/// region are counted as failed without being named.
pub(super) struct Tally {
    summary: OrganizationSummary,
    unnamed_failures: usize,
}

impl Tally {
    pub(super) fn new(sweep_id: String, mode: Option<SweepMode>) -> Tally {
        let summary = OrganizationSummary {
            sweep_id,
            mode,
            targets: 0,
            swept: 0,
            incomplete: 0,
            failed: Vec::new(),
            failed_count: 0,
            examined: 0,
            counts: SweepCounts::default(),
            truncated: false,
        };
        Tally { summary, unnamed_failures: 0 }
    }

    pub(super) fn with_result(mut self, result: TargetResult) -> Tally {
        self.add_result(result);
        self
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
            }
            (_, error) => {
                let (error_type, error) = match error {
                    Some(TargetError { error, cause: Some(cause) }) => (error, message_of(&cause)),
                    // An item written before the children kept the Cause: the message is where the
                    // error happened.
                    Some(TargetError { error, cause: None }) => {
                        let words = format!(
                            "the sweep of this target failed with {error}; its message is in the sweep function's log and in \
                             the child execution's history"
                        );
                        (error, words)
                    }
                    None => ("Unexpected".to_owned(), "the target's result holds neither a report nor an error".to_owned()),
                };
                summary.failed.push(FailedTarget { account_id: result.account_id, region: result.region, error_type, error });
            }
        }
    }

    /// One child execution of a `ResultWriter` file: its output is the target's item; a child that
    /// failed itself (Step Functions' own errors, tolerated by the Map) names its target by its input.
    pub(super) fn add_child(&mut self, child: ChildExecution) {
        let item = |text: &Option<String>| text.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok());
        if child.status == "SUCCEEDED" {
            if let Some(Ok(result)) = item(&child.output).map(serde_json::from_value::<TargetResult>) {
                return self.add_result(result);
            }
        }
        let error = TargetError {
            error: child.error.unwrap_or_else(|| format!("States.{}", child.status)),
            cause: Some(
                child.cause.unwrap_or_else(|| format!("the child execution ended {} without a result of its target", child.status)),
            ),
        };
        match item(&child.input).map(serde_json::from_value::<PlannedTarget>) {
            Some(Ok(target)) => {
                self.add_result(TargetResult { account_id: target.account_id, region: target.region, report: None, error: Some(error) })
            }
            _ => {
                self.summary.targets += 1;
                self.unnamed_failures += 1;
            }
        }
    }

    pub(super) fn done(mut self) -> OrganizationSummary {
        self.summary.failed_count = self.summary.failed.len() + self.unnamed_failures;
        self.summary
    }
}

/// A Lambda error's cause is its error payload as JSON text: its `errorMessage` is what a person
/// reads. Cut to 512 characters, so that hundreds of failures still fit the summary.
fn message_of(cause: &str) -> String {
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
        let summary = request.results.unwrap().into_iter().fold(Tally::new(request.sweep_id, request.mode), Tally::with_result).done();
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
        let summary = tally.done();
        assert_eq!((summary.targets, summary.swept, summary.failed_count, summary.examined), (4, 1, 3, 4));
        assert_eq!(summary.counts.requested, 1);
        let failed: Vec<(&str, &str, &str)> =
            summary.failed.iter().map(|f| (f.account_id.as_str(), f.error_type.as_str(), f.error.as_str())).collect();
        assert_eq!(
            failed,
            [("222222222222", "RoleNotAssumable", "role cannot be assumed"), ("333333333333", "States.Timeout", "the child took too long")]
        );
    }
}
