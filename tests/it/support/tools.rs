//! The offline tools the stack is checked with (installed by `./scripts/setup`): the Python venv
//! (cfn-lint, aws-sam-translator, moto) and the npm packages of `tools/` (asl-validator,
//! aws-local-stepfunctions). A missing tool fails the test with the command that installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

const SETUP: &str =
    "run the tests with scripts/test, which installs the test tools (scripts/setup: .venv and tools/node_modules) and starts moto";

pub use super::repo_path;

/// `tools/`, or `SUPPLYCHAIN_TOOLS_DIR` as `scripts/test` sets it.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("SUPPLYCHAIN_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|| repo_path("tools"))
}

/// `.venv`, or `SUPPLYCHAIN_VENV` as `scripts/test` sets it.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("SUPPLYCHAIN_VENV").map(PathBuf::from).unwrap_or_else(|| repo_path(".venv"))
}

/// A program of the venv, such as `python` or `cfn-lint`.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = venv_dir().join("bin").join(name);
    assert!(path.exists(), "{} is missing: {SETUP}", path.display());
    path
}

/// `node`, with the npm package `package` installed under `tools/node_modules`.
pub fn node_with(package: &str) -> Command {
    let module = tools_dir().join("node_modules").join(package);
    assert!(module.exists(), "{} is missing: {SETUP}", module.display());
    let found = Command::new("node").arg("--version").output();
    assert!(found.as_ref().is_ok_and(|o| o.status.success()), "node is not on PATH ({found:?}); install Node.js 20 or later, then {SETUP}");
    let mut command = Command::new("node");
    command.current_dir(repo_path("."));
    command
}

/// Runs `command` with `stdin` as its standard input; panics with everything it printed when it
/// cannot be started.
pub fn run(command: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}; {SETUP}"));
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Standard output as JSON, or a panic that shows both streams.
pub fn json_stdout(what: &str, output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("{what} printed no JSON ({e}), status {}:\n{stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr))
    })
}

/// The CloudFormation template aws-sam-translator makes of `template.yaml`.
pub fn transformed_template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let output = run(
            Command::new(venv_bin("python")).arg(tools_dir().join("template_check.py")).arg("transform").arg(repo_path("template.yaml")),
            "",
        );
        assert!(output.status.success(), "the SAM transform failed:\n{}", String::from_utf8_lossy(&output.stderr));
        json_stdout("the SAM transform", &output)
    })
}

/// template.yaml as cfn-lint's decoder reads it (before the SAM transform), read once.
pub fn source_template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| cfn_decoded(&repo_path("template.yaml")))
}

/// member-role.yaml as cfn-lint's decoder reads it, read once.
pub fn member_role_template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| cfn_decoded(&repo_path("member-role.yaml")))
}

/// The state machine definition file.
pub fn definition_path() -> PathBuf {
    repo_path("statemachine/deletion-workflow.asl.json")
}

/// The `OrganizationSweep` state machine's definition file.
pub fn organization_sweep_definition_path() -> PathBuf {
    repo_path("statemachine/organization-sweep.asl.json")
}

/// What CloudFormation substitutes into the definition of the state machine `logical_id` with the
/// template's default parameters in the stack's region ([`super::REGION`]), each function's ARN
/// (`Fn::GetAtt [<function>, Arn]`) being the one `function_arns` gives it.
pub fn state_machine_substitutions(logical_id: &str, function_arns: &[(&str, &str)]) -> Value {
    let template = transformed_template();
    let substitutions = template["Resources"][logical_id]["Properties"]["DefinitionSubstitutions"]
        .as_object()
        .unwrap_or_else(|| panic!("{logical_id} has no DefinitionSubstitutions"));
    let mut values = serde_json::Map::new();
    for (name, value) in substitutions {
        let resolved = resolve(template, value, function_arns);
        assert!(!resolved.is_null(), "no value for the substitution {name}: {value}");
        values.insert(name.clone(), resolved);
    }
    Value::Object(values)
}

