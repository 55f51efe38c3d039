//! The notice rules and the alarms are written out in full, each a copy of one shape
//! (docs/deploying.md says why no loop writes them): a change made to one copy and not to the
//! others fails here.

use super::*;

/// `value` without the members at `pointers` (JSON pointers); a member a copy does not have is
/// simply not there to remove.
fn without(value: &Value, pointers: &[&str]) -> Value {
    let mut copy = value.clone();
    for pointer in pointers {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        if let Some(Value::Object(members)) = copy.pointer_mut(parent) {
            members.remove(key);
        }
    }
    copy
}

/// Holds the resources `select` takes to one shape: without their `varying` members, every one is
/// the same as the first. Answers their logical ids, in order.
fn assert_one_shape(what: &str, select: impl Fn(&str, &Value) -> bool, varying: &[&str]) -> Vec<&'static str> {
    let copies: Vec<(&'static str, Value)> =
        resources().iter().filter(|(id, r)| select(id, r)).map(|(id, r)| (id.as_str(), without(r, varying))).collect();
    let (first, shape) = copies.first().unwrap_or_else(|| panic!("no {what} in the transformed template"));
    for (id, copy) in &copies {
        assert_eq!(copy, shape, "{id} is not the same {what} as {first} (apart from {varying:?})");
    }
    let mut ids: Vec<&'static str> = copies.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn the_five_notice_rules_are_one_rule_apart_from_the_events_they_take_and_the_message_they_send() {
    let rules = assert_one_shape(
        "notice rule",
        |id, _| id.ends_with("NoticeRule"),
        &[
            "/Properties/Description",
            // Which events: the source and detail-type of its one kind, and for DeletedNoticeRule
            // the `instanceNotFound` filter of its detail.
            "/Properties/EventPattern/source",
            "/Properties/EventPattern/detail-type",
            "/Properties/EventPattern/detail",
            // The message: the paths each kind of event holds its values at, and the text.
            "/Properties/Targets/0/InputTransformer",
        ],
    );
    assert_eq!(
        rules,
        [
            "DeletedNoticeRule",
            "DeletionCancelledNoticeRule",
            "DeletionFailedNoticeRule",
            "DeletionScheduledNoticeRule",
            "DeletionTimedOutNoticeRule"
        ]
    );
    for rule in rules {
        let targets = properties(rule)["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{rule}: one target, whose input transformer is the only one that may differ");
    }
}

#[test]
fn the_eleven_alarms_are_one_alarm_apart_from_what_they_watch_and_their_threshold() {
    let alarms = assert_one_shape(
        "alarm",
        |_, r| r["Type"] == "AWS::CloudWatch::Alarm",
        &[
            "/Properties/AlarmDescription",
            "/Properties/Threshold",
            // What it watches: one metric, or metric math over several.
            "/Properties/Namespace",
            "/Properties/MetricName",
            "/Properties/Dimensions",
            "/Properties/Statistic",
            "/Properties/Period",
            "/Properties/Metrics",
        ],
    );
    assert_eq!(alarms.len(), 11, "{alarms:?}");
    let mut periods = BTreeSet::new();
    for alarm in &alarms {
        let watched = properties(alarm);
        match (watched.get("MetricName"), watched["Metrics"].as_array()) {
            (Some(_), None) => {
                periods.insert(watched["Period"].to_string());
            }
            (None, Some(metrics)) => periods.extend(metrics.iter().filter_map(|m| m.get("MetricStat")).map(|s| s["Period"].to_string())),
            _ => panic!("{alarm} watches neither one metric nor metric math: {watched}"),
        }
    }
    assert_eq!(periods.len(), 1, "the alarms look at periods of one length: {periods:?}");

    // The two state machines' alarms are one metric math apart from the state machine.
    let math = |alarm: &str| {
        let metrics = &properties(alarm)["Metrics"];
        let pointers: Vec<String> = (0..metrics.as_array().unwrap().len()).map(|i| format!("/{i}/MetricStat/Metric/Dimensions")).collect();
        without(metrics, &pointers.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(math("OrganizationSweepFailedAlarm"), math("DeletionWorkflowFailedAlarm"));
}
