//! The deployed stack as the soak plays it, read from `template.yaml` (through the SAM transform of
//! `tools/template_check.py`) and from the `DeletionWorkflow` state machine, never copied: the
//! rules and what they invoke, the request queue and its event source mapping, Lambda's
//! asynchronous retries, the functions' environment, and the Step Functions task's retriers.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::local::{repo_path, ACCOUNT, REGION};

/// The two functions the soak runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    Delete,
    Check,
}

impl Function {
    /// The logical id of the function in template.yaml.
    pub fn logical_id(self) -> &'static str {
        match self {
            Function::Delete => "DeleteInstanceFunction",
            Function::Check => "CheckInstanceStatusFunction",
        }
    }

    /// The binary's name (the function's `BuildProperties.Binary`).
    pub fn binary(self) -> &'static str {
        match self {
            Function::Delete => "delete-instance",
            Function::Check => "check-instance-status",
        }
    }

    pub fn arn(self) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", self.binary())
    }
}

/// One rule of the bus: its pattern (with the stack's own account filled in) and the function it
/// invokes.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub pattern: Value,
    pub target: Function,
}

/// A retrier of a Step Functions task (`Retry` of the Amazon States Language).
#[derive(Debug, Clone)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
}

/// What the soak reads from the stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The rules whose targets are the two functions (rules with a condition the stack's defaults
    /// leave false are not deployed and not played).
    pub rules: Vec<Rule>,
    /// The request queue: `VisibilityTimeout` and the redrive policy's `maxReceiveCount`.
    pub visibility_timeout_seconds: u64,
    pub max_receive_count: u32,
    /// The event source mapping: `BatchSize` and `ScalingConfig.MaximumConcurrency`.
    pub batch_size: usize,
    pub max_pollers: usize,
    /// Each function's `Timeout` and its `EventInvokeConfig.MaximumRetryAttempts`.
    pub timeout_seconds: BTreeMap<Function, u64>,
    pub async_retries: BTreeMap<Function, u32>,
    /// Each function's environment variables that resolve to text with the stack's defaults (the
    /// others name resources, which the soak provides itself).
    pub environment: BTreeMap<Function, Vec<(String, String)>>,
    /// The `DeleteInstance` task's retriers of the `DeletionWorkflow` state machine.
    pub workflow_retriers: Vec<Retrier>,
}

