//! A plan and the person who approves it: `awaitApproval` announces the plan with the commands that
//! answer it (`Plan Ready`) while the execution waits on its task token; `approve` checks the
//! answer against the plan file, writes the approved lines and announces them (`Plan Approved`);
//! `closePlan` announces a plan rejected or expired (`Plan Rejected`, `Plan Expired`), of which
//! nothing is requested. Each reads only its own plan's files, `plans/<planId>/`.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use serde::Serialize;
use tracing::{info, warn};

use super::summary::message_of;
use super::OrganizationSweep;
use crate::contract::{
    Announcement, ApprovalCommands, Detail, PlanApproved, PlanExpired, PlanFile, PlanReady, PlanRejected, PlanSummary, PlannedInstance,
};
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::input::approval::{Approval, ApproveRequest, AwaitApproval, ClosePlan, Closing, DECISION_SHAPE};
use crate::model::{timestamp, AccountId, PlanId, S3Location};
use crate::plan_store::PlanStore;

/// What `awaitApproval` answers: nothing. The execution's result is the approver's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Awaiting {}

/// What `approve` answers: how many instances were approved, and the file of their lines, which
/// the execution's Map reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approved {
    pub plan_id: PlanId,
    pub approved: usize,
    pub approved_file: S3Location,
}

/// What `closePlan` answers: the detail it announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PlanClosed {
    Rejected(PlanRejected),
    Expired(PlanExpired),
}

impl OrganizationSweep {
    /// Puts `Plan Ready`: the plan file, its counts, when the approval expires and the commands
    /// that answer it. If it cannot be put, the step fails (`PublishFailed`, retried), so that no
    /// execution waits on a plan nobody was told of.
    pub(in crate::sweep) async fn await_approval(&self, request: AwaitApproval, invocation: &Invocation) -> Result<Awaiting, Error> {
        self.own_plan_file(&request.plan)?;
        let expires = DateTime::from(SystemTime::now() + Duration::from_secs(request.timeout_seconds));
        let detail = PlanReady {
            commands: commands(&request.task_token, invocation.home.region.as_str()),
            plan_id: request.plan_id,
            plan_file: PlanFile::from(&request.plan.file),
            instances: request.plan.instances,
            accounts: request.plan.accounts,
            expires_at: timestamp(expires),
            task_token: request.task_token,
        };
        self.announce(&detail, &invocation.budget).await?;
        info!(plan_id = %detail.plan_id, instances = detail.instances, expires_at = %detail.expires_at, "plan awaits approval");
        Ok(Awaiting {})
    }

    /// Checks the approver's answer against the plan file: every ARN it names must be one of the
    /// plan's, else `InvalidInput` naming it (the state machine then rejects the plan). Writes the
    /// approved lines, in the plan's order, to `plans/<planId>/approved.jsonl` and puts `Plan Approved`.
    pub(in crate::sweep) async fn approve(&self, request: ApproveRequest, invocation: &Invocation) -> Result<Approved, Error> {
        let plans = self.own_plan_file(&request.plan)?;
        let lines = plan_lines(plans, &request.plan_id, &request.plan.file.key, &invocation.budget).await?;
        as_announced(&lines, &request.plan)?;
        let of = lines.len();
        let approved: Vec<PlannedInstance> = match &request.decision.approve {
            Approval::All => lines,
            Approval::These(arns) => {
                let planned: HashSet<&str> = lines.iter().map(|line| line.instance_arn.as_str()).collect();
                let outside: Vec<&String> = arns.iter().filter(|arn| !planned.contains(arn.as_str())).collect();
                if let Some(first) = outside.first() {
                    return Err(Error::InvalidInput(format!(
                        "the approval names {first:?}{}, which is not in the plan {}: only instances of the plan can be approved; \
                         accepted: {DECISION_SHAPE}",
                        match outside.len() {
                            1 => String::new(),
                            n => format!(" and {} other ARNs", n - 1),
                        },
                        request.plan.file.key
                    )));
                }
                let chosen: HashSet<&str> = arns.iter().map(String::as_str).collect();
                lines.into_iter().filter(|line| chosen.contains(line.instance_arn.as_str())).collect()
            }
        };
        let key = format!("{}approved.jsonl", request.plan_id.plans_prefix());
        let approved_file = plans.put_lines(&key, &approved, &invocation.budget).await?;
        let detail = PlanApproved {
            plan_id: request.plan_id.clone(),
            approved: approved.len(),
            of,
            approved_by: request.decision.approved_by,
            note: request.decision.note,
            approved_file: PlanFile::from(&approved_file),
        };
        self.announce(&detail, &invocation.budget).await?;
        info!(plan_id = %request.plan_id, approved = detail.approved, of, approved_by = ?detail.approved_by, "plan approved");
        Ok(Approved { plan_id: request.plan_id, approved: detail.approved, approved_file })
    }

