//! Every setting's default, held equal in the three places a reader finds it: the code (the
//! settings read from an environment that sets nothing), docs/configuration.md's table, and, where
//! the stack sets the variable from a parameter, that parameter's default in template.yaml.

use std::collections::BTreeMap;

use serde_json::Value;
use supplychain_delete_instance::config::{CheckSettings, DeleteSettings, SweepSettings};
use supplychain_delete_instance::metrics::DEFAULT_NAMESPACE;

use crate::support::tools;

/// How the documentation writes "no value": unset, empty or none, as the variable's kind reads.
const NO_VALUE: [&str; 3] = ["unset", "empty", "none"];

/// The documented default of each variable (a row may name two), as the table writes it.
fn documented() -> BTreeMap<String, String> {
    let text = tools::read(&tools::repo_path("docs/configuration.md"));
    let start = text.find("| Variable | Read by | Default | Meaning |").expect("the configuration table");
    let mut rows = BTreeMap::new();
    for line in text[start..].lines().skip(2).take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for name in cells[1].split(',').map(|name| name.trim().trim_matches('`')) {
            rows.insert(name.to_owned(), cells[3].trim_matches('`').to_owned());
        }
    }
    rows
}

/// What the code takes when nothing is set: `None` for no value (an empty list included). The
/// sweep needs its bus and, with its default notice, its key; neither has a default.
fn in_the_code() -> BTreeMap<&'static str, Option<String>> {
    let delete = DeleteSettings::from_lookup(&|_| None).unwrap();
    let check = CheckSettings::from_lookup(&|_| None).unwrap();
    let sweep = SweepSettings::from_lookup(&|name| match name {
        "EVENT_BUS_NAME" => Some("bus".to_owned()),
        "NOTICE_KEY_ID" => Some("alias/notice".to_owned()),
        _ => None,
    })
    .unwrap();
    let common = &delete.common;
    let list = |items: usize| (items > 0).then(|| items.to_string());
    BTreeMap::from([
        ("EVENT_BUS_NAME", common.event_bus.clone()),
        ("DELETION_PROTECTION_TAG", delete.protection.as_ref().map(|p| p.tag().to_owned())),
        ("SQS_CONCURRENCY", Some(delete.batch_concurrency.to_string())),
        ("DEAD_LETTER_QUEUE_URL", delete.dead_letter_queue_url.clone()),
        ("SCHEDULE_GROUP", Some(check.schedule_group.clone())),
        ("SCHEDULER_ROLE_ARN", check.scheduler_role_arn.clone()),
        ("SCHEDULE_DEAD_LETTER_ARN", check.schedule_dead_letter_arn.clone()),
        ("POLL_INTERVAL_SECONDS", Some(check.poll_interval.as_secs().to_string())),
        ("MAX_POLL_INTERVAL_SECONDS", Some(check.max_poll_interval.as_secs().to_string())),
        ("MAX_WAIT_SECONDS", Some(check.max_wait.as_secs().to_string())),
        ("SWEEP_MODE", serde_json::to_value(sweep.mode).unwrap().as_str().map(str::to_owned)),
        ("EXPIRY_TAG", sweep.expiry_tag.clone()),
        ("MAX_AGE_DAYS", sweep.age_rule.as_ref().map(|rule| rule.max_age_days.to_string())),
        ("NAME_PREFIX", sweep.age_rule.as_ref().map(|rule| rule.name_prefix.clone())),
        ("MAX_DELETIONS_PER_SWEEP", Some(sweep.max_deletions.to_string())),
        ("SWEEP_ACCOUNTS", list(sweep.accounts.len())),
        ("SWEEP_REGIONS", list(sweep.regions.len())),
        ("SWEEP_CONCURRENCY", Some(sweep.concurrency.to_string())),
        ("SWEEP_SEND_RESERVE_MS", Some(sweep.send_reserve.as_millis().to_string())),
        ("NOTICE_HOURS", Some((sweep.notice.as_secs() / 3_600).to_string())),
        ("SCHEDULE_TAG", Some(sweep.schedule_tag.clone())),
        ("OWNER_TAG", sweep.owner_tag.clone()),
        ("APPROVAL_REQUIRED", Some(sweep.approval_required.to_string())),
        ("APPROVAL_TIMEOUT_HOURS", Some((sweep.approval_timeout.as_secs() / 3_600).to_string())),
        ("ALLOWED_ACCOUNT_IDS", list(common.allowed_accounts.len())),
        ("ALLOWED_REGIONS", list(common.allowed_regions.len())),
        ("MEMBER_ROLE_NAME", Some(common.member_role_name.clone())),
        ("MEMBER_SESSION_SECONDS", Some(common.member_session.as_secs().to_string())),
        ("DEADLINE_MARGIN_MS", Some(common.deadline_margin.as_millis().to_string())),
        ("FALLBACK_TIMEOUT_MS", Some(common.fallback_timeout.as_millis().to_string())),
        ("ATTEMPT_TIMEOUT_MS", Some(common.attempt_timeout.as_millis().to_string())),
        ("CONNECT_AT_INIT", Some(common.connect_at_init.to_string())),
        ("METRICS_NAMESPACE", Some(DEFAULT_NAMESPACE.to_owned())),
    ])
}

/// The parameter each function's variable is set from (`Ref`), where the stack sets it so.
fn set_from_parameters() -> Vec<(String, String, String)> {
    let resources = tools::transformed_template()["Resources"].as_object().unwrap();
    let mut found = Vec::new();
    for (id, resource) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::Lambda::Function") {
        for (variable, value) in resource["Properties"]["Environment"]["Variables"].as_object().into_iter().flatten() {
            if let Some(parameter) = value.get("Ref").and_then(Value::as_str) {
                found.push((id.clone(), variable.clone(), parameter.to_owned()));
            }
        }
    }
    found
}

fn is_no_value(text: &str) -> bool {
    NO_VALUE.contains(&text)
}

#[test]
fn each_setting_has_the_same_default_in_the_code_and_in_docs_configuration() {
    let documented = documented();
    let code = in_the_code();
    let documented_names: Vec<&String> = documented.keys().filter(|name| code.contains_key(name.as_str())).collect();
    let undocumented: Vec<&&str> = code.keys().filter(|name| !documented.contains_key(**name)).collect();
    assert!(undocumented.is_empty(), "settings without a row in docs/configuration.md: {undocumented:?}");
    assert!(documented_names.len() >= 30, "{documented_names:?}");
    for (name, value) in &code {
        let written = &documented[*name];
        match value {
            None => assert!(is_no_value(written), "{name}: the code has no default, the docs say {written:?}"),
            Some(value) => assert_eq!(written, value, "{name}: the docs' default against the code's"),
        }
    }
}

#[test]
fn each_variable_the_stack_sets_from_a_parameter_takes_the_documented_default_by_default() {
    let parameters = tools::transformed_template()["Parameters"].as_object().unwrap();
    let documented = documented();
    let found = set_from_parameters();
    assert!(found.len() >= 20, "{found:?}");
    for (function, variable, parameter) in found {
        let Some(declaration) = parameters.get(&parameter) else { continue };
        let default = match &declaration["Default"] {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            other => panic!("{parameter}: {other}"),
        };
        let written = documented.get(&variable).unwrap_or_else(|| panic!("{function} sets {variable}, which docs/configuration.md lacks"));
        if default.is_empty() {
            assert!(is_no_value(written), "{function} {variable} = {parameter} (empty by default), but the docs say {written:?}");
        } else {
            assert_eq!(written, &default, "{function} {variable} = {parameter}: the docs' default against the parameter's");
        }
    }
}
