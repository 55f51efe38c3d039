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
    assert_eq!(statements.len(), 1);
    let deny = &statements[0];
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
    assert_eq!(s3_grants("SweepInstancesRole"), BTreeSet::from([grant("s3:PutObject", "plans"), grant("s3:GetObject", "results")]));
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
