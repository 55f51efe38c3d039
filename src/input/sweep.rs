//! The sweep's input: a scheduled run with the configured settings; a direct invoke that overrides
//! the mode, the cap or the target for one run (and, from the organization sweep's Map, names its
//! plan); and the steps of the organization sweep (its plan and its summary, and with approval
//! [`super::approval`]'s). Anything else is `InvalidInput`.

use serde_json::{Map, Value};

use super::approval::{parse_approve, parse_await_approval, parse_close_plan, parse_execute, ApproveRequest, AwaitApproval, ClosePlan};
use super::{invalid, refuse_near_misses};
use crate::config::SweepMode;
use crate::contract::PlannedInstance;
use crate::error::{kind_of, quoted, Error};
use crate::model::{AccountId, PlanId, Region, Target};

/// The shapes the sweep accepts, for error messages.
pub(crate) const SWEEP_SHAPES: &str = "accepted shapes: {} or an EventBridge \"Scheduled Event\" (a run with the configured \
settings); a direct invoke {\"mode\": \"report\" | \"delete\", \"maxDeletions\": <whole number from 0>, \"accountId\": \
\"<12 digits>\", \"region\": \"<region>\", \"planId\": \"<plan id>\", \"planOnly\": true | false}, each member optional; or a step \
of the organization sweep, {\"plan\": {\"accounts\" | \"accountsFile\", \"regions\", \"mode\", \"maxDeletions\"}}, {\"summarize\": \
{\"sweepId\", \"mode\", \"results\" | \"resultWriterDetails\", \"phase\", \"planId\"}}, {\"awaitApproval\": {...}}, {\"approve\": \
{...}}, {\"execute\": {...}} or {\"closePlan\": {...}} (see events/sweep/ and docs/organization-sweep.md)";

/// The members of a direct invoke.
pub(crate) const SWEEP_MEMBERS: [&str; 6] = ["mode", "maxDeletions", "accountId", "region", "planId", "planOnly"];

/// The organization sweep's steps, each alone in its event.
const STEPS: [&str; 6] = ["plan", "summarize", "awaitApproval", "approve", "execute", "closePlan"];

/// The members of `plan`.
const PLAN_MEMBERS: [&str; 5] = ["accounts", "accountsFile", "regions", "mode", "maxDeletions"];

/// What an event asks of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SweepEvent {
    /// Sweep the configured targets, or the one the invoke names.
    Run(SweepRequest),
    /// The organization sweep's first step: the targets and each one's share of the cap.
    Plan(PlanRequest),
    /// The organization sweep's last step (with approval, of each phase): one summary of every
    /// target's outcome, or of every approved instance's.
    Summarize(Value),
    /// With approval: the plan goes to a person, and the execution waits on the task token.
    AwaitApproval(AwaitApproval),
    /// With approval: the person's answer, checked against the plan file.
    Approve(ApproveRequest),
    /// With approval: one approved instance, re-checked, then requested or found changed.
    Execute(Box<PlannedInstance>),
    /// With approval: the plan rejected or expired; nothing is requested.
    ClosePlan(ClosePlan),
}

/// One run's overrides of the configured settings; `None` keeps the setting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SweepRequest {
    pub mode: Option<SweepMode>,
    pub max_deletions: Option<u32>,
    /// The one target to sweep, when the invoke names `accountId` or `region`; `None` sweeps the
    /// configured targets (`SWEEP_ACCOUNTS` x `SWEEP_REGIONS`, or the function's own).
    pub target: Option<Target>,
    /// The organization sweep's plan the run belongs to, carried on each event it puts.
    pub plan_id: Option<PlanId>,
    /// With `true` (delete mode and `planId` only): the run requests nothing and lists in `planned`
    /// what it would request. Given at all, the report has `planned`.
    pub plan_only: Option<bool>,
}

/// The organization sweep's plan request; `None` takes the setting (or, for `accounts`, the
/// organization's active accounts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PlanRequest {
    pub accounts: Option<Vec<AccountId>>,
    /// The key, under `inputs/` of the stack's bucket, of a file of account ids, one a line: a
    /// list of any length, which an execution's input (256 KiB) could not hold.
    pub accounts_file: Option<String>,
    pub regions: Option<Vec<Region>>,
    pub mode: Option<SweepMode>,
    pub max_deletions: Option<u32>,
}

