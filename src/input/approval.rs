//! The input of the organization sweep's steps with approval: `awaitApproval` (the plan goes to a
//! person, with the task token the execution waits on), `approve` (the person's answer, checked),
//! `execute` (one approved line of the plan) and `closePlan` (a plan rejected or expired). Each is
//! read by hand, so that anything else is `InvalidInput` naming what is accepted, before any call.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{invalid, refuse_near_misses};
use crate::contract::{PlanSummary, PlannedInstance};
use crate::error::{kind_of, quoted, Error};
use crate::model::PlanId;

/// The shape of `awaitApproval`, for error messages.
const AWAIT_SHAPE: &str = "{\"awaitApproval\": {\"planId\", \"plan\": {\"file\": {\"Bucket\", \"Key\"}, \"instances\", \"accounts\"}, \
\"taskToken\", \"timeoutSeconds\"}}";

/// The shape of `approve`, for error messages.
const APPROVE_SHAPE: &str = "{\"approve\": {\"planId\", \"plan\": {\"file\": {\"Bucket\", \"Key\"}, \"instances\", \"accounts\"}, \
\"decision\"}}";

/// What an approver's answer may be, for error messages.
pub(crate) const DECISION_SHAPE: &str = "{\"approve\": \"all\"} or {\"approve\": [\"<instance ARN of the plan>\", ...]}, with \
optional \"approvedBy\" (a string of at most 256 characters) and \"note\" (at most 1024)";

/// The shape of `closePlan`, for error messages.
const CLOSE_SHAPE: &str = "{\"closePlan\": {\"planId\", \"outcome\": \"rejected\" | \"expired\", \"error\", \"cause\"}} (error and cause \
optional, or as Step Functions' Catch writes them, \"refusal\": {\"Error\", \"Cause\"})";

/// The longest approval the state machine may wait for: `APPROVAL_TIMEOUT_HOURS` at most, in seconds.
pub(crate) const MAX_TIMEOUT_SECONDS: u64 = 8_760 * 3_600;

/// `awaitApproval`: announce the plan and the commands that answer it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AwaitApproval {
    pub plan_id: PlanId,
    pub plan: PlanSummary,
    /// Step Functions' task token: 1 to 2048 characters, none of them a control character.
    pub task_token: String,
    /// How long the execution waits, from 1 s to [`MAX_TIMEOUT_SECONDS`].
    pub timeout_seconds: u64,
}

/// `approve`: the approver's answer to the plan `plan`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApproveRequest {
    pub plan_id: PlanId,
    pub plan: PlanSummary,
    pub decision: ApprovalDecision,
}

/// An approver's answer, the `--task-output` of `send-task-success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApprovalDecision {
    pub approve: Approval,
    pub approved_by: Option<String>,
    pub note: Option<String>,
}

/// What is approved: the whole plan, or the instances of the plan with these ARNs (at least one, each once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Approval {
    All,
    These(Vec<String>),
}

/// `closePlan`: the plan is rejected or expired, and nothing of it is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClosePlan {
    pub plan_id: PlanId,
    pub outcome: Closing,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    Rejected,
    Expired,
}

/// Reads `awaitApproval`.
pub(crate) fn parse_await_approval(value: &Value) -> Result<AwaitApproval, Error> {
    let object = members("\"awaitApproval\"", value, &["planId", "plan", "taskToken", "timeoutSeconds"], AWAIT_SHAPE)?;
    let plan_id = PlanId::parse("\"planId\" of \"awaitApproval\"", required(object, "planId", AWAIT_SHAPE)?)?;
    let plan = plan_of(&plan_id, required(object, "plan", AWAIT_SHAPE)?, AWAIT_SHAPE)?;
    let task_token = match required(object, "taskToken", AWAIT_SHAPE)? {
        Value::String(token) if (1..=2048).contains(&token.chars().count()) && !token.chars().any(char::is_control) => token.clone(),
        other => {
            return Err(invalid(format!(
                "\"taskToken\" is {}, but it must be Step Functions' task token ($$.Task.Token): 1 to 2048 characters, none a \
                 control character",
                shown(other)
            )))
        }
    };
    let timeout_seconds = match required(object, "timeoutSeconds", AWAIT_SHAPE)?.as_u64() {
        Some(seconds) if (1..=MAX_TIMEOUT_SECONDS).contains(&seconds) => seconds,
        _ => {
            return Err(invalid(format!(
                "\"timeoutSeconds\" is {}, but it must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS} (the plan's \
                 approval.timeoutSeconds)",
                object["timeoutSeconds"]
            )))
        }
    };
    Ok(AwaitApproval { plan_id, plan, task_token, timeout_seconds })
}

