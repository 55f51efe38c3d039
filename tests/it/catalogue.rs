//! The bus contract's catalogue (`src/contract/`) against everything else that names its events:
//! the fixtures of `events/`, the table of docs/inputs-and-outputs.md, and every rule pattern of
//! `template.yaml` and `member-role.yaml`. A detail-type renamed in one place, or a rule written for
//! an event the stack never puts, fails here.

use std::path::Path;

use crate::support::tools::{member_role_template, read, transformed_template};
use crate::support::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use supplychain_delete_instance::contract::{
    DeletionCancelled, DeletionRequested, DeletionScheduled, DeletionStarted, Event, OrganizationSummary, PlanApproved, PlanExpired,
    PlanReady, PlanRejected, SweepReport, EVENT_SOURCE, SWEEP_SOURCE,
};

/// Every fixture of `events/` that is an EventBridge event, by path, except the refused ones
/// (`invalid/`), which are wrong on purpose.
fn event_fixtures() -> Vec<(String, Value)> {
    fn walk(dir: &Path, found: &mut Vec<(String, Value)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && path.file_name().is_some_and(|name| name != "invalid") {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                // As if sent now: the files keep fixed times, which nothing here reads.
                let name = path.strip_prefix(repo_path("events")).unwrap().to_str().unwrap().to_owned();
                let value = fixture_now(&name);
                if value.get("detail-type").is_some() {
                    found.push((name, value));
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(&repo_path("events"), &mut found);
    found
}

fn text<'a>(value: &'a Value, member: &str) -> &'a str {
    value[member].as_str().unwrap_or_else(|| panic!("no {member:?} string in {value}"))
}

/// Reads `detail` into `T` and writes it back: the same JSON, or the type and the fixture differ.
fn assert_round_trip<T: Serialize + DeserializeOwned>(name: &str, detail: &Value) {
    let typed: T = serde_json::from_value(detail.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&serde_json::to_value(typed).unwrap(), detail, "{name}: the typed detail writes back otherwise");
}

#[test]
fn every_event_of_the_catalogue_has_a_fixture_from_its_source_and_each_detail_reads_into_its_type() {
    let fixtures = event_fixtures();
    for event in Event::ALL {
        let shown: Vec<&(String, Value)> = fixtures
            .iter()
            .filter(|(_, value)| text(value, "detail-type") == event.detail_type() && text(value, "source") == event.source())
            .collect();
        assert!(!shown.is_empty(), "no fixture under events/ shows {:?} from {:?}", event.detail_type(), event.source());
        for (name, value) in shown {
            let detail = &value["detail"];
            match event {
                Event::DeletionRequested => assert_round_trip::<DeletionRequested>(name, detail),
                Event::DeletionStarted => assert_round_trip::<DeletionStarted>(name, detail),
                Event::DeletionScheduled => assert_round_trip::<DeletionScheduled>(name, detail),
                Event::DeletionCancelled => assert_round_trip::<DeletionCancelled>(name, detail),
                Event::SweepCompleted => assert_round_trip::<SweepReport>(name, detail),
                Event::OrganizationSweepCompleted => assert_round_trip::<OrganizationSummary>(name, detail),
                Event::PlanReady => assert_round_trip::<PlanReady>(name, detail),
                Event::PlanApproved => assert_round_trip::<PlanApproved>(name, detail),
                Event::PlanRejected => assert_round_trip::<PlanRejected>(name, detail),
                Event::PlanExpired => assert_round_trip::<PlanExpired>(name, detail),
                // The outcome's detail borrows from the check that writes it and is never read back
                // by the stack: its members are held by the audit record's tests.
                Event::Deleted | Event::DeletionFailed | Event::DeletionTimedOut => {
                    assert!(detail["outcome"].is_string() && detail["instance"].is_object(), "{name}: {detail}")
                }
            }
        }
    }
}

#[test]
fn no_fixture_shows_an_event_of_the_stacks_sources_that_the_catalogue_lacks_or_under_another_source() {
    for (name, value) in event_fixtures() {
        let (source, detail_type) = (text(&value, "source"), text(&value, "detail-type"));
        match Event::of_detail_type(detail_type) {
            // Anyone may ask for a deletion, under a source of their own.
            Some(Event::DeletionRequested) => assert_ne!(source, EVENT_SOURCE, "{name}"),
            Some(event) => assert_eq!(source, event.source(), "{name}: {detail_type:?} comes from another source"),
            None => {
                assert!(![EVENT_SOURCE, SWEEP_SOURCE].contains(&source), "{name}: {detail_type:?} from {source:?} is not in the catalogue")
            }
        }
    }
}

#[test]
fn the_inputs_and_outputs_page_lists_every_event_with_its_source_and_fixture() {
    let page = read(&repo_path("docs/inputs-and-outputs.md"));
    let table = page.split("## The events on the bus").nth(1).expect("the page has a section of the events").split("\n## ").next().unwrap();
    let rows: Vec<&str> = table.lines().filter(|line| line.starts_with("| `Supply Chain")).collect();
    assert_eq!(rows.len(), Event::ALL.len(), "one row an event:\n{table}");
    for event in Event::ALL {
        let row = rows
            .iter()
            .find(|row| row.starts_with(&format!("| `{}` |", event.detail_type())))
            .unwrap_or_else(|| panic!("no row for {:?}", event.detail_type()));
        assert!(row.contains(&format!("`{}`", event.source())), "{row}");
        let fixture =
            row.split("(../events/").nth(1).and_then(|rest| rest.split(')').next()).unwrap_or_else(|| panic!("no fixture: {row}"));
        let shown = crate::support::fixture(fixture);
        assert_eq!((text(&shown, "source"), text(&shown, "detail-type")), (event.source(), event.detail_type()), "{row}");
    }
}

/// Every event pattern of a template, with where it is.
fn patterns(template: &Value) -> Vec<(String, Value)> {
    fn walk(at: String, value: &Value, found: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    if key == "EventPattern" || key == "Pattern" {
                        found.push((at.clone(), member.clone()));
                    } else {
                        walk(format!("{at}.{key}"), member, found);
                    }
                }
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, item)| walk(format!("{at}[{i}]"), item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(String::new(), &template["Resources"], &mut found);
    found
}

/// The strings a pattern's member names: plain values, and those inside `anything-but`.
fn named(member: &Value, at: &str) -> Vec<String> {
    let items = member.as_array().unwrap_or_else(|| panic!("{at}: a pattern member is a list: {member}"));
    items
        .iter()
        .flat_map(|item| match item {
            Value::String(text) => vec![text.clone()],
            Value::Object(rule) if rule.len() == 1 && rule.contains_key("anything-but") => match &rule["anything-but"] {
                Value::String(text) => vec![text.clone()],
                Value::Array(texts) => texts.iter().map(|text| text.as_str().unwrap().to_owned()).collect(),
                other => panic!("{at}: anything-but {other}"),
            },
            other => panic!("{at}: a matcher the catalogue cannot check: {other}"),
        })
        .collect()
}

fn assert_patterns_name_known_events(template: &Value, file: &str) -> usize {
    let found = patterns(template);
    for (at, pattern) in &found {
        let at = format!("{file}{at}");
        // A pattern is JSON text in some resources.
        let pattern = match pattern {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.clone(),
        };
        let detail_types = pattern.get("detail-type").map(|member| named(member, &at)).unwrap_or_default();
        let sources = pattern.get("source").map(|member| named(member, &at)).unwrap_or_default();
        assert!(!(detail_types.is_empty() && sources.is_empty()), "{at}: a pattern that names no event: {pattern}");
        for source in &sources {
            assert!([EVENT_SOURCE, SWEEP_SOURCE].contains(&source.as_str()), "{at}: unknown source {source:?}");
        }
        for detail_type in &detail_types {
            let event = Event::of_detail_type(detail_type).unwrap_or_else(|| panic!("{at}: unknown detail-type {detail_type:?}"));
            // Plain sources are where the rule expects the event from: the stack puts it there.
            let plain = pattern["source"].as_array().is_some_and(|items| items.iter().all(Value::is_string));
            if plain && event != Event::DeletionRequested {
                assert!(sources.iter().any(|source| source == event.source()), "{at}: {detail_type:?} never comes from {sources:?}");
            }
        }
    }
    found.len()
}

#[test]
fn every_rule_pattern_of_the_stack_and_the_member_role_names_known_sources_and_detail_types() {
    let in_stack = assert_patterns_name_known_events(transformed_template(), "template.yaml");
    let in_member = assert_patterns_name_known_events(member_role_template(), "member-role.yaml");
    // The delete function's rule, the checker's, the five notice rules and the archive's; the member
    // account's forwarder.
    assert_eq!(in_stack, 8, "patterns in template.yaml");
    assert_eq!(in_member, 1, "patterns in member-role.yaml");
}
