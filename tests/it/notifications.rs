//! The deletion notices and the audit archive of template.yaml (docs/notice-and-audit.md): the
//! sweep's notice settings reach it as its environment; with NotificationTopicArn, one rule per kind
//! of message sends a readable text to the topic, each text rendered here from the fixtures exactly
//! as EventBridge renders an input transformer; the archive keeps every event of the sweep and of
//! the functions, checked by archiving and replaying the fixtures on moto's EventBridge; the proof
//! that nothing was deleted without notice (scripts/notice-proof) is run on what such a replay
//! writes to a log group, honest histories and broken ones. What IAM lets the sweep write is in
//! `schedule_tag_grant`.

use crate::support::policies;

use std::collections::BTreeSet;

use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::support::{tools, FIXTURE_ID, FIXTURE_ID_2};
use policies::Resolver;
use serde_json::{json, Map, Value};

const SWEEP_SOURCE: &str = "supplychain-instance-sweep";
const FUNCTIONS_SOURCE: &str = "supplychain-delete-instance";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:supply-chain-notices";

/// The notice rules, each with the fixture of the one kind of event it takes.
const NOTICE_RULES: [(&str, &str); 5] = [
    ("DeletionScheduledNoticeRule", "sweep/deletion-scheduled.json"),
    ("DeletionCancelledNoticeRule", "sweep/deletion-cancelled.json"),
    ("DeletedNoticeRule", "outcomes/deleted.json"),
    ("DeletionFailedNoticeRule", "outcomes/deletion-failed.json"),
    ("DeletionTimedOutNoticeRule", "outcomes/deletion-timed-out.json"),
];

fn template() -> &'static Value {
    tools::transformed_template()
}

fn properties(logical_id: &str) -> &'static Value {
    let resource =
        template()["Resources"].get(logical_id).unwrap_or_else(|| panic!("no resource {logical_id} in the transformed template"));
    &resource["Properties"]
}

fn fixture(name: &str) -> Value {
    crate::support::fixture(name)
}

// ---------------------------------------------------------------- the template

#[test]
fn sam_validate_with_lint_accepts_both_templates_and_the_transform_keeps_the_notices_and_the_archive() {
    tools::assert_sam_validate_with_lint_accepts("template.yaml");
    tools::assert_sam_validate_with_lint_accepts("member-role.yaml");
    for (rule, _) in NOTICE_RULES {
        assert_eq!(template()["Resources"][rule]["Type"], "AWS::Events::Rule", "{rule}");
    }
    assert_eq!(template()["Resources"]["AuditArchive"]["Type"], "AWS::Events::Archive");
    assert_eq!(template()["Outputs"]["AuditArchiveArn"]["Value"], json!({ "Fn::GetAtt": ["AuditArchive", "Arn"] }));
}

#[test]
fn the_notice_parameters_have_their_defaults_and_reach_the_sweep_as_its_environment() {
    let parameters = template()["Parameters"].as_object().unwrap();
    let expected = [
        ("NoticeHours", json!({"Type": "Number", "Default": 168, "MinValue": 0})),
        ("ScheduleTag", json!({"Type": "String", "Default": "DeletionScheduledFor"})),
        ("OwnerTag", json!({"Type": "String", "Default": "Owner"})),
        ("NotificationTopicArn", json!({"Type": "String", "Default": ""})),
        ("AuditRetentionDays", json!({"Type": "Number", "Default": 400, "MinValue": 0})),
    ];
    for (name, wanted) in expected {
        let parameter = &parameters[name];
        for (field, value) in wanted.as_object().unwrap() {
            assert_eq!(&parameter[field], value, "{name}.{field}");
        }
        assert!(parameter["Description"].as_str().is_some_and(|d| d.len() > 40), "parameter {name} is described");
    }
    let environment = &properties("SweepInstancesFunction")["Environment"]["Variables"];
    for (variable, parameter) in [("NOTICE_HOURS", "NoticeHours"), ("SCHEDULE_TAG", "ScheduleTag"), ("OWNER_TAG", "OwnerTag")] {
        assert_eq!(environment[variable], json!({ "Ref": parameter }), "{variable}");
    }
    // The pattern of each tag parameter takes its default, and OwnerTag alone may be empty.
    let takes = |name: &str, value: &str| {
        let pattern = parameters[name]["AllowedPattern"].as_str().unwrap();
        let output = tools::run(
            Command::new(tools::venv_bin("python"))
                .arg("-c")
                .arg("import re,sys; print(bool(re.fullmatch(sys.argv[1], sys.argv[2])))")
                .args([pattern, value]),
            "",
        );
        String::from_utf8_lossy(&output.stdout).trim() == "True"
    };
    assert!(takes("ScheduleTag", "DeletionScheduledFor") && !takes("ScheduleTag", ""));
    assert!(takes("OwnerTag", "Owner") && takes("OwnerTag", ""));
    assert!(takes("NotificationTopicArn", TOPIC) && takes("NotificationTopicArn", ""));
    assert!(!takes("NotificationTopicArn", "arn:aws:sqs:us-east-1:123456789012:not-a-topic"));
}