/// Reads `approve`; the ARNs it approves are checked against the plan file by the step.
pub(crate) fn parse_approve(value: &Value) -> Result<ApproveRequest, Error> {
    let object = members("\"approve\"", value, &["planId", "plan", "decision"], APPROVE_SHAPE)?;
    let plan_id = PlanId::parse("\"planId\" of \"approve\"", required(object, "planId", APPROVE_SHAPE)?)?;
    let plan = plan_of(&plan_id, required(object, "plan", APPROVE_SHAPE)?, APPROVE_SHAPE)?;
    let decision = parse_decision(required(object, "decision", APPROVE_SHAPE)?)?;
    Ok(ApproveRequest { plan_id, plan, decision })
}

/// Reads an approver's answer ([`DECISION_SHAPE`]).
pub(crate) fn parse_decision(value: &Value) -> Result<ApprovalDecision, Error> {
    let what = "the approval's answer (--task-output)";
    let object = members(what, value, &["approve", "approvedBy", "note"], DECISION_SHAPE)?;
    let approve = match required(object, "approve", DECISION_SHAPE)? {
        Value::String(all) if all == "all" => Approval::All,
        Value::Array(arns) if !arns.is_empty() => {
            let mut approved: Vec<String> = Vec::with_capacity(arns.len());
            let mut seen = std::collections::HashSet::new();
            for arn in arns {
                match arn {
                    Value::String(arn) if (1..=2048).contains(&arn.len()) => {
                        if seen.insert(arn.as_str()) {
                            approved.push(arn.clone())
                        }
                    }
                    other => {
                        return Err(invalid(format!(
                            "{what} approves {}, which is not an instance ARN; accepted: {DECISION_SHAPE}",
                            shown(other)
                        )))
                    }
                }
            }
            Approval::These(approved)
        }
        other => return Err(invalid(format!("{what} has \"approve\" {}; accepted: {DECISION_SHAPE}", shown(other)))),
    };
    Ok(ApprovalDecision { approve, approved_by: words(object, "approvedBy", 256)?, note: words(object, "note", 1_024)? })
}

/// Reads one line of an approved plan, to execute: its `instanceArn` must name its own instance,
/// account and region, so that a line never names one instance and reaches another; the step
/// checks the partition once it knows its own.
pub(crate) fn parse_execute(value: &Value) -> Result<PlannedInstance, Error> {
    let line: PlannedInstance = typed(value).map_err(|error| {
        invalid(format!(
            "\"execute\" is not a line of an approved plan file, {{\"planId\", \"accountId\", \"region\", \"instanceId\", \
             \"instanceArn\", \"instanceName\"?, \"reason\", \"detail\", \"selectedOn\", \"owner\"?, \"scheduledFor\"?}}: {error}"
        ))
    })?;
    let own = format!(":scn:{}:{}:instance/{}", line.region.as_str(), line.account_id.as_str(), line.instance_id.as_str());
    let partition = line.instance_arn.strip_prefix("arn:").and_then(|rest| rest.strip_suffix(own.as_str()));
    if !partition.is_some_and(|partition| !partition.is_empty() && !partition.contains(':')) {
        return Err(invalid(format!(
            "\"instanceArn\" of \"execute\" is {}, but the line's instance is arn:<partition>{own}: a line names one instance, \
             in its own account and region",
            quoted(&line.instance_arn)
        )));
    }
    Ok(line)
}

/// Reads `closePlan`. Its error and cause are taken as given (cut when announced): a plan must
/// always be closable.
pub(crate) fn parse_close_plan(value: &Value) -> Result<ClosePlan, Error> {
    let object = members("\"closePlan\"", value, &["planId", "outcome", "error", "cause", "refusal"], CLOSE_SHAPE)?;
    let plan_id = PlanId::parse("\"planId\" of \"closePlan\"", required(object, "planId", CLOSE_SHAPE)?)?;
    let outcome = match required(object, "outcome", CLOSE_SHAPE)? {
        Value::String(outcome) if outcome == "rejected" => Closing::Rejected,
        Value::String(outcome) if outcome == "expired" => Closing::Expired,
        other => return Err(invalid(format!("\"outcome\" of \"closePlan\" is {}; accepted: {CLOSE_SHAPE}", shown(other)))),
    };
    let refusal = match object.get("refusal") {
        None | Some(Value::Null) => &Map::new(),
        Some(Value::Object(refusal)) => refusal,
        Some(other) => return Err(invalid(format!("\"refusal\" of \"closePlan\" is {}; accepted: {CLOSE_SHAPE}", kind_of(other)))),
    };
    let text = |member: &str, caught: &str| {
        object.get(member).or_else(|| refusal.get(caught)).and_then(Value::as_str).map(str::to_owned).filter(|text| !text.is_empty())
    };
    Ok(ClosePlan { plan_id, outcome, error: text("error", "Error"), cause: text("cause", "Cause") })
}

