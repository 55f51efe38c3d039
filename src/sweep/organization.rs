//! The organization sweep's two steps, run by the `OrganizationSweep` state machine around its
//! Distributed Map (one child per account and region):
//!
//! - the **plan**: the targets (the organization's active accounts, or those of the input, in every
//!   region asked) and each one's share of the global cap;
//! - the **summary**: every target's outcome added up into one report for the organization, put on
//!   the bus as `Supply Chain Organization Sweep Completed`.
//!
//! The cap (`maxDeletions`, default `MAX_DELETIONS_PER_SWEEP`) bounds the whole organization's run.
//! The children run apart and cannot share a counter, so the plan splits it beforehand: every
//! target gets the even share `cap / targets`, and the remainder goes one each to the next targets
//! in an order that rotates by a day each day, so that, where there are more targets than the cap
//! allows deletions, each night a different part of the organization gets them. The shares add up to
//! the cap exactly: a runaway policy cannot request more in one night, whatever the count of
//! targets.

use aws_sdk_organizations::types::{AccountState, AccountStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::config::{SweepMode, SweepSettings};
use crate::contract::{within_event_limit, Announcement, FailedTarget, OrganizationSummary, SweepCounts};
use crate::deadline::Invocation;
use crate::error::Error;
use crate::events::EventBus;
use crate::input::sweep::PlanRequest;
use crate::model::{account_allowed, every_pair, AccountId, Region};
use crate::plan_store::{ChildExecution, PlanStore, S3Location};

/// The plan: what the state machine's Map runs, one child per target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationPlan {
    /// The plan's invocation id, which the summary carries on.
    pub sweep_id: String,
    pub mode: SweepMode,
    /// The cap of the whole run, split across `targets`.
    pub max_deletions: u32,
    /// `organization` (ListAccounts) or `input`.
    pub source: String,
    /// How many accounts are swept.
    pub accounts: usize,
    /// Accounts left out because `ALLOWED_ACCOUNT_IDS` does not name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<AccountId>,
    pub regions: Vec<Region>,
    /// How many targets the plan holds.
    pub target_count: usize,
    /// With the stack's bucket: the targets, one JSON object a line, which the Distributed Map's
    /// `ItemReader` reads; no state then carries a list that grows with the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_file: Option<S3Location>,
    /// Without the bucket: the targets themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<PlannedTarget>,
}

/// One child's input: a one-target sweep with its share of the cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedTarget {
    pub account_id: AccountId,
    pub region: Region,
    pub mode: SweepMode,
    pub max_deletions: u32,
}

/// The summary's input: the Map's output, one item per target (`results`), or where its
/// `ResultWriter` wrote them (`resultWriterDetails`, the manifest in the stack's bucket).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SummaryRequest {
    sweep_id: String,
    #[serde(default)]
    mode: Option<SweepMode>,
    #[serde(default)]
    results: Option<Vec<TargetResult>>,
    #[serde(default)]
    result_writer_details: Option<S3Location>,
}

/// One child's outcome: its report's counts, or the error it ended with after its retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetResult {
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

/// The organization sweep's two steps, built once at init beside the sweep: what they need of the
/// settings, the bus the summary goes to, and the Organizations client the plan lists accounts with.
#[derive(Debug, Clone)]
pub(super) struct OrganizationSweep {
    organizations: Option<aws_sdk_organizations::Client>,
    /// The bucket of plans and results; none: both are passed inline.
    plans: Option<PlanStore>,
    bus: EventBus,
    defaults: PlanDefaults,
}

/// What the plan takes when its input does not say.
#[derive(Debug, Clone)]
struct PlanDefaults {
    mode: SweepMode,
    max_deletions: u32,
    /// `ALLOWED_ACCOUNT_IDS`: accounts the plan leaves out unless named here (empty: none left out).
    allowed_accounts: Vec<AccountId>,
    /// `SWEEP_REGIONS`, else the function's own region.
    regions: Vec<Region>,
}

