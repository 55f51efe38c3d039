//! template.yaml, checked offline: cfn-lint reports nothing, aws-sam-translator turns it into a
//! CloudFormation template, and that template wires, grants and alarms what the stack needs (and
//! grants nothing more). The fixtures of `events/` are matched against the deployed rule patterns
//! with moto's EventBridge pattern matcher. The AWS Serverless Application Repository metadata is
//! held to Cargo.toml and published offline with AWS SAM CLI's own packaging and publishing code.

use crate::support::policies;

use crate::support::tools;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{json, Map, Value};

mod copies;
mod functions;
mod least_privilege;
mod lint;
mod notice_key;
mod observability;
mod parameters;
mod plan_bucket;
mod protection;
mod publishing;
mod who_may_ask;
mod wiring;

fn resources() -> &'static Map<String, Value> {
    tools::transformed_template()["Resources"].as_object().unwrap()
}

fn resource(logical_id: &str) -> &'static Value {
    resources().get(logical_id).unwrap_or_else(|| panic!("no resource {logical_id} in the transformed template"))
}

fn properties(logical_id: &str) -> &'static Value {
    &resource(logical_id)["Properties"]
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&tools::read(&tools::repo_path("events").join(name))).unwrap()
}

/// A JSON value that is a string or a list of strings, as a list.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

/// Every statement of every IAM policy (identity and resource policies), with where it is.
fn statements() -> Vec<(String, Value)> {
    let mut found = Vec::new();
    let mut add = |place: String, document: &Value| {
        for statement in document["Statement"].as_array().unwrap_or_else(|| panic!("{place}: no Statement list")) {
            // A statement behind a condition: both branches count.
            if let Some(branches) = statement.get("Fn::If") {
                for branch in branches.as_array().unwrap()[1..].iter().filter(|b| b.get("Ref") != Some(&json!("AWS::NoValue"))) {
                    found.push((place.clone(), branch.clone()));
                }
            } else {
                found.push((place.clone(), statement.clone()));
            }
        }
    };
    for (id, resource) in resources() {
        let properties = &resource["Properties"];
        match resource["Type"].as_str().unwrap() {
            "AWS::IAM::Role" => {
                add(format!("{id} trust policy"), &properties["AssumeRolePolicyDocument"]);
                for policy in properties["Policies"].as_array().into_iter().flatten() {
                    add(format!("{id} {}", policy["PolicyName"]), &policies::document(&policy["PolicyDocument"]));
                }
                // The stack's own managed policies only (their statements are counted where they are
                // defined), never an AWS managed one.
                for attached in managed_policies_of(id) {
                    assert_eq!(resource_type(&attached), "AWS::IAM::ManagedPolicy", "{id} attaches {attached}, not a policy of the stack");
                }
            }
            "AWS::IAM::RolePolicy" | "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::SQS::QueuePolicy" => {
                add(id.clone(), &policies::document(&properties["PolicyDocument"]));
            }
            _ => {}
        }
    }
    found
}

fn resource_type(logical_id: &str) -> &'static str {
    resource(logical_id)["Type"].as_str().unwrap()
}

/// The logical ids of the managed policies `role` attaches, under any condition: each must be a
/// `Ref` to a resource of the stack.
fn managed_policies_of(role: &str) -> Vec<String> {
    managed_policy_refs(&properties(role)["ManagedPolicyArns"])
}

/// The `Ref`s of a role's `ManagedPolicyArns`, through both branches of each `Fn::If`.
fn managed_policy_refs(arns: &Value) -> Vec<String> {
    match arns {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().flat_map(managed_policy_refs).collect(),
        Value::Object(object) if object.contains_key("Fn::If") => {
            object["Fn::If"].as_array().unwrap()[1..].iter().flat_map(managed_policy_refs).collect()
        }
        _ if policies::is_no_value(arns) => Vec::new(),
        _ => vec![arns["Ref"].as_str().unwrap_or_else(|| panic!("a managed policy that is not the stack's own: {arns}")).to_owned()],
    }
}