    /// Puts `Plan Rejected` (with the answer's error and cause, or the refused answer's) or `Plan
    /// Expired`; nothing of the plan is requested.
    pub(in crate::sweep) async fn close_plan(&self, request: ClosePlan, invocation: &Invocation) -> Result<PlanClosed, Error> {
        let closed = match request.outcome {
            Closing::Rejected => PlanClosed::Rejected(PlanRejected {
                plan_id: request.plan_id.clone(),
                error: request.error.map_or_else(|| "PlanRejected".to_owned(), |error| error.chars().take(256).collect()),
                cause: request.cause.map_or_else(|| "no cause was given".to_owned(), |cause| message_of(&cause)),
            }),
            Closing::Expired => PlanClosed::Expired(PlanExpired {
                plan_id: request.plan_id.clone(),
                expired_at: timestamp(DateTime::from(SystemTime::now())),
            }),
        };
        match &closed {
            PlanClosed::Rejected(detail) => self.announce(detail, &invocation.budget).await?,
            PlanClosed::Expired(detail) => self.announce(detail, &invocation.budget).await?,
        }
        info!(plan_id = %request.plan_id, outcome = ?request.outcome, "plan closed, nothing requested");
        Ok(closed)
    }

    /// The stack's bucket, when `plan` names its file there.
    fn own_plan_file(&self, plan: &PlanSummary) -> Result<&PlanStore, Error> {
        let plans = self.plans.as_ref().ok_or_else(|| {
            Error::InvalidInput("a plan awaiting approval is a file of the stack's bucket, but PLAN_BUCKET is not set".to_owned())
        })?;
        if plan.file.bucket != plans.bucket() {
            return Err(Error::InvalidInput(format!(
                "the plan file is in bucket {:?}, but the stack's bucket is {:?}: only the stack's own plans are read",
                plan.file.bucket,
                plans.bucket()
            )));
        }
        Ok(plans)
    }

    async fn announce(&self, detail: &impl Detail, budget: &Budget) -> Result<(), Error> {
        let announcement = Announcement::new(detail, Vec::new());
        self.bus.publish_one(announcement, budget).await.inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, detail_type = detail.event().detail_type(), "not put on the bus");
        })
    }
}

/// The lines of the plan file at `key`, each a [`PlannedInstance`] of plan `plan_id`.
async fn plan_lines(plans: &PlanStore, plan_id: &PlanId, key: &str, budget: &Budget) -> Result<Vec<PlannedInstance>, Error> {
    let text = plans.get_text(key, budget).await?;
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let planned: PlannedInstance = serde_json::from_str(line)
            .map_err(|error| Error::Unexpected(format!("line {} of the plan file {key} is not a planned instance: {error}", number + 1)))?;
        if planned.plan_id != *plan_id {
            return Err(Error::Unexpected(format!(
                "line {} of the plan file {key} is of plan {}, not {plan_id}",
                number + 1,
                planned.plan_id
            )));
        }
        lines.push(planned);
    }
    Ok(lines)
}