impl Stack {
    /// Reads template.yaml with `python` (the project's venv, with aws-sam-translator and cfn-lint).
    pub fn read(python: &Path) -> Result<Stack, String> {
        let tools = std::env::var_os("SUPPLYCHAIN_TOOLS_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| repo_path("tools"));
        let output = Command::new(python)
            .arg(tools.join("template_check.py"))
            .arg("transform")
            .arg(repo_path("template.yaml"))
            .output()
            .map_err(|e| format!("{}: {e} (scripts/setup test installs the venv)", python.display()))?;
        if !output.status.success() {
            return Err(format!("the SAM transform of template.yaml failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        let template: Value = serde_json::from_slice(&output.stdout).map_err(|e| format!("the SAM transform printed no JSON: {e}"))?;
        let workflow = std::fs::read_to_string(repo_path("statemachine/deletion-workflow.asl.json")).map_err(|e| e.to_string())?;
        let workflow: Value = serde_json::from_str(&workflow).map_err(|e| format!("deletion-workflow.asl.json: {e}"))?;
        Stack::from_template(&template, &workflow)
    }

    fn from_template(template: &Value, workflow: &Value) -> Result<Stack, String> {
        let resources = template["Resources"].as_object().ok_or("the template has no Resources")?;
        let deployed = |resource: &Value| resource.get("Condition").is_none_or(|c| condition_holds(template, c));
        let mut rules = Vec::new();
        for (name, resource) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::Events::Rule" && deployed(r)) {
            for target in resource["Properties"]["Targets"].as_array().into_iter().flatten() {
                let function = [Function::Delete, Function::Check].into_iter().find(|f| target["Arn"]["Fn::GetAtt"][0] == f.logical_id());
                if let Some(function) = function {
                    let pattern = resolve(template, &resource["Properties"]["EventPattern"]);
                    rules.push(Rule { name: name.clone(), pattern, target: function });
                }
            }
        }
        let queue = &resources.get("RequestQueue").ok_or("no RequestQueue")?["Properties"];
        let mapping = resources
            .values()
            .find(|r| {
                r["Type"] == "AWS::Lambda::EventSourceMapping" && r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0] == "RequestQueue"
            })
            .ok_or("no event source mapping of RequestQueue")?;
        let number = |value: &Value, what: &str| value.as_u64().ok_or_else(|| format!("{what} is not a number: {value}"));
        let mut timeout_seconds = BTreeMap::new();
        let mut async_retries = BTreeMap::new();
        let mut environment = BTreeMap::new();
        for function in [Function::Delete, Function::Check] {
            let properties = &resources.get(function.logical_id()).ok_or(format!("no {}", function.logical_id()))?["Properties"];
            timeout_seconds.insert(function, number(&properties["Timeout"], "Timeout")?);
            let invoke_config = resources
                .values()
                .find(|r| r["Type"] == "AWS::Lambda::EventInvokeConfig" && r["Properties"]["FunctionName"]["Ref"] == function.logical_id())
                .ok_or(format!("no EventInvokeConfig of {}", function.logical_id()))?;
            async_retries.insert(function, number(&invoke_config["Properties"]["MaximumRetryAttempts"], "MaximumRetryAttempts")? as u32);
            let variables = properties["Environment"]["Variables"].as_object().ok_or("no Environment")?;
            let resolved = variables
                .iter()
                .filter_map(|(name, value)| resolve(template, value).as_str().map(|text| (name.clone(), text.to_owned())))
                .collect();
            environment.insert(function, resolved);
        }
        Ok(Stack {
            rules,
            visibility_timeout_seconds: number(&queue["VisibilityTimeout"], "VisibilityTimeout")?,
            max_receive_count: number(&queue["RedrivePolicy"]["maxReceiveCount"], "maxReceiveCount")? as u32,
            batch_size: number(&mapping["Properties"]["BatchSize"], "BatchSize")? as usize,
            max_pollers: number(&mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"], "MaximumConcurrency")? as usize,
            timeout_seconds,
            async_retries,
            environment,
            workflow_retriers: retriers(&workflow["States"]["DeleteInstance"]["Retry"])?,
        })
    }
}

/// A template value with the stack's defaults: `Ref` of a parameter (its default) or of
/// `AWS::AccountId` / `AWS::Region`, `Fn::Sub` of those; objects and arrays member by member.
/// Anything else (a resource's name or ARN) is `null`.
fn resolve(template: &Value, value: &Value) -> Value {
    match value {
        Value::Object(object) if object.len() == 1 => {
            let (key, argument) = object.iter().next().expect("one member");
            match key.as_str() {
                "Ref" => argument.as_str().map_or(Value::Null, |name| reference(template, name)),
                "Fn::Sub" => argument.as_str().map_or(Value::Null, |text| substitute(template, text)),
                _ if key.starts_with("Fn::") => Value::Null,
                _ => Value::Object(object.iter().map(|(k, v)| (k.clone(), resolve(template, v))).collect()),
            }
        }
        Value::Object(object) => Value::Object(object.iter().map(|(k, v)| (k.clone(), resolve(template, v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(template, v)).collect()),
        other => other.clone(),
    }
}

fn reference(template: &Value, name: &str) -> Value {
    match name {
        "AWS::AccountId" => Value::String(ACCOUNT.to_owned()),
        "AWS::Region" => Value::String(REGION.to_owned()),
        _ => match &template["Parameters"][name]["Default"] {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Null => Value::Null,
            other => other.clone(),
        },
    }
}

/// `Fn::Sub` of a text whose every `${Name}` resolves; `null` otherwise.
fn substitute(template: &Value, text: &str) -> Value {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else { return Value::Null };
        out.push_str(&rest[..start]);
        match reference(template, &rest[start + 2..start + end]) {
            Value::String(value) => out.push_str(&value),
            _ => return Value::Null,
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Value::String(out)
}

/// Whether a condition of the template holds with the default parameters (`Fn::Equals`, `Fn::Not`,
/// `Fn::And`, `Fn::Or`, `Condition`); an unknown form counts as false, so nothing undeployed is played.
fn condition_holds(template: &Value, condition: &Value) -> bool {
    let name = condition.as_str().unwrap_or_default();
    evaluate(template, &template["Conditions"][name])
}

fn evaluate(template: &Value, expression: &Value) -> bool {
    let Some((key, argument)) = expression.as_object().and_then(|o| o.iter().next()) else { return false };
    let all = || argument.as_array().into_iter().flatten();
    match key.as_str() {
        "Fn::Equals" => {
            let sides: Vec<Value> = all().map(|v| resolve(template, v)).collect();
            sides.len() == 2 && sides[0] == sides[1]
        }
        "Fn::Not" => !all().next().is_some_and(|e| evaluate(template, e)),
        "Fn::And" => all().all(|e| evaluate(template, e)),
        "Fn::Or" => all().any(|e| evaluate(template, e)),
        "Condition" => condition_holds(template, argument),
        _ => false,
    }
}

fn retriers(retry: &Value) -> Result<Vec<Retrier>, String> {
    let list = retry.as_array().ok_or("the DeleteInstance task has no Retry")?;
    Ok(list
        .iter()
        .map(|r| Retrier {
            errors: r["ErrorEquals"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect(),
            interval_seconds: r["IntervalSeconds"].as_f64().unwrap_or(1.0),
            max_attempts: r["MaxAttempts"].as_u64().unwrap_or(3) as u32,
            backoff_rate: r["BackoffRate"].as_f64().unwrap_or(2.0),
            max_delay_seconds: r["MaxDelaySeconds"].as_f64(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_and_the_stacks_account_resolve_and_resources_do_not() {
        let template = json!({"Parameters": {"Role": {"Default": "Deleter"}, "Wait": {"Default": 60}}});
        assert_eq!(resolve(&template, &json!({"Ref": "Role"})), "Deleter");
        assert_eq!(resolve(&template, &json!({"Ref": "Wait"})), "60");
        assert_eq!(resolve(&template, &json!({"Fn::Sub": "${Role}-Checker"})), "Deleter-Checker");
        assert_eq!(resolve(&template, &json!({"account": [{"Ref": "AWS::AccountId"}]})), json!({"account": [ACCOUNT]}));
        assert_eq!(resolve(&template, &json!({"Fn::GetAtt": ["Queue", "Arn"]})), Value::Null);
    }
}
