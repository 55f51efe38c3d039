//! member-role.yaml, checked offline: plain CloudFormation that a StackSet with service-managed
//! permissions can deploy to every account of an organizational unit, accepted by cfn-lint and
//! `sam validate --lint`; a role that only the central stack's function roles may assume, allowed
//! exactly the Supply Chain calls the functions make and denied, by IAM itself, deleting a protected
//! instance or changing its protection tag; and the optional rule that forwards the account's
//! deletion requests to the central bus, whose pattern is run against the fixtures with moto's
//! EventBridge pattern matcher.

#[path = "support/policies.rs"]
mod policies;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use policies::Resolver;
use serde_json::{json, Value};
use support::tools;

const CENTRAL_DELETE_ROLE: &str = "arn:aws:iam::111122223333:role/supplychain-delete-instance-DeleteInstanceRole-1A2B3C";
const CENTRAL_CHECK_ROLE: &str = "arn:aws:iam::111122223333:role/supplychain-delete-instance-CheckInstanceStatusRole-4D5E6F";
const CENTRAL_SWEEP_ROLE: &str = "arn:aws:iam::111122223333:role/supplychain-delete-instance-SweepInstancesRole-7A8B9C";
const CENTRAL_BUS: &str = "arn:aws:events:us-east-1:111122223333:event-bus/supplychain-delete-instance";
const MEMBER_ACCOUNT: &str = "444455556666";

/// The parameters a StackSet is given at the least: the two roles without defaults.
const REQUIRED: [(&str, &str); 2] = [("DeleteFunctionRoleArn", CENTRAL_DELETE_ROLE), ("CheckFunctionRoleArn", CENTRAL_CHECK_ROLE)];

fn member_template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| tools::cfn_decoded(&tools::repo_path("member-role.yaml")))
}

fn central_template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| tools::cfn_decoded(&tools::repo_path("template.yaml")))
}

fn role() -> &'static Value {
    &member_template()["Resources"]["MemberRole"]
}

/// The member role's properties as a stack deployed with `given` (besides [`REQUIRED`]) holds them.
fn role_deployed_with(given: &[(&str, &str)]) -> Value {
    let parameters: Vec<(&str, &str)> = REQUIRED.iter().chain(given).copied().collect();
    Resolver::new(member_template(), &parameters).resolve(&role()["Properties"]).unwrap()
}

/// Every statement of the member role's identity policies, as deployed with `given`.
fn role_statements(given: &[(&str, &str)]) -> Vec<Value> {
    role_deployed_with(given)["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| policies::statements(&policies::document(&policy["PolicyDocument"])))
        .collect()
}

/// The role's resource for instances: every instance of the account, in any region.
fn member_instances() -> Value {
    json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" })
}

/// What is wrong with deletion protection in the member role of `template`: the denies must be
/// there (policies::protection_findings) and in the same policy document as the allows, so that no
/// moment exists in which the role has the one without the other.
fn member_protection_findings(template: &Value) -> Vec<String> {
    let properties = Resolver::new(template, &REQUIRED).resolve(&template["Resources"]["MemberRole"]["Properties"]).unwrap();
    let documents: Vec<Value> =
        properties["Policies"].as_array().unwrap().iter().map(|policy| policies::document(&policy["PolicyDocument"])).collect();
    let statements: Vec<Value> = documents.iter().flat_map(policies::statements).collect();
    let mut findings = policies::protection_findings(&statements, "DeletionProtectionTag", &member_instances());
    for document in &documents {
        let names = |effect: &str| -> BTreeSet<String> {
            policies::statements(document)
                .iter()
                .filter(|s| s["Effect"] == effect)
                .flat_map(|s| policies::string_set(&s["Action"]))
                .filter(|a| a.starts_with("scn:"))
                .collect()
        };
        let (allowed, denied) = (names("Allow"), names("Deny"));
        if allowed.contains("scn:DeleteInstance") && !denied.contains("scn:DeleteInstance") {
            findings.push(format!("a policy allows scn:DeleteInstance without the deny beside it: {document}"));
        }
    }
    findings
}

/// `member-role.yaml` with the JSON text of the role's first policy changed: `from` replaced by `to`.
fn with_member_text(from: &str, to: &str) -> Value {
    let mut copy = member_template().clone();
    let text = &mut copy["Resources"]["MemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Fn::Sub"][0];
    let written = text.as_str().unwrap().to_owned();
    assert!(written.contains(from), "{from:?} is not in the policy's text:\n{written}");
    *text = Value::from(written.replace(from, to));
    copy
}

fn cfn_lint(path: &Path) -> String {
    let output = tools::run(Command::new(tools::venv_bin("cfn-lint")).arg(path), "");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        printed.trim().to_owned()
    } else {
        format!("exit status {}:\n{printed}", output.status)
    }
}

