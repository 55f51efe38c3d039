//! The notice key that only the sweep may sign with.

use super::*;

#[test]
fn the_notice_key_is_an_hmac_key_that_only_the_sweep_s_role_may_sign_or_check_marks_with() {
    let key = properties("NoticeKey");
    assert_eq!((key["KeySpec"].as_str(), key["KeyUsage"].as_str()), (Some("HMAC_256"), Some("GENERATE_VERIFY_MAC")));
    assert_eq!(resource("NoticeKey")["Condition"], "HasNotice");
    let sweep = &properties("SweepInstancesFunction")["Environment"]["Variables"];
    assert_eq!(sweep["NOTICE_KEY_ID"], json!({ "Fn::If": ["HasNotice", { "Fn::GetAtt": ["NoticeKey", "Arn"] }, ""] }));
    assert_eq!(sweep["NOTICE_HOURS"], json!({ "Ref": "NoticeHours" }));
    let template = tools::transformed_template();
    assert!(!policies::Resolver::new(template, &[("NoticeHours", "0")]).holds("NoticeKey"), "no notice, no key");

    let statements = notice_key_statements(&[]);
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let decide = |principal: &str, action: &str| policies::decide(&statements, &policies::Request::new(principal, action, key_arn));
    for action in ["kms:GenerateMac", "kms:VerifyMac"] {
        assert_eq!(decide(SWEEP_ROLE_ARN, action), policies::Decision::Allowed, "{action}");
        // Anyone else of the account, an administrator whose IAM policy allows kms:* included, is
        // denied by the key policy itself.
        for other in [
            "arn:aws:iam::123456789012:role/Admin",
            "arn:aws:iam::123456789012:role/supplychain-delete-instance-DeleteInstanceRole-1A2B3C",
            "arn:aws:iam::123456789012:user/tagger",
            "arn:aws:iam::210987654321:role/SupplyChainInstanceDeletion-Sweep",
        ] {
            assert_eq!(decide(other, action), policies::Decision::Denied, "{other} {action}");
        }
    }
    // The account administers the key, without using it.
    assert_eq!(decide("arn:aws:iam::123456789012:role/Admin", "kms:ScheduleKeyDeletion"), policies::Decision::Allowed);
    assert_eq!(decide("arn:aws:iam::123456789012:role/Admin", "kms:DescribeKey"), policies::Decision::Allowed);
    for statement in &statements {
        let actions = policies::string_set(&statement["Action"]);
        assert!(actions.iter().all(|a| !a.contains('*')), "no wildcard action in the key policy: {statement}");
    }
}

#[test]
fn a_key_policy_that_lets_another_principal_sign_is_caught() {
    let statements = notice_key_statements(&[]);
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let without_deny: Vec<Value> = statements.iter().filter(|s| s["Effect"] != "Deny").cloned().collect();
    let mut root_may_sign = without_deny.clone();
    for statement in &mut root_may_sign {
        if statement["Sid"] == "KeyAdministration" {
            statement["Action"].as_array_mut().unwrap().push(json!("kms:GenerateMac"));
        }
    }
    let admin = policies::Request::new("arn:aws:iam::123456789012:role/Admin", "kms:GenerateMac", key_arn);
    assert_eq!(policies::decide(&statements, &admin), policies::Decision::Denied);
    assert_eq!(policies::decide(&root_may_sign, &admin), policies::Decision::Allowed, "the weakening is visible to the check");
}