/// A template value with the default parameters: `Ref` of a parameter, of a resource or of `AWS::Region`,
/// `Fn::GetAtt` of a function's ARN from `function_arns`, and `Fn::If` on a condition made of
/// `Fn::Not`, `Fn::Equals` and such values; anything else is `null`.
fn resolve(template: &Value, value: &Value, function_arns: &[(&str, &str)]) -> Value {
    let Value::Object(object) = value else { return value.clone() };
    if let Some(name) = object.get("Ref").and_then(Value::as_str) {
        return match name {
            "AWS::Region" => Value::from(super::REGION),
            "AWS::AccountId" => Value::from(super::ACCOUNT),
            // A resource of the stack (the plan bucket): its logical id, lower case, stands for its name.
            _ if template["Resources"].get(name).is_some() => Value::from(name.to_lowercase()),
            _ => template["Parameters"][name]["Default"].clone(),
        };
    }
    if let Some(attribute) = object.get("Fn::GetAtt").and_then(Value::as_array) {
        return function_arns
            .iter()
            .find(|(function, _)| attribute[0] == *function && attribute[1] == "Arn")
            .map_or(Value::Null, |(_, arn)| Value::from(*arn));
    }
    if let Some(branches) = object.get("Fn::If").and_then(Value::as_array) {
        let condition = &template["Conditions"][branches[0].as_str().unwrap()];
        let chosen = if resolve(template, condition, function_arns) == Value::Bool(true) { &branches[1] } else { &branches[2] };
        return resolve(template, chosen, function_arns);
    }
    if let Some(operand) = object.get("Fn::Not").and_then(Value::as_array) {
        return Value::Bool(resolve(template, &operand[0], function_arns) == Value::Bool(false));
    }
    if let Some(operands) = object.get("Fn::Equals").and_then(Value::as_array) {
        let text = |v: Value| match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        return Value::Bool(text(resolve(template, &operands[0], function_arns)) == text(resolve(template, &operands[1], function_arns)));
    }
    if let Some(name) = object.get("Condition").and_then(Value::as_str) {
        return resolve(template, &template["Conditions"][name], function_arns);
    }
    Value::Null
}

/// The `${Name}` placeholders of a text, in order of first appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 1..];
    }
    names
}

/// What CloudFormation substitutes into the definition with the template's default parameters,
/// the functions' ARNs being `delete_arn` and `check_arn`.
pub fn workflow_substitutions(delete_arn: &str, check_arn: &str) -> Value {
    let template = transformed_template();
    let substitutions = template["Resources"]["DeletionWorkflow"]["Properties"]["DefinitionSubstitutions"]
        .as_object()
        .expect("DeletionWorkflow has DefinitionSubstitutions");
    let mut values = serde_json::Map::new();
    for (name, value) in substitutions {
        let resolved = match value {
            Value::Object(v) if v.get("Fn::GetAtt") == Some(&serde_json::json!(["DeleteInstanceFunction", "Arn"])) => {
                Value::from(delete_arn)
            }
            Value::Object(v) if v.get("Fn::GetAtt") == Some(&serde_json::json!(["CheckInstanceStatusFunction", "Arn"])) => {
                Value::from(check_arn)
            }
            Value::Object(v) if v.contains_key("Ref") => {
                let parameter = v["Ref"].as_str().unwrap();
                template["Parameters"][parameter]["Default"].clone()
            }
            other => other.clone(),
        };
        assert!(!resolved.is_null(), "no value for the substitution {name}: {value}");
        values.insert(name.clone(), resolved);
    }
    Value::Object(values)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs AWS SAM CLI's `sam validate --lint` on `template` (a path from the repository's root), with