#[test]
fn cfn_lint_reports_nothing_on_the_member_role_template() {
    assert_eq!(cfn_lint(&tools::repo_path("member-role.yaml")), "");
}

/// cfn-lint's report on `template` with the role's JSON policy text read as CloudFormation reads
/// it, the protection tag being its default, and written as an object: cfn-lint checks the actions,
/// resources and condition operators of a policy object, not of JSON text in an inline policy.
fn cfn_lint_with_the_policy_read(template: &Value) -> String {
    let mut template = template.clone();
    let tag = template["Parameters"]["DeletionProtectionTag"]["Default"].as_str().unwrap().to_owned();
    for policy in template["Resources"]["MemberRole"]["Properties"]["Policies"].as_array_mut().unwrap() {
        let Some(document) = policy.get_mut("PolicyDocument") else { continue };
        if let Some(sub) = document.get("Fn::Sub").cloned() {
            let mut sub = sub;
            sub[0] = Value::from(sub[0].as_str().unwrap().replace("${DeletionProtectionTag}", &tag));
            *document = policies::document(&json!({ "Fn::Sub": sub }));
        }
    }
    assert!(template.to_string().contains(&format!("aws:ResourceTag/{tag}")), "the policy was not read");
    // Its one use is now written out.
    template["Parameters"].as_object_mut().unwrap().remove("DeletionProtectionTag");
    let path = std::env::temp_dir().join(format!("member-role-read-{}.json", std::process::id()));
    std::fs::write(&path, template.to_string()).unwrap();
    let reported = cfn_lint(&path);
    let _ = std::fs::remove_file(&path);
    reported
}

#[test]
fn cfn_lint_accepts_the_role_s_policy_once_its_json_text_is_read_as_cloudformation_would() {
    assert_eq!(cfn_lint_with_the_policy_read(member_template()), "");
    // And it would report an action Supply Chain does not have, or an operator IAM does not know.
    let misspelt = with_member_text("\"scn:ListInstances\"", "\"scn:ListInstance\"");
    assert!(cfn_lint_with_the_policy_read(&misspelt).contains("listinstance"), "cfn-lint did not check the actions");
    let unknown = with_member_text("\"StringEqualsIgnoreCase\"", "\"StringEqualIgnoreCase\"");
    assert!(cfn_lint_with_the_policy_read(&unknown).contains("StringEqualIgnoreCase"), "cfn-lint did not check the operators");
}

#[test]
fn sam_validate_with_lint_accepts_the_member_role_template() {
    tools::assert_sam_validate_with_lint_accepts("member-role.yaml");
}

#[test]
fn the_member_template_is_plain_cloudformation_that_a_service_managed_stack_set_can_deploy() {
    let template = member_template();
    assert_eq!(template.get("Transform"), None, "no transform: a StackSet deploys the template as it is");
    let kinds: BTreeSet<&str> = template["Resources"].as_object().unwrap().values().map(|r| r["Type"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["AWS::IAM::Role", "AWS::Events::Rule"]));
    // Nothing from the central stack but its parameters: no import, no nested stack.
    fn names_function(value: &Value, function: &str) -> bool {
        match value {
            Value::Object(object) => object.contains_key(function) || object.values().any(|v| names_function(v, function)),
            Value::Array(items) => items.iter().any(|v| names_function(v, function)),
            _ => false,
        }
    }
    assert!(!names_function(template, "Fn::ImportValue"));
    let parameters = template["Parameters"].as_object().unwrap();
    assert_eq!(role()["Properties"]["RoleName"], json!({ "Ref": "MemberRoleName" }));
    assert_eq!(parameters["MemberRoleName"]["Default"], "SupplyChainInstanceDeletion");
    for (name, parameter) in parameters {
        assert!(parameter["Description"].is_string(), "parameter {name} is described");
    }
    let without_default: BTreeSet<&str> = parameters.iter().filter(|(_, p)| p.get("Default").is_none()).map(|(n, _)| n.as_str()).collect();
    assert_eq!(without_default, REQUIRED.iter().map(|(name, _)| *name).collect());
    // The protection tag has no off switch here, and is the central stack's by default.
    assert_eq!(parameters["DeletionProtectionTag"]["Default"], central_template()["Parameters"]["DeletionProtectionTag"]["Default"]);
    assert_eq!(parameters["DeletionProtectionTag"]["AllowedPattern"], "^[^\"\\\\]{1,128}$");
    let outputs = template["Outputs"].as_object().unwrap();
    assert_eq!(outputs.keys().collect::<Vec<_>>(), ["MemberRoleArn"]);
    assert_eq!(outputs["MemberRoleArn"]["Value"], json!({ "Fn::GetAtt": ["MemberRole", "Arn"] }));
}

