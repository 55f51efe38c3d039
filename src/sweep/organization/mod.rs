//! The organization sweep's steps, run by the `OrganizationSweep` state machine around its
//! Distributed Map (one child per account and region):
//!
//! - the **plan**: the targets (the organization's active accounts, or those of the input, in every
//!   region asked) and each one's share of the global cap;
//! - the **summary**: every target's outcome added up into one report for the organization, put on
//!   the bus as `Supply Chain Organization Sweep Completed` ([`summary`]).
//!
//! With approval (`APPROVAL_REQUIRED`, delete mode) the targets only plan, and the summary of that
//! phase writes the plan file; then the plan awaits a person's answer, the approved part of it is
//! executed one instance at a time, each re-checked first, and a last summary adds that up
//! ([`approval`], [`execute`]). Every step reads and writes only its own plan's files.
//!
//! The cap (`maxDeletions`, default `MAX_DELETIONS_PER_SWEEP`) bounds the whole organization's run.
//! The children run apart and cannot share a counter, so the plan splits it beforehand: every
//! target gets the even share `cap / targets`, and the remainder goes one each to the next targets
//! in an order that rotates by a day each day, so that, where there are more targets than the cap
//! allows deletions, each night a different part of the organization gets them. The shares add up to
//! the cap exactly: a runaway policy cannot request more in one night, whatever the count of
//! targets.

use std::time::Duration;

use aws_sdk_organizations::types::{AccountState, AccountStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

use crate::config::{SweepMode, SweepSettings, MAX_PLANNED};
use crate::deadline::Invocation;
use crate::error::Error;
use crate::events::EventBus;
use crate::input::sweep::PlanRequest;
use crate::model::{account_allowed, every_pair, AccountId, PlanId, Region};
use crate::plan_store::{PlanStore, S3Location};

mod approval;
mod execute;
mod plan_file;
mod summary;

pub use approval::{Approved, Awaiting, PlanClosed};

/// The plan: what the state machine's Map runs, one child per target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationPlan {
    /// The plan's invocation id, which the summary carries on.
    pub sweep_id: String,
    /// The plan's id: the same as `sweepId`, named on every target and event of the run.
    pub plan_id: PlanId,
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
    /// Whether the run awaits a person's approval of its plan before anything is requested.
    pub approval: ApprovalPlan,
}

/// The plan's approval: `required` in delete mode with `APPROVAL_REQUIRED`; the approval waits at
/// most `timeoutSeconds` (`APPROVAL_TIMEOUT_HOURS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPlan {
    pub required: bool,
    pub timeout_seconds: u64,
}

