//! The bucket of the organization sweep's plans and results: private, encrypted, TLS only, kept as
//! long as the audit archive, and reached by the sweep and the state machine on their own prefixes
//! with the actions each needs.

use super::*;

#[test]
fn the_plan_bucket_is_private_encrypted_and_expires_its_files_with_the_audit_archive() {
    let bucket = properties("PlanBucket");
    assert_eq!(resources()["PlanBucket"]["Type"], "AWS::S3::Bucket");
    assert_eq!(
        bucket["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
    );
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    assert_eq!(bucket["OwnershipControls"]["Rules"], json!([{"ObjectOwnership": "BucketOwnerEnforced"}]));
    // Files expire after AuditRetentionDays, or never when the archive keeps its events forever.
    let lifecycle = &bucket["LifecycleConfiguration"]["Fn::If"];
    assert_eq!(lifecycle[0], "HasAuditRetention");
    assert_eq!(
        crate::support::tools::transformed_template()["Conditions"]["HasAuditRetention"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AuditRetentionDays"}, 0]}]})
    );
    assert_eq!(lifecycle[1]["Rules"][0]["ExpirationInDays"], json!({"Ref": "AuditRetentionDays"}));
    assert!(lifecycle[2]["Rules"][0].get("ExpirationInDays").is_none(), "{}", lifecycle[2]);
    // Kept when the stack goes, as the record of who was swept.
    assert_eq!(resources()["PlanBucket"]["DeletionPolicy"], "Retain");
}

#[test]
fn the_plan_bucket_refuses_every_request_over_plain_http() {
    let policy = properties("PlanBucketPolicy");
    assert_eq!(policy["Bucket"], json!({"Ref": "PlanBucket"}));
    let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
    let deny = statements.iter().find(|s| s["Sid"] == "RefusePlainHttp").unwrap();
    assert_eq!((&deny["Effect"], &deny["Principal"], &deny["Action"]), (&json!("Deny"), &json!("*"), &json!("s3:*")));
    assert_eq!(deny["Condition"], json!({"Bool": {"aws:SecureTransport": "false"}}));
    assert_eq!(deny["Resource"], json!([{"Fn::GetAtt": ["PlanBucket", "Arn"]}, {"Fn::Sub": "${PlanBucket.Arn}/*"}]));
}

/// The S3 actions and resources of a role's statements.
fn s3_grants(role: &str) -> BTreeSet<(String, String)> {
    statements()
        .into_iter()
        .filter(|(owner, _)| owner.starts_with(&format!("{role} ")))
        .flat_map(|(_, statement)| {
            let resource = statement["Resource"]["Fn::Sub"].as_str().unwrap_or_default().to_owned();
            strings(&statement["Action"]).into_iter().filter(|a| a.starts_with("s3:")).map(move |a| (a, resource.clone()))
        })
        .collect()
}

#[test]
fn the_sweep_writes_only_plans_and_reads_only_results_and_the_state_machine_the_reverse_as_its_map_needs() {
    let grant = |action: &str, prefix: &str| (action.to_owned(), format!("${{PlanBucket.Arn}}/{prefix}/*"));
    // The approval reads the plan back, and each approved line is re-read by the execution.
    assert_eq!(
        s3_grants("SweepInstancesRole"),
        BTreeSet::from([
            grant("s3:PutObject", "plans"),
            grant("s3:GetObject", "plans"),
            grant("s3:GetObject", "inputs"),
            grant("s3:GetObject", "results")
        ])
    );
    // ItemReader reads the plan's file; ResultWriter writes, reads and cleans up multipart uploads of the results.
    assert_eq!(
        s3_grants("OrganizationSweepRole"),
        BTreeSet::from([
            grant("s3:GetObject", "plans"),
            grant("s3:PutObject", "results"),
            grant("s3:GetObject", "results"),
            grant("s3:ListMultipartUploadParts", "results"),
            grant("s3:AbortMultipartUpload", "results"),
        ])
    );
    // The function and the state machine are told the bucket.
    let sweep = properties("SweepInstancesFunction");
    assert_eq!(sweep["Environment"]["Variables"]["PLAN_BUCKET"], json!({"Ref": "PlanBucket"}));
    assert_eq!(properties("OrganizationSweep")["DefinitionSubstitutions"]["PlanBucket"], json!({"Ref": "PlanBucket"}));
}

/// The bucket policy's statements that keep each prefix to its writer, as deployed, the roles'
/// ARNs filled in.
fn writers_statements() -> Vec<Value> {
    let template = crate::support::tools::source_template();
    let resolver = crate::support::policies::Resolver::new(template, &[]);
    let document = resolver.deployed(&template["Resources"]["PlanBucketPolicy"]["Properties"]["PolicyDocument"]);
    let text = document.to_string().replace("<SweepInstancesRole.Arn>", SWEEP_ROLE).replace("<OrganizationSweepRole.Arn>", MACHINE_ROLE);
    let document: Value = serde_json::from_str(&text).unwrap();
    document["Statement"].as_array().unwrap().iter().filter(|s| s["Sid"] != "RefusePlainHttp").cloned().collect()
}

const SWEEP_ROLE: &str = "arn:aws:iam::123456789012:role/supplychain-delete-instance-SweepInstancesRole-1A2B";
const MACHINE_ROLE: &str = "arn:aws:iam::123456789012:role/supplychain-delete-instance-OrganizationSweepRole-3C4D";

#[test]
fn only_the_plan_step_writes_plans_and_only_the_map_writes_results_whatever_an_administrator_of_the_account_may() {
    use crate::support::policies::{decide, Decision, Request};
    let statements = writers_statements();
    assert_eq!(statements.len(), 2);
    let file = |prefix: &str| format!("<PlanBucket.Arn>/{prefix}/0f1e2d3c/targets.jsonl");
    let admin = "arn:aws:iam::123456789012:role/Administrator";
    for action in ["s3:PutObject", "s3:DeleteObject"] {
        // An administrator (s3:* by identity) is refused on both prefixes, each writer on the other's.
        for (principal, prefix) in [(admin, "plans"), (admin, "results"), (MACHINE_ROLE, "plans"), (SWEEP_ROLE, "results")] {
            assert_eq!(
                decide(&statements, &Request::new(principal, action, &file(prefix))),
                Decision::Denied,
                "{principal} {action} {prefix}"
            );
        }
        // Each writer on its own prefix is not refused by the bucket: its role's policy allows it.
        for (principal, prefix) in [(SWEEP_ROLE, "plans"), (MACHINE_ROLE, "results")] {
            assert_eq!(
                decide(&statements, &Request::new(principal, action, &file(prefix))),
                Decision::NotAllowed,
                "{principal} {action} {prefix}"
            );
        }
    }
    // Reading is not the bucket policy's to refuse: the roles' policies decide it.
    assert_eq!(decide(&statements, &Request::new(admin, "s3:GetObject", &file("plans"))), Decision::NotAllowed);
}

#[test]
fn the_approvers_policy_reads_the_plans_and_answers_task_tokens_and_nothing_else() {
    let policy = properties("OrganizationSweepApproverPolicy");
    let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
    let grants: BTreeSet<(String, String)> = statements
        .iter()
        .flat_map(|statement| {
            assert_eq!(statement["Effect"], "Allow");
            let resource = statement["Resource"]["Fn::Sub"].as_str().or(statement["Resource"].as_str()).unwrap().to_owned();
            strings(&statement["Action"]).into_iter().map(move |action| (action, resource.clone()))
        })
        .collect();
    let grant = |action: &str, resource: &str| (action.to_owned(), resource.to_owned());
    assert_eq!(
        grants,
        BTreeSet::from([
            grant("s3:GetObject", "${PlanBucket.Arn}/plans/*"),
            grant("states:SendTaskSuccess", "*"),
            grant("states:SendTaskFailure", "*"),
        ])
    );
    // The operator attaches it to the approvers' roles: the stack says where it is.
    let outputs = &crate::support::tools::source_template()["Outputs"];
    assert_eq!(outputs["OrganizationSweepApproverPolicyArn"]["Value"], json!({"Ref": "OrganizationSweepApproverPolicy"}));
}