/// Classifies a sweep event.
///
/// - `{}` or `null` (what the stack's schedule sends) runs with the configured settings.
/// - An EventBridge scheduled event (`"detail-type": "Scheduled Event"`, as a scheduled rule sends)
///   does too: its `detail` carries nothing for the sweep.
/// - `{"mode", "maxDeletions", "accountId", "region"}` overrides any of them for this run. A near
///   miss of a member (such as `max_deletions`) and any other member are refused, so that a
///   misspelt override never runs a sweep with settings the caller did not mean.
/// - `{"plan": {...}}` and `{"summarize": {...}}`, alone in the event, are the organization sweep's
///   steps.
pub(crate) fn parse_sweep_event(event: &Value) -> Result<SweepEvent, Error> {
    let object = match event {
        Value::Null => return Ok(SweepEvent::Run(SweepRequest::default())),
        Value::Object(object) => object,
        other => {
            return Err(invalid(format!("the event is {}, but it must be a JSON object; {SWEEP_SHAPES}", kind_of(other))));
        }
    };
    if object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(SweepEvent::Run(SweepRequest::default()));
    }
    if let Some((step, value)) = STEPS.iter().find_map(|step| object.get(*step).map(|value| (*step, value))) {
        if object.len() > 1 {
            return Err(invalid(format!("the event has {step:?} beside other members; {step:?} must be alone; {SWEEP_SHAPES}")));
        }
        return parse_step(step, value);
    }
    let mut known: Vec<&str> = SWEEP_MEMBERS.to_vec();
    known.extend(STEPS);
    refuse_near_misses("the event", object, &known)?;
    if let Some(unknown) = object.keys().find(|k| !SWEEP_MEMBERS.contains(&k.as_str())) {
        return Err(invalid(format!("the event has the member {unknown:?}, which the sweep does not accept; {SWEEP_SHAPES}")));
    }
    let target = Target::read("the event", object)?;
    let (plan_id, plan_only) = plan_of_run(object)?;
    Ok(SweepEvent::Run(SweepRequest {
        mode: mode_of(object)?,
        max_deletions: max_deletions_of(object)?,
        target: (object.contains_key("accountId") || object.contains_key("region")).then_some(target),
        plan_id,
        plan_only,
    }))
}

/// One step of the organization sweep, named `step`.
fn parse_step(step: &str, value: &Value) -> Result<SweepEvent, Error> {
    match step {
        "plan" => parse_plan(value).map(SweepEvent::Plan),
        "summarize" => Ok(SweepEvent::Summarize(value.clone())),
        "awaitApproval" => parse_await_approval(value).map(SweepEvent::AwaitApproval),
        "approve" => parse_approve(value).map(SweepEvent::Approve),
        "execute" => parse_execute(value).map(|line| SweepEvent::Execute(Box::new(line))),
        _ => parse_close_plan(value).map(SweepEvent::ClosePlan),
    }
}

/// A run's `planId` and `planOnly`: `planOnly: true` only with `"mode": "delete"` (what it plans is
/// what delete mode would request) and a `planId` (which names the plan its lines go to).
fn plan_of_run(object: &Map<String, Value>) -> Result<(Option<PlanId>, Option<bool>), Error> {
    let plan_id = match object.get("planId") {
        None | Some(Value::Null) => None,
        Some(value) => Some(PlanId::parse("\"planId\"", value)?),
    };
    let plan_only = match object.get("planOnly") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(only)) => Some(*only),
        Some(other) => return Err(invalid(format!("\"planOnly\" is {}, but it must be true or false", kind_of(other)))),
    };
    if plan_only == Some(true) {
        if object.get("mode").and_then(Value::as_str) != Some("delete") {
            return Err(invalid(
                "\"planOnly\": true needs \"mode\": \"delete\": a plan lists what a delete-mode run would request".to_owned(),
            ));
        }
        if plan_id.is_none() {
            return Err(invalid("\"planOnly\": true needs \"planId\", the plan its lines go to".to_owned()));
        }
    }
    Ok((plan_id, plan_only))
}

fn parse_plan(value: &Value) -> Result<PlanRequest, Error> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid(format!("\"plan\" is {}, but it must be a JSON object; {SWEEP_SHAPES}", kind_of(value))))?;
    refuse_near_misses("\"plan\"", object, &PLAN_MEMBERS)?;
    if let Some(unknown) = object.keys().find(|k| !PLAN_MEMBERS.contains(&k.as_str())) {
        return Err(invalid(format!("\"plan\" has the member {unknown:?}, which is not accepted; {SWEEP_SHAPES}")));
    }
    let accounts_file = accounts_file_of(object)?;
    if accounts_file.is_some() && object.get("accounts").is_some_and(|accounts| !accounts.is_null()) {
        return Err(invalid("\"plan\" has both \"accounts\" and \"accountsFile\"; name the accounts in one of them".to_owned()));
    }
    Ok(PlanRequest {
        accounts: list_of(object, "accounts", AccountId::parse)?,
        accounts_file,
        regions: list_of(object, "regions", Region::parse)?,
        mode: mode_of(object)?,
        max_deletions: max_deletions_of(object)?,
    })
}