/// The texts of a `Resource` (or a condition value): plain strings and the templates of `Fn::Sub`;
/// `Ref` and `Fn::GetAtt` name single resources and yield nothing; `Fn::If` yields both branches.
fn resource_texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(resource_texts).collect(),
        Value::Object(object) => {
            if let Some(sub) = object.get("Fn::Sub") {
                match sub {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(parts) => vec![parts[0].as_str().unwrap().to_owned()],
                    other => panic!("unexpected Fn::Sub {other}"),
                }
            } else if let Some(branches) = object.get("Fn::If") {
                branches.as_array().unwrap()[1..].iter().flat_map(resource_texts).collect()
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// The actions each identity policy of `role` allows.
fn actions_of(role: &str) -> BTreeSet<String> {
    statements()
        .into_iter()
        .filter(|(place, _)| place.starts_with(role) && !place.ends_with("trust policy"))
        .flat_map(|(_, statement)| strings(&statement["Action"]))
        .collect()
}

fn statement(sid: &str) -> Value {
    let matching: Vec<Value> = statements().into_iter().map(|(_, s)| s).filter(|s| s["Sid"] == sid).collect();
    assert_eq!(matching.len(), 1, "statements with Sid {sid}: {matching:?}");
    matching.into_iter().next().unwrap()
}

/// Actions that take no resource ARN: the sweep's listing of instances and of the organization's
/// accounts, the answers to a task token that the approvers' policy grants, the CloudWatch Logs
/// delivery actions Step Functions logging needs, and X-Ray's trace writing.
const RESOURCELESS_ACTIONS: [&str; 16] = [
    // A list action of a service's top-level collection names no resource.
    "scn:ListInstances",
    // The Service Authorization Reference gives ListAccounts no resource type.
    "organizations:ListAccounts",
    // Nor SendTaskSuccess and SendTaskFailure: the task token names the task.
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
];

/// The dashboard's body with every `${...}` of its `Fn::Sub` replaced by its name, and the
/// variables the `Fn::Sub` defines.
fn dashboard() -> (Value, Map<String, Value>) {
    let sub = &properties("OperationsDashboard")["DashboardBody"]["Fn::Sub"];
    let (text, variables) = (sub[0].as_str().unwrap(), sub[1].as_object().unwrap().clone());
    let mut body = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').unwrap();
        body.push_str(&rest[..start]);
        let name = &rest[start + 2..end];
        assert!(
            variables.contains_key(name) || ["AWS::Region", "MetricsNamespace"].contains(&name),
            "the dashboard names ${{{name}}}, which is neither a variable of its Fn::Sub nor a parameter"
        );
        body.push_str(name);
        rest = &rest[end + 1..];
    }
    body.push_str(rest);
    (serde_json::from_str(&body).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{body}")), variables)
}

/// `template.yaml` as written, before the SAM transform: what `sam package` and `sam publish` read.
fn source_template() -> &'static Value {
    tools::source_template()
}

/// The `AWS::ServerlessRepo::Application` metadata, which `sam publish` sends to the AWS
/// Serverless Application Repository.
fn application_metadata() -> &'static Map<String, Value> {
    source_template()["Metadata"]["AWS::ServerlessRepo::Application"]
        .as_object()
        .expect("template.yaml has Metadata: AWS::ServerlessRepo::Application")
}

fn metadata_text(field: &str) -> &'static str {
    application_metadata()[field].as_str().unwrap_or_else(|| panic!("{field} is not a plain string: {}", application_metadata()[field]))
}

/// Publishes template.yaml offline with AWS SAM CLI's own code (the venv `.venv-sam`): the
/// metadata exporters of `sam package`, with an S3 uploader that records each file instead of
/// sending it, then `sam publish`'s `publish_application` against a Serverless Application
/// Repository client whose answers botocore's Stubber gives, so that each request is still checked
/// against the service's model. It publishes twice: the first creates the application, the second
/// finds it there and creates a version. Prints the uploads, the requests and the actions as JSON.
const PUBLISH_OFFLINE: &str = r#"
import json, os, sys
import boto3
from botocore.stub import Stubber
from samcli.lib.package.code_signer import CodeSigner
from samcli.lib.package.packageable_resources import METADATA_EXPORTS
from samcli.lib.package.s3_uploader import S3Uploader
from samcli.lib.package.uploaders import Uploaders
from samcli.vendor.serverlessrepo import publish_application
from samcli.vendor.serverlessrepo.parser import SERVERLESS_REPO_APPLICATION, parse_template

template_path = os.path.abspath(sys.argv[1])
template_dir = os.path.dirname(template_path)
offline = dict(region_name="us-east-1", aws_access_key_id="offline", aws_secret_access_key="offline")
application = "arn:aws:serverlessrepo:us-east-1:123456789012:applications/supplychain-delete-instance"

class RecordingUploader(S3Uploader):
    uploads = {}

    def upload(self, file_name, remote_path):
        self.uploads[self.make_url(remote_path)] = os.path.relpath(file_name, template_dir)
        return self.make_url(remote_path)

with open(template_path, encoding="utf-8") as file:
    template = parse_template(file.read())
uploader = RecordingUploader(boto3.client("s3", **offline), "package-bucket")
for spec in METADATA_EXPORTS:
    for exporter in spec.exporters:
        exporter(Uploaders(uploader, None), CodeSigner(None, None)).export(
            spec.metadata_type, template.get("Metadata", {}).get(spec.metadata_type), template_dir
        )