/// Refuses a plan file that no longer holds what `Plan Ready` announced (its count of instances,
/// in all and per account): an approval, even of "all", is of the plan the approver was shown,
/// never of lines written to the file since.
fn as_announced(lines: &[PlannedInstance], announced: &PlanSummary) -> Result<(), Error> {
    let mut accounts: BTreeMap<AccountId, usize> = BTreeMap::new();
    for line in lines {
        *accounts.entry(line.account_id.clone()).or_default() += 1;
    }
    if lines.len() == announced.instances && accounts == announced.accounts {
        return Ok(());
    }
    let by_account = |counts: &BTreeMap<AccountId, usize>| counts.iter().map(|(a, n)| format!("{a}: {n}")).collect::<Vec<_>>().join(", ");
    Err(Error::InvalidInput(format!(
        "the plan file {} holds {} instances ({}), but the plan announced {} ({}): it changed since it was announced, so nothing \
         of it is approved",
        announced.file.key,
        lines.len(),
        by_account(&accounts),
        announced.instances,
        by_account(&announced.accounts)
    )))
}

/// The commands that answer a plan, for the execution waiting with `token` in `region`.
fn commands(token: &str, region: &str) -> ApprovalCommands {
    let token = shell_quoted(token);
    let success = format!("aws stepfunctions send-task-success --region {region} --task-token {token}");
    ApprovalCommands {
        approve_all: format!("{success} --task-output '{{\"approve\":\"all\"}}'"),
        approve_some: format!("{success} --task-output '{{\"approve\":[\"<instanceArn>\",\"<instanceArn>\"]}}'"),
        reject: format!("aws stepfunctions send-task-failure --region {region} --task-token {token} --error PlanRejected --cause '<why>'"),
    }
}

/// `text` as one word of a POSIX shell: in single quotes, each single quote written as `'\''`.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_name_the_token_and_the_region_as_one_shell_word_each() {
        let commands = commands("AAAA+b/c==", "eu-west-1");
        assert_eq!(
            commands.approve_all,
            "aws stepfunctions send-task-success --region eu-west-1 --task-token 'AAAA+b/c==' --task-output '{\"approve\":\"all\"}'"
        );
        assert!(commands.approve_some.contains("--task-output '{\"approve\":[\"<instanceArn>\",\"<instanceArn>\"]}'"));
        assert_eq!(
            commands.reject,
            "aws stepfunctions send-task-failure --region eu-west-1 --task-token 'AAAA+b/c==' --error PlanRejected --cause '<why>'"
        );
        assert_eq!(shell_quoted("a'b"), r"'a'\''b'");
    }

    #[test]
    fn a_plan_file_that_no_longer_holds_what_was_announced_is_not_approved() {
        let line = |account: &str, n: u8| -> PlannedInstance {
            serde_json::from_value(serde_json::json!({"planId": "p-1", "accountId": account, "region": "eu-west-1",
                "instanceId": format!("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f{n}"), "instanceArn": format!("arn:{account}:{n}"),
                "reason": "ExpiryTagPassed", "detail": "d", "selectedOn": "s"}))
            .unwrap()
        };
        let announced: PlanSummary = serde_json::from_value(serde_json::json!({"file": {"Bucket": "b", "Key": "plans/p-1/plan.jsonl"},
            "instances": 2, "accounts": {"111111111111": 1, "222222222222": 1}}))
        .unwrap();
        let (a, b, c) = (line("111111111111", 1), line("222222222222", 2), line("222222222222", 3));
        assert!(as_announced(&[a.clone(), b.clone()], &announced).is_ok());
        for changed in [vec![a.clone(), b.clone(), c.clone()], vec![a.clone()], vec![b.clone(), c.clone()]] {
            match as_announced(&changed, &announced) {
                Err(Error::InvalidInput(message)) => assert!(message.contains("changed since it was announced"), "{message}"),
                other => panic!("{} lines: {other:?}", changed.len()),
            }
        }
    }
}