/// nothing leaving the machine, and fails with what it printed unless it calls the template valid.
pub fn assert_sam_validate_with_lint_accepts(template: &str) {
    let sam = repo_path(".venv-sam/bin/sam");
    assert!(sam.exists(), "{} is missing: scripts/setup installs AWS SAM CLI into .venv-sam", sam.display());
    let output = run(
        Command::new(sam)
            .args(["validate", "--lint", "--template-file"])
            .arg(repo_path(template))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SAM_CLI_TELEMETRY", "0"),
        "",
    );
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && printed.contains("is a valid SAM Template"), "sam validate --lint {template}:\n{printed}");
}

/// A template as cfn-lint's decoder reads it (the short forms of intrinsic functions as their long
/// forms), refusing one that decodes with findings.
pub fn cfn_decoded(path: &Path) -> Value {
    let output = run(
        Command::new(venv_bin("python"))
            .arg("-c")
            .arg("import json,sys; from cfnlint.decode import decode; t,m=decode(sys.argv[1]); assert not m, m; print(json.dumps(t))")
            .arg(path),
        "",
    );
    json_stdout(&format!("cfn-lint's decoder on {}", path.display()), &output)
}

/// Runs the state machine `definition` under aws-local-stepfunctions (`tools/run-state-machine.mjs`)
/// on `input`, its Lambda tasks sent to the Invoke API at `lambda_endpoint`: `substitutions` with
/// each of `parameters` over it (each must be a substitution of the definition). Answers the
/// runner's report, or its standard error when it failed.
pub async fn run_state_machine(
    definition: PathBuf,
    substitutions: Value,
    parameters: &Value,
    input: Value,
    lambda_endpoint: String,
) -> Result<Value, String> {
    run_state_machine_with_s3(definition, substitutions, parameters, input, lambda_endpoint, None).await
}

/// [`run_state_machine`], its Maps' `ItemReader` and `ResultWriter` reading and writing S3 at
/// `s3_endpoint` (moto's server).
pub async fn run_state_machine_with_s3(
    definition: PathBuf,
    mut substitutions: Value,
    parameters: &Value,
    input: Value,
    lambda_endpoint: String,
    s3_endpoint: Option<String>,
) -> Result<Value, String> {
    for (name, value) in parameters.as_object().into_iter().flatten() {
        assert!(substitutions.get(name).is_some(), "{name} is no substitution of the definition");
        substitutions[name] = value.clone();
    }
    let request = serde_json::json!({
        "definition": definition,
        "substitutions": substitutions,
        "input": input,
        "lambdaEndpoint": lambda_endpoint,
        "s3Endpoint": s3_endpoint,
    })
    .to_string();
    let mut command = node_with("aws-local-stepfunctions");
    command.arg(tools_dir().join("run-state-machine.mjs"));
    // The runner calls back into the Invoke API served by the test's runtime: wait for it off the runtime.
    let output = tokio::task::spawn_blocking(move || run(&mut command, &request)).await.unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(json_stdout("the state machine runner", &output))
}

/// Whether each event of `events` (an object of named events) matches `pattern`, decided by moto's
/// EventBridge pattern matcher.
pub fn moto_matches(pattern: &Value, events: &Value) -> Value {
    let output = run(
        Command::new(venv_bin("python"))
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
    json_stdout("moto's pattern matcher", &output)
}

/// For every rule of template.yaml, whether each event of `events` (an object of named events)
/// matches its pattern, by moto's matcher (`tools/template_check.py match-events`): `{rule: {event:
/// bool}}`.
pub fn rules_matching(events: &Value) -> Value {
    let path = std::env::temp_dir().join(format!("rule-events-{}.json", supplychain_testkit::unique_name()));
    std::fs::write(&path, events.to_string()).unwrap();
    let output = run(
        Command::new(venv_bin("python"))
            .arg(tools_dir().join("template_check.py"))
            .arg("match-events")
            .arg(repo_path("template.yaml"))
            .arg(&path),
        "",
    );
    let _ = std::fs::remove_file(&path);
    json_stdout("the pattern check", &output)
}
