//! template.yaml, checked offline: cfn-lint reports nothing, aws-sam-translator turns it into a
//! CloudFormation template, and that template wires, grants and alarms what the stack needs (and
//! grants nothing more). The fixtures of `events/` are matched against the deployed rule patterns
//! with moto's EventBridge pattern matcher. The AWS Serverless Application Repository metadata is
//! held to Cargo.toml and published offline with AWS SAM CLI's own packaging and publishing code.

use crate::support::policies;

use crate::support::tools;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{json, Map, Value};

fn resources() -> &'static Map<String, Value> {
    tools::transformed_template()["Resources"].as_object().unwrap()
}

fn resource(logical_id: &str) -> &'static Value {
    resources().get(logical_id).unwrap_or_else(|| panic!("no resource {logical_id} in the transformed template"))
}

fn properties(logical_id: &str) -> &'static Value {
    &resource(logical_id)["Properties"]
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&tools::read(&tools::repo_path("events").join(name))).unwrap()
}

/// A JSON value that is a string or a list of strings, as a list.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

/// Every statement of every IAM policy (identity and resource policies), with where it is.
fn statements() -> Vec<(String, Value)> {
    let mut found = Vec::new();
    let mut add = |place: String, document: &Value| {
        for statement in document["Statement"].as_array().unwrap_or_else(|| panic!("{place}: no Statement list")) {
            // A statement behind a condition: both branches count.
            if let Some(branches) = statement.get("Fn::If") {
                for branch in branches.as_array().unwrap()[1..].iter().filter(|b| b.get("Ref") != Some(&json!("AWS::NoValue"))) {
                    found.push((place.clone(), branch.clone()));
                }
            } else {
                found.push((place.clone(), statement.clone()));
            }
        }
    };
    for (id, resource) in resources() {
        let properties = &resource["Properties"];
        match resource["Type"].as_str().unwrap() {
            "AWS::IAM::Role" => {
                add(format!("{id} trust policy"), &properties["AssumeRolePolicyDocument"]);
                for policy in properties["Policies"].as_array().into_iter().flatten() {
                    add(format!("{id} {}", policy["PolicyName"]), &policies::document(&policy["PolicyDocument"]));
                }
                // The stack's own managed policies only (their statements are counted where they are
                // defined), never an AWS managed one.
                for attached in managed_policies_of(id) {
                    assert_eq!(resource_type(&attached), "AWS::IAM::ManagedPolicy", "{id} attaches {attached}, not a policy of the stack");
                }
            }
            "AWS::IAM::RolePolicy" | "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::SQS::QueuePolicy" => {
                add(id.clone(), &policies::document(&properties["PolicyDocument"]));
            }
            _ => {}
        }
    }
    found
}

fn resource_type(logical_id: &str) -> &'static str {
    resource(logical_id)["Type"].as_str().unwrap()
}

/// The logical ids of the managed policies `role` attaches, under any condition: each must be a
/// `Ref` to a resource of the stack.
fn managed_policies_of(role: &str) -> Vec<String> {
    managed_policy_refs(&properties(role)["ManagedPolicyArns"])
}

/// The `Ref`s of a role's `ManagedPolicyArns`, through both branches of each `Fn::If`.
fn managed_policy_refs(arns: &Value) -> Vec<String> {
    match arns {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().flat_map(managed_policy_refs).collect(),
        Value::Object(object) if object.contains_key("Fn::If") => {
            object["Fn::If"].as_array().unwrap()[1..].iter().flat_map(managed_policy_refs).collect()
        }
        _ if policies::is_no_value(arns) => Vec::new(),
        _ => vec![arns["Ref"].as_str().unwrap_or_else(|| panic!("a managed policy that is not the stack's own: {arns}")).to_owned()],
    }
}

/// The texts of a `Resource` (or a condition value): plain strings and the templates of `Fn::Sub`;
/// `Ref` and `Fn::GetAtt` name single resources and yield nothing; `Fn::If` yields both branches.
fn resource_texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(resource_texts).collect(),
        Value::Object(object) => {
            if let Some(sub) = object.get("Fn::Sub") {
                match sub {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(parts) => vec![parts[0].as_str().unwrap().to_owned()],
                    other => panic!("unexpected Fn::Sub {other}"),
                }
            } else if let Some(branches) = object.get("Fn::If") {
                branches.as_array().unwrap()[1..].iter().flat_map(resource_texts).collect()
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// The actions each identity policy of `role` allows.
fn actions_of(role: &str) -> BTreeSet<String> {
    statements()
        .into_iter()
        .filter(|(place, _)| place.starts_with(role) && !place.ends_with("trust policy"))
        .flat_map(|(_, statement)| strings(&statement["Action"]))
        .collect()
}

fn statement(sid: &str) -> Value {
    let matching: Vec<Value> = statements().into_iter().map(|(_, s)| s).filter(|s| s["Sid"] == sid).collect();
    assert_eq!(matching.len(), 1, "statements with Sid {sid}: {matching:?}");
    matching.into_iter().next().unwrap()
}

#[test]
fn cfn_lint_reports_nothing_on_the_template() {
    let output = tools::run(Command::new(tools::venv_bin("cfn-lint")).arg(tools::repo_path("template.yaml")), "");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && printed.trim().is_empty(), "cfn-lint:\n{printed}");
}

#[test]
fn the_sam_translator_makes_a_cloudformation_template_that_cfn_lint_also_accepts() {
    let template = tools::transformed_template();
    assert_eq!(template.get("Transform"), None);
    for (id, kind) in [
        ("DeleteInstanceFunction", "AWS::Lambda::Function"),
        ("CheckInstanceStatusFunction", "AWS::Lambda::Function"),
        ("DeletionWorkflow", "AWS::StepFunctions::StateMachine"),
        ("OrganizationSweep", "AWS::StepFunctions::StateMachine"),
        ("EventBus", "AWS::Events::EventBus"),
        ("ScheduleGroup", "AWS::Scheduler::ScheduleGroup"),
        ("DeleteInstanceFunctionRequestQueue", "AWS::Lambda::EventSourceMapping"),
    ] {
        assert_eq!(resource(id)["Type"], kind, "{id}");
    }
    let path = std::env::temp_dir().join(format!("transformed-template-{}.json", std::process::id()));
    std::fs::write(&path, template.to_string()).unwrap();
    let output = tools::run(Command::new(tools::venv_bin("cfn-lint")).arg(&path), "");
    let _ = std::fs::remove_file(&path);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && printed.trim().is_empty(), "cfn-lint on the transformed template:\n{printed}");
}

#[test]
fn the_three_functions_are_arm64_rust_binaries_with_json_logs_kept_for_the_retention_parameter() {
    let template: Value = serde_json::from_str(&{
        // The build metadata is read by `sam build`, so it is checked on the source template.
        let output = tools::run(
            Command::new(tools::venv_bin("python"))
                .arg("-c")
                .arg("import json,sys; from cfnlint.decode import decode; t,_=decode(sys.argv[1]); print(json.dumps(t))")
                .arg(tools::repo_path("template.yaml")),
            "",
        );
        String::from_utf8(output.stdout).unwrap()
    })
    .unwrap();
    for (id, binary, log_group) in [
        ("DeleteInstanceFunction", "delete-instance", "DeleteInstanceLogGroup"),
        ("CheckInstanceStatusFunction", "check-instance-status", "CheckInstanceStatusLogGroup"),
        ("SweepInstancesFunction", "sweep-instances", "SweepInstancesLogGroup"),
    ] {
        let source = &template["Resources"][id];
        assert_eq!(source["Metadata"], json!({ "BuildMethod": "rust-cargolambda", "BuildProperties": { "Binary": binary } }), "{id}");
        let function = properties(id);
        assert_eq!(function["Runtime"], "provided.al2023", "{id}");
        assert_eq!(function["Architectures"], json!(["arm64"]), "{id}");
        assert_eq!(function["Handler"], "bootstrap", "{id}");
        assert!(function["MemorySize"].as_u64().is_some() && function["Timeout"].as_u64().is_some(), "{id}");
        assert_eq!(function["LoggingConfig"]["LogFormat"], "JSON", "{id}");
        assert_eq!(function["LoggingConfig"]["LogGroup"], json!({ "Ref": log_group }), "{id}");
        assert_eq!(properties(log_group)["RetentionInDays"], json!({ "Ref": "LogRetentionInDays" }), "{log_group}");
    }
    assert_eq!(template["Globals"]["Function"]["CodeUri"], ".", "the code is built from the workspace root");
}

