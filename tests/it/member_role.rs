//! member-role.yaml, checked offline: plain CloudFormation that a StackSet with service-managed
//! permissions can deploy to every account of an organizational unit, accepted by cfn-lint and
//! `sam validate --lint`; one role per central function, each assumable by that function's role
//! only, allowed exactly the Supply Chain calls that function makes and denied, by IAM itself,
//! deleting a protected instance or changing its protection tag; the optional rule that forwards
//! the account's deletion requests to the central bus, whose pattern is run against the fixtures
//! with moto's EventBridge pattern matcher, through the one role the central bus admits; and the
//! SCP that docs/many-accounts.md offers, evaluated as IAM would.

use crate::support::policies;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::tools;
use policies::{decide, Decision, Request, Resolver};
use serde_json::{json, Value};

const CENTRAL_DELETE_ROLE: &str = "arn:aws:iam::111122223333:role/supplychain-delete-instance-DeleteInstanceRole-1A2B3C";
const CENTRAL_CHECK_ROLE: &str = "arn:aws:iam::111122223333:role/supplychain-delete-instance-CheckInstanceStatusRole-4D5E6F";
const CENTRAL_SWEEP_ROLE: &str = "arn:aws:iam::111122223333:role/supplychain-delete-instance-SweepInstancesRole-7A8B9C";
const CENTRAL_BUS: &str = "arn:aws:events:us-east-1:111122223333:event-bus/supplychain-delete-instance";
const MEMBER_ACCOUNT: &str = "444455556666";
const ORGANIZATION: &str = "o-a1b2c3d4e5";

/// The parameters a StackSet is given at the least: the two roles without defaults.
const REQUIRED: [(&str, &str); 2] = [("DeleteFunctionRoleArn", CENTRAL_DELETE_ROLE), ("CheckFunctionRoleArn", CENTRAL_CHECK_ROLE)];
const SWEEP: (&str, &str) = ("SweepFunctionRoleArn", CENTRAL_SWEEP_ROLE);

/// Each function's role in the member account, the central role it trusts, and its name's suffix.
const ROLES: [(&str, &str, &str); 3] = [
    ("MemberRole", CENTRAL_DELETE_ROLE, ""),
    ("CheckMemberRole", CENTRAL_CHECK_ROLE, "-Checker"),
    ("SweepMemberRole", CENTRAL_SWEEP_ROLE, "-Sweep"),
];

fn member_template() -> &'static Value {
    tools::member_role_template()
}

fn central_template() -> &'static Value {
    tools::source_template()
}

fn role(logical_id: &str) -> &'static Value {
    &member_template()["Resources"][logical_id]
}

/// The member stack deployed in [`MEMBER_ACCOUNT`] with [`REQUIRED`], the sweep trusted, and `given`.
fn member(given: &[(&str, &str)]) -> Resolver<'static> {
    member_of(member_template(), given)
}

fn member_of<'t>(template: &'t Value, given: &[(&str, &str)]) -> Resolver<'t> {
    let parameters: Vec<(&str, &str)> = REQUIRED.iter().chain(&[SWEEP, ("AWS::AccountId", MEMBER_ACCOUNT)]).chain(given).copied().collect();
    Resolver::new(template, &parameters)
}

/// The statements of each policy document of the role `logical_id` of `template`, as written (its
/// JSON text read, nothing substituted) but with its `Fn::If` resolved as deployed with the sweep.
fn documents_of(template: &Value, logical_id: &str) -> Vec<Vec<Value>> {
    let properties = member_of(template, &[]).resolve(&template["Resources"][logical_id]["Properties"]).unwrap();
    properties["Policies"].as_array().unwrap().iter().map(|p| policies::statements(&policies::document(&p["PolicyDocument"]))).collect()
}

/// The role's resource for instances: every instance of the account, in any region.
fn member_instances() -> Value {
    json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" })
}

fn instance(region: &str) -> String {
    format!("arn:aws:scn:{region}:{MEMBER_ACCOUNT}:instance/{}", crate::support::FIXTURE_ID)
}

