//! The functions: their build and their environment.

use super::*;

#[test]
fn the_three_functions_are_arm64_rust_binaries_with_json_logs_kept_for_the_retention_parameter() {
    // The build metadata is read by `sam build`, so it is checked on the source template.
    let template = source_template();
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
