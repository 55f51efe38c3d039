//! Least privilege: no wildcard action, every wildcard resource explained, each role exactly its calls.

use super::*;

/// Every wildcard resource the template writes, each explained by a "# Wildcard:" comment.
const EXPLAINED_WILDCARDS: [&str; 13] = [
    "*",
    "${CheckInstanceStatusFunction.Arn}:*",
    "${PlanBucket.Arn}/inputs/*",
    "${PlanBucket.Arn}/plans/*",
    "${PlanBucket.Arn}/results/*",
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${Bus}/*",
    "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}",
    "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}-Checker",
    "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}-Sweep",
    "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/*",
    "arn:${AWS::Partition}:scn:${AWS::Region}:${AWS::AccountId}:instance/*",
    "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*",
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OrganizationSweep.Name}/*",
];

#[test]
fn no_statement_allows_a_wildcard_action_or_an_unexplained_wildcard_resource() {
    let source = tools::read(&tools::repo_path("template.yaml"));
    let lines: Vec<&str> = source.lines().collect();
    let mut explained = BTreeSet::new();
    for (place, statement) in statements() {
        if statement.get("Principal").is_some() && place.ends_with("trust policy") {
            continue;
        }
        for action in strings(statement.get("Action").unwrap_or_else(|| panic!("{place}: a statement without Action"))) {
            assert!(!action.contains('*'), "{place}: the action {action} is a wildcard");
        }
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none(), "{place}: {statement}");
        let mut texts = resource_texts(&statement["Resource"]);
        if let Some(condition) = statement.get("Condition") {
            for operator in condition.as_object().unwrap().values() {
                for value in operator.as_object().unwrap().values() {
                    texts.extend(resource_texts(value));
                }
            }
        }
        for text in texts.into_iter().filter(|t| t.contains('*')) {
            if text == "*" {
                // Only for actions that take no resource ARN, so "*" is the only resource they accept.
                let actions = strings(&statement["Action"]);
                assert!(actions.iter().all(|a| RESOURCELESS_ACTIONS.contains(&a.as_str())), "{place}: the resource of {actions:?} is *");
            }
            // Every line that writes this resource (comments aside), and the comment block right above it.
            let written: Vec<usize> = (0..lines.len())
                .filter(|&at| !lines[at].trim_start().starts_with('#') && lines[at].contains(&format!("\"{text}\"")))
                .collect();
            assert!(!written.is_empty(), "{place}: {text} is not written as is in template.yaml");
            for at in written {
                let comment_above = lines[..at]
                    .iter()
                    .rev()
                    .take_while(|line| line.trim_start().starts_with('#') || line.trim_start().starts_with("- !Sub"))
                    .any(|line| line.contains("# Wildcard:"));
                assert!(comment_above, "{place}: {text} on line {} has no \"# Wildcard:\" comment right above it", at + 1);
            }
            explained.insert(text);
        }
    }
    assert_eq!(explained, EXPLAINED_WILDCARDS.iter().map(|w| w.to_string()).collect::<BTreeSet<String>>());
}

/// The calls the delete function makes.
const DELETE_ACTIONS: [&str; 16] = [
    "scn:DeleteInstance",
    "scn:GetInstance",
    "scn:ListTagsForResource",
    "sts:AssumeRole",
    "events:PutEvents",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "kms:RetireGrant",
    "kms:DescribeKey",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

/// The calls the status checker makes.
const CHECK_ACTIONS: [&str; 11] = [
    "scn:GetInstance",
    "sts:AssumeRole",
    "events:PutEvents",
    "scheduler:CreateSchedule",
    "scheduler:GetSchedule",
    "iam:PassRole",
    "sqs:SendMessage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

/// The calls the sweep makes.
const SWEEP_ACTIONS: [&str; 14] = [
    "scn:ListInstances",
    "scn:ListTagsForResource",
    // The schedule mark, and only it (tests/it/support/policies.rs holds the condition).
    "scn:TagResource",
    "scn:UntagResource",
    // Other accounts, with the member role.
    "sts:AssumeRole",
    "organizations:ListAccounts",
    // The organization sweep's plan file and the Map's results (template::plan_bucket holds where).
    "s3:PutObject",
    "s3:GetObject",
    "events:PutEvents",
    "sqs:SendMessage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

fn set_of(actions: &[&str]) -> BTreeSet<String> {
    actions.iter().map(|a| a.to_string()).collect()
}

/// The calls the state machine makes: the functions, and the resourceless calls of Step Functions.
fn workflow_actions() -> BTreeSet<String> {
    ["lambda:InvokeFunction"]
        .into_iter()
        .chain(RESOURCELESS_ACTIONS.into_iter().filter(|a| !["scn:", "organizations:", "states:"].iter().any(|s| a.starts_with(s))))
        .map(String::from)
        .collect()
}

/// The KMS statement exists only when keys are given, for exactly those keys, through Supply Chain.
fn assert_key_grants_are_retired_only_for_the_given_keys_through_supply_chain() {
    let kms = statement("RetireInstanceKeyGrants");
    assert_eq!(kms["Resource"], json!({ "Ref": "InstanceKmsKeyArns" }));
    assert_eq!(kms["Condition"]["StringEquals"]["kms:ViaService"], json!({ "Fn::Sub": "scn.${AWS::Region}.amazonaws.com" }));
}

/// Announcements only on the stack's bus, only as this project's source.
fn assert_announcements_go_only_to_the_stack_s_bus_as_the_project_s_sources() {
    for sid in ["AnnounceDeletions", "AnnounceOutcomes"] {
        let put = statement(sid);
        assert_eq!(put["Condition"]["StringEquals"]["events:source"], "supplychain-delete-instance", "{sid}");
        assert_eq!(put["Resource"]["Fn::If"][1], json!({ "Fn::GetAtt": ["EventBus", "Arn"] }), "{sid}");
    }
    let sweeps = statement("AnnounceSweeps");
    assert_eq!(sweeps["Condition"]["StringEquals"]["events:source"], "supplychain-instance-sweep");
    assert_eq!(sweeps["Resource"]["Fn::If"][1], json!({ "Fn::GetAtt": ["EventBus", "Arn"] }));
}

/// Other accounts only through the function's own member role, by its name.
fn assert_other_accounts_are_reached_only_through_each_function_s_member_role() {
    for (sid, suffix) in [("AssumeMemberRole", ""), ("AssumeMemberRoleToCheck", "-Checker"), ("AssumeMemberRoleToSweep", "-Sweep")] {
        let role = format!("arn:${{AWS::Partition}}:iam::*:role/${{MemberRoleName}}{suffix}");
        assert_eq!(statement(sid)["Resource"], json!({ "Fn::Sub": role }), "{sid}");
    }
}

fn assert_the_scheduler_role_is_passed_only_to_scheduler_and_invokes_only_the_checker() {
    // The checker passes the scheduler role and no other, to Scheduler only.
    let pass = statement("PassSchedulerRole");
    assert_eq!(pass["Resource"], json!({ "Fn::GetAtt": ["SchedulerRole", "Arn"] }));
    assert_eq!(pass["Condition"]["StringEquals"]["iam:PassedToService"], "scheduler.amazonaws.com");

    // The scheduler role may invoke the checker (and its versions) and nothing else.
    let invoke = statement("InvokeChecker");
    assert_eq!(
        invoke["Resource"],
        json!([{ "Fn::GetAtt": ["CheckInstanceStatusFunction", "Arn"] }, { "Fn::Sub": "${CheckInstanceStatusFunction.Arn}:*" }])
    );
}

/// The statements that allow sending to `queue`, as "place sid".
fn queue_senders(queue: &str) -> Vec<String> {
    statements()
        .into_iter()
        .filter(|(_, s)| strings(&s["Action"]).contains(&"sqs:SendMessage".to_owned()))
        .filter(|(_, s)| s["Resource"] == json!({ "Fn::GetAtt": [queue, "Arn"] }))
        .map(|(place, s)| format!("{place} {}", s["Sid"].as_str().unwrap_or("")))
        .collect()
}

/// Each queue is sent to by the one role that must: the scheduler role (for the schedules it runs)
/// to the status checks' dead-letter queue, the delete function to the requests' one.
fn assert_each_dead_letter_queue_has_its_one_sender() {
    assert_eq!(queue_senders("ScheduleDeadLetterQueue"), ["SchedulerRolePolicy KeepUndeliveredChecks"]);
    assert_eq!(queue_senders("RequestDeadLetterQueue"), ["DeleteInstanceRole \"delete-instance\" MovePermanentFailures"]);
    let trust = &properties("SchedulerRole")["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"], json!({ "Service": "scheduler.amazonaws.com" }));
    assert_eq!(trust["Condition"]["ArnEquals"]["aws:SourceArn"], json!({ "Fn::GetAtt": ["ScheduleGroup", "Arn"] }));
}

#[test]
fn each_role_allows_exactly_the_calls_its_function_makes() {
    assert_eq!(actions_of("DeleteInstanceRole"), set_of(&DELETE_ACTIONS));
    assert_eq!(actions_of("CheckInstanceStatusRole"), set_of(&CHECK_ACTIONS));
    assert_eq!(actions_of("SweepInstancesRole"), set_of(&SWEEP_ACTIONS), "the sweep reads, marks and announces, and never deletes");
    assert_eq!(actions_of("SchedulerRolePolicy"), BTreeSet::from(["lambda:InvokeFunction".to_owned(), "sqs:SendMessage".to_owned()]));
    assert_eq!(actions_of("DeletionWorkflowRole"), workflow_actions());

    assert_key_grants_are_retired_only_for_the_given_keys_through_supply_chain();
    assert_announcements_go_only_to_the_stack_s_bus_as_the_project_s_sources();
    assert_other_accounts_are_reached_only_through_each_function_s_member_role();
    assert_the_scheduler_role_is_passed_only_to_scheduler_and_invokes_only_the_checker();
    assert_each_dead_letter_queue_has_its_one_sender();

    // The state machine invokes the two functions and nothing else.
    assert_eq!(
        statement("InvokeFunctions")["Resource"],
        json!([{ "Fn::GetAtt": ["DeleteInstanceFunction", "Arn"] }, { "Fn::GetAtt": ["CheckInstanceStatusFunction", "Arn"] }])
    );
}
