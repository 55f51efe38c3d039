//! The wiring: the state machines, the queue, the retries, the dead-letter queues and their alarms, the outputs, the schedules and the rules.

use super::*;

#[test]
fn the_organization_sweep_invokes_the_sweep_and_runs_its_distributed_map_and_nothing_else() {
    // S3: the Distributed Map's ItemReader and ResultWriter (template::plan_bucket holds where).
    let invoke_log_trace: BTreeSet<String> =
        ["lambda:InvokeFunction", "s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
            .into_iter()
            .chain(RESOURCELESS_ACTIONS.into_iter().filter(|a| a.starts_with("logs:") || a.starts_with("xray:")))
            .map(String::from)
            .collect();
    assert_eq!(
        actions_of("OrganizationSweepRole"),
        invoke_log_trace,
        "it invokes, logs and traces as the DeletionWorkflow does, and reads and writes its files"
    );
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
    assert_eq!(schedule["State"], json!({ "Fn::If": ["OrganizationSweepScheduled", "DISABLED", "ENABLED"] }));
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

/// The state a schedule's `State` takes under one value of `OrganizationSweepScheduleState`, by the
/// template's own condition of that name.
fn schedule_state(state: &Value, organization_schedule: &str) -> String {
    match state {
        Value::String(text) => text.clone(),
        Value::Object(object) if object.contains_key("Ref") => {
            assert_eq!(object["Ref"], "OrganizationSweepScheduleState", "{state}");
            organization_schedule.to_owned()
        }
        Value::Object(object) if object.contains_key("Fn::If") => {
            let branches = object["Fn::If"].as_array().unwrap();
            let condition = &crate::support::tools::transformed_template()["Conditions"][branches[0].as_str().unwrap()];
            assert_eq!(condition, &json!({ "Fn::Equals": [{ "Ref": "OrganizationSweepScheduleState" }, "ENABLED"] }), "{state}");
            let branch = if organization_schedule == "ENABLED" { &branches[1] } else { &branches[2] };
            schedule_state(branch, organization_schedule)
        }
        other => panic!("a schedule state the test cannot read: {other}"),
    }
}

#[test]
fn the_account_sweeps_schedule_is_off_whenever_the_organization_sweeps_is_on_so_no_account_is_swept_twice() {
    let targets = [json!({ "Fn::GetAtt": ["SweepInstancesFunction", "Arn"] }), json!({ "Ref": "OrganizationSweep" })];
    let states = |organization_schedule: &str| -> Vec<String> {
        targets
            .iter()
            .map(|target| {
                let schedule = resources()
                    .values()
                    .find(|r| r["Type"] == "AWS::Scheduler::Schedule" && &r["Properties"]["Target"]["Arn"] == target)
                    .unwrap_or_else(|| panic!("no schedule of {target}"));
                schedule_state(&schedule["Properties"]["State"], organization_schedule)
            })
            .collect()
    };
    assert_eq!(states("DISABLED"), ["ENABLED", "DISABLED"], "the account sweep alone, by default");
    assert_eq!(states("ENABLED"), ["DISABLED", "ENABLED"], "the organization sweep alone, the central account in it");
}