/// A list member of `plan`: absent or `null` is `None`; an empty list is refused, as it would plan
/// a sweep of nothing.
fn list_of<T>(object: &Map<String, Value>, name: &str, parse: fn(&str, &Value) -> Result<T, Error>) -> Result<Option<Vec<T>>, Error> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(invalid(format!("\"{name}\" in \"plan\" is empty; leave it out to take the default")))
        }
        Some(Value::Array(items)) => {
            let mut parsed = Vec::with_capacity(items.len());
            for item in items {
                parsed.push(parse(&format!("an item of \"{name}\" in \"plan\""), item)?);
            }
            Ok(Some(parsed))
        }
        Some(other) => Err(invalid(format!("\"{name}\" in \"plan\" is {}, but it must be a list", kind_of(other)))),
    }
}

/// `accountsFile`: a key of the stack's bucket under `inputs/`, where the operator puts the list.
fn accounts_file_of(object: &Map<String, Value>) -> Result<Option<String>, Error> {
    const ACCEPTED: &str = "a key of the stack's bucket under \"inputs/\", such as \"inputs/accounts.txt\", of 1 to 1024 characters";
    match object.get("accountsFile") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(key)) if key.starts_with("inputs/") && key.len() > "inputs/".len() && key.len() <= 1024 => Ok(Some(key.clone())),
        Some(Value::String(key)) => Err(invalid(format!("\"accountsFile\" is {}, but it must be {ACCEPTED}", quoted(key)))),
        Some(other) => Err(invalid(format!("\"accountsFile\" is {}, but it must be {ACCEPTED}", kind_of(other)))),
    }
}

fn mode_of(object: &Map<String, Value>) -> Result<Option<SweepMode>, Error> {
    match object.get("mode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => SweepMode::parse(text)
            .map(Some)
            .ok_or_else(|| invalid(format!("\"mode\" is {}, but it must be \"report\" or \"delete\"", quoted(text)))),
        Some(other) => Err(invalid(format!("\"mode\" is {}, but it must be \"report\" or \"delete\"", kind_of(other)))),
    }
}