#[test]
fn the_notice_rules_exist_only_when_a_topic_is_given_and_send_to_it_with_the_stack_s_dead_letter_queue() {
    assert_eq!(
        template()["Conditions"]["HasNotificationTopic"],
        json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "NotificationTopicArn" }, ""] }] })
    );
    let off = Resolver::new(template(), &[]);
    let on = Resolver::new(template(), &[("NotificationTopicArn", TOPIC)]);
    for (rule, _) in NOTICE_RULES {
        assert!(!off.holds(rule) && on.holds(rule), "{rule}");
        let deployed = on.resolve(properties(rule)).unwrap();
        assert_eq!(deployed["EventBusName"], json!({ "Ref": "EventBus" }), "{rule}: on the stack's bus");
        assert_eq!(deployed["State"], "ENABLED");
        let targets = deployed["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{rule}: one target, so one input transformer");
        let target = &targets[0];
        assert_eq!(target["Arn"], TOPIC, "{rule}");
        assert_eq!(target["DeadLetterConfig"]["Arn"], json!({ "Fn::GetAtt": ["InvocationDeadLetterQueue", "Arn"] }), "{rule}");
        assert!(target["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(), "{rule}");
    }
    // The failed-invocations queue takes what the rules of this bus could not deliver.
    let queue_policy = &properties("InvocationDeadLetterQueuePolicy")["PolicyDocument"]["Statement"][0];
    assert_eq!(
        queue_policy["Condition"]["ArnLike"]["aws:SourceArn"][0]["Fn::Sub"][0],
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${Bus}/*"
    );
    // The archive is there either way.
    assert!(off.holds("AuditArchive") && on.holds("AuditArchive"));
}

// ---------------------------------------------------------------- patterns, with moto's matcher

/// The fixtures of the events the stack itself puts on its bus, the sweep's and the functions'.
const STACK_EVENTS: [&str; 8] = [
    "sweep/deletion-scheduled.json",
    "sweep/deletion-cancelled.json",
    "sweep/deletion-requested.json",
    "sweep/sweep-completed.json",
    "check/deletion-started.json",
    "outcomes/deleted.json",
    "outcomes/deletion-failed.json",
    "outcomes/deletion-timed-out.json",
];

/// Every fixture the notice rules and the archive are checked against, by name.
fn events_on_the_bus() -> Value {
    let mut events = Map::new();
    let requests = ["eventbridge-deletion-requested.json", "eventbridge-with-metadata.json", "eventbridge-forwarded-from-member.json"];
    // Sent now, as a rule sees them: the files keep fixed times, which no pattern reads.
    for name in STACK_EVENTS.into_iter().chain(requests) {
        events.insert(name.to_owned(), crate::support::fixture_now(name));
    }
    // The notices' detail-types from any other source are not the sweep's.
    let mut impostor = fixture("sweep/deletion-scheduled.json");
    impostor["source"] = json!("someone-else");
    events.insert("a Deletion Scheduled from another source".to_owned(), impostor);
    Value::Object(events)
}

#[test]
fn an_end_announced_for_an_id_the_service_does_not_know_is_never_told_as_a_deletion() {
    let deleted = fixture("outcomes/deleted.json");
    let mut not_found = deleted.clone();
    not_found["detail"]["instanceNotFound"] = json!(true);
    let matches = tools::rules_matching(&json!({"deleted": deleted, "not found": not_found}));
    assert_eq!(matches["DeletedNoticeRule"], json!({"deleted": true, "not found": false}));
}

#[test]
fn each_notice_rule_takes_its_one_kind_of_event_and_nothing_else() {
    let matches = tools::rules_matching(&events_on_the_bus());
    for (rule, wanted) in NOTICE_RULES {
        let matched: Vec<&String> = matches[rule]
            .as_object()
            .unwrap_or_else(|| panic!("no rule {rule}"))
            .iter()
            .filter(|(_, m)| **m == true)
            .map(|(name, _)| name)
            .collect();
        assert_eq!(matched, [wanted], "{rule}");
    }
}

// ---------------------------------------------------------------- the messages

/// The predefined variables an input template may name without defining them.
const PREDEFINED: [&str; 5] =
    ["aws.events.rule-arn", "aws.events.rule-name", "aws.events.event", "aws.events.event.ingestion-time", "aws.events.event.json"];

/// The value at `path` in `event`: EventBridge's input paths are JSONPath in dot notation, with
/// array indices (`$.resources[0]`), names made of letters, digits, `_` and `-`. `None` when the
/// event has nothing there.
fn at_path<'e>(event: &'e Value, path: &str) -> Option<&'e Value> {
    let rest = path.strip_prefix('$').unwrap_or_else(|| panic!("the input path {path} does not start at $"));
    let mut here = event;
    for segment in rest.split('.').skip(1) {
        let (name, indices) = segment.split_once('[').map_or((segment, ""), |(n, i)| (n, i));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{path}: {segment:?} is not a name EventBridge's JSONPath reads (dot notation only)"
        );
        here = here.get(name)?;
        if !indices.is_empty() {
            for index in format!("[{indices}").split('[').skip(1) {
                let index: usize = index.strip_suffix(']').and_then(|i| i.parse().ok()).unwrap_or_else(|| panic!("{path}: bad index"));
                here = here.get(index)?;
            }
        }
    }
    Some(here)
}

/// What EventBridge sends the target for `event` through the input transformer `transformer`, as
/// its documentation describes it (EventBridge User Guide, "Amazon EventBridge input
/// transformation"): each `<name>` of the template is replaced by the value at its path in
/// InputPathsMap; a string template keeps its quotes, and a string value goes in as its text,
/// unescaped ("EventBridge doesn't escape values extracted by Input Path"); a variable whose path is
/// not in the event "isn't created and won't appear in the output", so it leaves nothing (the
/// sentence is "... from detail " where the value would be). A template naming a variable it does
/// not define is refused by PutTargets, so it fails here.
fn render(transformer: &Value, event: &Value) -> String {
    let template = transformer["InputTemplate"].as_str().expect("an InputTemplate");
    let paths = transformer["InputPathsMap"].as_object().expect("an InputPathsMap");
    assert!(paths.len() <= 100, "at most 100 variables");
    for name in paths.keys() {
        assert!(!name.to_ascii_lowercase().starts_with("aws"), "{name}: a variable's name cannot start with AWS");
    }
    // A string template: a JSON string, for SNS a plain message.
    assert!(
        matches!(serde_json::from_str::<Value>(template), Ok(Value::String(_))),
        "the template is not a JSON string, the form whose output is plain text: {template}"
    );
    let mut rendered = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('<') {
        rendered.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('>').unwrap_or_else(|| panic!("an unclosed < in {template}"));
        let name = &after[..close];
        assert!(!PREDEFINED.contains(&name), "{name}: these messages use no predefined variable");
        let path = paths
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("<{name}> is not defined in InputPathsMap: PutTargets refuses the target"));
        match at_path(event, path) {
            Some(Value::String(text)) => rendered.push_str(text),
            Some(other) => rendered.push_str(&other.to_string()),
            None => {}
        }
        rest = &after[close + 1..];
    }
    rendered.push_str(rest);
    rendered
}

fn transformer_of(rule: &str) -> &'static Value {
    &properties(rule)["Targets"][0]["InputTransformer"]
}

/// The message each rule sends for `fixture`.
fn message(rule: &str, event: &Value) -> String {
    render(transformer_of(rule), event)
}

#[test]
fn a_scheduled_deletion_tells_which_instance_where_when_why_and_how_to_keep_it() {
    let event = fixture("sweep/deletion-scheduled.json");
    assert_eq!(
        message("DeletionScheduledNoticeRule", &event),
        format!(
            "\"Supply Chain instance «example-team» ({FIXTURE_ID}) in account 123456789012, region us-east-1, will be deleted after \
             2026-11-28T09:00:01Z: tag ExpiresAt=\"2026-11-20\" has passed. To keep it, set the tag DeletionProtection=true, \
             or add or move the tag ExpiresAt to a later time. Instance: arn:aws:scn:us-east-1:123456789012:instance/{FIXTURE_ID}\""
        )
    );
    // An instance without a name: the name's variable is not created, and the rest still reads.
    let mut unnamed = event.clone();
    unnamed["detail"].as_object_mut().unwrap().remove("instanceName");
    assert!(message("DeletionScheduledNoticeRule", &unnamed).starts_with(&format!("\"Supply Chain instance «» ({FIXTURE_ID}) in account")));
    // Every value comes from the event: another account, region and time read as such.
    let mut elsewhere = event.clone();
    elsewhere["detail"]["accountId"] = json!("210987654321");
    elsewhere["detail"]["region"] = json!("eu-west-1");
    elsewhere["detail"]["scheduledFor"] = json!("2027-01-04T10:00:00Z");
    let text = message("DeletionScheduledNoticeRule", &elsewhere);
    assert!(text.contains("in account 210987654321, region eu-west-1, will be deleted after 2027-01-04T10:00:00Z:"), "{text}");
}

#[test]
fn the_owner_s_notice_names_the_instance_arn_the_commands_that_keep_it_take() {
    // The ARN comes from the notice's detail (instanceArn), not from the id: an instance of a member
    // account in another region names that account and region in it.
    let by_age = fixture("sweep/deletion-scheduled-by-age.json");
    let arn = "arn:aws:scn:eu-west-1:210987654321:instance/20000000-0000-4000-8000-000000000002";
    assert_eq!(by_age["detail"]["instanceArn"], arn);
    let text = message("DeletionScheduledNoticeRule", &by_age);
    assert!(text.ends_with(&format!(" Instance: {arn}\"")), "{text}");
    // Selected by the age rule, the instance has no expiry tag to move: the words say to add one.
    assert!(
        text.contains("more than 45 days ago. To keep it, set the tag DeletionProtection=true, or add or move the tag ExpiresAt"),
        "{text}"
    );
    let mut other = by_age.clone();
    other["detail"]["instanceArn"] = json!("arn:aws:scn:eu-west-1:210987654321:instance/another");
    assert!(message("DeletionScheduledNoticeRule", &other).ends_with("Instance: arn:aws:scn:eu-west-1:210987654321:instance/another\""));
    // The cancellation names it too, so that the owner can find what was kept.
    let cancelled = fixture("sweep/deletion-cancelled.json");
    let text = message("DeletionCancelledNoticeRule", &cancelled);
    assert!(text.ends_with(&format!(" Instance: {}\"", cancelled["detail"]["instanceArn"].as_str().unwrap())), "{text}");
    for rule in ["DeletionScheduledNoticeRule", "DeletionCancelledNoticeRule"] {
        assert_eq!(transformer_of(rule)["InputPathsMap"]["arn"], "$.detail.instanceArn", "{rule}");
    }
}

#[test]
fn a_cancelled_deletion_tells_which_instance_is_kept_and_why() {
    assert_eq!(
        message("DeletionCancelledNoticeRule", &fixture("sweep/deletion-cancelled.json")),
        format!(
            "\"Supply Chain instance «example-protected» ({FIXTURE_ID_2}) in account 123456789012, region us-east-1, will no longer be \
             deleted after 2026-11-28T09:00:01Z: the policy no longer selects it: tag ExpiresAt=\"2026-11-20\" has passed, but the \
             instance is protected by its tag DeletionProtection=\"true\". Instance: \
             arn:aws:scn:us-east-1:123456789012:instance/{FIXTURE_ID_2}\""
        )
    );
}

#[test]
fn each_outcome_tells_what_became_of_the_instance_with_its_arn() {
    let arn = format!("arn:aws:scn:us-east-1:123456789012:instance/{FIXTURE_ID}");
    assert_eq!(
        message("DeletedNoticeRule", &fixture("outcomes/deleted.json")),
        format!(
            "\"Supply Chain instance «example-team» ({FIXTURE_ID}) in account 123456789012 was deleted at 2026-11-28T09:04:10Z; its \
             deletion started at 2026-11-28T09:00:04.512Z. Instance: {arn}\""
        )
    );
    // In a member account and another region: the account from the record, the region in the ARN.
    assert_eq!(
        message("DeletionFailedNoticeRule", &fixture("outcomes/deletion-failed.json")),
        "\"Supply Chain instance «member-team» (20000000-0000-4000-8000-000000000002) in account 210987654321 could not be deleted: \
         at 2026-11-28T09:02:41Z it was DeleteFailed, with the message «The KMS key is disabled». Its deletion started at \
         2026-11-28T09:00:06Z. Instance: arn:aws:scn:eu-west-1:210987654321:instance/20000000-0000-4000-8000-000000000002\""
    );
    assert_eq!(
        message("DeletionTimedOutNoticeRule", &fixture("outcomes/deletion-timed-out.json")),
        "\"Supply Chain instance «» (7a1e3c9b-40d2-4f6e-8c1b-9e5a3d7f2c18) in account 123456789012 was still Deleting at \
         2026-11-28T11:00:07Z, longer than MaxWaitSeconds after its deletion started at 2026-11-28T09:00:05Z; it is no longer \
         followed, so look at it in Supply Chain. Instance: arn:aws:scn:us-east-1:123456789012:instance/7a1e3c9b-40d2-4f6e-8c1b-9e5a3d7f2c18\""
    );
}

#[test]
fn every_message_is_one_line_of_plain_words_from_the_paths_it_defines() {
    for (rule, name) in NOTICE_RULES {
        let transformer = transformer_of(rule);
        let template = transformer["InputTemplate"].as_str().unwrap();
        assert!(!template.contains('\n') && !template.contains("  "), "{rule}: the folded YAML left a line break or a double space");
        // Every variable defined is used, and every path is one the fixture has.
        let event = fixture(name);
        for (variable, path) in transformer["InputPathsMap"].as_object().unwrap() {
            assert!(template.contains(&format!("<{variable}>")), "{rule}: {variable} is defined and never used");
            assert!(at_path(&event, path.as_str().unwrap()).is_some() || variable == "name", "{rule}: {name} has nothing at {path}");
        }
        let text = render(transformer, &event);
        assert!(!text.contains('<') && !text.contains('>'), "{rule}: a placeholder was left: {text}");
        assert!(text.len() < 1024, "{rule}: {text}");
    }
    // A template naming a variable it does not define is refused, as PutTargets refuses it.
    let broken = json!({ "InputPathsMap": { "id": "$.detail.instanceId" }, "InputTemplate": "\"<id> is <state>\"" });
    let refused = std::panic::catch_unwind(|| render(&broken, &fixture("sweep/deletion-scheduled.json")));
    assert!(refused.is_err());
}

// ---------------------------------------------------------------- the archive

#[test]
fn the_archive_keeps_the_events_of_both_sources_of_the_stack_s_bus_for_audit_retention_days() {
    let archive = properties("AuditArchive");
    assert_eq!(
        archive["SourceArn"],
        json!({ "Fn::If": ["CreateEventBus", { "Fn::GetAtt": ["EventBus", "Arn"] },
            { "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}" }] })
    );
    assert_eq!(archive["RetentionDays"], json!({ "Ref": "AuditRetentionDays" }));
    assert_eq!(archive["EventPattern"], json!({ "source": [FUNCTIONS_SOURCE, SWEEP_SOURCE] }));
    let matched = tools::moto_matches(&archive["EventPattern"], &events_on_the_bus());
    let kept: BTreeSet<&str> = matched.as_object().unwrap().iter().filter(|(_, m)| **m == true).map(|(n, _)| n.as_str()).collect();
    assert_eq!(kept, BTreeSet::from(STACK_EVENTS));
}

/// The JSON code blocks of docs/notice-and-audit.md.
fn documented_patterns() -> Vec<Value> {
    use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
    let text = tools::read(&tools::repo_path("docs/notice-and-audit.md"));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new(&text) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(language))) if language.as_ref() == "json" => current = Some(String::new()),
            Event::Text(text) => {
                if let Some(block) = current.as_mut() {
                    block.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(block) = current.take() {
                    blocks.push(
                        serde_json::from_str(&block).unwrap_or_else(|e| panic!("a json block of the page does not parse ({e}):\n{block}")),
                    );
                }
            }
            _ => {}
        }
    }
    blocks
}

fn documented_pattern(containing: &str) -> Value {
    let found: Vec<Value> = documented_patterns().into_iter().filter(|p| p.to_string().contains(containing)).collect();
    assert_eq!(found.len(), 1, "json blocks of docs/notice-and-audit.md with {containing}: {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn the_documented_owner_rule_takes_that_owner_s_notices_only() {
    let pattern = documented_pattern("\"owner\"");
    let matched = tools::moto_matches(&pattern, &events_on_the_bus());
    let taken: Vec<&String> = matched.as_object().unwrap().iter().filter(|(_, m)| **m == true).map(|(n, _)| n).collect();
    assert_eq!(taken, ["sweep/deletion-scheduled.json"], "planning-team's notice, not platform-team's cancellation");
}

/// The SDK configuration of moto's server.
async fn moto() -> aws_config::SdkConfig {
    crate::support::sdk_config(&crate::support::moto_endpoint(), crate::support::SECRET_ACCESS_KEY).await
}

fn unique() -> String {
    crate::support::unique_name()
}

/// `history` moved in time as a whole, so that its latest event was put a minute ago, and the
/// instant its earliest event was put: every RFC 3339 time in it (each envelope's `time`,
/// `scheduledFor`, `startedAt`, ...) moves by the same whole seconds, so that what the proof
/// measures between them is as the fixtures hold it, and a replay of the last days finds them.
fn recent(history: &[Value]) -> (Vec<Value>, SystemTime) {
    use aws_smithy_types::date_time::Format;
    use aws_smithy_types::DateTime;
    fn visit(value: &mut Value, change: &mut dyn FnMut(&mut String)) {
        match value {
            Value::String(text) => change(text),
            Value::Array(items) => items.iter_mut().for_each(|item| visit(item, change)),
            Value::Object(members) => members.values_mut().for_each(|member| visit(member, change)),
            _ => {}
        }
    }
    let times = |event: &Value| -> i64 { DateTime::from_str(event["time"].as_str().unwrap(), Format::DateTime).unwrap().secs() };
    let (Some(first), Some(last)) = (history.iter().map(times).min(), history.iter().map(times).max()) else {
        return (Vec::new(), SystemTime::now());
    };
    let now = DateTime::from(SystemTime::now()).secs();
    let by = now - 60 - last;
    let mut moved = history.to_vec();
    for event in &mut moved {
        visit(event, &mut |text| {
            if let Ok(time) = DateTime::from_str(text, Format::DateTime) {
                let later = DateTime::from_secs_and_nanos(time.secs() + by, time.subsec_nanos());
                *text = later.fmt(Format::DateTime).unwrap();
            }
        });
    }
    (moved, SystemTime::try_from(DateTime::from_secs(first + by)).unwrap())
}

/// A bus of its own on moto, archived as the stack archives its bus (`AuditArchive` as deployed).
struct AuditedBus {
    events: aws_sdk_eventbridge::Client,
    name: String,
    arn: String,
    archive_name: String,
    archive_arn: String,
    unique: String,
}

impl AuditedBus {
    async fn new() -> AuditedBus {
        let events = aws_sdk_eventbridge::Client::new(&moto().await);
        let unique = unique();
        let name = format!("audit-{unique}");
        let arn = events.create_event_bus().name(&name).send().await.expect("create bus").event_bus_arn.unwrap();
        let deployed = Resolver::new(template(), &[]).resolve(properties("AuditArchive")).unwrap();
        let retention = deployed["RetentionDays"].as_i64().expect("AuditRetentionDays's default, a number");
        let archive_name = format!("audit-{}", &unique[unique.len().saturating_sub(12)..]);
        let archive_arn = events
            .create_archive()
            .archive_name(&archive_name)
            .event_source_arn(&arn)
            .event_pattern(deployed["EventPattern"].to_string())
            .retention_days(retention as i32)
            .send()
            .await
            .expect("create archive")
            .archive_arn
            .unwrap();
        AuditedBus { events, name, arn, archive_name, archive_arn, unique }
    }

    /// Puts `history` on the bus as each producer puts it: source, detail-type, detail, resources,
    /// and the event's `time` as PutEvents' `Time` (the sweep puts its notices dated so).
    async fn put(&self, history: &[Value]) {
        use aws_smithy_types::date_time::Format;
        let entries: Vec<aws_sdk_eventbridge::types::PutEventsRequestEntry> = history
            .iter()
            .map(|event| {
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&self.name)
                    .time(aws_smithy_types::DateTime::from_str(event["time"].as_str().unwrap(), Format::DateTime).unwrap())
                    .source(event["source"].as_str().unwrap())
                    .detail_type(event["detail-type"].as_str().unwrap())
                    .detail(event["detail"].to_string())
                    .set_resources(Some(event["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect()))
                    .build()
            })
            .collect();
        // PutEvents takes at most 10 entries.
        for chunk in entries.chunks(10) {
            let put = self.events.put_events().set_entries(Some(chunk.to_vec())).send().await.expect("put events");
            assert_eq!(put.failed_entry_count, 0);
        }
    }

    /// A rule of the bus with `pattern`, delivering to `target`; its ARN.
    async fn rule(&self, name: &str, pattern: &Value, target: &str) -> String {
        let rule_arn = self
            .events
            .put_rule()
            .name(name)
            .event_bus_name(&self.name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap()
            .rule_arn
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder().id(name).arn(target).build().unwrap();
        self.events.put_targets().rule(name).event_bus_name(&self.name).targets(target).send().await.unwrap();
        rule_arn
    }

    /// Replays the archive from `since` to now into the rule `rule_arn` alone (`FilterArns`, as
    /// the page says to).
    async fn replay_into(&self, rule_arn: &str, since: SystemTime) {
        let now = SystemTime::now();
        self.events
            .start_replay()
            .replay_name(format!("replay-{}", &self.unique[self.unique.len().saturating_sub(12)..]))
            .event_source_arn(&self.archive_arn)
            .event_start_time(aws_smithy_types::DateTime::from(since.min(now - Duration::from_secs(3600))))
            .event_end_time(aws_smithy_types::DateTime::from(now))
            .destination(aws_sdk_eventbridge::types::ReplayDestination::builder().arn(&self.arn).filter_arns(rule_arn).build().unwrap())
            .send()
            .await
            .expect("start replay");
    }
}

#[tokio::test]
async fn the_archive_on_moto_keeps_both_sources_and_a_replay_into_the_documented_rule_returns_one_instance_s_history() {
    let bus = AuditedBus::new().await;
    let sqs = aws_sdk_sqs::Client::new(&moto().await);

    // Every fixture put on the bus, as its producer puts it.
    let all: Vec<Value> = events_on_the_bus().as_object().unwrap().values().cloned().collect();
    let (history, since) = recent(&all);
    bus.put(&history).await;
    let described = bus.events.describe_archive().archive_name(&bus.archive_name).send().await.expect("describe archive");
    assert_eq!(described.event_count, 8, "the events of the sweep and of the functions, not the producers' nor the impostor's");
    assert_eq!(described.retention_days, Some(400));

    // The documented history rule, for the fixtures' instance, delivering to a queue.
    let pattern: Value = serde_json::from_str(&documented_pattern("$or").to_string().replace("INSTANCE_ID", FIXTURE_ID)).unwrap();
    let queue_url = sqs.create_queue().queue_name(format!("history-{}", bus.unique)).send().await.unwrap().queue_url.unwrap();
    let rule_arn = bus.rule("instance-history", &pattern, &crate::support::queue_arn(&sqs, &queue_url).await).await;
    // The rule takes replayed events only: nothing reached it while the fixtures were put.
    bus.replay_into(&rule_arn, since).await;
    let mut history = Vec::new();
    loop {
        let batch = sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).send().await.unwrap();
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            history.push(serde_json::from_str::<Value>(message.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(&queue_url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    let kinds: BTreeSet<String> = history.iter().map(|e| e["detail-type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(
            [
                "Supply Chain Instance Deletion Scheduled",
                "Supply Chain Instance Deletion Requested",
                "Supply Chain Instance Deletion Started",
                "Supply Chain Instance Deleted"
            ]
            .map(String::from)
        ),
        "{history:?}"
    );
    assert_eq!(history.len(), 4, "{history:?}");
    assert!(history.iter().all(|e| e["replay-name"].is_string()), "every one of them a replayed event");
}

// ---------------------------------------------------------------- the proof

/// The kinds of event the proof reads: the notices, and each event of a deletion attempt.
const PROOF_KINDS: [&str; 6] = [
    "Supply Chain Instance Deletion Scheduled",
    "Supply Chain Instance Deletion Cancelled",
    "Supply Chain Instance Deletion Started",
    "Supply Chain Instance Deleted",
    "Supply Chain Instance Deletion Failed",
    "Supply Chain Instance Deletion Timed Out",
];

#[test]
fn the_documented_proof_rule_takes_every_replayed_notice_cancellation_start_and_outcome_and_nothing_live() {
    let pattern = documented_pattern("Supply Chain Instance Deletion Timed Out");
    assert_eq!(pattern["detail-type"], json!(PROOF_KINDS));
    let mut events = Map::new();
    for (name, event) in events_on_the_bus().as_object().unwrap() {
        let mut replayed = event.clone();
        replayed["replay-name"] = json!("audit-2026-11");
        events.insert(format!("replayed {name}"), replayed);
        events.insert(name.clone(), event.clone());
    }
    let matched = tools::moto_matches(&pattern, &Value::Object(events));
    let taken: BTreeSet<&str> = matched.as_object().unwrap().iter().filter(|(_, m)| **m == true).map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        taken,
        BTreeSet::from([
            "replayed sweep/deletion-scheduled.json",
            "replayed sweep/deletion-cancelled.json",
            "replayed check/deletion-started.json",
            "replayed outcomes/deleted.json",
            "replayed outcomes/deletion-failed.json",
            "replayed outcomes/deletion-timed-out.json",
        ])
    );
}

/// What `scripts/notice-proof` made of an export: its exit status, the problems it printed on
/// standard output, its summary on standard error.
#[derive(Debug)]
struct Proof {
    code: Option<i32>,
    problems: Vec<Value>,
    summary: String,
}

impl Proof {
    /// The problems named `problem`.
    fn named(&self, problem: &str) -> Vec<&Value> {
        self.problems.iter().filter(|p| p["problem"] == problem).collect()
    }

    /// Asserts the proof failed (exit 1) with `problem` for the instance `instance_id` (or, with
    /// `None`, for the history as a whole), and returns that problem.
    fn fails_with(&self, problem: &str, instance_id: Option<&str>) -> &Value {
        assert_eq!(self.code, Some(1), "{self:?}");
        assert!(self.summary.contains("NOT PROVED"), "{self:?}");
        let named = self.named(problem);
        assert_eq!(named.len(), 1, "one problem {problem:?}: {self:?}");
        assert_eq!(named[0]["instanceId"].as_str(), instance_id, "{self:?}");
        named[0]
    }
}

/// `scripts/notice-proof --notice-hours <hours>` run on `export` (what `aws logs
/// filter-log-events` prints), by its own interpreter line, as the page runs it.
fn run_proof(export: &Value, hours: &str) -> Proof {
    let path = std::env::temp_dir().join(format!("audit-{}.json", unique()));
    std::fs::write(&path, export.to_string()).unwrap();
    let output = tools::run(Command::new(tools::repo_path("scripts/notice-proof")).args(["--notice-hours", hours]).arg(&path), "");
    let _ = std::fs::remove_file(&path);
    let problems = tools::json_stdout("scripts/notice-proof", &output).as_array().expect("a list of problems").clone();
    Proof { code: output.status.code(), problems, summary: String::from_utf8_lossy(&output.stderr).into_owned() }
}

/// CloudWatch Logs on moto, through boto3 as the AWS CLI calls it: `create` makes a log group;
/// `export` prints what `aws logs filter-log-events --log-group-name <group>` prints, every page
/// followed (two events a page, so that there are several) and merged into one `events` list, as
/// the CLI does by default; `page` prints the first page alone, as `--no-paginate` does.
const LOGS: &str = r#"
import json, sys, boto3
what, group = sys.argv[1], sys.argv[2]
logs = boto3.client("logs")
if what == "create":
    logs.create_log_group(logGroupName=group)
elif what == "page":
    print(json.dumps(logs.filter_log_events(logGroupName=group, limit=2), default=str))
else:
    merged = {"events": [], "searchedLogStreams": []}
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, PaginationConfig={"PageSize": 2}):
        for key in merged:
            merged[key] += page.get(key, [])
    print(json.dumps(merged))
"#;

fn logs(what: &str, group: &str) -> Value {
    let output = tools::run(
        Command::new(tools::venv_bin("python"))
            .args(["-c", LOGS, what, group])
            .env("AWS_ENDPOINT_URL", crate::support::moto_endpoint())
            .env("AWS_ACCESS_KEY_ID", crate::support::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", crate::support::SECRET_ACCESS_KEY)
            .env("AWS_DEFAULT_REGION", crate::support::REGION),
        "",
    );
    assert!(output.status.success(), "CloudWatch Logs on moto, {what}: {}", String::from_utf8_lossy(&output.stderr));
    if what == "create" {
        return Value::Null;
    }
    tools::json_stdout("CloudWatch Logs on moto", &output)
}

/// `history` the documented way, on moto: put on a bus archived as the stack archives it,
/// replayed into the page's proof rule, which writes to a log group of its own, exported as
/// `filter-log-events` prints it (`page`: one page of several, as `--no-paginate` prints it).
async fn replayed_export(history: &[Value], page: bool) -> Value {
    let bus = AuditedBus::new().await;
    let (history, since) = recent(history);
    bus.put(&history).await;
    let group = format!("/supplychain/audit-{}", bus.unique);
    logs("create", &group);
    let log_group_arn = format!("arn:aws:logs:{}:123456789012:log-group:{group}", crate::support::REGION);
    let rule_arn = bus.rule("notice-proof", &documented_pattern("Supply Chain Instance Deletion Timed Out"), &log_group_arn).await;
    bus.replay_into(&rule_arn, since).await;
    logs(if page { "page" } else { "export" }, &group)
}

/// An honest history: each deletion the sweep requested (one Deleted, one Deletion Failed in a
/// member account, by the age rule) after its notice of exactly NoticeHours (168), a cancelled
/// notice of another instance, and outcomes of producers' own requests, which need no notice.
fn honest_history() -> Vec<Value> {
    [
        "sweep/deletion-scheduled.json",
        "sweep/deletion-scheduled-by-age.json",
        "sweep/deletion-cancelled.json",
        "outcomes/deleted.json",
        "outcomes/deletion-failed-by-sweep.json",
        "outcomes/deletion-failed.json",
        "outcomes/deletion-timed-out.json",
    ]
    .map(fixture)
    .to_vec()
}

/// The honest history without the events of `leave_out`, with `added`.
fn history_with(leave_out: &[&str], added: &[Value]) -> Vec<Value> {
    let mut history: Vec<Value> = honest_history().into_iter().filter(|e| !leave_out.contains(&e["id"].as_str().unwrap())).collect();
    history.extend_from_slice(added);
    history
}

#[tokio::test]
async fn the_proof_passes_an_honest_history_read_back_from_the_archive_through_the_documented_log_group() {
    let export = replayed_export(&honest_history(), false).await;
    let events = export["events"].as_array().unwrap();
    assert_eq!(events.len(), honest_history().len(), "every event replayed into the log group and exported: {export}");
    for entry in events {
        let event: Value = serde_json::from_str(entry["message"].as_str().expect("each log event's message")).unwrap();
        assert!(event["replay-name"].is_string() && PROOF_KINDS.contains(&event["detail-type"].as_str().unwrap()), "{event}");
    }
    let proof = run_proof(&export, "168");
    assert_eq!((proof.code, &proof.problems), (Some(0), &Vec::new()), "{proof:?}");
    assert!(proof.summary.contains("proved: 7 events read, from "), "{proof:?}");
    assert!(proof.summary.contains(", 2 of them of deletions the sweep requested, each after a Deletion Scheduled"), "{proof:?}");
}

#[tokio::test]
async fn the_proof_fails_a_deletion_the_sweep_requested_without_any_notice() {
    let notice = fixture("sweep/deletion-scheduled.json");
    let export = replayed_export(&history_with(&[notice["id"].as_str().unwrap()], &[]), false).await;
    let proof = run_proof(&export, "168");
    let problem = proof.fails_with("no Deletion Scheduled for this mark", Some(FIXTURE_ID));
    assert_eq!(problem["events"], json!(["Deleted"]));
    assert_eq!(proof.problems.len(), 1, "the other deletion had its notice: {proof:?}");
}

#[tokio::test]
async fn the_proof_fails_a_deletion_announced_one_second_short_of_notice_hours() {
    let mut late = fixture("sweep/deletion-scheduled.json");
    late["time"] = json!("2026-11-21T09:00:02Z");
    let export = replayed_export(&history_with(&[late["id"].as_str().unwrap()], &[late.clone()]), false).await;
    let proof = run_proof(&export, "168");
    let problem = proof.fails_with("less notice than NoticeHours", Some(FIXTURE_ID));
    assert!(problem["noticeAt"].is_string(), "{problem}");
    // And the rule is exact: 167 hours and 59 minutes, the same history passes.
    assert_eq!(run_proof(&export, &(167.0 + 59.0 / 60.0).to_string()).code, Some(0));
}

#[tokio::test]
async fn the_proof_fails_when_the_replay_wrote_no_events_at_all() {
    let export = replayed_export(&[], false).await;
    assert_eq!(export["events"], json!([]));
    let proof = run_proof(&export, "168");
    proof.fails_with("no events were read", None);
    assert_eq!(proof.problems.len(), 1, "{proof:?}");
}

#[tokio::test]
async fn the_proof_fails_a_failed_deletion_the_sweep_requested_without_notice() {
    let notice = fixture("sweep/deletion-scheduled-by-age.json");
    let export = replayed_export(&history_with(&[notice["id"].as_str().unwrap()], &[]), false).await;
    let proof = run_proof(&export, "168");
    let problem = proof.fails_with("no Deletion Scheduled for this mark", Some("20000000-0000-4000-8000-000000000002"));
    assert_eq!(problem["events"], json!(["Deletion Failed"]), "a deletion attempted without notice, whatever became of it");
}

#[tokio::test]
async fn the_proof_fails_a_history_read_one_page_at_a_time() {
    let export = replayed_export(&honest_history(), true).await;
    assert!(export["nextToken"].is_string(), "{export}");
    run_proof(&export, "168").fails_with("the export is one page of several (it holds a next token)", None);
}

/// `events` as CloudWatch Logs holds what the proof rule wrote: each event's JSON as a message.
fn export_of(events: &[Value]) -> Value {
    json!({ "events": events.iter().map(|e| json!({ "message": e.to_string() })).collect::<Vec<_>>() })
}

#[test]
fn the_proof_names_each_other_way_a_deletion_the_sweep_requested_lacked_its_notice() {
    let proof = |history: Vec<Value>| run_proof(&export_of(&history), "168");
    let deleted = fixture("outcomes/deleted.json");
    let notice = fixture("sweep/deletion-scheduled.json");
    let id = |event: &Value| event["id"].as_str().unwrap().to_owned();

    // Its mark cancelled before the deletion started.
    let mut cancellation = fixture("sweep/deletion-cancelled.json");
    cancellation["detail"]["instanceId"] = json!(FIXTURE_ID);
    proof(history_with(&[], &[cancellation])).fails_with("the mark was cancelled", Some(FIXTURE_ID));
    // Started before it was due.
    let mut early = deleted.clone();
    early["detail"]["startedAt"] = json!("2026-11-28T09:00:00.999Z");
    proof(history_with(&[&id(&deleted)], &[early])).fails_with("its deletion started before it was due", Some(FIXTURE_ID));
    // Requested without a mark, as with NoticeHours 0.
    let mut unmarked = deleted.clone();
    unmarked["detail"].as_object_mut().unwrap().remove("scheduledFor");
    unmarked["detail"]["request"].as_object_mut().unwrap().remove("scheduledFor");
    proof(history_with(&[&id(&deleted)], &[unmarked])).fails_with("requested by the sweep without a mark", Some(FIXTURE_ID));
    // Its only notice put by another account than the stack's (a member's forged notice).
    let mut forged = notice.clone();
    forged["account"] = json!("210987654321");
    let problem = proof(history_with(&[&id(&notice)], &[forged]))
        .fails_with("the Deletion Scheduled of this mark was put by another account", Some(FIXTURE_ID))
        .clone();
    assert_eq!(problem["noticeFrom"], json!(["210987654321"]));
    // A deletion whose outcome never came: its Deletion Started is checked too.
    let started = json!({
        "version": "0", "id": "5a0c7e3b-2f4d-4b1a-9e8c-6d2f0b4a8c17", "detail-type": "Supply Chain Instance Deletion Started",
        "source": FUNCTIONS_SOURCE, "account": "123456789012", "time": "2026-11-28T10:00:03Z", "region": "us-east-1",
        "resources": [format!("arn:aws:scn:us-east-1:123456789012:instance/{FIXTURE_ID_2}")],
        "detail": {
            "instance": {"instanceId": FIXTURE_ID_2, "awsAccountId": "123456789012", "state": "Deleting"},
            "startedAt": "2026-11-28T10:00:02.871Z", "sweepId": "8f14e45f-ceea-467f-a0e6-b7bd8a2c3e11", "reason": "ExpiryTagPassed",
            "scheduledFor": "2026-11-28T10:00:00Z"
        }
    });
    let problem = proof(history_with(&[], &[started])).fails_with("no Deletion Scheduled for this mark", Some(FIXTURE_ID_2)).clone();
    assert_eq!(problem["events"], json!(["Deletion Started"]));
    // No notice at all, though the sweep requested deletions.
    let without_notices = history_with(&[&id(&notice), "e5b2d8f0-4c17-4a93-8d6e-1b9f3a7c2e05"], &[]);
    proof(without_notices).fails_with("no Deletion Scheduled was read, though the sweep requested deletions", None);

    // A producer's own request is not the sweep's to notice; nor is a start and outcome of one
    // deletion two problems.
    let mut by_a_producer = deleted.clone();
    for member in ["sweepId", "reason", "reasonDetail", "scheduledFor"] {
        by_a_producer["detail"].as_object_mut().unwrap().remove(member);
    }
    by_a_producer["detail"]["request"] = json!({ "requestedBy": "team-planning" });
    let passed = proof(history_with(&[&id(&notice), &id(&deleted)], &[by_a_producer]));
    assert_eq!((passed.code, passed.problems.len()), (Some(0), 0), "{passed:?}");
    let mut started_too = deleted.clone();
    started_too["detail-type"] = json!("Supply Chain Instance Deletion Started");
    let twice = proof(history_with(&[&id(&notice)], &[started_too]));
    assert_eq!(twice.fails_with("no Deletion Scheduled for this mark", Some(FIXTURE_ID))["events"], json!(["Deleted", "Deletion Started"]));
}

#[test]
fn the_proof_refuses_what_is_not_an_export_and_says_how_to_run_it() {
    let help = tools::run(Command::new(tools::repo_path("scripts/notice-proof")).arg("--help"), "");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for words in ["--notice-hours HOURS", "aws logs filter-log-events", "Exit status"] {
        assert!(text.contains(words), "--help says {words:?}: {text}");
    }
    // Without NoticeHours, or with 0, nothing can be proved.
    let none = tools::run(&mut Command::new(tools::repo_path("scripts/notice-proof")), "{\"events\": []}");
    assert_eq!(none.status.code(), Some(2));
    let zero = tools::run(Command::new(tools::repo_path("scripts/notice-proof")).args(["--notice-hours", "0"]), "{\"events\": []}");
    assert_eq!(zero.status.code(), Some(2));
    // A log group holding something else than events.
    let other = tools::run(
        Command::new(tools::repo_path("scripts/notice-proof")).args(["--notice-hours", "168"]),
        &json!({ "events": [{ "message": "START RequestId: 1" }] }).to_string(),
    );
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("is not an EventBridge event"));
}
