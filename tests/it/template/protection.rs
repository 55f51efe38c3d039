//! Deletion protection in IAM, and the organization's bus policy.

use super::*;

#[test]
fn iam_denies_each_function_deleting_a_protected_instance_or_changing_its_protection_tag() {
    let template = tools::transformed_template();
    assert_eq!(deletion_protection_findings(template), Vec::<String>::new());

    // The tag key is the parameter's, substituted by CloudFormation into the condition key.
    let document = policies::document(&properties("DeletionProtectionPolicy")["PolicyDocument"]);
    let keys: Vec<&String> = document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Condition"].as_object().unwrap().values())
        .flat_map(|c| c.as_object().unwrap().keys())
        .collect();
    assert_eq!(keys, ["aws:ResourceTag/${DeletionProtectionTag}", "aws:TagKeys"]);
    assert_eq!(
        policies::string_set(&document["Statement"][1]["Condition"]["ForAnyValue:StringEqualsIgnoreCase"]["aws:TagKeys"]),
        BTreeSet::from(["${DeletionProtectionTag}".to_owned()])
    );

    // Set (the default), every function role attaches the denies; empty, the functions check no tag
    // and there is nothing to deny.
    let on = policies::Resolver::new(template, &[]);
    let off = policies::Resolver::new(template, &[("DeletionProtectionTag", "")]);
    assert!(on.holds("DeletionProtectionPolicy") && !off.holds("DeletionProtectionPolicy"));
    for role in FUNCTION_ROLES {
        assert_eq!(on.resolve(properties(role)).unwrap()["ManagedPolicyArns"], json!([{ "Ref": "DeletionProtectionPolicy" }]), "{role}");
        assert_eq!(off.resolve(properties(role)).unwrap().get("ManagedPolicyArns"), None, "{role}");
    }
}

