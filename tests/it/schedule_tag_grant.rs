//! What IAM lets the sweep write: its schedule tag and no other, in its own account and the regions
//! it reaches, while the protection tag stays denied, in the stack and in the member roles; each
//! role's policies evaluated as IAM decides (`support::policies`).

use serde_json::{json, Value};

use crate::support::policies::{self, decide, Decision, Request, Resolver};
use crate::support::{tools, FIXTURE_ID};

/// The role the requests below are made by: identity statements name no principal.
const SWEEP_ROLE: &str = "arn:aws:iam::123456789012:role/supplychain-delete-instance-SweepInstancesRole-1A2B3C";

fn template() -> &'static Value {
    tools::transformed_template()
}

fn properties(logical_id: &str) -> &'static Value {
    &template()["Resources"][logical_id]["Properties"]
}

fn member_template() -> &'static Value {
    tools::member_role_template()
}

/// A request of `action` on `instance` naming `tag_keys` (`aws:TagKeys`; none: the key is absent).
fn request(action: &str, instance: String, tag_keys: &[&str]) -> Request {
    Request::new(SWEEP_ROLE, action, &instance).with("aws:TagKeys", tag_keys)
}

/// The statements of `role` in the stack deployed with `given`, as IAM holds them.
fn deployed_role_statements(role: &str, given: &[(&str, &str)]) -> Vec<Value> {
    Resolver::new(template(), given).role_statements(role)
}

/// Every identity statement of `role` in `template` deployed with `given`, as written (`Ref` and
/// `Fn::Sub` not filled in): its inline policies and the managed policies of the stack it attaches.
fn written_statements(template: &Value, role: &str, given: &[(&str, &str)]) -> Vec<Value> {
    let resolver = Resolver::new(template, given);
    let properties = resolver.resolve(&template["Resources"][role]["Properties"]).unwrap();
    let mut documents: Vec<Value> = properties["Policies"].as_array().into_iter().flatten().map(|p| p["PolicyDocument"].clone()).collect();
    for attached in properties["ManagedPolicyArns"].as_array().into_iter().flatten() {
        let id = attached["Ref"].as_str().unwrap_or_else(|| panic!("{role} attaches a policy that is not the stack's: {attached}"));
        assert!(resolver.holds(id), "{role} attaches {id}, which the stack does not hold");
        documents.push(resolver.resolve(&template["Resources"][id]["Properties"]["PolicyDocument"]).unwrap());
    }
    documents.iter().flat_map(|d| policies::statements(&policies::document(d))).collect()
}

fn instance(region: &str, account: &str) -> String {
    format!("arn:aws:scn:{region}:{account}:instance/{FIXTURE_ID}")
}

/// The requests that show what a role may do with tags on an instance of `region` and `account`,
/// and what IAM must decide for each when the schedule tag is `schedule`.
fn tagging_cases(schedule: &str, region: &str, account: &str) -> Vec<(String, Request, Decision)> {
    let on = |action: &'static str, keys: &[&str]| request(action, instance(region, account), keys);
    let lowered = schedule.to_ascii_lowercase();
    vec![
        ("marking with the schedule tag".into(), on("scn:TagResource", &[schedule]), Decision::Allowed),
        ("removing the mark".into(), on("scn:UntagResource", &[schedule]), Decision::Allowed),
        ("tagging the schedule tag and another".into(), on("scn:TagResource", &[schedule, "Owner"]), Decision::NotAllowed),
        ("untagging the schedule tag and another".into(), on("scn:UntagResource", &[schedule, "Owner"]), Decision::NotAllowed),
        ("a request naming no tag key".into(), on("scn:TagResource", &[]), Decision::NotAllowed),
        ("untagging without keys".into(), on("scn:UntagResource", &[]), Decision::NotAllowed),
        ("the schedule tag in another case, another key".into(), on("scn:TagResource", &[&lowered]), Decision::NotAllowed),
        ("the protection tag".into(), on("scn:TagResource", &["DeletionProtection"]), Decision::Denied),
        ("the protection tag in another case".into(), on("scn:UntagResource", &["deletionprotection"]), Decision::Denied),
        ("the protection tag beside the schedule tag".into(), on("scn:TagResource", &[schedule, "DeletionProtection"]), Decision::Denied),
    ]
}