/// One child's input: a one-target sweep with its share of the cap, naming its plan, and whether
/// it only plans (`planOnly`, when the plan awaits approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedTarget {
    pub account_id: AccountId,
    pub region: Region,
    pub mode: SweepMode,
    pub max_deletions: u32,
    pub plan_id: PlanId,
    pub plan_only: bool,
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
    /// `APPROVAL_REQUIRED`: a delete-mode plan awaits a person's approval.
    approval_required: bool,
    /// `APPROVAL_TIMEOUT_HOURS`.
    approval_timeout: Duration,
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
            approval_required: settings.approval_required,
            approval_timeout: settings.approval_timeout,
        };
        OrganizationSweep { organizations: None, plans: None, bus, defaults }
    }

    /// The Organizations client the plan lists accounts with, and the bucket of plans and results.
    pub(super) fn with_organizations(self, organizations: aws_sdk_organizations::Client, plans: Option<PlanStore>) -> Self {
        OrganizationSweep { organizations: Some(organizations), plans, ..self }
    }

    /// The plan: accounts x regions, each target with its share of the cap, named by the plan's id
    /// (`sweep_id`, the invocation's) and, where the plan awaits approval, only planning.
    pub(super) async fn plan(&self, request: PlanRequest, sweep_id: String, invocation: &Invocation) -> Result<OrganizationPlan, Error> {
        let mode = request.mode.unwrap_or(self.defaults.mode);
        let cap = request.max_deletions.unwrap_or(self.defaults.max_deletions);
        let plan_id = PlanId::parse("the plan's invocation id", &Value::from(sweep_id.as_str()))
            .map_err(|error| Error::Unexpected(format!("the plan cannot be named by its invocation id: {error}")))?;
        let approval = self.approval(mode, cap)?;
        let (accounts, excluded, source) = self.accounts(&request, invocation).await?;
        let regions = self.regions(request.regions)?;
        let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
        let shares = split(cap, accounts.len() * regions.len(), days);
        let targets: Vec<PlannedTarget> = every_pair(&accounts, &regions)
            .into_iter()
            .zip(shares)
            .map(|((account_id, region), max_deletions)| PlannedTarget {
                account_id,
                region,
                mode,
                max_deletions,
                plan_id: plan_id.clone(),
                plan_only: approval.required,
            })
            .collect();
        info!(
            sweep_id,
            source,
            accounts = accounts.len(),
            regions = regions.len(),
            excluded = excluded.len(),
            cap,
            approval = approval.required,
            "organization sweep planned"
        );
        let target_count = targets.len();
        let (targets_file, targets) = match &self.plans {
            Some(plans) => {
                let key = format!("{}targets.jsonl", plan_id.plans_prefix());
                (Some(plans.put_lines(&key, &targets, &invocation.budget).await?), Vec::new())
            }
            None => (None, targets),
        };
        let accounts = accounts.len();
        let (max_deletions, source) = (cap, source.to_owned());
        Ok(OrganizationPlan {
            sweep_id,
            plan_id,
            mode,
            max_deletions,
            source,
            accounts,
            excluded,
            regions,
            target_count,
            targets_file,
            targets,
            approval,
        })
    }

    /// The plan's approval: required in delete mode with `APPROVAL_REQUIRED`, and then for a cap of
    /// at most [`MAX_PLANNED`].
    fn approval(&self, mode: SweepMode, cap: u32) -> Result<ApprovalPlan, Error> {
        let approval = ApprovalPlan {
            required: mode == SweepMode::Delete && self.defaults.approval_required,
            timeout_seconds: self.defaults.approval_timeout.as_secs(),
        };
        if approval.required && cap > MAX_PLANNED {
            return Err(Error::InvalidInput(format!(
                "\"maxDeletions\" is {cap}, but a plan that awaits approval holds at most {MAX_PLANNED} instances: each target's \
                 planned instances travel in its item of the Map, which Step Functions bounds to 256 KiB; give a maxDeletions from 0 \
                 to {MAX_PLANNED}"
            )));
        }
        Ok(approval)
    }

    /// The regions of the plan: those of the input, else `SWEEP_REGIONS`, else the function's own.
    fn regions(&self, requested: Option<Vec<Region>>) -> Result<Vec<Region>, Error> {
        match requested {
            Some(regions) => Ok(regions),
            None if !self.defaults.regions.is_empty() => Ok(self.defaults.regions.clone()),
            None => Err(Error::InvalidInput(
                "the plan names no \"regions\", and neither SWEEP_REGIONS nor the function's own region gives one".to_owned(),
            )),
        }
    }

    /// The accounts the plan sweeps (those of the input, of its file, or the organization's active
    /// ones, each once), those `ALLOWED_ACCOUNT_IDS` leaves out, and where they came from.
    async fn accounts(
        &self,
        request: &PlanRequest,
        invocation: &Invocation,
    ) -> Result<(Vec<AccountId>, Vec<AccountId>, &'static str), Error> {
        let (mut accounts, source) = match (&request.accounts, &request.accounts_file) {
            (Some(accounts), _) => (accounts.clone(), "input"),
            (None, Some(key)) => (self.listed_accounts(key, invocation).await?, "file"),
            (None, None) => (self.active_accounts(invocation).await?, "organization"),
        };
        accounts.sort();
        accounts.dedup();
        let allowed = &self.defaults.allowed_accounts;
        let (accounts, excluded): (Vec<_>, Vec<_>) = accounts.into_iter().partition(|a| account_allowed(allowed, a));
        Ok((accounts, excluded, source))
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

impl OrganizationSweep {
    /// The organization's summary (of a phase, with approval), put on the bus: the execution
    /// phase's items are added up by [`execute::ExecutionTally`].
    pub(in crate::sweep) async fn summarize(
        &self,
        input: &Value,
        invocation: &Invocation,
    ) -> Result<crate::contract::OrganizationSummary, Error> {
        self.summarize_with::<execute::ExecutionTally>(input, invocation).await
    }
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