impl OrganizationSweep {
    /// The steps, over `settings` and the function's own region (`home_region`).
    pub(super) fn new(bus: EventBus, settings: &SweepSettings, home_region: Option<&str>) -> Self {
        let own = home_region.and_then(|region| Region::parse("the function's region", &Value::from(region)).ok());
        let regions = if settings.regions.is_empty() { own.into_iter().collect() } else { settings.regions.clone() };
        let defaults = PlanDefaults {
            mode: settings.mode,
            max_deletions: settings.max_deletions,
            allowed_accounts: settings.common.allowed_accounts.clone(),
            regions,
        };
        OrganizationSweep { organizations: None, plans: None, bus, defaults }
    }

    /// The Organizations client the plan lists accounts with, and the bucket of plans and results.
    pub(super) fn with_organizations(self, organizations: aws_sdk_organizations::Client, plans: Option<PlanStore>) -> Self {
        OrganizationSweep { organizations: Some(organizations), plans, ..self }
    }

    /// The plan: accounts x regions, each target with its share of the cap.
    pub(super) async fn plan(&self, request: PlanRequest, sweep_id: String, invocation: &Invocation) -> Result<OrganizationPlan, Error> {
        let mode = request.mode.unwrap_or(self.defaults.mode);
        let cap = request.max_deletions.unwrap_or(self.defaults.max_deletions);
        let (mut accounts, source) = match request.accounts {
            Some(accounts) => (accounts, "input"),
            None => (self.active_accounts(invocation).await?, "organization"),
        };
        accounts.sort();
        accounts.dedup();
        let allowed = &self.defaults.allowed_accounts;
        let (accounts, excluded): (Vec<_>, Vec<_>) = accounts.into_iter().partition(|a| account_allowed(allowed, a));
        let regions = match request.regions {
            Some(regions) => regions,
            None if !self.defaults.regions.is_empty() => self.defaults.regions.clone(),
            None => {
                return Err(Error::InvalidInput(
                    "the plan names no \"regions\", and neither SWEEP_REGIONS nor the function's own region gives one".to_owned(),
                ))
            }
        };
        let count = accounts.len() * regions.len();
        let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
        let shares = split(cap, count, days);
        let targets: Vec<PlannedTarget> = every_pair(&accounts, &regions)
            .into_iter()
            .zip(shares)
            .map(|((account_id, region), max_deletions)| PlannedTarget { account_id, region, mode, max_deletions })
            .collect();
        info!(
            sweep_id,
            source,
            accounts = accounts.len(),
            regions = regions.len(),
            excluded = excluded.len(),
            cap,
            "organization sweep planned"
        );
        let target_count = targets.len();
        let (targets_file, targets) = match &self.plans {
            Some(plans) => {
                let key = format!("plans/{sweep_id}/targets.jsonl");
                (Some(plans.put_lines(&key, &targets, &invocation.budget).await?), Vec::new())
            }
            None => (None, targets),
        };
        Ok(OrganizationPlan {
            sweep_id,
            mode,
            max_deletions: cap,
            source: source.to_owned(),
            accounts: accounts.len(),
            excluded,
            regions,
            target_count,
            targets_file,
            targets,
        })
    }