client = boto3.client("serverlessrepo", **offline)
requests = []
client.meta.events.register(
    "before-parameter-build.serverlessrepo.*", lambda params, model, **_: requests.append([model.name, dict(params)])
)
stubber = Stubber(client)
stubber.add_response("create_application", {"ApplicationId": application})
stubber.add_client_error("create_application", "ConflictException", f"Application with id {application} already exists", 409)
stubber.add_response("update_application", {"ApplicationId": application})
stubber.add_response("create_application_version", {"ApplicationId": application})
with stubber:
    actions = [publish_application(template, sar_client=client)["actions"] for _ in range(2)]
stubber.assert_no_pending_responses()
for _, params in requests:
    if "TemplateBody" in params:
        body = parse_template(params["TemplateBody"])
        params["TemplateBody"] = {
            "sections": sorted(body),
            "serverlessRepoMetadata": SERVERLESS_REPO_APPLICATION in body.get("Metadata", {}),
        }
json.dump({"uploads": uploader.uploads, "requests": requests, "actions": actions}, sys.stdout)
"#;

/// The roles of the three functions: each carries the deletion-protection denies.
const FUNCTION_ROLES: [&str; 3] = ["DeleteInstanceRole", "CheckInstanceStatusRole", "SweepInstancesRole"];

/// The detail-type of a deletion request, the one event the organization's accounts may put.
const DELETION_REQUESTED: &str = "Supply Chain Instance Deletion Requested";

/// Every statement of the identity policies of `role` in `template`: its inline policies, the
/// managed policies it attaches and the policies of the stack that name it.
fn identity_statements(template: &Value, role: &str) -> Vec<Value> {
    let resources = template["Resources"].as_object().unwrap();
    let properties = &resources[role]["Properties"];
    let mut documents: Vec<Value> = properties["Policies"].as_array().into_iter().flatten().map(|p| p["PolicyDocument"].clone()).collect();
    for attached in managed_policy_refs(&properties["ManagedPolicyArns"]) {
        documents.extend(resources.get(&attached).map(|policy| policy["Properties"]["PolicyDocument"].clone()));
    }
    let this_role = json!({ "Ref": role });
    for policy in resources.values().filter(|r| matches!(r["Type"].as_str(), Some("AWS::IAM::Policy" | "AWS::IAM::RolePolicy"))) {
        let named = &policy["Properties"];
        if named["RoleName"] == this_role || named["Roles"].as_array().is_some_and(|roles| roles.contains(&this_role)) {
            documents.push(named["PolicyDocument"].clone());
        }
    }
    documents.iter().flat_map(|document| policies::statements(&policies::document(document))).collect()
}

/// What is wrong with deletion protection in IAM in `template` (transformed): the policy of denies
/// must exist whenever DeletionProtectionTag is set, and each function role must attach it under
/// that same condition, with no Allow that names what it denies. Empty when nothing is.
fn deletion_protection_findings(template: &Value) -> Vec<String> {
    let mut findings = Vec::new();
    let policy = &template["Resources"]["DeletionProtectionPolicy"];
    if policy["Type"] != "AWS::IAM::ManagedPolicy" {
        findings.push(format!("DeletionProtectionPolicy is not a managed policy: {policy}"));
    }
    let tag_is_set = json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "DeletionProtectionTag" }, ""] }] });
    if policy["Condition"] != "HasDeletionProtectionTag" || template["Conditions"]["HasDeletionProtectionTag"] != tag_is_set {
        findings.push(format!(
            "DeletionProtectionPolicy exists under {} ({}), not whenever DeletionProtectionTag is set",
            policy["Condition"], template["Conditions"]["HasDeletionProtectionTag"]
        ));
    }
    let attached = json!({ "Fn::If": ["HasDeletionProtectionTag", [{ "Ref": "DeletionProtectionPolicy" }], { "Ref": "AWS::NoValue" }] });
    let instances = json!({ "Fn::Sub": "arn:${AWS::Partition}:scn:*:${AWS::AccountId}:instance/*" });
    for role in FUNCTION_ROLES {
        let arns = &template["Resources"][role]["Properties"]["ManagedPolicyArns"];
        if arns != &attached {
            findings.push(format!("{role} does not attach DeletionProtectionPolicy whenever it exists: {arns}"));
        }
        let statements = identity_statements(template, role);
        findings.extend(
            policies::protection_findings(&statements, "DeletionProtectionTag", &instances).into_iter().map(|f| format!("{role}: {f}")),
        );
    }
    findings
}

