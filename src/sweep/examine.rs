//! The examination of one target: every instance listed, page by page, and each one's tags read and
//! decided on by the policy, a few at a time.

use std::collections::HashMap;

use aws_sdk_supplychain::types::InstanceState;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use tracing::{debug, info};

use super::policy::{self, decide, Decision};
use crate::config::SweepSettings;
use crate::contract::{Reason, SweepEntry};
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::model::{InstanceRecord, Target};
use crate::supply_chain::{Listed, SupplyChain};

/// One examined instance: what the report says of it, where it lives, its ARN for a request's
/// `resources`, the tags the notice needs, and its decision.
pub(super) struct Examined {
    pub(super) instance_id: String,
    pub(super) instance_name: Option<String>,
    pub(super) state: InstanceState,
    /// As the report names it: empty for the function's own account and region in a one-target run.
    pub(super) target: Target,
    /// The account and region in words, for notices: always named.
    pub(super) account_id: String,
    pub(super) region: String,
    pub(super) client: SupplyChain,
    pub(super) arn: String,
    pub(super) tags: HashMap<String, String>,
    pub(super) decision: Decision,
    /// When selected: what it is selected on ([`policy::selected_on`]).
    pub(super) selected_on: Option<String>,
    /// The owner tag's value (`OWNER_TAG`), when it has it.
    pub(super) owner: Option<String>,
}

impl Examined {
    /// Whether the sweep could delete it: only `Active` and `DeleteFailed` instances are deleted.
    pub(super) fn deletable(&self) -> bool {
        policy::deletable(&self.state)
    }

    pub(super) fn entry(&self, reason: Reason, detail: &str) -> SweepEntry {
        SweepEntry {
            instance_id: self.instance_id.clone(),
            target: self.target.clone(),
            instance_name: self.instance_name.clone(),
            state: self.state.as_str().to_owned(),
            reason,
            detail: detail.to_owned(),
        }
    }
}

/// One target's examination.
pub(super) struct Swept {
    pub(super) examined: Vec<Examined>,
    pub(super) complete: bool,
}

/// Every instance, page by page; `false` when the budget ended before the last page.
pub(super) async fn list(client: &SupplyChain, budget: &Budget) -> Result<(Vec<Listed>, bool), Error> {
    let mut instances = Vec::new();
    let mut token: Option<String> = None;
    loop {
        match client.list_instances_page(token.as_deref(), budget).await {
            Ok((page, next)) => {
                instances.extend(page);
                match next {
                    None => return Ok((instances, true)),
                    // A service answering the same token again would keep the sweep listing forever.
                    Some(next) if token.as_deref() == Some(next.as_str()) => {
                        return Err(Error::Unexpected(format!(
                            "ListInstances answered the page token it was given ({next:?}) as the next one"
                        )));
                    }
                    Some(next) => token = Some(next),
                }
            }
            // The examination budget ran out: what is listed is examined with the time left (none).
            Err(Error::Timeout(_)) if budget.remaining().is_none() => return Ok((instances, false)),
            Err(error) => return Err(error),
        }
    }
}

/// Reads the tags of the listed instances, a few at a time, and decides for each one; those the
/// budget ended before are left out.
pub(super) async fn examine(
    settings: &SweepSettings,
    client: &SupplyChain,
    target: &Target,
    listed: &[Listed],
    invocation: &Invocation,
    budget: &Budget,
    now: DateTime,
) -> Result<Vec<Examined>, Error> {
    let checks: Vec<_> = listed.iter().map(|instance| examine_one(settings, client, target, instance, invocation, budget, now)).collect();
    let outcomes: Vec<Result<Option<Examined>, Error>> = stream::iter(checks).buffered(settings.concurrency).collect().await;
    let mut examined = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        examined.extend(outcome?);
    }
    Ok(examined)
}