#[test]
fn the_protection_check_notices_a_weakened_deny_and_a_role_without_the_denies() {
    let template = tools::transformed_template();
    let mut weakened = vec![
        (
            "a case-sensitive comparison, which lets TRUE through",
            with_protection_text(template, "\"StringEqualsIgnoreCase\"", "\"StringEquals\""),
        ),
        (
            "a tag key written out instead of taken from the parameter",
            with_protection_text(template, "aws:ResourceTag/${DeletionProtectionTag}", "aws:ResourceTag/DeletionProtection"),
        ),
        ("untagging left out", with_protection_text(template, "[\"scn:TagResource\", \"scn:UntagResource\"]", "\"scn:TagResource\"")),
        (
            "ForAllValues, which matches a request whatever tag keys it adds besides",
            with_protection_text(template, "ForAnyValue:StringEqualsIgnoreCase", "ForAllValues:StringEqualsIgnoreCase"),
        ),
        ("a value other than true", with_protection_text(template, "[\"true\", ", "[\"yes\", ")),
        (
            "a deny on a resource other than every instance",
            with_protection_text(template, "\"Resource\": \"${Instances}\"", "\"Resource\": \"${Instances}x\""),
        ),
    ];
    let mut detached = template.clone();
    detached["Resources"]["SweepInstancesRole"]["Properties"].as_object_mut().unwrap().remove("ManagedPolicyArns");
    weakened.push(("the sweep's role without the denies", detached));
    let mut broadened = template.clone();
    broadened["Resources"]["CheckInstanceStatusRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "Effect": "Allow", "Action": "scn:*", "Resource": "*" }));
    weakened.push(("an Allow of scn:*", broadened));
    let mut tagging = template.clone();
    tagging["Resources"]["DeleteInstanceRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "Effect": "Allow", "Action": "scn:UntagResource", "Resource": "*" }));
    weakened.push(("an Allow of scn:UntagResource", tagging));
    let mut elsewhere = template.clone();
    elsewhere["Resources"]["DeletionProtectionPolicy"]["Condition"] = json!("HasAlarmTopic");
    weakened.push(("the denies under another condition", elsewhere));
    for (what, template) in weakened {
        assert!(!deletion_protection_findings(&template).is_empty(), "the check does not notice {what}");
    }
}

#[test]
fn the_organization_may_put_deletion_requests_on_the_bus_only_when_an_organization_id_is_given() {
    let template = tools::transformed_template();
    assert_eq!(organization_bus_policy_findings(template), Vec::<String>::new());
    // The bus the functions announce on, and the requests the delete rule takes.
    assert_eq!(statement("AnnounceDeletions")["Resource"], bus_arn());
    assert_eq!(properties("DeleteInstanceFunctionDeletionRequested")["EventPattern"]["detail-type"], json!([DELETION_REQUESTED]));

    assert!(!policies::Resolver::new(template, &[]).holds("OrganizationEventBusPolicy"), "no organization, no policy");
    let organization = ("OrganizationId", "o-a1b2c3d4e5");
    let created = policies::Resolver::new(template, &[organization]);
    let policy = created.resolve(resource("OrganizationEventBusPolicy")).unwrap();
    assert!(created.holds("OrganizationEventBusPolicy"));
    assert_eq!(policy["Properties"]["EventBusName"], json!({ "Ref": "EventBus" }));
    assert_eq!(policy["Properties"]["Statement"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"], "o-a1b2c3d4e5");
    let named = policies::Resolver::new(template, &[organization, ("EventBusName", "platform")]);
    let policy = named.resolve(resource("OrganizationEventBusPolicy")).unwrap();
    assert_eq!(policy["Properties"]["EventBusName"], "platform", "an existing bus gets the statement too");
    assert_eq!(
        policy["Properties"]["Statement"]["Resource"],
        json!({ "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}" })
    );

    // Each way the policy could let more in is noticed.
    let changed = |change: &dyn Fn(&mut Value)| {
        let mut copy = template.clone();
        change(&mut copy["Resources"]["OrganizationEventBusPolicy"]);
        copy
    };
    for (what, wider) in [
        (
            "any account",
            changed(&|p| {
                drop(p["Properties"]["Statement"]["Condition"]["StringEquals"].as_object_mut().unwrap().remove("aws:PrincipalOrgID"))
            }),
        ),
        (
            "any event",
            changed(&|p| {
                drop(p["Properties"]["Statement"]["Condition"]["StringEquals"].as_object_mut().unwrap().remove("events:detail-type"))
            }),
        ),
        (
            "any principal of the organization",
            changed(&|p| drop(p["Properties"]["Statement"]["Condition"].as_object_mut().unwrap().remove("ArnLike"))),
        ),
        ("no condition at all", changed(&|p| drop(p["Properties"]["Statement"].as_object_mut().unwrap().remove("Condition")))),
        ("every action of the bus", changed(&|p| p["Properties"]["Statement"]["Action"] = json!("events:*"))),
        ("the policy without an organization", changed(&|p| drop(p.as_object_mut().unwrap().remove("Condition")))),
    ] {
        assert!(!organization_bus_policy_findings(&wider).is_empty(), "the check does not notice {what}");
    }
}

#[test]
fn the_outputs_name_the_role_of_each_function_for_the_member_role_to_trust() {
    let outputs = tools::transformed_template()["Outputs"].as_object().unwrap();
    for (output, function) in [
        ("DeleteFunctionRoleArn", "DeleteInstanceFunction"),
        ("CheckFunctionRoleArn", "CheckInstanceStatusFunction"),
        ("SweepFunctionRoleArn", "SweepInstancesFunction"),
    ] {
        let role = &properties(function)["Role"];
        assert_eq!(role["Fn::GetAtt"][1], "Arn", "{function} runs with a role of the stack");
        assert_eq!(outputs.get(output).map(|o| &o["Value"]), Some(role), "{output}");
    }
}

#[test]
fn sam_validate_with_lint_accepts_the_template() {
    tools::assert_sam_validate_with_lint_accepts("template.yaml");
}

#[test]
fn the_function_roles_reach_other_regions_of_their_account_only_when_allowed_regions_names_some() {
    let own_region = json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:${AWS::Region}:${AWS::AccountId}:instance/*" });
    let every_region = json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" });
    for sid in ["DeleteInstances", "ReadInstances"] {
        assert_eq!(statement(sid)["Resource"], json!({ "Fn::If": ["HasAllowedRegions", every_region, own_region] }), "{sid}");
    }
    assert_eq!(
        tools::transformed_template()["Conditions"]["HasAllowedRegions"],
        json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "AllowedRegions" }, ""] }] })
    );
}
