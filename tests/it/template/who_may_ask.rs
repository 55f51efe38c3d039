//! Who may ask: the forwarding role, each function's own member role, the stack's own account.

use super::*;

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
    events.insert("foreign request".to_owned(), crate::support::fixture_now("eventbridge-forwarded-from-member.json"));
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