#[test]
fn the_environment_sets_what_each_function_reads_from_the_parameters() {
    let delete = &properties("DeleteInstanceFunction")["Environment"]["Variables"];
    let check = &properties("CheckInstanceStatusFunction")["Environment"]["Variables"];
    let bus = json!({ "Fn::If": ["CreateEventBus", { "Ref": "EventBus" }, { "Ref": "EventBusName" }] });
    assert_eq!(delete["EVENT_BUS_NAME"], bus);
    assert_eq!(check["EVENT_BUS_NAME"], bus);
    for variables in [delete, check] {
        // The built-in roots: a bundle named here would be read and parsed on every cold start.
        assert!(variables.get("SSL_CERT_FILE").is_none() && variables.get("SSL_CERT_DIR").is_none());
    }
    assert_eq!(delete["DELETION_PROTECTION_TAG"], json!({ "Ref": "DeletionProtectionTag" }));
    assert_eq!(check["SCHEDULE_GROUP"], json!({ "Ref": "ScheduleGroup" }));
    assert_eq!(check["SCHEDULER_ROLE_ARN"], json!({ "Fn::GetAtt": ["SchedulerRole", "Arn"] }));
    assert_eq!(check["SCHEDULE_DEAD_LETTER_ARN"], json!({ "Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"] }));
    assert_eq!(delete["DEAD_LETTER_QUEUE_URL"], json!({ "Ref": "RequestDeadLetterQueue" }));
    assert_eq!(check["POLL_INTERVAL_SECONDS"], json!({ "Ref": "PollIntervalSeconds" }));
    assert_eq!(check["MAX_POLL_INTERVAL_SECONDS"], json!({ "Ref": "MaxPollIntervalSeconds" }));
    assert_eq!(check["MAX_WAIT_SECONDS"], json!({ "Ref": "MaxWaitSeconds" }));
    // Both act in other accounts and regions, within the same reach, each with its own member role.
    for variables in [delete, check] {
        assert_eq!(variables["ALLOWED_ACCOUNT_IDS"], json!({ "Ref": "AllowedAccountIds" }));
        assert_eq!(variables["ALLOWED_REGIONS"], json!({ "Ref": "AllowedRegions" }));
    }
    assert_eq!(delete["MEMBER_ROLE_NAME"], json!({ "Ref": "MemberRoleName" }));
    assert_eq!(check["MEMBER_ROLE_NAME"], json!({ "Fn::Sub": "${MemberRoleName}-Checker" }));
    let sweep = &properties("SweepInstancesFunction")["Environment"]["Variables"];
    assert_eq!(sweep["EVENT_BUS_NAME"], bus);
    assert!(sweep.get("SSL_CERT_FILE").is_none() && sweep.get("SSL_CERT_DIR").is_none());
    for (variable, parameter) in [
        ("SWEEP_MODE", "SweepMode"),
        ("MAX_DELETIONS_PER_SWEEP", "MaxDeletionsPerSweep"),
        ("EXPIRY_TAG", "ExpiryTag"),
        ("MAX_AGE_DAYS", "MaxAgeDays"),
        ("NAME_PREFIX", "NamePrefix"),
        ("DELETION_PROTECTION_TAG", "DeletionProtectionTag"),
    ] {
        assert_eq!(sweep[variable], json!({ "Ref": parameter }), "{variable}");
    }
    let parameters = tools::transformed_template()["Parameters"].as_object().unwrap();
    assert_eq!(parameters["SweepMode"]["Default"], "report", "the sweep only reports until told otherwise");
    assert_eq!(parameters["SweepMode"]["AllowedValues"], json!(["report", "delete"]));
    assert_eq!(parameters["SweepSchedule"]["Default"], "rate(1 day)");
    for name in [
        "EventBusName",
        "DeletionProtectionTag",
        "PollIntervalSeconds",
        "MaxWaitSeconds",
        "LogRetentionInDays",
        "SweepSchedule",
        "SweepMode",
        "MaxDeletionsPerSweep",
        "ExpiryTag",
        "MaxAgeDays",
        "NamePrefix",
    ] {
        assert!(parameters[name]["Description"].is_string(), "parameter {name} is described");
    }
}