    /// The organization's active accounts, every page of ListAccounts.
    async fn active_accounts(&self, invocation: &Invocation) -> Result<Vec<AccountId>, Error> {
        const OP: &str = "ListAccounts";
        let client = self.organizations.as_ref().ok_or_else(|| Error::Unexpected("no Organizations client".to_owned()))?;
        let mut accounts = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let call = client.list_accounts().set_next_token(token.clone()).send();
            let page = invocation.budget.within(OP, call).await?.map_err(|e| Error::from_organizations(OP, e))?;
            for account in page.accounts() {
                // `State` replaces `Status`; an older answer has only the latter.
                let active = match (account.state(), account.status()) {
                    (Some(state), _) => *state == AccountState::Active,
                    (None, status) => status == Some(&AccountStatus::Active),
                };
                if let (true, Some(id)) = (active, account.id()) {
                    accounts.push(AccountId::parse("an account id of ListAccounts", &Value::from(id))?);
                }
            }
            match page.next_token().filter(|next| !next.is_empty()) {
                None => return Ok(accounts),
                Some(next) if token.as_deref() == Some(next) => {
                    return Err(Error::Unexpected(format!("ListAccounts answered the page token it was given ({next:?}) as the next one")));
                }
                Some(next) => token = Some(next.to_owned()),
            }
        }
    }

    /// The organization's summary, put on the bus.
    pub(super) async fn summarize(&self, input: &Value, invocation: &Invocation) -> Result<OrganizationSummary, Error> {
        let request: SummaryRequest = serde_json::from_value(input.clone()).map_err(|error| {
            Error::InvalidInput(format!(
                "\"summarize\" is not {{\"sweepId\", \"mode\", and \"results\": [{{\"accountId\", \"region\", \"report\" | \"error\"}}] \
                 or \"resultWriterDetails\": {{\"Bucket\", \"Key\"}}}}: {error}"
            ))
        })?;
        let mut summary = Tally::new(request.sweep_id, request.mode);
        summary = match (request.results, request.result_writer_details, &self.plans) {
            (Some(results), None, _) => results.into_iter().fold(summary, Tally::with_result),
            (None, Some(manifest), Some(plans)) => plans.each_child(&manifest, summary, Tally::add_child, &invocation.budget).await?,
            (None, Some(_), None) => {
                return Err(Error::InvalidInput("\"resultWriterDetails\" names results in a bucket, but PLAN_BUCKET is not set".to_owned()))
            }
            _ => return Err(Error::InvalidInput("\"summarize\" takes \"results\" or \"resultWriterDetails\", one of them".to_owned())),
        };
        let summary = summary.done();
        let detail = within_event_limit(summary.clone());
        if let Err(error) = self.bus.publish_one(Announcement::new(&detail, Vec::new()), &invocation.budget).await {
            warn!(error_type = error.error_type(), error = %error, "organization summary not put on the bus");
            return Err(error);
        }
        info!(
            sweep_id = %summary.sweep_id,
            targets = summary.targets,
            swept = summary.swept,
            failed = summary.failed_count,
            examined = summary.examined,
            requested = summary.counts.requested,
            "organization sweep completed"
        );
        Ok(detail)
    }
}

/// The summary being added up, one target at a time; targets whose input names no account and
/// region are counted as failed without being named.
struct Tally {
    summary: OrganizationSummary,
    unnamed_failures: usize,
}

impl Tally {
    fn new(sweep_id: String, mode: Option<SweepMode>) -> Tally {
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

    fn with_result(mut self, result: TargetResult) -> Tally {
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
    fn add_child(&mut self, child: ChildExecution) {
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

    fn done(mut self) -> OrganizationSummary {
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

/// Splits `cap` across `targets`: the even share each, and the remainder one each to the targets
/// from `rotation % targets` on (wrapping), so the shares add up to `cap` exactly.
pub(crate) fn split(cap: u32, targets: usize, rotation: u64) -> Vec<u32> {
    if targets == 0 {
        return Vec::new();
    }
    let even = (cap as usize / targets) as u32;
    let remainder = cap as usize % targets;
    let start = (rotation % targets as u64) as usize;
    (0..targets).map(|i| even + u32::from((i + targets - start) % targets < remainder)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shares_add_up_to_the_cap_whatever_the_count_of_targets() {
        for (cap, targets) in [(10, 900), (10, 3), (10, 10), (0, 4), (1_000, 7), (7, 1)] {
            for rotation in [0, 1, 5, 899, 20_000] {
                let shares = split(cap, targets, rotation);
                assert_eq!(shares.len(), targets);
                assert_eq!(shares.iter().sum::<u32>(), cap, "cap {cap}, {targets} targets, rotation {rotation}");
                let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                assert!(max - min <= 1, "{shares:?}");
            }
        }
        assert_eq!(split(10, 3, 0), vec![4, 3, 3]);
        assert!(split(5, 0, 0).is_empty());
    }

    #[test]
    fn the_remainder_goes_to_other_targets_on_another_day() {
        assert_eq!(split(2, 5, 0), vec![1, 1, 0, 0, 0]);
        assert_eq!(split(2, 5, 1), vec![0, 1, 1, 0, 0]);
        assert_eq!(split(2, 5, 4), vec![1, 0, 0, 0, 1]);
    }

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