fn max_deletions_of(object: &Map<String, Value>) -> Result<Option<u32>, Error> {
    match object.get("maxDeletions") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Ok(Some(n)),
            None => Err(invalid(format!("\"maxDeletions\" is {n}, but it must be a whole number from 0 to {}", u32::MAX))),
        },
        Some(other) => Err(invalid(format!("\"maxDeletions\" is {}, but it must be a whole number from 0", kind_of(other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(event: Value) -> String {
        match parse_sweep_event(&event) {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput for {event}, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_event_runs_with_the_configured_settings() {
        assert_eq!(parse_sweep_event(&json!({})).unwrap(), SweepEvent::Run(SweepRequest::default()));
        assert_eq!(parse_sweep_event(&Value::Null).unwrap(), SweepEvent::Run(SweepRequest::default()));
    }

    #[test]
    fn a_scheduled_event_runs_with_the_configured_settings() {
        let event = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        assert_eq!(parse_sweep_event(&event).unwrap(), SweepEvent::Run(SweepRequest::default()));
    }

    #[test]
    fn a_direct_invoke_overrides_mode_and_cap() {
        let request = parse_sweep_event(&json!({"mode": "delete", "maxDeletions": 3})).unwrap();
        let expected = SweepRequest { mode: Some(SweepMode::Delete), max_deletions: Some(3), ..Default::default() };
        assert_eq!(request, SweepEvent::Run(expected));
        let request = parse_sweep_event(&json!({"mode": "report", "maxDeletions": 0})).unwrap();
        let expected = SweepRequest { mode: Some(SweepMode::Report), max_deletions: Some(0), ..Default::default() };
        assert_eq!(request, SweepEvent::Run(expected));
    }

    #[test]
    fn a_target_of_a_plan_names_it_and_plans_only_in_delete_mode() {
        let target = json!({"accountId": "111122223333", "region": "eu-west-1", "mode": "delete", "maxDeletions": 1,
                            "planId": "5a0d7c3e-9b1f-4e62-8c4a-7f2e1d9b3c60", "planOnly": true});
        let SweepEvent::Run(request) = parse_sweep_event(&target).unwrap() else { panic!("not a run") };
        assert_eq!((request.plan_id.unwrap().as_str(), request.plan_only), ("5a0d7c3e-9b1f-4e62-8c4a-7f2e1d9b3c60", Some(true)));
        let mut report = target.clone();
        report["mode"] = json!("report");
        assert!(message(report).contains("\"planOnly\": true needs \"mode\": \"delete\""));
        let mut unnamed = target.clone();
        unnamed.as_object_mut().unwrap().remove("planId");
        assert!(message(unnamed).contains("needs \"planId\""));
        let mut not_planning = target.clone();
        not_planning["planOnly"] = json!(false);
        not_planning["mode"] = json!("report");
        let SweepEvent::Run(request) = parse_sweep_event(&not_planning).unwrap() else { panic!("not a run") };
        assert_eq!(request.plan_only, Some(false));
        assert!(message(json!({"planOnly": "yes"})).contains("must be true or false"));
        assert!(message(json!({"planId": "a/b"})).contains("is not a plan id"));
        assert!(message(json!({"plan_only": true})).contains("did you mean planOnly?"));
        assert!(message(json!({"execute": {}, "mode": "delete"})).contains("must be alone"));
    }

    #[test]
    fn a_near_miss_names_the_member_meant() {
        assert!(message(json!({"max_deletions": 3})).contains("did you mean maxDeletions?"));
        assert!(message(json!({"Mode": "delete"})).contains("did you mean mode?"));
    }

    #[test]
    fn any_other_member_is_refused_with_the_accepted_shapes() {
        let text = message(json!({"mode": "delete", "instanceId": "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1"}));
        assert!(text.contains("\"instanceId\"") && text.contains("accepted shapes"), "{text}");
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        assert!(message(json!({"mode": "Delete"})).contains("must be \"report\" or \"delete\""));
        assert!(message(json!({"mode": true})).contains("\"mode\" is a boolean"));
        for bad in [json!(-1), json!(1.5), json!(4_294_967_296u64), json!("3")] {
            assert!(message(json!({"maxDeletions": bad})).contains("whole number from 0"), "{bad}");
        }
        assert!(message(json!([])).contains("must be a JSON object"));
    }

    #[test]
    fn a_direct_invoke_may_name_one_target() {
        let request = parse_sweep_event(&json!({"accountId": "111122223333", "region": "eu-west-1"})).unwrap();
        let SweepEvent::Run(SweepRequest { target: Some(target), .. }) = request else { panic!("{request:?}") };
        assert_eq!(target.account_id.unwrap().as_str(), "111122223333");
        assert_eq!(target.region.unwrap().as_str(), "eu-west-1");
        let request = parse_sweep_event(&json!({"region": "eu-west-1"})).unwrap();
        assert!(matches!(request, SweepEvent::Run(SweepRequest { target: Some(Target { account_id: None, region: Some(_) }), .. })));
        assert!(message(json!({"accountId": "1111"})).contains("12 digits"));
        assert!(message(json!({"AccountId": "111122223333"})).contains("did you mean accountId?"));
    }

    #[test]
    fn a_plan_takes_optional_lists_and_refuses_empty_or_bad_ones() {
        let plan =
            parse_sweep_event(&json!({"plan": {"accounts": ["111122223333"], "regions": ["eu-west-1", "us-east-1"], "maxDeletions": 5}}));
        let SweepEvent::Plan(plan) = plan.unwrap() else { panic!() };
        assert_eq!(plan.accounts.unwrap().len(), 1);
        assert_eq!(plan.regions.unwrap().len(), 2);
        assert_eq!(plan.max_deletions, Some(5));
        assert_eq!(parse_sweep_event(&json!({"plan": {}})).unwrap(), SweepEvent::Plan(PlanRequest::default()));
        assert!(message(json!({"plan": {"accounts": []}})).contains("is empty"));
        assert!(message(json!({"plan": {"regions": ["EU"]}})).contains("not an AWS region name"));
        assert!(message(json!({"plan": {"Accounts": ["111122223333"]}})).contains("did you mean accounts?"));
        assert!(message(json!({"plan": {"account": ["111122223333"]}})).contains("is not accepted"));
        assert!(message(json!({"plan": {}, "mode": "delete"})).contains("must be alone"));
        assert!(message(json!({"plan": []})).contains("must be a JSON object"));
    }

    #[test]
    fn a_plan_takes_a_file_of_accounts_under_inputs_and_never_both_a_file_and_a_list() {
        let plan = |members: Value| parse_sweep_event(&json!({"plan": members}));
        let Ok(SweepEvent::Plan(request)) = plan(json!({"accountsFile": "inputs/accounts.txt"})) else { panic!("not a plan") };
        assert_eq!((request.accounts_file.as_deref(), request.accounts), (Some("inputs/accounts.txt"), None));
        for refused in [json!({"accountsFile": "plans/x/targets.jsonl"}), json!({"accountsFile": "inputs/"}), json!({"accountsFile": 3})] {
            let error = plan(refused.clone()).unwrap_err();
            assert!(error.to_string().contains("under \"inputs/\""), "{refused}: {error}");
        }
        let both = plan(json!({"accountsFile": "inputs/a.txt", "accounts": ["111111111111"]})).unwrap_err();
        assert!(both.to_string().contains("both \"accounts\" and \"accountsFile\""), "{both}");
    }
}
