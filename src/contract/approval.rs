//! The events of an organization sweep's plan awaiting a person's approval: `Plan Ready` (with the
//! commands that answer it), then `Plan Approved`, `Plan Rejected` or `Plan Expired`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Detail, Event};
use crate::model::{AccountId, PlanId, S3Location};

/// A file of the stack's bucket, as a person reads it: its bucket, its key and its `s3://` URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    pub bucket: String,
    pub key: String,
    pub uri: String,
}

impl From<&S3Location> for PlanFile {
    fn from(location: &S3Location) -> PlanFile {
        PlanFile { bucket: location.bucket.clone(), key: location.key.clone(), uri: format!("s3://{}/{}", location.bucket, location.key) }
    }
}

/// The AWS CLI commands that answer a plan, each with the task token and the region of the
/// execution waiting on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalCommands {
    /// `send-task-success` with `{"approve": "all"}`.
    pub approve_all: String,
    /// `send-task-success` with `{"approve": ["<instanceArn>", ...]}`: the instance ARNs of the
    /// plan file to approve, the others being left out.
    pub approve_some: String,
    /// `send-task-failure` with the error `PlanRejected` and a cause in words.
    pub reject: String,
}

/// `Supply Chain Organization Sweep Plan Ready`: a plan waits for a person's answer until `expiresAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReady {
    pub plan_id: PlanId,
    /// The plan file, one instance a line.
    pub plan_file: PlanFile,
    /// The count of instances in the plan, in all and per account.
    pub instances: usize,
    pub accounts: BTreeMap<AccountId, usize>,
    /// When the execution stops waiting and the plan expires (RFC 3339).
    pub expires_at: String,
    /// The Step Functions task token the answer is sent with.
    pub task_token: String,
    pub commands: ApprovalCommands,
}

impl Detail for PlanReady {
    fn event(&self) -> Event {
        Event::PlanReady
    }
}

/// `Supply Chain Organization Sweep Plan Approved`: `approved` of the plan's `of` instances are to be
/// requested, each re-checked first; `approvedBy` and `note` are the approver's own words (the
/// principal that answered is in CloudTrail's `SendTaskSuccess` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanApproved {
    pub plan_id: PlanId,
    pub approved: usize,
    pub of: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The approved lines of the plan file, in its order.
    pub approved_file: PlanFile,
}

impl Detail for PlanApproved {
    fn event(&self) -> Event {
        Event::PlanApproved
    }
}

/// `Supply Chain Organization Sweep Plan Rejected`: the approver rejected the plan
/// (`send-task-failure`), or its answer was refused; nothing is requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRejected {
    pub plan_id: PlanId,
    /// The error of the answer (`PlanRejected`, or another the approver named), or the errorType of
    /// the refused answer (`InvalidInput`).
    pub error: String,
    /// Why, in words.
    pub cause: String,
}

impl Detail for PlanRejected {
    fn event(&self) -> Event {
        Event::PlanRejected
    }
}

/// `Supply Chain Organization Sweep Plan Expired`: no answer came before the approval's time ran
/// out; nothing is requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanExpired {
    pub plan_id: PlanId,
    pub expired_at: String,
}

impl Detail for PlanExpired {
    fn event(&self) -> Event {
        Event::PlanExpired
    }
}