/// The plan the step names: its summary, whose file must be the plan's own, `plans/<planId>/plan.jsonl`.
fn plan_of(plan_id: &PlanId, value: &Value, shape: &str) -> Result<PlanSummary, Error> {
    let plan: PlanSummary = typed(value).map_err(|error| {
        invalid(format!(
            "\"plan\" is not the plan phase's {{\"file\": {{\"Bucket\", \"Key\"}}, \"instances\", \"accounts\"}}: {error}; {shape}"
        ))
    })?;
    let own = format!("{}plan.jsonl", plan_id.plans_prefix());
    if plan.file.key != own {
        return Err(invalid(format!(
            "\"plan\" names the file {}, but the plan {plan_id}'s file is {own:?}: a step reads only its own plan's files",
            quoted(&plan.file.key)
        )));
    }
    Ok(plan)
}

/// `value` as an object with only the `known` members (a near miss named), or `InvalidInput`.
fn members<'v>(what: &str, value: &'v Value, known: &[&str], shape: &str) -> Result<&'v Map<String, Value>, Error> {
    let object =
        value.as_object().ok_or_else(|| invalid(format!("{what} is {}, but it must be a JSON object; {shape}", kind_of(value))))?;
    refuse_near_misses(what, object, known)?;
    if let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(format!("{what} has the member {}, which is not accepted; {shape}", quoted(unknown))));
    }
    Ok(object)
}

fn required<'v>(object: &'v Map<String, Value>, member: &str, shape: &str) -> Result<&'v Value, Error> {
    object.get(member).filter(|value| !value.is_null()).ok_or_else(|| invalid(format!("\"{member}\" is missing; {shape}")))
}

/// An optional member of words: a string of at most `max` characters.
fn words(object: &Map<String, Value>, member: &str, max: usize) -> Result<Option<String>, Error> {
    match object.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= max => Ok(Some(text.clone())),
        Some(other) => Err(invalid(format!("\"{member}\" is {}, but it must be a string of at most {max} characters", shown(other)))),
    }
}

fn typed<T: DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(value.clone())
}