/// Reads one instance's tags and decides; `None` when the budget ended before it was examined.
async fn examine_one(
    settings: &SweepSettings,
    client: &SupplyChain,
    target: &Target,
    listed: &Listed,
    invocation: &Invocation,
    budget: &Budget,
    now: DateTime,
) -> Result<Option<Examined>, Error> {
    let instance = match listed {
        Ok(instance) => instance,
        Err(unusable) => {
            let detail = format!("ListInstances answered an instance id that cannot be used: {}", unusable.problem);
            return Ok(Some(Examined {
                instance_id: unusable.instance_id.clone(),
                instance_name: unusable.instance_name.clone(),
                state: unusable.state.clone(),
                target: target.clone(),
                account_id: client.account().unwrap_or_default().to_owned(),
                region: client.region().unwrap_or_default().to_owned(),
                client: client.clone(),
                arn: String::new(),
                tags: HashMap::new(),
                decision: log(&unusable.instance_id, &unusable.state, Decision::Skipped(Reason::TagsUnreadable, detail)),
                selected_on: None,
                owner: None,
            }));
        }
    };
    let examined = |arn: String, tags, decision| Examined { decision, ..unjudged(client, instance, target, arn, tags) };
    // Listed for a while after its deletion: nothing to decide, and its tags may be gone.
    if instance.state == InstanceState::Deleted {
        return Ok(Some(examined(String::new(), HashMap::new(), Decision::Kept)));
    }
    // The listed record names its account, so a placeholder function ARN (local runtimes) is no obstacle.
    let arn = client
        .instance_arn(&instance.instance_id, &invocation.home, Some(instance))
        .ok_or_else(|| Error::Unexpected("the Supply Chain client has no region, so the instance's ARN cannot be built".to_owned()))?;
    match client.tags(&arn, budget).await {
        Ok(tags) => Ok(Some(decided(settings, unjudged(client, instance, target, arn, tags), instance, now))),
        Err(_) if budget.remaining().is_none() => Ok(None),
        Err(error) => {
            let decision = Decision::Skipped(Reason::TagsUnreadable, format!("{}: {error}", error.error_type()));
            Ok(Some(examined(arn, HashMap::new(), log(instance.instance_id.as_str(), &instance.state, decision))))
        }
    }
}

/// An instance whose tags were read (`unjudged`, its decision not yet made), decided on by the
/// policy: the one decision of a run and of an approved plan's re-check alike.
pub(super) fn decided(settings: &SweepSettings, unjudged: Examined, instance: &InstanceRecord, now: DateTime) -> Examined {
    let decision = log(instance.instance_id.as_str(), &instance.state, decide(settings, instance, &unjudged.tags, now));
    let selected_on = policy::selected_on(settings, &decision, &unjudged.tags);
    let owner = settings.owner_tag.as_ref().and_then(|tag| unjudged.tags.get(tag)).cloned();
    Examined { decision, selected_on, owner, ..unjudged }
}

/// An instance of `client` read with GetInstance and its tags, not decided on yet: what an approved
/// plan's re-check starts from. Any failure is the caller's.
pub(super) fn unjudged(
    client: &SupplyChain,
    instance: &InstanceRecord,
    target: &Target,
    arn: String,
    tags: HashMap<String, String>,
) -> Examined {
    Examined {
        instance_id: instance.instance_id.to_string(),
        instance_name: instance.instance_name.clone(),
        state: instance.state.clone(),
        target: target.clone(),
        account_id: client.account().unwrap_or(&instance.aws_account_id).to_owned(),
        region: client.region().unwrap_or_default().to_owned(),
        client: client.clone(),
        arn,
        tags,
        decision: Decision::Kept,
        selected_on: None,
        owner: None,
    }
}

fn log(id: &str, state: &InstanceState, decision: Decision) -> Decision {
    let state = state.as_str();
    match &decision {
        Decision::Kept => debug!(instance_id = %id, state, outcome = "kept", "instance not expired"),
        Decision::Selected(reason, _) => {
            info!(instance_id = %id, state, outcome = "selected", reason = ?reason, "instance selected")
        }
        Decision::Skipped(reason, detail) => {
            info!(instance_id = %id, state, outcome = "skipped", reason = ?reason, detail = %detail, "instance skipped")
        }
    }
    decision
}