fn assert_decisions(what: &str, statements: &[Value], cases: Vec<(String, Request, Decision)>) {
    for (case, request, wanted) in cases {
        assert_eq!(decide(statements, &request), wanted, "{what}: {case}");
    }
}

/// Every Allow, as written, of any role of `template` that names a tagging action, with its role.
fn written_tagging_allows(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
        .flat_map(|(id, _)| written_statements(template, id, &[]).into_iter().map(move |s| (id.clone(), s)))
        .filter(|(_, s)| {
            s["Effect"] == "Allow" && policies::string_set(&s["Action"]).iter().any(|a| policies::DENIED_TAGGING.contains(&a.as_str()))
        })
        .collect()
}

/// The sweep role's statement `sid`, as the template writes it.
fn written_sweep_statement(sid: &str) -> &'static Value {
    properties("SweepInstancesRole")["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

/// As written: one statement allows tagging, the sweep's, on its parameter's key, on the instances
/// the sweep reads and no others.
fn assert_only_the_sweep_s_mark_allows_tagging_as_written() {
    let tagging = written_tagging_allows(template());
    assert_eq!(tagging.len(), 1, "{tagging:?}");
    let (role, statement) = &tagging[0];
    assert_eq!(role, "SweepInstancesRole");
    assert_eq!(statement["Sid"], "ScheduledDeletionMark");
    assert_eq!(policies::string_set(&statement["Action"]), policies::DENIED_TAGGING.map(String::from).into());
    let written = written_sweep_statement("ScheduledDeletionMark");
    assert_eq!(written["Resource"], written_sweep_statement("ReadTags")["Resource"]);
    assert_eq!(
        written["Condition"],
        json!({ "ForAllValues:StringEquals": { "aws:TagKeys": [{ "Ref": "ScheduleTag" }] }, "Null": { "aws:TagKeys": "false" } })
    );
}

/// As IAM decides, with the default tag and with another: the sweep marks in its own account and
/// region, and, with AllowedRegions, in those regions too.
fn assert_the_sweep_marks_only_in_its_own_account_and_the_regions_it_reaches() {
    for schedule in ["DeletionScheduledFor", "DeleteAfter"] {
        let statements = deployed_role_statements("SweepInstancesRole", &[("ScheduleTag", schedule)]);
        let mut cases = tagging_cases(schedule, "us-east-1", "123456789012");
        cases.push((
            "an instance of another region".into(),
            request("scn:TagResource", instance("eu-west-1", "123456789012"), &[schedule]),
            Decision::NotAllowed,
        ));
        cases.push((
            "an instance of another account".into(),
            request("scn:TagResource", instance("us-east-1", "210987654321"), &[schedule]),
            Decision::NotAllowed,
        ));
        assert_decisions(&format!("the sweep's role with ScheduleTag {schedule}"), &statements, cases);
    }
    let statements = deployed_role_statements("SweepInstancesRole", &[("AllowedRegions", "eu-west-1")]);
    assert_decisions(
        "the sweep's role with AllowedRegions",
        &statements,
        tagging_cases("DeletionScheduledFor", "eu-west-1", "123456789012"),
    );
}

#[test]
fn the_sweep_may_write_only_its_schedule_tag_in_its_own_account_and_the_regions_it_reaches() {
    assert_only_the_sweep_s_mark_allows_tagging_as_written();
    assert_the_sweep_marks_only_in_its_own_account_and_the_regions_it_reaches();
    // Set to the protection tag by mistake, the schedule tag gives nothing: the deny wins.
    let statements = deployed_role_statements("SweepInstancesRole", &[("ScheduleTag", "DeletionProtection")]);
    for (case, request, _) in tagging_cases("DeletionProtection", "us-east-1", "123456789012") {
        let wanted = if request.values_of("aws:TagKeys").is_empty() { Decision::NotAllowed } else { Decision::Denied };
        assert_eq!(decide(&statements, &request), wanted, "ScheduleTag DeletionProtection: {case}");
    }

    // The other functions write no tag at all.
    for role in ["DeleteInstanceRole", "CheckInstanceStatusRole"] {
        let mark = request("scn:TagResource", instance("us-east-1", "123456789012"), &["DeletionScheduledFor"]);
        assert_eq!(decide(&deployed_role_statements(role, &[]), &mark), Decision::NotAllowed, "{role}");
    }
}

#[test]
fn the_evaluation_notices_each_way_the_schedule_tag_grant_could_be_weakened() {
    let statements = deployed_role_statements("SweepInstancesRole", &[]);
    let weakened = |change: &dyn Fn(&mut Vec<Value>)| {
        let mut copy = statements.clone();
        change(&mut copy);
        copy
    };
    let grant = |statements: &mut Vec<Value>| -> usize { statements.iter().position(|s| s["Sid"] == "ScheduledDeletionMark").unwrap() };
    let cases: [(&str, Vec<Value>, &str); 3] = [
        (
            "without Null",
            weakened(&|s| {
                let at = grant(s);
                s[at]["Condition"].as_object_mut().unwrap().remove("Null");
            }),
            "a request naming no tag key",
        ),
        (
            "ForAnyValue instead of ForAllValues",
            weakened(&|s| {
                let at = grant(s);
                let keys = s[at]["Condition"].as_object_mut().unwrap().remove("ForAllValues:StringEquals").unwrap();
                s[at]["Condition"]["ForAnyValue:StringEquals"] = keys;
            }),
            "tagging the schedule tag and another",
        ),
        ("without the protection denies", weakened(&|s| s.retain(|s| s["Effect"] != "Deny")), "the protection tag beside the schedule tag"),
    ];
    for (what, statements, case) in cases {
        let (_, request, wanted) =
            tagging_cases("DeletionScheduledFor", "us-east-1", "123456789012").into_iter().find(|(c, _, _)| c == case).unwrap();
        assert_ne!(decide(&statements, &request), wanted, "the evaluation does not notice {what}");
    }
}

#[test]
fn iam_still_denies_each_function_deleting_a_protected_instance_or_changing_its_protection_tag() {
    let template = template();
    let instances = json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" });
    for role in ["DeleteInstanceRole", "CheckInstanceStatusRole", "SweepInstancesRole"] {
        let statements = written_statements(template, role, &[]);
        // The denies as the stack's protection check wants them; the one tagging grant aside, which
        // the test above holds to the schedule tag.
        let others: Vec<Value> = statements.iter().filter(|s| s["Sid"] != "ScheduledDeletionMark").cloned().collect();
        assert_eq!(policies::protection_findings(&others, "DeletionProtectionTag", &instances), Vec::<String>::new(), "{role}");
        // And as IAM decides: a protected instance is never deleted, its tag never changed.
        let deployed_statements = deployed_role_statements(role, &[]);
        for (action, keys) in [("scn:DeleteInstance", &[][..]), ("scn:UntagResource", &["DeletionProtection"][..])] {
            let request = request(action, instance("us-east-1", "123456789012"), keys).on_tagged("DeletionProtection", "TRUE");
            assert_eq!(decide(&deployed_statements, &request), Decision::Denied, "{role}: {action}");
        }
    }
    // The evaluation tells a deny from an allow: the delete role may delete an unprotected instance.
    let unprotected = request("scn:DeleteInstance", instance("us-east-1", "123456789012"), &[]);
    assert_eq!(decide(&deployed_role_statements("DeleteInstanceRole", &[]), &unprotected), Decision::Allowed);
}

const MEMBER_REQUIRED: [(&str, &str); 2] = [
    ("DeleteFunctionRoleArn", "arn:aws:iam::111122223333:role/supplychain-delete-instance-DeleteInstanceRole-1A2B3C"),
    ("CheckFunctionRoleArn", "arn:aws:iam::111122223333:role/supplychain-delete-instance-CheckInstanceStatusRole-4D5E6F"),
];
const MEMBER_SWEEP: (&str, &str) =
    ("SweepFunctionRoleArn", "arn:aws:iam::111122223333:role/supplychain-delete-instance-SweepInstancesRole-7A8B9C");
const MEMBER_ACCOUNT: &str = "444455556666";

/// The statements of the member role `role` (one per function: MemberRole, CheckMemberRole,
/// SweepMemberRole) as deployed with `given`.
fn member_statements(role: &str, given: &[(&str, &str)]) -> Vec<Value> {
    let mut all: Vec<(&str, &str)> = MEMBER_REQUIRED.to_vec();
    all.extend_from_slice(given);
    all.push(("AWS::AccountId", MEMBER_ACCOUNT));
    Resolver::new(member_template(), &all).role_statements(role)
}

#[test]
fn the_member_role_lets_a_trusted_sweep_write_only_its_schedule_tag_in_any_region_of_the_account() {
    let member = member_template();
    assert_eq!(member["Parameters"]["ScheduleTag"]["Default"], template()["Parameters"]["ScheduleTag"]["Default"]);
    assert_eq!(member["Parameters"]["ScheduleTag"]["AllowedPattern"], template()["Parameters"]["ScheduleTag"]["AllowedPattern"]);

    // The delete function's and the checker's roles write no tag, the sweep trusted or not.
    let mark = request("scn:TagResource", instance("us-east-1", MEMBER_ACCOUNT), &["DeletionScheduledFor"]);
    for role in ["MemberRole", "CheckMemberRole"] {
        for given in [&[][..], &[MEMBER_SWEEP][..]] {
            assert_eq!(decide(&member_statements(role, given), &mark), Decision::NotAllowed, "{role}");
        }
    }

    // The sweep's, the schedule tag alone, in every region of this account and no other account.
    let statements = member_statements("SweepMemberRole", &[MEMBER_SWEEP]);
    for region in ["us-east-1", "eu-west-1"] {
        assert_decisions(
            &format!("the member role in {region}"),
            &statements,
            tagging_cases("DeletionScheduledFor", region, MEMBER_ACCOUNT),
        );
    }
    let elsewhere = request("scn:TagResource", instance("us-east-1", "123456789012"), &["DeletionScheduledFor"]);
    assert_eq!(decide(&statements, &elsewhere), Decision::NotAllowed);
    let other_tag = member_statements("SweepMemberRole", &[MEMBER_SWEEP, ("ScheduleTag", "DeleteAfter")]);
    assert_decisions("the member role with ScheduleTag DeleteAfter", &other_tag, tagging_cases("DeleteAfter", "us-east-1", MEMBER_ACCOUNT));
    // Set to the protection tag by mistake, the schedule tag gives nothing: the deny wins.
    let mistaken = member_statements("SweepMemberRole", &[MEMBER_SWEEP, ("ScheduleTag", "DeletionProtection")]);
    for (case, request, _) in tagging_cases("DeletionProtection", "us-east-1", MEMBER_ACCOUNT) {
        let wanted = if request.values_of("aws:TagKeys").is_empty() { Decision::NotAllowed } else { Decision::Denied };
        assert_eq!(decide(&mistaken, &request), wanted, "the member role with ScheduleTag DeletionProtection: {case}");
    }

    // The grant, as written, is the parameter's key, in the role that exists when the sweep is trusted.
    assert_eq!(member["Resources"]["SweepMemberRole"]["Condition"], "TrustSweep");
    let policy = &member["Resources"]["SweepMemberRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    let grant = policies::statements(&policies::document(policy))
        .into_iter()
        .find(|s| s["Sid"] == "ScheduledDeletionMark")
        .expect("the sweep's role writes its mark");
    assert_eq!(
        grant["Condition"],
        json!({ "ForAllValues:StringEquals": { "aws:TagKeys": [{ "Ref": "ScheduleTag" }] }, "Null": { "aws:TagKeys": "false" } })
    );
}

#[test]
fn the_member_role_still_denies_deleting_a_protected_instance_or_changing_its_protection_tag_with_the_sweep_trusted() {
    for role in ["MemberRole", "CheckMemberRole", "SweepMemberRole"] {
        let statements = member_statements(role, &[MEMBER_SWEEP]);
        for (action, keys) in [
            ("scn:DeleteInstance", &[][..]),
            ("scn:TagResource", &["DeletionProtection"][..]),
            ("scn:UntagResource", &["DELETIONPROTECTION"][..]),
        ] {
            let request = request(action, instance("ap-southeast-2", MEMBER_ACCOUNT), keys).on_tagged("DeletionProtection", "true");
            assert_eq!(decide(&statements, &request), Decision::Denied, "{role}: {action}");
        }
        // Only the delete function's role deletes an unprotected instance.
        let unprotected = request("scn:DeleteInstance", instance("ap-southeast-2", MEMBER_ACCOUNT), &[]);
        let wanted = if role == "MemberRole" { Decision::Allowed } else { Decision::NotAllowed };
        assert_eq!(decide(&statements, &unprotected), wanted, "{role}");
    }
}