/// What is wrong with deletion protection in the roles of `template`: the denies must be in every
/// role (policies::protection_findings) and in the same policy document as its allows, so that no
/// moment exists in which a role has the one without the other.
fn member_protection_findings(template: &Value) -> Vec<String> {
    let mut findings = Vec::new();
    for (id, _, _) in ROLES {
        let documents = documents_of(template, id);
        let statements: Vec<Value> = documents.iter().flatten().cloned().collect();
        findings.extend(
            policies::protection_findings(&statements, "DeletionProtectionTag", &member_instances())
                .into_iter()
                .map(|f| format!("{id}: {f}")),
        );
        for document in &documents {
            let names = |effect: &str| -> BTreeSet<String> {
                document.iter().filter(|s| s["Effect"] == effect).flat_map(|s| policies::string_set(&s["Action"])).collect()
            };
            let (allowed, denied) = (names("Allow"), names("Deny"));
            if allowed.iter().any(|a| a.starts_with("scn:")) && !denied.contains("scn:DeleteInstance") {
                findings.push(format!("{id}: a policy allows Supply Chain calls without the denies beside it: {document:?}"));
            }
        }
    }
    findings
}

/// `member-role.yaml` with the JSON text of the first policy of `logical_id` changed: `from` replaced by `to`.
fn with_member_text(logical_id: &str, from: &str, to: &str) -> Value {
    let mut copy = member_template().clone();
    let text = &mut copy["Resources"][logical_id]["Properties"]["Policies"][0]["PolicyDocument"]["Fn::Sub"][0];
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

/// cfn-lint's report on `template` with each role's JSON policy text read as CloudFormation reads
/// it, the protection tag being its default, and written as an object: cfn-lint checks the actions,
/// resources and condition operators of a policy object, not of JSON text in an inline policy.
fn cfn_lint_with_the_policy_read(template: &Value) -> String {
    let mut template = template.clone();
    let tag = template["Parameters"]["DeletionProtectionTag"]["Default"].as_str().unwrap().to_owned();
    for (id, _, _) in ROLES {
        for policy in template["Resources"][id]["Properties"]["Policies"].as_array_mut().unwrap() {
            let Some(document) = policy.get_mut("PolicyDocument") else { continue };
            if let Some(sub) = document.get("Fn::Sub").cloned() {
                let mut sub = sub;
                sub[0] = Value::from(sub[0].as_str().unwrap().replace("${DeletionProtectionTag}", &tag));
                *document = policies::document(&json!({ "Fn::Sub": sub }));
            }
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
fn cfn_lint_accepts_each_role_s_policy_once_its_json_text_is_read_as_cloudformation_would() {
    assert_eq!(cfn_lint_with_the_policy_read(member_template()), "");
    // And it would report an action Supply Chain does not have, or an operator IAM does not know,
    // in any of the roles.
    let misspelt = with_member_text("SweepMemberRole", "\"scn:ListInstances\"", "\"scn:ListInstance\"");
    assert!(cfn_lint_with_the_policy_read(&misspelt).contains("listinstance"), "cfn-lint did not check the actions");
    let unknown = with_member_text("CheckMemberRole", "\"StringEqualsIgnoreCase\"", "\"StringEqualIgnoreCase\"");
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
    assert_eq!(parameters["MemberRoleName"]["Default"], "SupplyChainInstanceDeletion");
    for (name, parameter) in parameters {
        assert!(parameter["Description"].is_string(), "parameter {name} is described");
    }
    let without_default: BTreeSet<&str> = parameters.iter().filter(|(_, p)| p.get("Default").is_none()).map(|(n, _)| n.as_str()).collect();
    assert_eq!(without_default, REQUIRED.iter().map(|(name, _)| *name).collect());
    // The protection tag has no off switch here, and is the central stack's by default.
    assert_eq!(parameters["DeletionProtectionTag"]["Default"], central_template()["Parameters"]["DeletionProtectionTag"]["Default"]);
    assert_eq!(parameters["DeletionProtectionTag"]["AllowedPattern"], "^[^\"\\\\]{1,128}$");
    // An output for each role, under the role's own condition.
    let outputs = template["Outputs"].as_object().unwrap();
    let expected = [
        ("MemberRoleArn", "MemberRole"),
        ("CheckMemberRoleArn", "CheckMemberRole"),
        ("SweepMemberRoleArn", "SweepMemberRole"),
        ("ForwarderRoleArn", "ForwardDeletionRequestsRole"),
    ];
    assert_eq!(outputs.keys().map(String::as_str).collect::<BTreeSet<_>>(), expected.iter().map(|(output, _)| *output).collect());
    for (output, id) in expected {
        assert_eq!(outputs[output]["Value"], json!({ "Fn::GetAtt": [id, "Arn"] }), "{output}");
        assert_eq!(outputs[output].get("Condition"), role(id).get("Condition"), "{output}");
    }
}

/// The longest `MemberRoleName` an `AllowedPattern` of the form `^[...]{1,N}$` lets in.
fn longest_name(pattern: &Value) -> usize {
    let pattern = pattern.as_str().unwrap();
    let bounds = pattern.strip_suffix("}$").and_then(|p| p.rsplit_once("{1,")).unwrap_or_else(|| panic!("{pattern}"));
    bounds.1.parse().unwrap()
}

#[test]
fn each_function_has_a_role_of_its_own_named_after_member_role_name_within_the_64_characters_iam_allows() {
    // The delete function's keeps the name of the one role of earlier versions, so that updating a
    // StackSet keeps it; the others add a suffix.
    let resolved = member(&[("ForwardDeletionRequestsToBusArn", CENTRAL_BUS)]);
    let name_of = |id: &str| resolved.deployed(&role(id)["Properties"]["RoleName"]);
    assert_eq!(role("MemberRole")["Properties"]["RoleName"], json!({ "Ref": "MemberRoleName" }));
    let names = [
        ("MemberRole", "SupplyChainInstanceDeletion"),
        ("CheckMemberRole", "SupplyChainInstanceDeletion-Checker"),
        ("SweepMemberRole", "SupplyChainInstanceDeletion-Sweep"),
        ("ForwardDeletionRequestsRole", "SupplyChainInstanceDeletion-Forwarder"),
    ];
    for (id, name) in names {
        assert_eq!(name_of(id), name, "{id}");
    }
    // The longest MemberRoleName either template accepts, with the longest suffix, is a role name IAM
    // accepts; one character more would not be.
    let longest_suffix = names.iter().map(|(_, n)| n.len() - "SupplyChainInstanceDeletion".len()).max().unwrap();
    for template in [member_template(), central_template()] {
        let longest = longest_name(&template["Parameters"]["MemberRoleName"]["AllowedPattern"]);
        assert_eq!(longest + longest_suffix, 64, "{}", template["Parameters"]["MemberRoleName"]["AllowedPattern"]);
    }
    // The sweep's role exists only when the sweep is trusted, the forwarder only when forwarding.
    let without = Resolver::new(member_template(), &REQUIRED);
    assert!(!without.holds("SweepMemberRole") && !without.holds("ForwardDeletionRequestsRole"));
    assert!(without.holds("MemberRole") && without.holds("CheckMemberRole"));
    assert!(resolved.holds("SweepMemberRole") && resolved.holds("ForwardDeletionRequestsRole"));
}

#[test]
fn each_role_trusts_only_its_own_function_s_central_role_and_only_within_the_organization_when_one_is_given() {
    let principals = [
        CENTRAL_DELETE_ROLE,
        CENTRAL_CHECK_ROLE,
        CENTRAL_SWEEP_ROLE,
        "arn:aws:iam::111122223333:role/developer",
        "arn:aws:iam::444455556666:role/developer",
    ];
    for given in [vec![], vec![("OrganizationId", ORGANIZATION)]] {
        let stack = member(&given);
        for (id, own, _) in ROLES {
            let trust = stack.trust_statements(id);
            let assume = |principal: &str, action: &str, organization: &str| {
                decide(&trust, &Request::new(principal, action, "").with("aws:PrincipalOrgID", &[organization]))
            };
            let trusted: Vec<&str> =
                principals.into_iter().filter(|p| assume(p, "sts:AssumeRole", ORGANIZATION) == Decision::Allowed).collect();
            assert_eq!(trusted, [own], "{id} with {given:?}");
            // AssumeRole alone: no session tags, no source identity.
            for action in ["sts:TagSession", "sts:SetSourceIdentity"] {
                assert_eq!(assume(own, action, ORGANIZATION), Decision::NotAllowed, "{id}: {action}");
            }
            let elsewhere = assume(own, "sts:AssumeRole", "o-zzzzzzzzzz");
            assert_eq!(elsewhere == Decision::Allowed, given.is_empty(), "{id} with {given:?}: a principal of another organization");
            // As written: one statement, whose principal is the parameter and nothing else.
            let written = &role(id)["Properties"]["AssumeRolePolicyDocument"]["Statement"];
            assert_eq!(written.as_array().unwrap().len(), 1, "{id}");
            let parameter = REQUIRED.iter().chain(&[SWEEP]).find(|(_, arn)| *arn == own).unwrap().0;
            assert_eq!(written[0]["Principal"], json!({ "AWS": { "Ref": parameter } }), "{id}");
        }
    }
}

/// The calls a role could be asked to make in the member account, by name.
fn probes() -> Vec<(&'static str, Request)> {
    let who = "arn:aws:iam::444455556666:role/SupplyChainInstanceDeletion";
    let on = |action: &str| Request::new(who, action, &instance("eu-west-1"));
    vec![
        ("scn:DeleteInstance", on("scn:DeleteInstance")),
        ("scn:GetInstance", on("scn:GetInstance")),
        ("scn:ListTagsForResource", on("scn:ListTagsForResource")),
        ("scn:ListInstances", Request::new(who, "scn:ListInstances", "*")),
        ("scn:TagResource", on("scn:TagResource").with("aws:TagKeys", &["DeletionScheduledFor"])),
        ("scn:UntagResource", on("scn:UntagResource").with("aws:TagKeys", &["DeletionScheduledFor"])),
        ("scn:TagResource Owner", on("scn:TagResource").with("aws:TagKeys", &["Owner"])),
        ("scn:CreateInstance", Request::new(who, "scn:CreateInstance", "*")),
        ("scn:UpdateInstance", on("scn:UpdateInstance")),
        (
            "kms:RetireGrant",
            Request::new(who, "kms:RetireGrant", "arn:aws:kms:us-east-1:444455556666:key/k")
                .with("kms:ViaService", &["scn.us-east-1.amazonaws.com"]),
        ),
    ]
}

fn allowed(statements: &[Value]) -> BTreeSet<&'static str> {
    probes().into_iter().filter(|(_, request)| decide(statements, request) == Decision::Allowed).map(|(name, _)| name).collect()
}

#[test]
fn each_role_allows_exactly_its_own_function_s_calls_and_only_the_delete_function_s_may_delete() {
    let keys = [("InstanceKmsKeyArns", "arn:aws:kms:us-east-1:444455556666:key/k")];
    let stack = member(&keys);
    assert_eq!(
        allowed(&stack.role_statements("MemberRole")),
        BTreeSet::from(["scn:DeleteInstance", "scn:GetInstance", "scn:ListTagsForResource", "kms:RetireGrant"])
    );
    assert_eq!(allowed(&stack.role_statements("CheckMemberRole")), BTreeSet::from(["scn:GetInstance"]));
    assert_eq!(
        allowed(&stack.role_statements("SweepMemberRole")),
        BTreeSet::from(["scn:ListInstances", "scn:ListTagsForResource", "scn:TagResource", "scn:UntagResource"]),
        "the sweep lists, reads tags and writes its mark, and never deletes"
    );
    // Without keys, no KMS at all.
    assert_eq!(
        allowed(&member(&[]).role_statements("MemberRole")),
        BTreeSet::from(["scn:DeleteInstance", "scn:GetInstance", "scn:ListTagsForResource"])
    );

    // Each role's Supply Chain actions are those of its function's central role, and the KMS grant
    // the central delete role's.
    let central = |role: &str| -> BTreeSet<String> {
        Resolver::new(central_template(), &[])
            .role_statements(role)
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| policies::string_set(&s["Action"]))
            .filter(|a| a.starts_with("scn:"))
            .collect()
    };
    let written = |id: &str| -> BTreeSet<String> {
        stack.role_statements(id).iter().filter(|s| s["Effect"] == "Allow").flat_map(|s| policies::string_set(&s["Action"])).collect()
    };
    for (id, central_role) in
        [("MemberRole", "DeleteInstanceRole"), ("CheckMemberRole", "CheckInstanceStatusRole"), ("SweepMemberRole", "SweepInstancesRole")]
    {
        let scn: BTreeSet<String> = written(id).into_iter().filter(|a| a.starts_with("scn:")).collect();
        assert_eq!(scn, central(central_role), "{id}");
    }
    let kms: Vec<Value> = stack.role_statements("MemberRole").into_iter().filter(|s| s["Sid"] == "RetireInstanceKeyGrants").collect();
    assert_eq!(kms.len(), 1);
    assert_eq!(kms[0]["Condition"], json!({ "StringLike": { "kms:ViaService": "scn.*.amazonaws.com" } }));
    assert_eq!(policies::string_set(&kms[0]["Action"]), BTreeSet::from(["kms:RetireGrant".to_owned(), "kms:DescribeKey".to_owned()]));
}

#[test]
fn iam_denies_deleting_a_protected_instance_or_changing_its_protection_tag_through_every_role() {
    assert_eq!(member_protection_findings(member_template()), Vec::<String>::new());
    let who = "arn:aws:iam::444455556666:role/SupplyChainInstanceDeletion";
    for given in
        [vec![], vec![("InstanceKmsKeyArns", "arn:aws:kms:us-east-1:444455556666:key/k"), ("ForwardDeletionRequestsToBusArn", CENTRAL_BUS)]]
    {
        let stack = member(&given);
        for (id, _, _) in ROLES {
            let statements = stack.role_statements(id);
            for (action, keys) in [
                ("scn:DeleteInstance", &[][..]),
                ("scn:TagResource", &["DeletionProtection"][..]),
                ("scn:UntagResource", &["deletionprotection"][..]),
                ("scn:TagResource", &["DeletionScheduledFor", "DELETIONPROTECTION"][..]),
            ] {
                let request = Request::new(who, action, &instance("ap-southeast-2"))
                    .with("aws:TagKeys", keys)
                    .on_tagged("deletionProtection", " TRUE");
                assert_eq!(decide(&statements, &request), Decision::Denied, "{id}: {action} {keys:?}");
            }
        }
        // The evaluation tells a deny from an allow: the delete function's role deletes an
        // unprotected instance.
        let unprotected = Request::new(who, "scn:DeleteInstance", &instance("ap-southeast-2")).on_tagged("DeletionProtection", "false");
        assert_eq!(decide(&stack.role_statements("MemberRole"), &unprotected), Decision::Allowed);
    }
}

#[test]
fn every_role_denies_what_the_central_roles_deny_in_every_region_of_its_account() {
    let central = policies::document(&central_template()["Resources"]["DeletionProtectionPolicy"]["Properties"]["PolicyDocument"]);
    let central: Vec<Value> = policies::statements(&central)
        .into_iter()
        .filter(|s| s["Effect"] == "Deny")
        .map(|mut statement| {
            assert_eq!(statement["Resource"], member_instances());
            statement["Resource"] = member_instances();
            statement
        })
        .collect();
    assert_eq!(central.len(), 2);
    for (id, _, _) in ROLES {
        let member: Vec<Value> = documents_of(member_template(), id).into_iter().flatten().filter(|s| s["Effect"] == "Deny").collect();
        assert_eq!(member, central, "{id}");
    }
}

/// `member-role.yaml` with the statements of the first policy of `logical_id` changed by `change`.
fn with_member_statements(logical_id: &str, change: impl FnOnce(&mut Vec<Value>)) -> Value {
    let mut copy = member_template().clone();
    let policy = &mut copy["Resources"][logical_id]["Properties"]["Policies"][0];
    let text = policy["PolicyDocument"]["Fn::Sub"][0].as_str().unwrap();
    let mut statements = serde_json::from_str::<Value>(text).unwrap()["Statement"].as_array().unwrap().clone();
    change(&mut statements);
    policy["PolicyDocument"]["Fn::Sub"][0] = Value::from(json!({ "Version": "2012-10-17", "Statement": statements }).to_string());
    copy
}

#[test]
fn the_protection_check_notices_each_way_a_member_role_could_be_weakened() {
    let weakened = vec![
        (
            "a case-sensitive comparison, which lets TRUE through",
            with_member_text("MemberRole", "\"StringEqualsIgnoreCase\"", "\"StringEquals\""),
        ),
        (
            "the deny of deleting dropped",
            with_member_statements("MemberRole", |s| s.retain(|s| s["Sid"] != "ProtectedInstancesAreNeverDeleted")),
        ),
        ("the checker's denies dropped", with_member_statements("CheckMemberRole", |s| s.retain(|s| s["Effect"] != "Deny"))),
        (
            "the sweep's deny of tagging dropped",
            with_member_statements("SweepMemberRole", |s| s.retain(|s| s["Sid"] != "ProtectionTagIsNeverChanged")),
        ),
        (
            "a tag key written out instead of taken from the parameter",
            with_member_text("SweepMemberRole", "aws:ResourceTag/${DeletionProtectionTag}", "aws:ResourceTag/DeletionProtection"),
        ),
        ("untagging left out", with_member_text("MemberRole", "[\"scn:TagResource\", \"scn:UntagResource\"]", "\"scn:TagResource\"")),
        (
            "tagging allowed to the delete function",
            with_member_text("MemberRole", "\"scn:GetInstance\", ", "\"scn:GetInstance\", \"scn:TagResource\", "),
        ),
        (
            "every Supply Chain action allowed to the checker",
            with_member_text("CheckMemberRole", "\"Action\": \"scn:GetInstance\"", "\"Action\": \"scn:*\""),
        ),
        (
            "denies limited to one region",
            with_member_statements("MemberRole", |s| {
                for deny in s.iter_mut().filter(|s| s["Effect"] == "Deny") {
                    deny["Resource"] = json!("arn:aws:scn:us-east-1:${AWS::AccountId}:instance/*");
                }
            }),
        ),
        ("the denies in a policy apart from the allows", denies_apart("MemberRole")),
    ];
    for (what, template) in weakened {
        assert!(!member_protection_findings(&template).is_empty(), "the check does not notice {what}");
    }
}

/// `member-role.yaml` with the denies of `logical_id` moved to a policy of their own, which
/// CloudFormation may put after the allows; the role as a whole still denies.
fn denies_apart(logical_id: &str) -> Value {
    let mut split = member_template().clone();
    let policies = split["Resources"][logical_id]["Properties"]["Policies"].as_array_mut().unwrap();
    let text = policies[0]["PolicyDocument"]["Fn::Sub"][0].as_str().unwrap().to_owned();
    let all = serde_json::from_str::<Value>(&text).unwrap()["Statement"].as_array().unwrap().clone();
    let (allows, denies): (Vec<Value>, Vec<Value>) = all.into_iter().partition(|s| s["Effect"] == "Allow");
    let mut apart = policies[0].clone();
    apart["PolicyName"] = json!("deletion-protection");
    apart["PolicyDocument"]["Fn::Sub"][0] = Value::from(json!({ "Version": "2012-10-17", "Statement": denies }).to_string());
    policies[0]["PolicyDocument"]["Fn::Sub"][0] = Value::from(json!({ "Version": "2012-10-17", "Statement": allows }).to_string());
    policies.push(apart);
    let statements: Vec<Value> = documents_of(&split, logical_id).into_iter().flatten().collect();
    assert_eq!(policies::protection_findings(&statements, "DeletionProtectionTag", &member_instances()), Vec::<String>::new());
    split
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
fn the_forwarding_rule_takes_this_account_s_deletion_requests_never_a_replay_nor_the_central_sources_and_nothing_else() {
    let on = Resolver::new(
        member_template(),
        &[REQUIRED[0], REQUIRED[1], ("ForwardDeletionRequestsToBusArn", CENTRAL_BUS), ("AWS::AccountId", MEMBER_ACCOUNT)],
    );
    let pattern = on.resolve(&member_template()["Resources"]["ForwardDeletionRequestsRule"]["Properties"]["EventPattern"]).unwrap();
    // As the central stack's delete rule writes it.
    let central_rule = &central_template()["Resources"]["DeleteInstanceFunction"]["Properties"]["Events"]["DeletionRequested"];
    assert_eq!(pattern["replay-name"], central_rule["Properties"]["Pattern"]["replay-name"]);
    let in_account = |name: &str, account: &str| {
        let mut event = crate::support::fixture_now(name);
        event["account"] = json!(account);
        event
    };
    let mut own_request = in_account("eventbridge-deletion-requested.json", MEMBER_ACCOUNT);
    own_request["source"] = json!("supplychain-delete-instance");
    let mut as_the_sweep = in_account("eventbridge-deletion-requested.json", MEMBER_ACCOUNT);
    as_the_sweep["source"] = json!("supplychain-instance-sweep");
    let mut replayed = in_account("eventbridge-deletion-requested.json", MEMBER_ACCOUNT);
    replayed["replay-name"] = json!("default-bus-history");
    let events = json!({
        "a producer's request": in_account("eventbridge-deletion-requested.json", MEMBER_ACCOUNT),
        "a request with metadata": in_account("eventbridge-with-metadata.json", MEMBER_ACCOUNT),
        "a request another account sent to this bus": in_account("eventbridge-deletion-requested.json", "777788889999"),
        "a request sent as supplychain-delete-instance": own_request,
        "a request replayed from an archive of this bus": replayed,
        "a request sent as the central sweep": as_the_sweep,
        "an announcement of the functions": in_account("invalid/own-announcement.json", MEMBER_ACCOUNT),
        "a deletion started": in_account("check/deletion-started.json", MEMBER_ACCOUNT),
        "a sweep completed": in_account("sweep/sweep-completed.json", MEMBER_ACCOUNT),
    });
    assert_eq!(
        tools::moto_matches(&pattern, &events),
        json!({
            "a producer's request": true,
            "a request with metadata": true,
            "a request another account sent to this bus": false,
            "a request sent as supplychain-delete-instance": false,
            "a request replayed from an archive of this bus": false,
            "a request sent as the central sweep": false,
            "an announcement of the functions": false,
            "a deletion started": false,
            "a sweep completed": false,
        })
    );
}

#[test]
fn the_central_bus_admits_the_forwarding_role_this_template_names_and_no_other_principal_of_the_organization() {
    let bus = "arn:aws:events:us-east-1:123456789012:event-bus/platform";
    for name in ["SupplyChainInstanceDeletion", "Cleaner"] {
        let central =
            Resolver::new(central_template(), &[("OrganizationId", ORGANIZATION), ("EventBusName", "platform"), ("MemberRoleName", name)]);
        let policy = [central.deployed(&central_template()["Resources"]["OrganizationEventBusPolicy"]["Properties"]["Statement"])];
        let member = member(&[("ForwardDeletionRequestsToBusArn", bus), ("MemberRoleName", name)]);
        let forwarder = format!(
            "arn:aws:iam::{MEMBER_ACCOUNT}:role/{}",
            member.deployed(&role("ForwardDeletionRequestsRole")["Properties"]["RoleName"]).as_str().unwrap()
        );
        let put = |principal: &str| {
            Request::new(principal, "events:PutEvents", bus)
                .with("aws:PrincipalOrgID", &[ORGANIZATION])
                .with("events:detail-type", &["Supply Chain Instance Deletion Requested"])
        };
        assert_eq!(decide(&policy, &put(&forwarder)), Decision::Allowed, "{name}: the forwarder");
        // The member template's forwarder puts only on the bus it is given, and the central rule's
        // bus policy lets it in only for that one detail-type.
        let forwarder_statements = member.role_statements("ForwardDeletionRequestsRole");
        assert_eq!(decide(&forwarder_statements, &put(&forwarder)), Decision::Allowed, "{name}");
        let announcement = put(&forwarder).with("events:detail-type", &["Supply Chain Instance Deleted"]);
        assert_eq!(decide(&policy, &announcement), Decision::NotAllowed, "{name}: another detail-type");
        for other in [
            format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/developer"),
            format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/{name}"),
            format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/team/{name}-Forwarder"),
            format!("arn:aws:iam::{MEMBER_ACCOUNT}:user/{name}-Forwarder"),
        ] {
            assert_eq!(decide(&policy, &put(&other)), Decision::NotAllowed, "{name}: {other}");
        }
        let outsider = put(&forwarder).with("aws:PrincipalOrgID", &["o-zzzzzzzzzz"]);
        assert_eq!(decide(&policy, &outsider), Decision::NotAllowed, "{name}: a forwarder of another organization");
    }
}

#[test]
fn each_central_function_assumes_its_own_member_role_and_no_other() {
    for name in ["SupplyChainInstanceDeletion", "Cleaner"] {
        let central = Resolver::new(central_template(), &[("MemberRoleName", name)]);
        let member = member(&[("MemberRoleName", name)]);
        let arn_of = |id: &str| {
            format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/{}", member.deployed(&role(id)["Properties"]["RoleName"]).as_str().unwrap())
        };
        for ((function, central_role), (own, central_arn, _)) in [
            ("DeleteInstanceFunction", "DeleteInstanceRole"),
            ("CheckInstanceStatusFunction", "CheckInstanceStatusRole"),
            ("SweepInstancesFunction", "SweepInstancesRole"),
        ]
        .into_iter()
        .zip(ROLES)
        {
            // The function's MEMBER_ROLE_NAME is its own role's name.
            let variable =
                central.deployed(&central_template()["Resources"][function]["Properties"]["Environment"]["Variables"]["MEMBER_ROLE_NAME"]);
            assert_eq!(format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/{}", variable.as_str().unwrap()), arn_of(own), "{function}");
            // Its central role may assume that role, and neither of the others.
            let statements = central.role_statements(central_role);
            let assumable: Vec<&str> = ROLES
                .iter()
                .map(|(id, _, _)| *id)
                .filter(|id| decide(&statements, &Request::new(central_arn, "sts:AssumeRole", &arn_of(id))) == Decision::Allowed)
                .collect();
            assert_eq!(assumable, [own], "{central_role} with MemberRoleName {name}");
        }
    }
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

// ---------------------------------------------------------------- the documented SCP

/// The service control policy of docs/many-accounts.md: its one JSON block with a `Version`.
fn documented_scp() -> Value {
    use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
    let text = tools::read(&tools::repo_path("docs/many-accounts.md"));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new(&text) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(language))) if language.as_ref() == "json" => current = Some(String::new()),
            Event::Text(text) => current.iter_mut().for_each(|block| block.push_str(&text)),
            Event::End(TagEnd::CodeBlock) => blocks.extend(current.take()),
            _ => {}
        }
    }
    let policies: Vec<Value> = blocks
        .iter()
        .filter(|block| block.contains("\"Version\""))
        .map(|block| serde_json::from_str(block).unwrap_or_else(|e| panic!("the SCP is not valid JSON ({e}):\n{block}")))
        .collect();
    assert_eq!(policies.len(), 1, "policies in docs/many-accounts.md: {policies:?}");
    policies.into_iter().next().unwrap()
}

#[test]
fn the_documented_scp_is_valid_json_within_the_scp_size_limit_and_names_the_forwarder_this_template_creates() {
    let scp = documented_scp();
    assert_eq!(scp["Version"], "2012-10-17");
    // AWS Organizations takes an SCP of at most 5,120 characters.
    assert!(scp.to_string().len() <= 5120, "{}", scp.to_string().len());
    let statements = scp["Statement"].as_array().unwrap();
    assert!(statements.iter().all(|s| s["Effect"] == "Deny" && s["Sid"].is_string()), "an SCP of denies, each named");
    let requests = statements.iter().find(|s| s["Action"] == "events:PutEvents").expect("a deny of PutEvents");
    let operators: BTreeSet<&str> = requests["Condition"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(operators, BTreeSet::from(["ArnNotLike", "StringEquals"]));
    assert_eq!(requests["Condition"]["StringEquals"], json!({ "events:detail-type": "Supply Chain Instance Deletion Requested" }));
    let exempt = policies::string_set(&requests["Condition"]["ArnNotLike"]["aws:PrincipalArn"]);
    let forwarder = member(&[("ForwardDeletionRequestsToBusArn", CENTRAL_BUS)])
        .deployed(&role("ForwardDeletionRequestsRole")["Properties"]["RoleName"]);
    assert!(exempt.contains(&format!("arn:aws:iam::*:role/{}", forwarder.as_str().unwrap())), "{exempt:?}");
}

#[test]
fn the_documented_scp_lets_only_the_allowed_roles_request_a_deletion_or_change_protection_in_a_member_account() {
    let scp = policies::statements(&documented_scp());
    let in_member = |name: &str| format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/{name}");
    let put = |principal: &str, detail_type: &str| {
        Request::new(principal, "events:PutEvents", &format!("arn:aws:events:us-east-1:{MEMBER_ACCOUNT}:event-bus/default"))
            .with("events:detail-type", &[detail_type])
    };
    let requested = "Supply Chain Instance Deletion Requested";
    let developer = in_member("developer");
    let denied = |request: Request| decide(&scp, &request) == Decision::Denied;
    // Who may ask for a deletion: the allowed requester and the forwarder (which puts the request on
    // the central bus), nobody else, whatever else they may put.
    assert!(denied(put(&developer, requested)), "an ordinary principal");
    assert!(denied(put(&in_member("team/SupplyChainDeletionRequester"), requested)), "the requester's name at another path");
    assert!(!denied(put(&in_member("SupplyChainDeletionRequester"), requested)), "the allowed requester");
    assert!(!denied(put(&in_member("SupplyChainInstanceDeletion-Forwarder"), requested).with("aws:PrincipalOrgID", &[ORGANIZATION])));
    assert!(!denied(put(&developer, "Order Shipped")), "any other event");
    // Who may change protection: the protection administrators only, in any case of the key.
    let tag =
        |principal: &str, action: &str, keys: &[&str]| Request::new(principal, action, &instance("us-east-1")).with("aws:TagKeys", keys);
    assert!(denied(tag(&developer, "scn:UntagResource", &["DeletionProtection"])));
    assert!(denied(tag(&developer, "scn:TagResource", &["Owner", "deletionprotection"])));
    assert!(!denied(tag(&in_member("SupplyChainProtectionAdmin"), "scn:UntagResource", &["DeletionProtection"])));
    assert!(!denied(tag(&developer, "scn:TagResource", &["Owner"])), "other tags stay the account's business");
    // Who may change the roles and the forwarding rule: the StackSet that deployed them.
    let stack_set = in_member("stacksets-exec-0123456789abcdef0123456789abcdef");
    for (action, resource) in [
        ("iam:UpdateAssumeRolePolicy", format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/SupplyChainInstanceDeletion-Forwarder")),
        ("iam:PutRolePolicy", format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/SupplyChainInstanceDeletion")),
        ("iam:CreateRole", format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/SupplyChainInstanceDeletion-Forwarder")),
        ("events:PutTargets", format!("arn:aws:events:us-east-1:{MEMBER_ACCOUNT}:rule/forward-supply-chain-deletion-requests")),
        ("events:PutRule", format!("arn:aws:events:eu-west-1:{MEMBER_ACCOUNT}:rule/forward-supply-chain-deletion-requests")),
    ] {
        assert!(denied(Request::new(&developer, action, &resource)), "{action} on {resource}");
        assert!(!denied(Request::new(&stack_set, action, &resource)), "the StackSet: {action} on {resource}");
    }
    assert!(!denied(Request::new(&developer, "iam:PutRolePolicy", &in_member("developer"))), "other roles stay the account's business");
}
