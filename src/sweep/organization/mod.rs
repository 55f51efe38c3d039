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
use crate::contract::{within_event_limit, Announcement, OrganizationSummary};
use crate::deadline::Invocation;
use crate::error::Error;
use crate::events::EventBus;
use crate::input::sweep::PlanRequest;
use crate::model::{account_allowed, every_pair, AccountId, Region};
use crate::plan_store::{PlanStore, S3Location};

mod summary;

use summary::{SummaryRequest, Tally};

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
        let (mut accounts, source) = match (request.accounts, &request.accounts_file) {
            (Some(accounts), _) => (accounts, "input"),
            (None, Some(key)) => (self.listed_accounts(key, invocation).await?, "file"),
            (None, None) => (self.active_accounts(invocation).await?, "organization"),
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

    /// The accounts of the file `key` of the stack's bucket: one 12-digit id a line; blank lines
    /// and lines starting with `#` are skipped.
    async fn listed_accounts(&self, key: &str, invocation: &Invocation) -> Result<Vec<AccountId>, Error> {
        let plans = self.plans.as_ref().ok_or_else(|| {
            Error::InvalidInput("\"accountsFile\" names a file of the stack's bucket, but PLAN_BUCKET is not set".to_owned())
        })?;
        let text = plans.get_text(key, &invocation.budget).await?;
        let mut accounts = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            accounts.push(AccountId::parse(&format!("line {} of {key}", number + 1), &Value::from(line))?);
        }
        if accounts.is_empty() {
            return Err(Error::InvalidInput(format!("{key} names no account; leave \"accountsFile\" out to sweep the organization")));
        }
        Ok(accounts)
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
}