/// Actions that take no resource ARN: the sweep's listing of instances and of the organization's
/// accounts, the CloudWatch Logs delivery actions Step Functions logging needs, and X-Ray's trace
/// writing.
const RESOURCELESS_ACTIONS: [&str; 14] = [
    // A list action of a service's top-level collection names no resource.
    "scn:ListInstances",
    // The Service Authorization Reference gives ListAccounts no resource type.
    "organizations:ListAccounts",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
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
    assert_eq!(
        explained,
        BTreeSet::from([
            "*".to_owned(),
            "${CheckInstanceStatusFunction.Arn}:*".to_owned(),
            "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${Bus}/*".to_owned(),
            "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}".to_owned(),
            "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}-Checker".to_owned(),
            "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}-Sweep".to_owned(),
            "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/*".to_owned(),
            "arn:${AWS::Partition}:scn:${AWS::Region}:${AWS::AccountId}:instance/*".to_owned(),
            "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*".to_owned(),
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OrganizationSweep.Name}/*".to_owned(),
        ])
    );
}

#[test]
fn each_role_allows_exactly_the_calls_its_function_makes() {
    let delete: BTreeSet<String> = [
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
    ]
    .map(String::from)
    .into();
    assert_eq!(actions_of("DeleteInstanceRole"), delete);
    let check: BTreeSet<String> = [
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
    ]
    .map(String::from)
    .into();
    assert_eq!(actions_of("CheckInstanceStatusRole"), check);
    let sweep: BTreeSet<String> = [
        "scn:ListInstances",
        "scn:ListTagsForResource",
        // The schedule mark, and only it (tests/it/support/policies.rs holds the condition).
        "scn:TagResource",
        "scn:UntagResource",
        // Other accounts, with the member role.
        "sts:AssumeRole",
        "organizations:ListAccounts",
        "events:PutEvents",
        "sqs:SendMessage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    ]
    .map(String::from)
    .into();
    assert_eq!(actions_of("SweepInstancesRole"), sweep, "the sweep reads, marks and announces, and never deletes");
    assert_eq!(actions_of("SchedulerRolePolicy"), BTreeSet::from(["lambda:InvokeFunction".to_owned(), "sqs:SendMessage".to_owned()]));
    let workflow: BTreeSet<String> = ["lambda:InvokeFunction"]
        .into_iter()
        .chain(RESOURCELESS_ACTIONS.into_iter().filter(|a| !a.starts_with("scn:") && !a.starts_with("organizations:")))
        .map(String::from)
        .collect();
    assert_eq!(actions_of("DeletionWorkflowRole"), workflow);

    // The KMS statement exists only when keys are given, for exactly those keys, through Supply Chain.
    let kms = statement("RetireInstanceKeyGrants");
    assert_eq!(kms["Resource"], json!({ "Ref": "InstanceKmsKeyArns" }));
    assert_eq!(kms["Condition"]["StringEquals"]["kms:ViaService"], json!({ "Fn::Sub": "scn.${AWS::Region}.amazonaws.com" }));

    // Announcements only on the stack's bus, only as this project's source.
    for sid in ["AnnounceDeletions", "AnnounceOutcomes"] {
        let put = statement(sid);
        assert_eq!(put["Condition"]["StringEquals"]["events:source"], "supplychain-delete-instance", "{sid}");
        assert_eq!(put["Resource"]["Fn::If"][1], json!({ "Fn::GetAtt": ["EventBus", "Arn"] }), "{sid}");
    }
    let sweeps = statement("AnnounceSweeps");
    assert_eq!(sweeps["Condition"]["StringEquals"]["events:source"], "supplychain-instance-sweep");
    assert_eq!(sweeps["Resource"]["Fn::If"][1], json!({ "Fn::GetAtt": ["EventBus", "Arn"] }));

    // Other accounts only through the function's own member role, by its name.
    for (sid, suffix) in [("AssumeMemberRole", ""), ("AssumeMemberRoleToCheck", "-Checker"), ("AssumeMemberRoleToSweep", "-Sweep")] {
        let role = format!("arn:${{AWS::Partition}}:iam::*:role/${{MemberRoleName}}{suffix}");
        assert_eq!(statement(sid)["Resource"], json!({ "Fn::Sub": role }), "{sid}");
    }

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
    // Each queue is sent to by the one role that must: the scheduler role (for the schedules it runs)
    // to the status checks' dead-letter queue, the delete function to the requests' one.
    let queue_senders = |queue: &str| -> Vec<String> {
        statements()
            .into_iter()
            .filter(|(_, s)| strings(&s["Action"]).contains(&"sqs:SendMessage".to_owned()))
            .filter(|(_, s)| s["Resource"] == json!({ "Fn::GetAtt": [queue, "Arn"] }))
            .map(|(place, s)| format!("{place} {}", s["Sid"].as_str().unwrap_or("")))
            .collect()
    };
    assert_eq!(queue_senders("ScheduleDeadLetterQueue"), ["SchedulerRolePolicy KeepUndeliveredChecks"]);
    assert_eq!(queue_senders("RequestDeadLetterQueue"), ["DeleteInstanceRole \"delete-instance\" MovePermanentFailures"]);
    let trust = &properties("SchedulerRole")["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"], json!({ "Service": "scheduler.amazonaws.com" }));
    assert_eq!(trust["Condition"]["ArnEquals"]["aws:SourceArn"], json!({ "Fn::GetAtt": ["ScheduleGroup", "Arn"] }));

    // The state machine invokes the two functions and nothing else.
    assert_eq!(
        statement("InvokeFunctions")["Resource"],
        json!([{ "Fn::GetAtt": ["DeleteInstanceFunction", "Arn"] }, { "Fn::GetAtt": ["CheckInstanceStatusFunction", "Arn"] }])
    );
}

#[test]
fn the_organization_sweep_invokes_the_sweep_and_runs_its_distributed_map_and_nothing_else() {
    let invoke_log_trace: BTreeSet<String> = ["lambda:InvokeFunction"]
        .into_iter()
        .chain(RESOURCELESS_ACTIONS.into_iter().filter(|a| a.starts_with("logs:") || a.starts_with("xray:")))
        .map(String::from)
        .collect();
    assert_eq!(actions_of("OrganizationSweepRole"), invoke_log_trace, "it invokes, logs and traces as the DeletionWorkflow does");
    assert_eq!(
        actions_of("OrganizationSweepMapRunPolicy"),
        BTreeSet::from(["states:StartExecution", "states:DescribeExecution", "states:StopExecution"].map(String::from)),
        "what its Distributed Map needs"
    );
    // The organization sweep invokes the sweep function, starts child executions of itself only,
    // and follows and stops only those.
    assert_eq!(statement("InvokeSweep")["Resource"], json!({ "Fn::GetAtt": ["SweepInstancesFunction", "Arn"] }));
    assert_eq!(statement("StartChildExecutions")["Resource"], json!({ "Ref": "OrganizationSweep" }));
    assert_eq!(
        statement("FollowChildExecutions")["Resource"],
        json!({ "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OrganizationSweep.Name}/*" })
    );
    assert_eq!(properties("OrganizationSweepMapRunPolicy")["RoleName"], json!({ "Ref": "OrganizationSweepRole" }));
    // The sweep function may list the organization's accounts, which takes no resource.
    assert_eq!(statement("ListOrganizationAccounts")["Resource"], "*");
    assert_eq!(strings(&statement("ListOrganizationAccounts")["Action"]), ["organizations:ListAccounts"]);
}

#[test]
fn the_request_queue_feeds_the_delete_function_with_partial_batch_responses_and_a_redrive_policy() {
    let mapping = properties("DeleteInstanceFunctionRequestQueue");
    assert_eq!(mapping["EventSourceArn"], json!({ "Fn::GetAtt": ["RequestQueue", "Arn"] }));
    assert_eq!(mapping["FunctionName"], json!({ "Ref": "DeleteInstanceFunction" }));
    assert_eq!(mapping["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    let queue = properties("RequestQueue");
    let timeout = properties("DeleteInstanceFunction")["Timeout"].as_u64().unwrap();
    assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout, "visibility timeout {queue}");
    assert_eq!(queue["RedrivePolicy"]["deadLetterTargetArn"], json!({ "Fn::GetAtt": ["RequestDeadLetterQueue", "Arn"] }));
    assert!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 1);
}

#[test]
fn the_three_functions_retry_asynchronous_events_and_send_what_fails_to_a_dead_letter_queue() {
    let dead_letters = json!({ "Fn::GetAtt": ["InvocationDeadLetterQueue", "Arn"] });
    for function in ["DeleteInstanceFunction", "CheckInstanceStatusFunction", "SweepInstancesFunction"] {
        let config = properties(&format!("{function}EventInvokeConfig"));
        assert!(config["MaximumRetryAttempts"].as_u64().is_some(), "{function}");
        assert!(config["MaximumEventAgeInSeconds"].as_u64().is_some(), "{function}");
        assert_eq!(config["DestinationConfig"]["OnFailure"]["Destination"], dead_letters, "{function}");
    }
    for rule in ["DeleteInstanceFunctionDeletionRequested", "CheckInstanceStatusFunctionDeletionStarted"] {
        let target = &properties(rule)["Targets"][0];
        assert_eq!(target["DeadLetterConfig"]["Arn"], dead_letters, "{rule}");
        assert!(target["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(), "{rule}");
    }
}

#[test]
fn every_dead_letter_queue_and_each_of_the_three_functions_has_an_alarm() {
    let alarmed: Vec<&Value> = resources()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .filter_map(|r| r["Properties"].get("Dimensions"))
        .map(|d| &d[0]["Value"])
        .collect();
    for watched in [
        json!({ "Ref": "DeleteInstanceFunction" }),
        json!({ "Ref": "CheckInstanceStatusFunction" }),
        json!({ "Ref": "SweepInstancesFunction" }),
        json!({ "Fn::GetAtt": ["RequestDeadLetterQueue", "QueueName"] }),
        json!({ "Fn::GetAtt": ["InvocationDeadLetterQueue", "QueueName"] }),
        json!({ "Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"] }),
    ] {
        assert!(alarmed.contains(&&watched), "no alarm on {watched}");
    }
}

#[test]
fn the_status_check_schedules_have_a_dead_letter_queue_and_alarms_on_what_scheduler_could_not_deliver() {
    let queue = properties("ScheduleDeadLetterQueue");
    assert_eq!(resource("ScheduleDeadLetterQueue")["Type"], "AWS::SQS::Queue");
    assert_eq!(queue["SqsManagedSseEnabled"], true);
    assert_eq!(queue["MessageRetentionPeriod"], 1_209_600, "kept for the longest time SQS allows");
    assert!(queue.get("FifoQueue").is_none(), "Scheduler takes only standard queues as dead-letter queues");

    // EventBridge Scheduler's metrics per schedule group (namespace AWS/Scheduler).
    let group_metrics: BTreeSet<String> = resources()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm" && r["Properties"]["Namespace"] == "AWS/Scheduler")
        .map(|r| {
            let alarm = &r["Properties"];
            assert_eq!(alarm["Dimensions"], json!([{ "Name": "ScheduleGroup", "Value": { "Ref": "ScheduleGroup" } }]), "{alarm}");
            assert_eq!((alarm["Statistic"].clone(), alarm["Threshold"].clone()), (json!("Sum"), json!(1)), "{alarm}");
            assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold", "{alarm}");
            alarm["MetricName"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        group_metrics,
        BTreeSet::from(["InvocationDroppedCount", "InvocationsFailedToBeSentToDeadLetterCount", "TargetErrorCount"].map(String::from))
    );
}

#[test]
fn the_state_machines_log_their_errors_without_execution_data_and_are_traced() {
    for (id, role, log_group, logs, traces) in [
        ("DeletionWorkflow", "DeletionWorkflowRole", "DeletionWorkflowLogGroup", "DeliverLogs", "WriteWorkflowTraces"),
        (
            "OrganizationSweep",
            "OrganizationSweepRole",
            "OrganizationSweepLogGroup",
            "DeliverOrganizationSweepLogs",
            "WriteOrganizationSweepTraces",
        ),
    ] {
        let machine = properties(id);
        assert_eq!(machine["RoleArn"], json!({ "Fn::GetAtt": [role, "Arn"] }), "{id}");
        let logging = &machine["LoggingConfiguration"];
        assert_eq!(logging["Level"], "ERROR", "{id}");
        assert_eq!(logging["IncludeExecutionData"], false, "{id}");
        assert_eq!(
            logging["Destinations"],
            json!([{ "CloudWatchLogsLogGroup": { "LogGroupArn": { "Fn::GetAtt": [log_group, "Arn"] } } }]),
            "{id}"
        );
        assert_eq!(properties(log_group)["RetentionInDays"], json!({ "Ref": "LogRetentionInDays" }), "{log_group}");
        let name = &properties(log_group)["LogGroupName"]["Fn::Sub"];
        assert!(name.as_str().unwrap().starts_with("/aws/vendedlogs/states/"), "{log_group}: {name}");
        assert_eq!(machine["TracingConfiguration"], json!({ "Enabled": true }), "{id}");
        let trust = &properties(role)["AssumeRolePolicyDocument"]["Statement"][0];
        assert_eq!(trust["Principal"], json!({ "Service": "states.amazonaws.com" }), "{role}");
        assert_eq!(trust["Condition"]["StringEquals"]["aws:SourceAccount"], json!({ "Ref": "AWS::AccountId" }), "{role}");
        // The log delivery and trace actions, each in a statement of its own kind.
        assert_eq!(strings(&statement(logs)["Action"]).len(), 8, "{logs}");
        assert!(strings(&statement(logs)["Action"]).iter().all(|a| a.starts_with("logs:")), "{logs}");
        assert!(strings(&statement(traces)["Action"]).iter().all(|a| a.starts_with("xray:")), "{traces}");
    }
}

#[test]
fn the_outputs_name_the_bus_the_queue_the_state_machines_and_the_three_functions() {
    let outputs = tools::transformed_template()["Outputs"].as_object().unwrap();
    for name in [
        "EventBusName",
        "RequestQueueUrl",
        "DeletionWorkflowArn",
        "OrganizationSweepArn",
        "DeleteInstanceFunctionArn",
        "CheckInstanceStatusFunctionArn",
        "SweepInstancesFunctionArn",
    ] {
        assert!(outputs.contains_key(name), "no output {name}");
    }
}

#[test]
fn the_sweep_runs_on_its_recurring_schedule_with_the_configured_settings() {
    let sweep = json!({ "Fn::GetAtt": ["SweepInstancesFunction", "Arn"] });
    let schedules: Vec<(&String, &Value)> =
        resources().iter().filter(|(_, r)| r["Type"] == "AWS::Scheduler::Schedule" && r["Properties"]["Target"]["Arn"] == sweep).collect();
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    let schedule = &schedules[0].1["Properties"];
    assert_eq!(schedule["ScheduleExpression"], json!({ "Ref": "SweepSchedule" }));
    assert_eq!(schedule["FlexibleTimeWindow"], json!({ "Mode": "OFF" }));
    assert_eq!(schedule["Target"]["Arn"], json!({ "Fn::GetAtt": ["SweepInstancesFunction", "Arn"] }));
    // The input the sweep reads as "run with the configured settings" (events/sweep/scheduled.json).
    let input: Value = serde_json::from_str(schedule["Target"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, fixture("sweep/scheduled.json"));
    // The role Scheduler assumes may invoke the sweep and nothing else.
    let role = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0].as_str().unwrap();
    let actions: BTreeSet<String> = properties(role)["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    assert_eq!(actions, BTreeSet::from(["lambda:InvokeFunction".to_owned()]), "{role}");
}

#[test]
fn the_organization_sweep_runs_on_its_own_schedule_which_is_off_until_enabled() {
    let machine = json!({ "Ref": "OrganizationSweep" });
    let schedules: Vec<&Value> = resources()
        .values()
        .filter(|r| r["Type"] == "AWS::Scheduler::Schedule" && r["Properties"]["Target"]["Arn"] == machine)
        .map(|r| &r["Properties"])
        .collect();
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    let schedule = schedules[0];
    assert_eq!(schedule["ScheduleExpression"], json!({ "Ref": "OrganizationSweepSchedule" }));
    assert_eq!(schedule["State"], json!({ "Ref": "OrganizationSweepScheduleState" }));
    assert_eq!(schedule["FlexibleTimeWindow"], json!({ "Mode": "OFF" }));
    assert!(schedule.get("Name").is_none(), "CloudFormation names it, whatever the stack's name: {schedule}");
    // A run with the settings: every member of the input is optional.
    assert_eq!(schedule["Target"]["Input"], "{}");
    // The role Scheduler assumes may start this state machine and do nothing else.
    let role = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0].as_str().unwrap();
    let granted: Vec<Value> = properties(role)["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
        .collect();
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert_eq!((&granted[0]["Action"], &granted[0]["Resource"]), (&json!("states:StartExecution"), &machine), "{role}");

    let parameters = tools::transformed_template()["Parameters"].as_object().unwrap();
    assert_eq!(parameters["OrganizationSweepScheduleState"]["Default"], "DISABLED", "off until the member roles are deployed");
    assert_eq!(parameters["OrganizationSweepScheduleState"]["AllowedValues"], json!(["ENABLED", "DISABLED"]));
    assert_eq!(parameters["OrganizationSweepMaxConcurrency"]["Default"], 10);
    assert_eq!(parameters["OrganizationSweepToleratedFailurePercentage"]["Default"], 10);
    assert_eq!(
        (
            &parameters["OrganizationSweepToleratedFailurePercentage"]["MinValue"],
            &parameters["OrganizationSweepToleratedFailurePercentage"]["MaxValue"]
        ),
        (&json!(0), &json!(100))
    );
    assert_eq!(parameters["OrganizationSweepRegions"]["Default"], "");
    // The same regions as AllowedRegions accepts.
    assert_eq!(parameters["OrganizationSweepRegions"]["AllowedPattern"], parameters["AllowedRegions"]["AllowedPattern"]);
    for name in [
        "OrganizationSweepSchedule",
        "OrganizationSweepScheduleState",
        "OrganizationSweepMaxConcurrency",
        "OrganizationSweepToleratedFailurePercentage",
        "OrganizationSweepRegions",
    ] {
        assert!(parameters[name]["Description"].is_string(), "parameter {name} is described");
    }
    // Without regions of its own, it sweeps the stack's region.
    let substitutions = &properties("OrganizationSweep")["DefinitionSubstitutions"];
    assert_eq!(
        substitutions["OrganizationSweepRegions"],
        json!({ "Fn::If": ["HasOrganizationSweepRegions", { "Ref": "OrganizationSweepRegions" }, { "Ref": "AWS::Region" }] })
    );
    assert_eq!(substitutions["SweepInstancesFunctionArn"], json!({ "Fn::GetAtt": ["SweepInstancesFunction", "Arn"] }));
}

#[test]
fn a_failed_or_timed_out_organization_sweep_raises_an_alarm() {
    let alarm = properties("OrganizationSweepFailedAlarm");
    let machine = json!([{ "Name": "StateMachineArn", "Value": { "Ref": "OrganizationSweep" } }]);
    let mut watched: Vec<String> = Vec::new();
    for stat in alarm["Metrics"].as_array().unwrap().iter().filter_map(|m| m.get("MetricStat")) {
        let metric = &stat["Metric"];
        assert_eq!((&metric["Namespace"], &metric["Dimensions"]), (&json!("AWS/States"), &machine), "{metric}");
        watched.push(metric["MetricName"].as_str().unwrap().to_owned());
    }
    watched.sort();
    assert_eq!(watched, ["ExecutionsFailed", "ExecutionsTimedOut"]);
    assert_eq!((&alarm["Threshold"], &alarm["ComparisonOperator"]), (&json!(1), &json!("GreaterThanOrEqualToThreshold")));
    assert_eq!(alarm["AlarmActions"], properties("DeletionWorkflowFailedAlarm")["AlarmActions"], "the alarms' topic");
}

#[test]
fn the_definition_substitutions_fill_every_placeholder_of_each_state_machine_definition() {
    for (id, path) in [("DeletionWorkflow", tools::definition_path()), ("OrganizationSweep", tools::organization_sweep_definition_path())] {
        let definition = tools::read(&path);
        let mut used = tools::placeholders(&definition);
        used.sort();
        let substitutions = properties(id)["DefinitionSubstitutions"].as_object().unwrap();
        let given: Vec<String> = substitutions.keys().cloned().collect();
        assert_eq!(used, given, "{id}");
        assert_eq!(properties(id)["StateMachineType"], "STANDARD", "{id}");
    }
}

#[test]
fn the_request_fixtures_match_the_deletion_rule_and_our_own_announcements_do_not() {
    let requested = fixture("eventbridge-deletion-requested.json");
    let mut own_request = requested.clone();
    own_request["source"] = json!("supplychain-delete-instance");
    let mut replayed = fixture("sweep/deletion-requested.json");
    replayed["replay-name"] = json!("audit-history");
    let mut events = json!({
        "eventbridge-deletion-requested.json": requested,
        "check/deletion-started.json": fixture("check/deletion-started.json"),
        "invalid/own-announcement.json": fixture("invalid/own-announcement.json"),
        "a deletion request sent as supplychain-delete-instance": own_request,
        "sweep/deletion-requested.json": fixture("sweep/deletion-requested.json"),
        "sweep/sweep-completed.json": fixture("sweep/sweep-completed.json"),
        "a sweep's deletion request replayed from the archive": replayed,
    });
    // The SQS fixtures carry EventBridge events in their bodies too.
    for record in fixture("sqs-batch.json")["Records"].as_array().unwrap() {
        let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        if body.get("detail-type").is_some() {
            events[format!("sqs-batch.json message {}", record["messageId"].as_str().unwrap())] = body;
        }
    }
    let matches = tools::rules_matching(&events);

    let delete = &matches["DeleteInstanceFunctionDeletionRequested"];
    let check = &matches["CheckInstanceStatusFunctionDeletionStarted"];
    assert_eq!(delete["eventbridge-deletion-requested.json"], true);
    assert_eq!(delete["sqs-batch.json message 2e1424d4-f796-459a-8184-9c92662be6da"], true);
    assert_eq!(delete["sweep/deletion-requested.json"], true, "the sweep's requests reach the delete function");
    assert_eq!(delete["sweep/sweep-completed.json"], false);
    assert_eq!(delete["a sweep's deletion request replayed from the archive"], false, "a replay never deletes again");
    assert_eq!(check["sweep/sweep-completed.json"], false);
    for own in ["check/deletion-started.json", "invalid/own-announcement.json", "a deletion request sent as supplychain-delete-instance"] {
        assert_eq!(delete[own], false, "{own} must not start a deletion");
    }
    assert_eq!(check["check/deletion-started.json"], true);
    assert_eq!(check["invalid/own-announcement.json"], true);
    assert_eq!(check["eventbridge-deletion-requested.json"], false);
    assert_eq!(check["a deletion request sent as supplychain-delete-instance"], false);
    // The other rules send notices to people (tests/it/notifications.rs): none takes a request.
    let rules = matches.as_object().unwrap();
    for (name, matched) in rules.iter().filter(|(name, _)| name.ends_with("NoticeRule")) {
        assert!(matched.as_object().unwrap().values().all(|m| m == false), "{name}: {matched}");
    }
    assert_eq!(rules.keys().filter(|name| !name.ends_with("NoticeRule")).count(), 2, "rules: {matches}");
}

#[test]
fn the_sqs_fixtures_come_from_the_request_queue_of_a_stack_named_supplychain_delete_instance() {
    assert_eq!(properties("RequestQueue")["QueueName"], json!({ "Fn::Sub": "${AWS::StackName}-requests" }));
    for record in fixture("sqs-batch.json")["Records"].as_array().unwrap() {
        let source = record["eventSourceARN"].as_str().unwrap();
        assert!(source.ends_with(":supplychain-delete-instance-requests"), "{source}");
    }
}

/// The dashboard's body with every `${...}` of its `Fn::Sub` replaced by its name, and the
/// variables the `Fn::Sub` defines.
fn dashboard() -> (Value, Map<String, Value>) {
    let sub = &properties("OperationsDashboard")["DashboardBody"]["Fn::Sub"];
    let (text, variables) = (sub[0].as_str().unwrap(), sub[1].as_object().unwrap().clone());
    let mut body = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').unwrap();
        body.push_str(&rest[..start]);
        let name = &rest[start + 2..end];
        assert!(
            variables.contains_key(name) || ["AWS::Region", "MetricsNamespace"].contains(&name),
            "the dashboard names ${{{name}}}, which is neither a variable of its Fn::Sub nor a parameter"
        );
        body.push_str(name);
        rest = &rest[end + 1..];
    }
    body.push_str(rest);
    (serde_json::from_str(&body).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{body}")), variables)
}

#[test]
fn every_function_traces_with_x_ray_and_writes_metrics_to_the_namespace_parameter() {
    for function in ["DeleteInstanceFunction", "CheckInstanceStatusFunction", "SweepInstancesFunction"] {
        let function = properties(function);
        assert_eq!(function["TracingConfig"], json!({ "Mode": "Active" }));
        assert_eq!(function["Environment"]["Variables"]["METRICS_NAMESPACE"], json!({ "Ref": "MetricsNamespace" }));
    }
    let parameter = &tools::transformed_template()["Parameters"]["MetricsNamespace"];
    assert_eq!(parameter["Default"], supplychain_delete_instance::metrics::DEFAULT_NAMESPACE);
}

#[test]
fn the_dashboard_graphs_every_metric_the_functions_write_and_nothing_they_do_not() {
    use supplychain_delete_instance::metrics::METRICS;
    let (body, variables) = dashboard();
    let widgets = body["widgets"].as_array().unwrap();
    let mut graphed = BTreeSet::new();
    let mut services = BTreeSet::new();
    for widget in widgets {
        for row in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().unwrap();
            match row[0].as_str() {
                Some("MetricsNamespace") => {
                    graphed.insert(row[1].as_str().unwrap().to_owned());
                }
                Some("...") => {}
                Some(namespace) => {
                    services.insert(format!("{namespace} {}", row[1].as_str().unwrap()));
                }
                // A metric math expression: SEARCH names the metric it finds.
                None => {
                    let expression = row[0]["expression"].as_str().unwrap();
                    let name = expression.split("MetricName=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
                    assert!(expression.starts_with("SEARCH('{MetricsNamespace,"), "{expression}");
                    graphed.insert(name.to_owned());
                }
            }
        }
    }
    let written: BTreeSet<String> = METRICS.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(graphed, written, "the dashboard's metrics against src/metrics.rs");
    for expected in [
        "AWS/Lambda Errors",
        "AWS/Lambda Throttles",
        "AWS/Lambda Duration",
        "AWS/SQS ApproximateNumberOfMessagesVisible",
        "AWS/States ExecutionsStarted",
        "AWS/States ExecutionsFailed",
    ] {
        assert!(services.contains(expected), "no graph of {expected}: {services:?}");
    }
    // The queue depth graph shows the request queue and both dead-letter queues.
    for queue in ["RequestQueue", "RequestDeadLetterQueue", "InvocationDeadLetterQueue"] {
        assert!(variables.values().any(|v| v == &json!({ "Fn::GetAtt": [queue, "QueueName"] })), "{queue}");
    }
    // The alarm widget shows every alarm of the stack.
    let alarms: BTreeSet<String> =
        resources().iter().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm").map(|(id, _)| id.clone()).collect();
    let shown: BTreeSet<String> = widgets
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().clone())
        .map(|name| variables[name.as_str().unwrap()]["Fn::GetAtt"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, alarms);
}

#[test]
fn the_saved_queries_read_the_log_groups_of_the_functions_they_are_about() {
    let delete = json!({ "Ref": "DeleteInstanceLogGroup" });
    let check = json!({ "Ref": "CheckInstanceStatusLogGroup" });
    for (id, groups, reads) in [
        ("InstanceHistoryQuery", json!([delete, check]), "INSTANCE_ID"),
        ("RefusalsQuery", json!([delete]), "fields.error_type"),
        ("SlowestDeletionsQuery", json!([check]), supplychain_delete_instance::metrics::TIME_TO_DELETE),
    ] {
        let query = properties(id);
        assert_eq!(resource(id)["Type"], "AWS::Logs::QueryDefinition");
        assert_eq!(query["LogGroupNames"], groups, "{id}");
        assert!(query["QueryString"].as_str().unwrap().contains(reads), "{id}");
    }
}

/// `template.yaml` as written, before the SAM transform: what `sam package` and `sam publish` read.
fn source_template() -> &'static Value {
    static TEMPLATE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let output = tools::run(
            Command::new(tools::venv_bin("python"))
                .arg("-c")
                .arg("import json,sys; from cfnlint.decode import decode; t,m=decode(sys.argv[1]); assert not m, m; print(json.dumps(t))")
                .arg(tools::repo_path("template.yaml")),
            "",
        );
        tools::json_stdout("cfn-lint's decoder on template.yaml", &output)
    })
}

/// The `AWS::ServerlessRepo::Application` metadata, which `sam publish` sends to the AWS
/// Serverless Application Repository.
fn application_metadata() -> &'static Map<String, Value> {
    source_template()["Metadata"]["AWS::ServerlessRepo::Application"]
        .as_object()
        .expect("template.yaml has Metadata: AWS::ServerlessRepo::Application")
}

fn metadata_text(field: &str) -> &'static str {
    application_metadata()[field].as_str().unwrap_or_else(|| panic!("{field} is not a plain string: {}", application_metadata()[field]))
}

#[test]
fn the_serverless_repository_metadata_has_every_field_as_a_plain_value_within_the_repository_s_limits() {
    let fields: BTreeSet<&str> = application_metadata().keys().map(String::as_str).collect();
    let expected = BTreeSet::from([
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "LicenseUrl",
        "ReadmeUrl",
        "Labels",
        "HomePageUrl",
        "SemanticVersion",
        "SourceCodeUrl",
    ]);
    // LicenseBody and ReadmeBody would conflict with the URLs.
    assert_eq!(fields, expected);

    // The limits of the AWS SAM documentation's "Metadata section properties"; the repository
    // takes no intrinsic functions, so every value is a plain string.
    let length = |field: &str, max: usize| {
        let count = metadata_text(field).chars().count();
        assert!((1..=max).contains(&count), "{field} has {count} characters, the repository takes 1 to {max}");
    };
    length("Name", 140);
    length("Description", 256);
    length("Author", 127);
    let name = metadata_text("Name");
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "Name {name:?}: letters, digits and hyphens only");
    // ^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$
    let author = metadata_text("Author");
    assert!(
        author.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !author.starts_with('-')
            && !author.ends_with('-')
            && !author.contains("--"),
        "Author {author:?}: lower case letters, digits and single hyphens inside"
    );
    let labels = application_metadata()["Labels"].as_array().expect("Labels is a list");
    assert!((1..=10).contains(&labels.len()), "{} labels, the repository takes at most 10", labels.len());
    for label in labels {
        let label = label.as_str().unwrap_or_else(|| panic!("label {label} is not a string"));
        assert!((1..=127).contains(&label.len()), "label {label:?}");
        assert!(label.chars().all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c)), "label {label:?}: ^[a-zA-Z0-9+\\-_:\\/@]+$");
    }
    for field in ["HomePageUrl", "SourceCodeUrl"] {
        assert_eq!(metadata_text(field), env!("CARGO_PKG_REPOSITORY"), "{field} against Cargo.toml's repository");
    }
    assert!(env!("CARGO_PKG_REPOSITORY").starts_with("https://"));
}

#[test]
fn the_published_licence_and_version_are_those_of_cargo_toml() {
    assert_eq!(metadata_text("SpdxLicenseId"), env!("CARGO_PKG_LICENSE"));
    assert_eq!(metadata_text("SemanticVersion"), env!("CARGO_PKG_VERSION"));
    let core = metadata_text("SemanticVersion").split(['-', '+']).next().unwrap();
    let numbers: Vec<&str> = core.split('.').collect();
    assert!(numbers.len() == 3 && numbers.iter().all(|n| n.parse::<u64>().is_ok()), "SemanticVersion {core:?} is not MAJOR.MINOR.PATCH");
}

#[test]
fn the_licence_and_readme_the_metadata_names_are_files_beside_the_template_within_five_megabytes() {
    for field in ["LicenseUrl", "ReadmeUrl"] {
        // `sam package` reads these paths relative to the template, which is at the top of the repository.
        let path = tools::repo_path(metadata_text(field));
        let size = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{field} {}: {e}", path.display())).len();
        assert!(path.is_file() && size > 0 && size <= 5 * 1024 * 1024, "{field} {}: {size} bytes", path.display());
    }
    let licence = tools::read(&tools::repo_path(metadata_text("LicenseUrl")));
    assert!(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004"), "LICENSE is not the Apache License 2.0");
}

/// Publishes template.yaml offline with AWS SAM CLI's own code (the venv `.venv-sam`): the
/// metadata exporters of `sam package`, with an S3 uploader that records each file instead of
/// sending it, then `sam publish`'s `publish_application` against a Serverless Application
/// Repository client whose answers botocore's Stubber gives, so that each request is still checked
/// against the service's model. It publishes twice: the first creates the application, the second
/// finds it there and creates a version. Prints the uploads, the requests and the actions as JSON.
const PUBLISH_OFFLINE: &str = r#"
import json, os, sys
import boto3
from botocore.stub import Stubber
from samcli.lib.package.code_signer import CodeSigner
from samcli.lib.package.packageable_resources import METADATA_EXPORTS
from samcli.lib.package.s3_uploader import S3Uploader
from samcli.lib.package.uploaders import Uploaders
from samcli.vendor.serverlessrepo import publish_application
from samcli.vendor.serverlessrepo.parser import SERVERLESS_REPO_APPLICATION, parse_template

template_path = os.path.abspath(sys.argv[1])
template_dir = os.path.dirname(template_path)
offline = dict(region_name="us-east-1", aws_access_key_id="offline", aws_secret_access_key="offline")
application = "arn:aws:serverlessrepo:us-east-1:123456789012:applications/supplychain-delete-instance"

class RecordingUploader(S3Uploader):
    uploads = {}

    def upload(self, file_name, remote_path):
        self.uploads[self.make_url(remote_path)] = os.path.relpath(file_name, template_dir)
        return self.make_url(remote_path)

with open(template_path, encoding="utf-8") as file:
    template = parse_template(file.read())
uploader = RecordingUploader(boto3.client("s3", **offline), "package-bucket")
for spec in METADATA_EXPORTS:
    for exporter in spec.exporters:
        exporter(Uploaders(uploader, None), CodeSigner(None, None)).export(
            spec.metadata_type, template.get("Metadata", {}).get(spec.metadata_type), template_dir
        )

client = boto3.client("serverlessrepo", **offline)
requests = []
client.meta.events.register(
    "before-parameter-build.serverlessrepo.*", lambda params, model, **_: requests.append([model.name, dict(params)])
)
stubber = Stubber(client)
stubber.add_response("create_application", {"ApplicationId": application})
stubber.add_client_error("create_application", "ConflictException", f"Application with id {application} already exists", 409)
stubber.add_response("update_application", {"ApplicationId": application})
stubber.add_response("create_application_version", {"ApplicationId": application})
with stubber:
    actions = [publish_application(template, sar_client=client)["actions"] for _ in range(2)]
stubber.assert_no_pending_responses()
for _, params in requests:
    if "TemplateBody" in params:
        body = parse_template(params["TemplateBody"])
        params["TemplateBody"] = {
            "sections": sorted(body),
            "serverlessRepoMetadata": SERVERLESS_REPO_APPLICATION in body.get("Metadata", {}),
        }
json.dump({"uploads": uploader.uploads, "requests": requests, "actions": actions}, sys.stdout)
"#;

#[test]
fn sam_publish_accepts_the_metadata_once_sam_package_has_uploaded_the_licence_and_readme() {
    let python = tools::repo_path(".venv-sam/bin/python");
    assert!(python.exists(), "{} is missing: scripts/setup installs AWS SAM CLI into .venv-sam", python.display());
    let output = tools::run(
        Command::new(python)
            .arg("-c")
            .arg(PUBLISH_OFFLINE)
            .arg(tools::repo_path("template.yaml"))
            // Nothing leaves the machine: no instance metadata lookup, no usage telemetry.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SAM_CLI_TELEMETRY", "0"),
        "",
    );
    assert!(output.status.success(), "publishing offline failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let published = tools::json_stdout("the offline publish", &output);

    // `sam package` uploads each file under its MD5 and writes the S3 location in its place.
    let uploads = published["uploads"].as_object().unwrap();
    let location = |file: &str| {
        let found: Vec<&String> = uploads.iter().filter(|(_, local)| *local == file).map(|(url, _)| url).collect();
        assert_eq!(found.len(), 1, "uploads of {file}: {uploads:?}");
        assert!(found[0].starts_with("s3://package-bucket/"), "{}", found[0]);
        json!(found[0])
    };
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    let (licence, readme) = (location(metadata_text("LicenseUrl")), location(metadata_text("ReadmeUrl")));

    assert_eq!(published["actions"], json!([["CREATE_APPLICATION"], ["UPDATE_APPLICATION", "CREATE_APPLICATION_VERSION"]]));
    let requests = published["requests"].as_array().unwrap();
    let names: Vec<&str> = requests.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(names, ["CreateApplication", "CreateApplication", "UpdateApplication", "CreateApplicationVersion"]);

    let mut expected = application_metadata().clone();
    expected.insert("LicenseUrl".into(), licence);
    expected.insert("ReadmeUrl".into(), readme.clone());
    let create = requests[0][1].as_object().unwrap();
    for (field, value) in &expected {
        assert_eq!(&create[field], value, "CreateApplication {field}");
    }
    assert_eq!(create["SemanticVersion"], env!("CARGO_PKG_VERSION"));
    // The published template is the stack without the repository's metadata.
    for request in [create, requests[3][1].as_object().unwrap()] {
        assert_eq!(request["TemplateBody"]["serverlessRepoMetadata"], false);
        let sections = request["TemplateBody"]["sections"].as_array().unwrap();
        assert!(sections.contains(&json!("Resources")) && sections.contains(&json!("Transform")), "{sections:?}");
    }
    assert_eq!(requests[2][1]["ReadmeUrl"], readme);
    assert_eq!(requests[3][1]["SemanticVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(requests[3][1]["SourceCodeUrl"], env!("CARGO_PKG_REPOSITORY"));
}

// ---------------------------------------------------------------- deletion protection in IAM, the organization's bus policy

/// The roles of the three functions: each carries the deletion-protection denies.
const FUNCTION_ROLES: [&str; 3] = ["DeleteInstanceRole", "CheckInstanceStatusRole", "SweepInstancesRole"];

/// The detail-type of a deletion request, the one event the organization's accounts may put.
const DELETION_REQUESTED: &str = "Supply Chain Instance Deletion Requested";

/// Every statement of the identity policies of `role` in `template`: its inline policies, the
/// managed policies it attaches and the policies of the stack that name it.
fn identity_statements(template: &Value, role: &str) -> Vec<Value> {
    let resources = template["Resources"].as_object().unwrap();
    let properties = &resources[role]["Properties"];
    let mut documents: Vec<Value> = properties["Policies"].as_array().into_iter().flatten().map(|p| p["PolicyDocument"].clone()).collect();
    for attached in managed_policy_refs(&properties["ManagedPolicyArns"]) {
        documents.extend(resources.get(&attached).map(|policy| policy["Properties"]["PolicyDocument"].clone()));
    }
    let this_role = json!({ "Ref": role });
    for policy in resources.values().filter(|r| matches!(r["Type"].as_str(), Some("AWS::IAM::Policy" | "AWS::IAM::RolePolicy"))) {
        let named = &policy["Properties"];
        if named["RoleName"] == this_role || named["Roles"].as_array().is_some_and(|roles| roles.contains(&this_role)) {
            documents.push(named["PolicyDocument"].clone());
        }
    }
    documents.iter().flat_map(|document| policies::statements(&policies::document(document))).collect()
}

/// What is wrong with deletion protection in IAM in `template` (transformed): the policy of denies
/// must exist whenever DeletionProtectionTag is set, and each function role must attach it under
/// that same condition, with no Allow that names what it denies. Empty when nothing is.
fn deletion_protection_findings(template: &Value) -> Vec<String> {
    let mut findings = Vec::new();
    let policy = &template["Resources"]["DeletionProtectionPolicy"];
    if policy["Type"] != "AWS::IAM::ManagedPolicy" {
        findings.push(format!("DeletionProtectionPolicy is not a managed policy: {policy}"));
    }
    let tag_is_set = json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "DeletionProtectionTag" }, ""] }] });
    if policy["Condition"] != "HasDeletionProtectionTag" || template["Conditions"]["HasDeletionProtectionTag"] != tag_is_set {
        findings.push(format!(
            "DeletionProtectionPolicy exists under {} ({}), not whenever DeletionProtectionTag is set",
            policy["Condition"], template["Conditions"]["HasDeletionProtectionTag"]
        ));
    }
    let attached = json!({ "Fn::If": ["HasDeletionProtectionTag", [{ "Ref": "DeletionProtectionPolicy" }], { "Ref": "AWS::NoValue" }] });
    let instances = json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" });
    for role in FUNCTION_ROLES {
        let arns = &template["Resources"][role]["Properties"]["ManagedPolicyArns"];
        if arns != &attached {
            findings.push(format!("{role} does not attach DeletionProtectionPolicy whenever it exists: {arns}"));
        }
        let statements = identity_statements(template, role);
        findings.extend(
            policies::protection_findings(&statements, "DeletionProtectionTag", &instances).into_iter().map(|f| format!("{role}: {f}")),
        );
    }
    findings
}

/// `template` with the JSON text of DeletionProtectionPolicy changed: `from` replaced by `to`.
fn with_protection_text(template: &Value, from: &str, to: &str) -> Value {
    let mut copy = template.clone();
    let text = &mut copy["Resources"]["DeletionProtectionPolicy"]["Properties"]["PolicyDocument"]["Fn::Sub"][0];
    let written = text.as_str().unwrap().to_owned();
    assert!(written.contains(from), "{from:?} is not in the policy's text:\n{written}");
    *text = Value::from(written.replace(from, to));
    copy
}

#[test]
fn iam_denies_each_function_deleting_a_protected_instance_or_changing_its_protection_tag() {
    let template = tools::transformed_template();
    assert_eq!(deletion_protection_findings(template), Vec::<String>::new());

    // The tag key is the parameter's, substituted by CloudFormation into the condition key.
    let document = policies::document(&properties("DeletionProtectionPolicy")["PolicyDocument"]);
    let keys: Vec<&String> = document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Condition"].as_object().unwrap().values())
        .flat_map(|c| c.as_object().unwrap().keys())
        .collect();
    assert_eq!(keys, ["aws:ResourceTag/${DeletionProtectionTag}", "aws:TagKeys"]);
    assert_eq!(
        policies::string_set(&document["Statement"][1]["Condition"]["ForAnyValue:StringEqualsIgnoreCase"]["aws:TagKeys"]),
        BTreeSet::from(["${DeletionProtectionTag}".to_owned()])
    );

    // Set (the default), every function role attaches the denies; empty, the functions check no tag
    // and there is nothing to deny.
    let on = policies::Resolver::new(template, &[]);
    let off = policies::Resolver::new(template, &[("DeletionProtectionTag", "")]);
    assert!(on.holds("DeletionProtectionPolicy") && !off.holds("DeletionProtectionPolicy"));
    for role in FUNCTION_ROLES {
        assert_eq!(on.resolve(properties(role)).unwrap()["ManagedPolicyArns"], json!([{ "Ref": "DeletionProtectionPolicy" }]), "{role}");
        assert_eq!(off.resolve(properties(role)).unwrap().get("ManagedPolicyArns"), None, "{role}");
    }
}

#[test]
fn the_protection_check_notices_a_weakened_deny_and_a_role_without_the_denies() {
    let template = tools::transformed_template();
    let mut weakened = vec![
        (
            "a case-sensitive comparison, which lets TRUE through",
            with_protection_text(template, "\"StringEqualsIgnoreCase\"", "\"StringEquals\""),
        ),
        (
            "a tag key written out instead of taken from the parameter",
            with_protection_text(template, "aws:ResourceTag/${DeletionProtectionTag}", "aws:ResourceTag/DeletionProtection"),
        ),
        ("untagging left out", with_protection_text(template, "[\"scn:TagResource\", \"scn:UntagResource\"]", "\"scn:TagResource\"")),
        (
            "ForAllValues, which matches a request whatever tag keys it adds besides",
            with_protection_text(template, "ForAnyValue:StringEqualsIgnoreCase", "ForAllValues:StringEqualsIgnoreCase"),
        ),
        ("a value other than true", with_protection_text(template, "[\"true\", ", "[\"yes\", ")),
        (
            "a deny on a resource other than every instance",
            with_protection_text(template, "\"Resource\": \"${Instances}\"", "\"Resource\": \"${Instances}x\""),
        ),
    ];
    let mut detached = template.clone();
    detached["Resources"]["SweepInstancesRole"]["Properties"].as_object_mut().unwrap().remove("ManagedPolicyArns");
    weakened.push(("the sweep's role without the denies", detached));
    let mut broadened = template.clone();
    broadened["Resources"]["CheckInstanceStatusRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "Effect": "Allow", "Action": "scn:*", "Resource": "*" }));
    weakened.push(("an Allow of scn:*", broadened));
    let mut tagging = template.clone();
    tagging["Resources"]["DeleteInstanceRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "Effect": "Allow", "Action": "scn:UntagResource", "Resource": "*" }));
    weakened.push(("an Allow of scn:UntagResource", tagging));
    let mut elsewhere = template.clone();
    elsewhere["Resources"]["DeletionProtectionPolicy"]["Condition"] = json!("HasAlarmTopic");
    weakened.push(("the denies under another condition", elsewhere));
    for (what, template) in weakened {
        assert!(!deletion_protection_findings(&template).is_empty(), "the check does not notice {what}");
    }
}

/// The ARN of the stack's bus, as the functions' PutEvents statements name it.
fn bus_arn() -> Value {
    json!({ "Fn::If": [
        "CreateEventBus",
        { "Fn::GetAtt": ["EventBus", "Arn"] },
        { "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}" }
    ] })
}

/// What is wrong with the bus policy that lets the organization's accounts in (`template`
/// transformed): it must exist only with an OrganizationId, on the stack's bus whether created or
/// named, and allow only PutEvents of deletion requests by the forwarding role of member-role.yaml
/// in that organization's accounts.
fn organization_bus_policy_findings(template: &Value) -> Vec<String> {
    let Some(policy) = template["Resources"].get("OrganizationEventBusPolicy") else {
        return vec!["no resource OrganizationEventBusPolicy".to_owned()];
    };
    let mut findings = Vec::new();
    if policy["Type"] != "AWS::Events::EventBusPolicy" {
        findings.push(format!("not an event bus policy: {}", policy["Type"]));
    }
    let organization_given = json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "OrganizationId" }, ""] }] });
    if policy["Condition"] != "HasOrganizationId" || template["Conditions"]["HasOrganizationId"] != organization_given {
        findings.push(format!(
            "the policy exists under {} ({}), not only with an OrganizationId",
            policy["Condition"], template["Conditions"]["HasOrganizationId"]
        ));
    }
    let properties = &policy["Properties"];
    let bus = json!({ "Fn::If": ["CreateEventBus", { "Ref": "EventBus" }, { "Ref": "EventBusName" }] });
    if properties["EventBusName"] != bus {
        findings.push(format!("the policy is on {}, not the stack's bus", properties["EventBusName"]));
    }
    for legacy in ["Action", "Principal", "Condition"] {
        if properties.get(legacy).is_some() {
            findings.push(format!("the policy sets {legacy} besides its Statement"));
        }
    }
    let expected = json!({
        "Effect": "Allow",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": bus_arn(),
        "Condition": {
            "StringEquals": { "aws:PrincipalOrgID": { "Ref": "OrganizationId" }, "events:detail-type": DELETION_REQUESTED },
            "ArnLike": { "aws:PrincipalArn": { "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}-Forwarder" } }
        }
    });
    if properties["Statement"] != expected {
        findings.push(format!("the statement is {}, not {expected}", properties["Statement"]));
    }
    findings
}

#[test]
fn the_organization_may_put_deletion_requests_on_the_bus_only_when_an_organization_id_is_given() {
    let template = tools::transformed_template();
    assert_eq!(organization_bus_policy_findings(template), Vec::<String>::new());
    // The bus the functions announce on, and the requests the delete rule takes.
    assert_eq!(statement("AnnounceDeletions")["Resource"], bus_arn());
    assert_eq!(properties("DeleteInstanceFunctionDeletionRequested")["EventPattern"]["detail-type"], json!([DELETION_REQUESTED]));

    assert!(!policies::Resolver::new(template, &[]).holds("OrganizationEventBusPolicy"), "no organization, no policy");
    let organization = ("OrganizationId", "o-a1b2c3d4e5");
    let created = policies::Resolver::new(template, &[organization]);
    let policy = created.resolve(resource("OrganizationEventBusPolicy")).unwrap();
    assert!(created.holds("OrganizationEventBusPolicy"));
    assert_eq!(policy["Properties"]["EventBusName"], json!({ "Ref": "EventBus" }));
    assert_eq!(policy["Properties"]["Statement"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"], "o-a1b2c3d4e5");
    let named = policies::Resolver::new(template, &[organization, ("EventBusName", "platform")]);
    let policy = named.resolve(resource("OrganizationEventBusPolicy")).unwrap();
    assert_eq!(policy["Properties"]["EventBusName"], "platform", "an existing bus gets the statement too");
    assert_eq!(
        policy["Properties"]["Statement"]["Resource"],
        json!({ "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}" })
    );

    // Each way the policy could let more in is noticed.
    let changed = |change: &dyn Fn(&mut Value)| {
        let mut copy = template.clone();
        change(&mut copy["Resources"]["OrganizationEventBusPolicy"]);
        copy
    };
    for (what, wider) in [
        (
            "any account",
            changed(&|p| {
                drop(p["Properties"]["Statement"]["Condition"]["StringEquals"].as_object_mut().unwrap().remove("aws:PrincipalOrgID"))
            }),
        ),
        (
            "any event",
            changed(&|p| {
                drop(p["Properties"]["Statement"]["Condition"]["StringEquals"].as_object_mut().unwrap().remove("events:detail-type"))
            }),
        ),
        (
            "any principal of the organization",
            changed(&|p| drop(p["Properties"]["Statement"]["Condition"].as_object_mut().unwrap().remove("ArnLike"))),
        ),
        ("no condition at all", changed(&|p| drop(p["Properties"]["Statement"].as_object_mut().unwrap().remove("Condition")))),
        ("every action of the bus", changed(&|p| p["Properties"]["Statement"]["Action"] = json!("events:*"))),
        ("the policy without an organization", changed(&|p| drop(p.as_object_mut().unwrap().remove("Condition")))),
    ] {
        assert!(!organization_bus_policy_findings(&wider).is_empty(), "the check does not notice {what}");
    }
}

#[test]
fn the_outputs_name_the_role_of_each_function_for_the_member_role_to_trust() {
    let outputs = tools::transformed_template()["Outputs"].as_object().unwrap();
    for (output, function) in [
        ("DeleteFunctionRoleArn", "DeleteInstanceFunction"),
        ("CheckFunctionRoleArn", "CheckInstanceStatusFunction"),
        ("SweepFunctionRoleArn", "SweepInstancesFunction"),
    ] {
        let role = &properties(function)["Role"];
        assert_eq!(role["Fn::GetAtt"][1], "Arn", "{function} runs with a role of the stack");
        assert_eq!(outputs.get(output).map(|o| &o["Value"]), Some(role), "{output}");
    }
}

#[test]
fn sam_validate_with_lint_accepts_the_template() {
    tools::assert_sam_validate_with_lint_accepts("template.yaml");
}

#[test]
fn the_function_roles_reach_other_regions_of_their_account_only_when_allowed_regions_names_some() {
    let own_region = json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:${AWS::Region}:${AWS::AccountId}:instance/*" });
    let every_region = json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" });
    for sid in ["DeleteInstances", "ReadInstances"] {
        assert_eq!(statement(sid)["Resource"], json!({ "Fn::If": ["HasAllowedRegions", every_region, own_region] }), "{sid}");
    }
    assert_eq!(
        tools::transformed_template()["Conditions"]["HasAllowedRegions"],
        json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "AllowedRegions" }, ""] }] })
    );
}

// ---------------------------------------------------------------- who may ask, and with which member role

/// The statement of `OrganizationEventBusPolicy` as a stack deployed with `given` holds it.
fn deployed_bus_policy(given: &[(&str, &str)]) -> Vec<Value> {
    let stack = policies::Resolver::new(tools::transformed_template(), given);
    assert!(stack.holds("OrganizationEventBusPolicy"));
    vec![stack.deployed(&properties("OrganizationEventBusPolicy")["Statement"])]
}

#[test]
fn the_organization_s_accounts_may_put_deletion_requests_on_the_bus_only_through_their_forwarding_role() {
    use policies::{decide, Decision, Request};
    let organization = "o-a1b2c3d4e5";
    let put = |principal: &str, bus: &str| {
        Request::new(principal, "events:PutEvents", bus)
            .with("aws:PrincipalOrgID", &[organization])
            .with("events:detail-type", &[DELETION_REQUESTED])
    };
    for (given, bus) in [
        (vec![("OrganizationId", organization)], "<EventBus.Arn>"),
        (vec![("OrganizationId", organization), ("EventBusName", "platform")], "arn:aws:events:us-east-1:123456789012:event-bus/platform"),
        (vec![("OrganizationId", organization), ("MemberRoleName", "Cleaner")], "<EventBus.Arn>"),
    ] {
        let policy = deployed_bus_policy(&given);
        let name = given.iter().find(|(p, _)| *p == "MemberRoleName").map_or("SupplyChainInstanceDeletion", |(_, v)| *v);
        let forwarder = format!("arn:aws:iam::210987654321:role/{name}-Forwarder");
        assert_eq!(decide(&policy, &put(&forwarder, bus)), Decision::Allowed, "{given:?}: the forwarding role");
        for other in [
            "arn:aws:iam::210987654321:role/developer".to_owned(),
            format!("arn:aws:iam::210987654321:role/{name}"),
            format!("arn:aws:iam::210987654321:role/{name}-Sweep"),
            format!("arn:aws:iam::210987654321:role/platform/{name}-Forwarder"),
            format!("arn:aws:iam::210987654321:user/{name}-Forwarder"),
            "arn:aws:iam::210987654321:root".to_owned(),
        ] {
            assert_eq!(decide(&policy, &put(&other, bus)), Decision::NotAllowed, "{given:?}: {other}");
        }
        let outsider = put(&forwarder, bus).with("aws:PrincipalOrgID", &["o-zzzzzzzzzz"]);
        assert_eq!(decide(&policy, &outsider), Decision::NotAllowed, "{given:?}: another organization's forwarder");
        let announcement = put(&forwarder, bus).with("events:detail-type", &["Supply Chain Instance Deletion Started"]);
        assert_eq!(decide(&policy, &announcement), Decision::NotAllowed, "{given:?}: another detail-type");
        let other_action = Request::new(&forwarder, "events:PutRule", bus).with("aws:PrincipalOrgID", &[organization]);
        assert_eq!(decide(&policy, &other_action), Decision::NotAllowed, "{given:?}: another action");
    }
}

#[test]
fn the_checker_and_the_notices_take_only_events_of_the_stack_s_own_account() {
    // The stack's own rules, each with the one fixture it takes; the delete rule takes requests of
    // other accounts (forwarded by member-role.yaml), and so matches on no account.
    let own_account_rules = [
        ("CheckInstanceStatusFunctionDeletionStarted", "check/deletion-started.json"),
        ("DeletionScheduledNoticeRule", "sweep/deletion-scheduled.json"),
        ("DeletionCancelledNoticeRule", "sweep/deletion-cancelled.json"),
        ("DeletedNoticeRule", "outcomes/deleted.json"),
        ("DeletionFailedNoticeRule", "outcomes/deletion-failed.json"),
        ("DeletionTimedOutNoticeRule", "outcomes/deletion-timed-out.json"),
    ];
    let mut events = Map::new();
    for (_, name) in own_account_rules {
        let own = fixture(name);
        assert_eq!(own["account"], "123456789012", "{name}: the fixture is the stack's own account's");
        let mut foreign = own.clone();
        foreign["account"] = json!("210987654321");
        events.insert(format!("own {name}"), own);
        events.insert(format!("foreign {name}"), foreign);
    }
    events.insert("foreign request".to_owned(), fixture("eventbridge-forwarded-from-member.json"));
    let matches = tools::rules_matching(&Value::Object(events));
    let taken = |rule: &str| -> Vec<String> {
        let matched = matches[rule].as_object().unwrap_or_else(|| panic!("no rule {rule}: {matches}"));
        matched.iter().filter(|(_, m)| **m == true).map(|(name, _)| name.clone()).collect()
    };
    for (rule, name) in own_account_rules {
        assert_eq!(taken(rule), [format!("own {name}")], "{rule}");
        let pattern = &properties(rule)["EventPattern"];
        assert_eq!(pattern["account"], json!([{ "Ref": "AWS::AccountId" }]), "{rule}");
    }
    assert!(taken("DeleteInstanceFunctionDeletionRequested").contains(&"foreign request".to_owned()));
    assert_eq!(properties("DeleteInstanceFunctionDeletionRequested")["EventPattern"].get("account"), None);
}

#[test]
fn each_function_may_assume_only_its_own_member_role() {
    use policies::{decide, Decision, Request};
    for name in ["SupplyChainInstanceDeletion", "Cleaner"] {
        let stack = policies::Resolver::new(tools::transformed_template(), &[("MemberRoleName", name)]);
        let member_roles = [name.to_owned(), format!("{name}-Checker"), format!("{name}-Sweep"), format!("{name}-Forwarder")];
        for (function, role, own) in [
            ("DeleteInstanceFunction", "DeleteInstanceRole", 0),
            ("CheckInstanceStatusFunction", "CheckInstanceStatusRole", 1),
            ("SweepInstancesFunction", "SweepInstancesRole", 2),
        ] {
            let variable = stack.deployed(&properties(function)["Environment"]["Variables"]["MEMBER_ROLE_NAME"]);
            assert_eq!(variable, member_roles[own].as_str(), "{function}");
            let statements = stack.role_statements(role);
            let assumable: Vec<&String> = member_roles
                .iter()
                .filter(|member| {
                    let arn = format!("arn:aws:iam::210987654321:role/{member}");
                    decide(&statements, &Request::new("arn:aws:iam::123456789012:role/function", "sts:AssumeRole", &arn))
                        == Decision::Allowed
                })
                .collect();
            assert_eq!(assumable, [&member_roles[own]], "{role} with MemberRoleName {name}");
        }
    }
    // The longest name the parameter takes leaves room for the longest suffix within IAM's 64.
    let pattern = &tools::transformed_template()["Parameters"]["MemberRoleName"]["AllowedPattern"];
    assert_eq!(pattern, "^[A-Za-z0-9+=,.@_-]{1,54}$");
    assert_eq!(54 + "-Forwarder".len(), 64);
}

// ---------------------------------------------------------------- the notice key

/// The role ARN a deployed stack gives the sweep's role, put where the key policy holds
/// `<SweepInstancesRole.Arn>`, so that ARN conditions compare real ARNs.
const SWEEP_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/supplychain-delete-instance-SweepInstancesRole-1A2B3C";

/// The key policy of NoticeKey as deployed with `given` parameters.
fn notice_key_statements(given: &[(&str, &str)]) -> Vec<Value> {
    let template = tools::transformed_template();
    let resolver = policies::Resolver::new(template, given);
    assert!(resolver.holds("NoticeKey"));
    let deployed = resolver.deployed(&properties("NoticeKey")["KeyPolicy"]).to_string().replace("<SweepInstancesRole.Arn>", SWEEP_ROLE_ARN);
    policies::statements(&serde_json::from_str(&deployed).unwrap())
}

#[test]
fn the_notice_key_is_an_hmac_key_that_only_the_sweep_s_role_may_sign_or_check_marks_with() {
    let key = properties("NoticeKey");
    assert_eq!((key["KeySpec"].as_str(), key["KeyUsage"].as_str()), (Some("HMAC_256"), Some("GENERATE_VERIFY_MAC")));
    assert_eq!(resource("NoticeKey")["Condition"], "HasNotice");
    let sweep = &properties("SweepInstancesFunction")["Environment"]["Variables"];
    assert_eq!(sweep["NOTICE_KEY_ID"], json!({ "Fn::If": ["HasNotice", { "Fn::GetAtt": ["NoticeKey", "Arn"] }, ""] }));
    assert_eq!(sweep["NOTICE_HOURS"], json!({ "Ref": "NoticeHours" }));
    let template = tools::transformed_template();
    assert!(!policies::Resolver::new(template, &[("NoticeHours", "0")]).holds("NoticeKey"), "no notice, no key");

    let statements = notice_key_statements(&[]);
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let decide = |principal: &str, action: &str| policies::decide(&statements, &policies::Request::new(principal, action, key_arn));
    for action in ["kms:GenerateMac", "kms:VerifyMac"] {
        assert_eq!(decide(SWEEP_ROLE_ARN, action), policies::Decision::Allowed, "{action}");
        // Anyone else of the account, an administrator whose IAM policy allows kms:* included, is
        // denied by the key policy itself.
        for other in [
            "arn:aws:iam::123456789012:role/Admin",
            "arn:aws:iam::123456789012:role/supplychain-delete-instance-DeleteInstanceRole-1A2B3C",
            "arn:aws:iam::123456789012:user/tagger",
            "arn:aws:iam::210987654321:role/SupplyChainInstanceDeletion-Sweep",
        ] {
            assert_eq!(decide(other, action), policies::Decision::Denied, "{other} {action}");
        }
    }
    // The account administers the key, without using it.
    assert_eq!(decide("arn:aws:iam::123456789012:role/Admin", "kms:ScheduleKeyDeletion"), policies::Decision::Allowed);
    assert_eq!(decide("arn:aws:iam::123456789012:role/Admin", "kms:DescribeKey"), policies::Decision::Allowed);
    for statement in &statements {
        let actions = policies::string_set(&statement["Action"]);
        assert!(actions.iter().all(|a| !a.contains('*')), "no wildcard action in the key policy: {statement}");
    }
}

#[test]
fn a_key_policy_that_lets_another_principal_sign_is_caught() {
    let statements = notice_key_statements(&[]);
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let without_deny: Vec<Value> = statements.iter().filter(|s| s["Effect"] != "Deny").cloned().collect();
    let mut root_may_sign = without_deny.clone();
    for statement in &mut root_may_sign {
        if statement["Sid"] == "KeyAdministration" {
            statement["Action"].as_array_mut().unwrap().push(json!("kms:GenerateMac"));
        }
    }
    let admin = policies::Request::new("arn:aws:iam::123456789012:role/Admin", "kms:GenerateMac", key_arn);
    assert_eq!(policies::decide(&statements, &admin), policies::Decision::Denied);
    assert_eq!(policies::decide(&root_may_sign, &admin), policies::Decision::Allowed, "the weakening is visible to the check");
}

// ---------------------------------------------------------------- the parameters, as an operator reads them

#[test]
fn every_parameter_is_in_exactly_one_group_with_a_label_for_the_console_and_sam_deploy_guided() {
    let template = source_template();
    let declared: BTreeSet<String> = template["Parameters"].as_object().unwrap().keys().cloned().collect();
    let interface = &template["Metadata"]["AWS::CloudFormation::Interface"];
    let mut grouped = Vec::new();
    for group in interface["ParameterGroups"].as_array().expect("ParameterGroups") {
        assert!(group["Label"]["default"].as_str().is_some_and(|label| !label.is_empty()), "{group}");
        grouped.extend(strings(&group["Parameters"]));
    }
    let unique: BTreeSet<String> = grouped.iter().cloned().collect();
    assert_eq!(unique.len(), grouped.len(), "a parameter in two groups: {grouped:?}");
    assert_eq!(unique, declared, "the groups hold exactly the declared parameters");
    let labels = interface["ParameterLabels"].as_object().expect("ParameterLabels");
    assert_eq!(labels.keys().cloned().collect::<BTreeSet<_>>(), declared, "one label per parameter");
    for (name, label) in labels {
        let text = label["default"].as_str().unwrap_or_default();
        assert!(!text.is_empty() && text.len() <= 80, "{name}: {label}");
    }
}

/// The rows of docs/deploying.md's parameter table: each parameter named in its first cell (a cell
/// may name two), with its default as the second cell writes it.
fn deploy_page_defaults() -> std::collections::BTreeMap<String, String> {
    let text = tools::read(&tools::repo_path("docs/deploying.md"));
    let start = text.find("| Parameter | Default | What it does |").expect("the deploy page's parameter table");
    let mut rows = std::collections::BTreeMap::new();
    for line in text[start..].lines().skip(2).take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for name in cells[1].split(',').map(|name| name.trim().trim_matches('`')) {
            rows.insert(name.to_owned(), cells[2].trim_matches('`').to_owned());
        }
    }
    rows
}

#[test]
fn every_parameter_has_a_row_with_its_default_on_the_deploy_page() {
    let parameters = source_template()["Parameters"].as_object().unwrap();
    let rows = deploy_page_defaults();
    let declared: BTreeSet<&String> = parameters.keys().collect();
    assert_eq!(rows.keys().collect::<BTreeSet<_>>(), declared, "the deploy page's table names exactly the parameters");
    for (name, declaration) in parameters {
        let default = match &declaration["Default"] {
            Value::String(text) if text.is_empty() => "empty".to_owned(),
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            other => panic!("{name}: a default that is not a string or a number: {other}"),
        };
        assert_eq!(rows[name], default, "{name}: the deploy page's default");
    }
}