#[test]
fn the_role_trusts_only_the_central_function_roles_and_only_within_the_organization_when_one_is_given() {
    let trust_with = |given: &[(&str, &str)]| -> Value {
        let trust = role_deployed_with(given)["AssumeRolePolicyDocument"].clone();
        let statements = trust["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{trust}");
        let statement = &statements[0];
        assert_eq!(statement["Effect"], "Allow");
        // AssumeRole alone: no sts:TagSession, no sts:SetSourceIdentity.
        assert_eq!(statement["Action"], "sts:AssumeRole");
        assert_eq!(statement["Principal"].as_object().unwrap().keys().collect::<Vec<_>>(), ["AWS"], "role ARNs only: {statement}");
        statement.clone()
    };
    let defaults = trust_with(&[]);
    assert_eq!(
        defaults["Principal"]["AWS"],
        json!([CENTRAL_DELETE_ROLE, CENTRAL_CHECK_ROLE]),
        "without a sweep role, the sweep is not trusted"
    );
    assert_eq!(defaults.get("Condition"), None, "without an organization id, no condition");

    let all = trust_with(&[("SweepFunctionRoleArn", CENTRAL_SWEEP_ROLE), ("OrganizationId", "o-a1b2c3d4e5")]);
    assert_eq!(all["Principal"]["AWS"], json!([CENTRAL_DELETE_ROLE, CENTRAL_CHECK_ROLE, CENTRAL_SWEEP_ROLE]));
    assert_eq!(all["Condition"], json!({ "StringEquals": { "aws:PrincipalOrgID": "o-a1b2c3d4e5" } }));

    // As written: the principals are the parameters, and nothing else.
    let written = &role()["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        written["Principal"]["AWS"],
        json!([
            { "Ref": "DeleteFunctionRoleArn" },
            { "Ref": "CheckFunctionRoleArn" },
            { "Fn::If": ["TrustSweep", { "Ref": "SweepFunctionRoleArn" }, { "Ref": "AWS::NoValue" }] }
        ])
    );
}