/// A value in a message: a string quoted and cut short, else its kind.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        other => kind_of(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLAN: &str = "5a0d7c3e-9b1f-4e62-8c4a-7f2e1d9b3c60";

    fn plan() -> Value {
        json!({"file": {"Bucket": "plans", "Key": format!("plans/{PLAN}/plan.jsonl")}, "instances": 2, "accounts": {"111111111111": 2}})
    }

    fn message(result: Result<impl std::fmt::Debug, Error>) -> String {
        match result {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn an_answer_approves_all_or_a_list_of_arns_each_once() {
        let all = parse_decision(&json!({"approve": "all", "approvedBy": "ana@example.com", "note": "as discussed"})).unwrap();
        assert_eq!(all.approve, Approval::All);
        assert_eq!((all.approved_by.as_deref(), all.note.as_deref()), (Some("ana@example.com"), Some("as discussed")));
        let some = parse_decision(&json!({"approve": ["arn:a", "arn:b", "arn:a"]})).unwrap();
        assert_eq!(some.approve, Approval::These(vec!["arn:a".into(), "arn:b".into()]));
    }

    #[test]
    fn a_malformed_answer_is_refused_naming_what_is_accepted() {
        for bad in [
            json!("all"),
            json!({}),
            json!({"approve": "everything"}),
            json!({"approve": []}),
            json!({"approve": [3]}),
            json!({"approve": "all", "approvedBy": "x".repeat(257)}),
            json!({"approve": "all", "note": 5}),
            json!({"approve": "all", "reason": "ok"}),
        ] {
            let text = message(parse_decision(&bad));
            assert!(text.contains("\"approve\": \"all\"") || text.contains("at most"), "{bad}: {text}");
        }
        assert!(message(parse_decision(&json!({"Approve": "all"}))).contains("did you mean approve?"));
    }

    #[test]
    fn a_step_reads_only_its_own_plan_s_file() {
        let request = json!({"planId": PLAN, "plan": plan(), "taskToken": "AAAA+token/==", "timeoutSeconds": 3600});
        let parsed = parse_await_approval(&request).unwrap();
        assert_eq!((parsed.plan.instances, parsed.timeout_seconds), (2, 3_600));
        let mut other = plan();
        other["file"]["Key"] = json!("plans/another-plan/plan.jsonl");
        let text = message(parse_approve(&json!({"planId": PLAN, "plan": other, "decision": {"approve": "all"}})));
        assert!(text.contains("a step reads only its own plan's files"), "{text}");
        let text = message(parse_approve(&json!({"planId": "../x", "plan": plan(), "decision": {"approve": "all"}})));
        assert!(text.contains("is not a plan id"), "{text}");
    }

    #[test]
    fn waiting_needs_a_task_token_and_a_timeout_within_a_year() {
        let with = |token: Value, seconds: Value| {
            parse_await_approval(&json!({"planId": PLAN, "plan": plan(), "taskToken": token, "timeoutSeconds": seconds}))
        };
        assert!(message(with(json!(""), json!(60))).contains("task token"));
        assert!(message(with(json!("a\nb"), json!(60))).contains("task token"));
        for seconds in [json!(0), json!(MAX_TIMEOUT_SECONDS + 1), json!("60")] {
            assert!(message(with(json!("t"), seconds.clone())).contains("from 1 to"), "{seconds}");
        }
    }

    #[test]
    fn a_plan_is_closed_with_the_error_and_cause_given_or_caught() {
        let given =
            parse_close_plan(&json!({"planId": PLAN, "outcome": "rejected", "error": "PlanRejected", "cause": "not this week"})).unwrap();
        assert_eq!(
            (given.outcome, given.error.as_deref(), given.cause.as_deref()),
            (Closing::Rejected, Some("PlanRejected"), Some("not this week"))
        );
        let caught = json!({"planId": PLAN, "outcome": "expired", "refusal": {"Error": "States.Timeout", "Cause": ""}});
        let caught = parse_close_plan(&caught).unwrap();
        assert_eq!((caught.outcome, caught.error.as_deref(), caught.cause), (Closing::Expired, Some("States.Timeout"), None));
        assert!(message(parse_close_plan(&json!({"planId": PLAN, "outcome": "approved"}))).contains("\"rejected\" | \"expired\""));
    }

    #[test]
    fn an_execute_line_is_a_plan_line_and_nothing_more() {
        let line = json!({"planId": PLAN, "accountId": "111111111111", "region": "eu-west-1",
            "instanceId": "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1", "instanceArn": "arn:aws:scn:eu-west-1:111111111111:instance/1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1",
            "reason": "ExpiryTagPassed", "detail": "tag ExpiresAt=\"2026-11-01\" has passed", "selectedOn": "ExpiryTagPassed tag \"ExpiresAt\"=\"2026-11-01\""});
        assert_eq!(serde_json::to_value(parse_execute(&line).unwrap()).unwrap(), line);
        let mut extra = line.clone();
        extra["instanceIds"] = json!([]);
        assert!(message(parse_execute(&extra)).contains("not a line of an approved plan file"));
    }

    #[test]
    fn an_execute_line_whose_arn_names_another_instance_account_or_region_is_refused_before_any_call() {
        let id = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";
        let line = |arn: &str| {
            json!({"planId": PLAN, "accountId": "111111111111", "region": "eu-west-1", "instanceId": id, "instanceArn": arn,
                   "reason": "ExpiryTagPassed", "detail": "d", "selectedOn": "s"})
        };
        assert!(parse_execute(&line(&format!("arn:aws-cn:scn:eu-west-1:111111111111:instance/{id}"))).is_ok());
        for arn in [
            format!("arn:aws:scn:eu-west-1:111111111111:instance/{}", id.to_uppercase()),
            "arn:aws:scn:eu-west-1:111111111111:instance/00000000-0000-4000-8000-000000000000".to_owned(),
            format!("arn:aws:scn:eu-west-1:222222222222:instance/{id}"),
            format!("arn:aws:scn:us-east-1:111111111111:instance/{id}"),
            format!("arn::scn:eu-west-1:111111111111:instance/{id}"),
            format!("arn:aws:x:scn:eu-west-1:111111111111:instance/{id}"),
            format!("ARN:aws:scn:eu-west-1:111111111111:instance/{id}"),
            format!("arn:aws:scn:eu-west-1:111111111111:instance/{id}/x"),
        ] {
            assert!(message(parse_execute(&line(&arn))).contains("a line names one instance"), "{arn}");
        }
    }
}