/// `template` with the JSON text of DeletionProtectionPolicy changed: `from` replaced by `to`.
fn with_protection_text(template: &Value, from: &str, to: &str) -> Value {
    let mut copy = template.clone();
    let text = &mut copy["Resources"]["DeletionProtectionPolicy"]["Properties"]["PolicyDocument"]["Fn::Sub"][0];
    let written = text.as_str().unwrap().to_owned();
    assert!(written.contains(from), "{from:?} is not in the policy's text:\n{written}");
    *text = Value::from(written.replace(from, to));
    copy
}

/// The ARN of the stack's bus, as the functions' PutEvents statements name it.
fn bus_arn() -> Value {
    json!({ "Fn::If": [
        "CreateEventBus",
        { "Fn::GetAtt": ["EventBus", "Arn"] },
        { "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}" }
    ] })
}

/// What is wrong with the bus policy that lets the organization's accounts in (`template`
/// transformed): it must exist only with an OrganizationId, on the stack's bus whether created or
/// named, and allow only PutEvents of deletion requests by the forwarding role of member-role.yaml
/// in that organization's accounts.
fn organization_bus_policy_findings(template: &Value) -> Vec<String> {
    let Some(policy) = template["Resources"].get("OrganizationEventBusPolicy") else {
        return vec!["no resource OrganizationEventBusPolicy".to_owned()];
    };
    let mut findings = Vec::new();
    if policy["Type"] != "AWS::Events::EventBusPolicy" {
        findings.push(format!("not an event bus policy: {}", policy["Type"]));
    }
    let organization_given = json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "OrganizationId" }, ""] }] });
    if policy["Condition"] != "HasOrganizationId" || template["Conditions"]["HasOrganizationId"] != organization_given {
        findings.push(format!(
            "the policy exists under {} ({}), not only with an OrganizationId",
            policy["Condition"], template["Conditions"]["HasOrganizationId"]
        ));
    }
    let properties = &policy["Properties"];
    let bus = json!({ "Fn::If": ["CreateEventBus", { "Ref": "EventBus" }, { "Ref": "EventBusName" }] });
    if properties["EventBusName"] != bus {
        findings.push(format!("the policy is on {}, not the stack's bus", properties["EventBusName"]));
    }
    for legacy in ["Action", "Principal", "Condition"] {
        if properties.get(legacy).is_some() {
            findings.push(format!("the policy sets {legacy} besides its Statement"));
        }
    }
    let expected = json!({
        "Effect": "Allow",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": bus_arn(),
        "Condition": {
            "StringEquals": { "aws:PrincipalOrgID": { "Ref": "OrganizationId" }, "events:detail-type": DELETION_REQUESTED },
            "ArnLike": { "aws:PrincipalArn": { "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}-Forwarder" } }
        }
    });
    if properties["Statement"] != expected {
        findings.push(format!("the statement is {}, not {expected}", properties["Statement"]));
    }
    findings
}

/// The statement of `OrganizationEventBusPolicy` as a stack deployed with `given` holds it.
fn deployed_bus_policy(given: &[(&str, &str)]) -> Vec<Value> {
    let stack = policies::Resolver::new(tools::transformed_template(), given);
    assert!(stack.holds("OrganizationEventBusPolicy"));
    vec![stack.deployed(&properties("OrganizationEventBusPolicy")["Statement"])]
}

/// The role ARN a deployed stack gives the sweep's role, put where the key policy holds
/// `<SweepInstancesRole.Arn>`, so that ARN conditions compare real ARNs.
const SWEEP_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/supplychain-delete-instance-SweepInstancesRole-1A2B3C";

/// The key policy of NoticeKey as deployed with `given` parameters.
fn notice_key_statements(given: &[(&str, &str)]) -> Vec<Value> {
    let template = tools::transformed_template();
    let resolver = policies::Resolver::new(template, given);
    assert!(resolver.holds("NoticeKey"));
    let deployed = resolver.deployed(&properties("NoticeKey")["KeyPolicy"]).to_string().replace("<SweepInstancesRole.Arn>", SWEEP_ROLE_ARN);
    policies::statements(&serde_json::from_str(&deployed).unwrap())
}

/// The rows of docs/deploying.md's parameter table: each parameter named in its first cell (a cell
/// may name two), with its default as the second cell writes it.
fn deploy_page_defaults() -> std::collections::BTreeMap<String, String> {
    let text = tools::read(&tools::repo_path("docs/deploying.md"));
    let start = text.find("| Parameter | Default | What it does |").expect("the deploy page's parameter table");
    let mut rows = std::collections::BTreeMap::new();
    for line in text[start..].lines().skip(2).take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for name in cells[1].split(',').map(|name| name.trim().trim_matches('`')) {
            rows.insert(name.to_owned(), cells[2].trim_matches('`').to_owned());
        }
    }
    rows
}