#[test]
fn the_role_allows_exactly_the_supply_chain_calls_the_central_functions_make() {
    let allowed = |statements: &[Value]| -> BTreeSet<String> {
        statements.iter().filter(|s| s["Effect"] == "Allow").flat_map(|s| policies::string_set(&s["Action"])).collect()
    };
    // With notice, the sweep sets and removes its schedule mark (a grant limited to that tag key:
    // tests/notifications.rs evaluates it).
    let scn: BTreeSet<String> =
        ["scn:DeleteInstance", "scn:GetInstance", "scn:ListTagsForResource", "scn:ListInstances", "scn:TagResource", "scn:UntagResource"]
            .map(String::from)
            .into();
    // Without the sweep, no mark to write: the calls of the delete function and the checker.
    let statements = role_statements(&[]);
    let without_marks: BTreeSet<String> =
        scn.iter().filter(|a| !["scn:TagResource", "scn:UntagResource"].contains(&a.as_str())).cloned().collect();
    assert_eq!(allowed(&statements), without_marks);
    let statements = role_statements(&[("SweepFunctionRoleArn", "arn:aws:iam::111122223333:role/sweep")]);
    assert_eq!(allowed(&statements), scn);
    // The Supply Chain actions the three central roles allow, together.
    let central: BTreeSet<String> = ["DeleteInstanceRole", "CheckInstanceStatusRole", "SweepInstancesRole"]
        .iter()
        .flat_map(|role| central_template()["Resources"][role]["Properties"]["Policies"].as_array().unwrap().clone())
        .flat_map(|policy| policies::statements(&policies::document(&policy["PolicyDocument"])))
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| policies::string_set(&s["Action"]))
        .filter(|a| a.starts_with("scn:"))
        .collect();
    assert_eq!(central, scn);
    for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
        let actions = policies::string_set(&statement["Action"]);
        if actions.contains("scn:ListInstances") {
            assert_eq!((actions.len(), &statement["Resource"]), (1, &json!("*")), "a resourceless action alone: {statement}");
        } else {
            assert_eq!(statement["Resource"], member_instances(), "{statement}");
        }
    }

    // With the instances' customer managed keys, retiring their grants through Supply Chain only.
    let keys = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab,arn:aws:kms:eu-west-1:444455556666:key/abcd1234-12ab-34cd-56ef-1234567890ab";
    let statements = role_statements(&[("InstanceKmsKeyArns", keys)]);
    let kms: Vec<&Value> = statements.iter().filter(|s| policies::string_set(&s["Action"]).iter().any(|a| a.starts_with("kms:"))).collect();
    assert_eq!(kms.len(), 1);
    assert_eq!(policies::string_set(&kms[0]["Action"]), BTreeSet::from(["kms:RetireGrant".to_owned(), "kms:DescribeKey".to_owned()]));
    assert_eq!(kms[0]["Resource"], json!(keys.split(',').collect::<Vec<_>>()));
    assert_eq!(kms[0]["Condition"], json!({ "StringLike": { "kms:ViaService": "scn.*.amazonaws.com" } }));
    let central_kms = central_template()["Resources"]["DeleteInstanceRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| {
            s.get("Fn::If").filter(|branches| branches[1]["Sid"] == "RetireInstanceKeyGrants").map(|branches| branches[1].clone())
        })
        .expect("the central delete role retires instance key grants");
    assert_eq!(policies::string_set(&central_kms["Action"]), policies::string_set(&kms[0]["Action"]));
}

#[test]
fn iam_denies_deleting_a_protected_instance_or_changing_its_protection_tag_through_the_role() {
    assert_eq!(member_protection_findings(member_template()), Vec::<String>::new());
    // The denies hold whatever the other parameters are.
    for given in
        [vec![], vec![("InstanceKmsKeyArns", "arn:aws:kms:us-east-1:444455556666:key/k"), ("ForwardDeletionRequestsToBusArn", CENTRAL_BUS)]]
    {
        assert_eq!(
            policies::protection_findings(&role_statements(&given), "DeletionProtectionTag", &member_instances()),
            Vec::<String>::new()
        );
    }
}

#[test]
fn the_member_role_denies_what_the_central_roles_deny_in_every_region_of_its_account() {
    let denies =
        |document: Value| -> Vec<Value> { policies::statements(&document).into_iter().filter(|s| s["Effect"] == "Deny").collect() };
    let member = denies(policies::document(&role()["Properties"]["Policies"][0]["PolicyDocument"]));
    let central = denies(policies::document(&central_template()["Resources"]["DeletionProtectionPolicy"]["Properties"]["PolicyDocument"]));
    assert_eq!(member.len(), 2);
    let in_every_region = |mut statement: Value| {
        assert_eq!(statement["Resource"], json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" }));
        statement["Resource"] = member_instances();
        statement
    };
    assert_eq!(member, central.into_iter().map(in_every_region).collect::<Vec<_>>());
}

/// The statements of a policy written as JSON text in `Fn::Sub`, as written (nothing substituted).
fn written_statements(policy: &Value) -> Vec<Value> {
    let text = policy["PolicyDocument"]["Fn::Sub"][0].as_str().unwrap();
    serde_json::from_str::<Value>(text).unwrap()["Statement"].as_array().unwrap().clone()
}

fn write_statements(policy: &mut Value, statements: Vec<Value>) {
    policy["PolicyDocument"]["Fn::Sub"][0] = Value::from(json!({ "Version": "2012-10-17", "Statement": statements }).to_string());
}

/// `member-role.yaml` with the statements of the role's first policy changed by `change`.
fn with_member_statements(change: impl FnOnce(&mut Vec<Value>)) -> Value {
    let mut copy = member_template().clone();
    let policy = &mut copy["Resources"]["MemberRole"]["Properties"]["Policies"][0];
    let mut statements = written_statements(policy);
    change(&mut statements);
    write_statements(policy, statements);
    copy
}

#[test]
fn the_protection_check_notices_each_way_the_member_role_could_be_weakened() {
    let mut weakened = vec![
        ("a case-sensitive comparison, which lets TRUE through", with_member_text("\"StringEqualsIgnoreCase\"", "\"StringEquals\"")),
        ("the deny of deleting dropped", with_member_statements(|s| s.retain(|s| s["Sid"] != "ProtectedInstancesAreNeverDeleted"))),
        (
            "a tag key written out instead of taken from the parameter",
            with_member_text("aws:ResourceTag/${DeletionProtectionTag}", "aws:ResourceTag/DeletionProtection"),
        ),
        ("untagging left out", with_member_text("[\"scn:TagResource\", \"scn:UntagResource\"]", "\"scn:TagResource\"")),
        ("tagging allowed", with_member_text("\"scn:GetInstance\", ", "\"scn:GetInstance\", \"scn:TagResource\", ")),
        ("every Supply Chain action allowed", with_member_text("\"scn:ListInstances\"", "\"scn:*\"")),
        (
            "denies limited to one region",
            with_member_statements(|s| {
                for deny in s.iter_mut().filter(|s| s["Effect"] == "Deny") {
                    deny["Resource"] = json!("arn:aws:scn:us-east-1:${AWS::AccountId}:instance/*");
                }
            }),
        ),
    ];
    // The denies moved to a policy of their own, which CloudFormation may put after the allows.
    let mut split = member_template().clone();
    let policies = split["Resources"]["MemberRole"]["Properties"]["Policies"].as_array_mut().unwrap();
    let (allows, denies): (Vec<Value>, Vec<Value>) = written_statements(&policies[0]).into_iter().partition(|s| s["Effect"] == "Allow");
    let mut apart = policies[0].clone();
    apart["PolicyName"] = json!("deletion-protection");
    write_statements(&mut apart, denies);
    write_statements(&mut policies[0], allows);
    policies.push(apart);
    assert_eq!(
        policies::protection_findings(&role_statements_of(&split), "DeletionProtectionTag", &member_instances()),
        Vec::<String>::new()
    );
    weakened.push(("the denies in a policy apart from the allows", split));
    for (what, template) in weakened {
        assert!(!member_protection_findings(&template).is_empty(), "the check does not notice {what}");
    }
}

/// Every statement of the member role of `template`, deployed with [`REQUIRED`].
fn role_statements_of(template: &Value) -> Vec<Value> {
    let properties = Resolver::new(template, &REQUIRED).resolve(&template["Resources"]["MemberRole"]["Properties"]).unwrap();
    properties["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| policies::statements(&policies::document(&p["PolicyDocument"])))
        .collect()
}

#[test]
fn the_forwarding_rule_and_its_role_exist_only_when_a_central_bus_is_named() {
    let template = member_template();
    let resources = template["Resources"].as_object().unwrap();
    let forwarding: BTreeSet<&str> = resources
        .iter()
        .filter(|(_, r)| r.get("Condition") == Some(&json!("ForwardDeletionRequests")))
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(forwarding, BTreeSet::from(["ForwardDeletionRequestsRule", "ForwardDeletionRequestsRole"]));
    assert_eq!(
        template["Conditions"]["ForwardDeletionRequests"],
        json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "ForwardDeletionRequestsToBusArn" }, ""] }] })
    );
    assert_eq!(template["Parameters"]["ForwardDeletionRequestsToBusArn"]["Default"], "");
    let off = Resolver::new(template, &REQUIRED);
    let on = Resolver::new(template, &[REQUIRED[0], REQUIRED[1], ("ForwardDeletionRequestsToBusArn", CENTRAL_BUS)]);
    for id in &forwarding {
        assert!(!off.holds(id) && on.holds(id), "{id}");
    }
    assert!(off.holds("MemberRole") && on.holds("MemberRole"));

    // The rule on the default bus, its one target the central bus, through its own role.
    let rule = on.resolve(&resources["ForwardDeletionRequestsRule"]["Properties"]).unwrap();
    assert_eq!(rule["EventBusName"], "default");
    assert_eq!(rule["State"], "ENABLED");
    assert_eq!(
        rule["Targets"],
        json!([{ "Id": "central-bus", "Arn": CENTRAL_BUS, "RoleArn": { "Fn::GetAtt": ["ForwardDeletionRequestsRole", "Arn"] } }])
    );
    // The role: assumed by EventBridge for this rule of this account, allowed PutEvents on that bus only.
    let forwarding_role = on.resolve(&resources["ForwardDeletionRequestsRole"]["Properties"]).unwrap();
    let trust = &forwarding_role["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_array().unwrap().len(), 1);
    assert_eq!(trust[0]["Principal"], json!({ "Service": "events.amazonaws.com" }));
    assert_eq!(trust[0]["Condition"]["StringEquals"]["aws:SourceAccount"], json!({ "Ref": "AWS::AccountId" }));
    let rule_name = rule["Name"].as_str().unwrap();
    assert_eq!(
        trust[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({ "Fn::Sub": format!("arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{rule_name}") })
    );
    let statements: Vec<Value> =
        forwarding_role["Policies"].as_array().unwrap().iter().flat_map(|p| policies::statements(&p["PolicyDocument"])).collect();
    assert_eq!(statements, [json!({ "Sid": "PutOnCentralBus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": CENTRAL_BUS })]);
}

#[test]
fn the_forwarding_rule_takes_this_account_s_deletion_requests_and_nothing_else() {
    let on = Resolver::new(
        member_template(),
        &[REQUIRED[0], REQUIRED[1], ("ForwardDeletionRequestsToBusArn", CENTRAL_BUS), ("AWS::AccountId", MEMBER_ACCOUNT)],
    );
    let pattern = on.resolve(&member_template()["Resources"]["ForwardDeletionRequestsRule"]["Properties"]["EventPattern"]).unwrap();
    let in_account = |name: &str, account: &str| {
        let mut event = support::fixture(name);
        event["account"] = json!(account);
        event
    };
    let mut own_request = in_account("eventbridge-deletion-requested.json", MEMBER_ACCOUNT);
    own_request["source"] = json!("supplychain-delete-instance");
    let events = json!({
        "a producer's request": in_account("eventbridge-deletion-requested.json", MEMBER_ACCOUNT),
        "a request with metadata": in_account("eventbridge-with-metadata.json", MEMBER_ACCOUNT),
        "a request another account sent to this bus": in_account("eventbridge-deletion-requested.json", "777788889999"),
        "a request sent as supplychain-delete-instance": own_request,
        "an announcement of the functions": in_account("invalid/own-announcement.json", MEMBER_ACCOUNT),
        "a deletion started": in_account("check/deletion-started.json", MEMBER_ACCOUNT),
        "a sweep completed": in_account("sweep/sweep-completed.json", MEMBER_ACCOUNT),
    });
    let output = tools::run(
        Command::new(tools::venv_bin("python"))
            .arg("-c")
            .arg(
                "import json,sys\n\
             from moto.events.models import EventPattern\n\
             pattern = EventPattern.load(sys.argv[1])\n\
             print(json.dumps({name: pattern.matches_event(event) for name, event in json.load(sys.stdin).items()}))",
            )
            .arg(pattern.to_string()),
        &events.to_string(),
    );
    let matched = tools::json_stdout("moto's pattern matcher", &output);
    assert_eq!(
        matched,
        json!({
            "a producer's request": true,
            "a request with metadata": true,
            "a request another account sent to this bus": false,
            "a request sent as supplychain-delete-instance": false,
            "an announcement of the functions": false,
            "a deletion started": false,
            "a sweep completed": false,
        })
    );
}

#[test]
fn each_trust_parameter_is_an_output_of_the_central_stack() {
    let outputs = central_template()["Outputs"].as_object().unwrap();
    let parameters = member_template()["Parameters"].as_object().unwrap();
    for (parameter, role) in [
        ("DeleteFunctionRoleArn", "DeleteInstanceRole"),
        ("CheckFunctionRoleArn", "CheckInstanceStatusRole"),
        ("SweepFunctionRoleArn", "SweepInstancesRole"),
    ] {
        assert!(parameters.contains_key(parameter), "{parameter}");
        assert_eq!(outputs.get(parameter).map(|o| &o["Value"]), Some(&json!({ "Fn::GetAtt": [role, "Arn"] })), "{parameter}");
    }
    // The bus to forward to is the central stack's output EventBusArn.
    assert!(outputs.contains_key("EventBusArn"));
    assert!(parameters["ForwardDeletionRequestsToBusArn"]["Description"].as_str().unwrap().contains("EventBusArn"));
}
