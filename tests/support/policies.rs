//! IAM policies as the templates write them, for tests/template.rs and tests/member_role.rs: a
//! policy document written as JSON text in `Fn::Sub` read back as JSON; the check that a role's
//! statements keep deletion protection; and a template's conditions and `Fn::If` resolved for given
//! parameter values, so that a test can ask what a stack deployed with them would hold.
#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A policy document: as written, or, when it is JSON text in `Fn::Sub`, that text read as JSON
/// with each string that is exactly `${Name}` of the `Fn::Sub`'s variables replaced by the
/// variable's value (an intrinsic function, as CloudFormation substitutes it). Other `${...}`, such
/// as a parameter inside a condition key, stay as written.
pub fn document(value: &Value) -> Value {
    let Some(sub) = value.get("Fn::Sub") else { return value.clone() };
    let (text, variables) = match sub {
        Value::String(text) => (text.as_str(), Map::new()),
        Value::Array(parts) => (
            parts[0].as_str().unwrap_or_else(|| panic!("Fn::Sub without a text: {sub}")),
            parts.get(1).and_then(Value::as_object).cloned().unwrap_or_default(),
        ),
        other => panic!("unexpected Fn::Sub {other}"),
    };
    let mut parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("the policy's JSON text does not parse ({e}):\n{text}"));
    substitute(&mut parsed, &variables);
    parsed
}

fn substitute(value: &mut Value, variables: &Map<String, Value>) {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix("${").and_then(|rest| rest.strip_suffix('}')) {
                if let Some(replacement) = variables.get(name) {
                    *value = replacement.clone();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| substitute(item, variables)),
        Value::Object(object) => object.values_mut().for_each(|member| substitute(member, variables)),
        _ => {}
    }
}

/// The statements of a document; a statement behind `Fn::If` counts with both its branches.
pub fn statements(document: &Value) -> Vec<Value> {
    let mut found = Vec::new();
    for statement in document["Statement"].as_array().into_iter().flatten() {
        if let Some(branches) = statement.get("Fn::If") {
            found.extend(branches.as_array().unwrap()[1..].iter().filter(|b| !is_no_value(b)).cloned());
        } else {
            found.push(statement.clone());
        }
    }
    found
}

pub fn is_no_value(value: &Value) -> bool {
    value.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue")
}

/// A JSON value that is a string or a list of strings, as a set.
pub fn string_set(value: &Value) -> BTreeSet<String> {
    match value {
        Value::String(s) => BTreeSet::from([s.clone()]),
        Value::Array(items) => items.iter().flat_map(string_set).collect(),
        _ => BTreeSet::new(),
    }
}

/// The actions of a deny that keeps a protected instance from being deleted, and of the one that
/// keeps its protection tag from being added, changed or removed.
pub const DENIED_DELETE: [&str; 1] = ["scn:DeleteInstance"];
pub const DENIED_TAGGING: [&str; 2] = ["scn:TagResource", "scn:UntagResource"];

/// What is wrong with deletion protection among `statements`, every statement of one role's
/// identity policies: empty when IAM denies that role deleting an instance whose tag named by the
/// parameter `tag_parameter` is "true" in any case, and adding, changing or removing that tag (in
/// any case), both on exactly the resource `instances`, and no Allow names what they deny. An
/// explicit Deny overrides every Allow, so the last is a guard against a role growing broad (a
/// wildcard over scn, or tagging the functions never do), not a condition of the denies.
pub fn protection_findings(statements: &[Value], tag_parameter: &str, instances: &Value) -> Vec<String> {
    let mut findings = Vec::new();
    let tag = format!("${{{tag_parameter}}}");
    let denies_of = |actions: &[&str]| -> Vec<&Value> {
        let wanted: BTreeSet<String> = actions.iter().map(|a| a.to_string()).collect();
        statements.iter().filter(|s| s["Effect"] == "Deny" && string_set(&s["Action"]) == wanted).collect()
    };
    let check_deny = |findings: &mut Vec<String>,
                      what: &str,
                      actions: &[&str],
                      operator: &str,
                      key: &str,
                      wanted: &dyn Fn(&BTreeSet<String>) -> bool| {
        let denies = denies_of(actions);
        let [deny] = denies.as_slice() else {
            findings.push(format!("{what}: {} Deny statements of exactly {actions:?}, not one", denies.len()));
            return;
        };
        if deny.get("NotAction").is_some() || deny.get("NotResource").is_some() {
            findings.push(format!("{what}: NotAction or NotResource: {deny}"));
        }
        if &deny["Resource"] != instances {
            findings.push(format!("{what}: the resource is {}, not {instances}", deny["Resource"]));
        }
        let condition = deny["Condition"].as_object().cloned().unwrap_or_default();
        let operators: Vec<&String> = condition.keys().collect();
        if operators != [operator] {
            findings.push(format!("{what}: the condition operators are {operators:?}, not [{operator:?}]"));
            return;
        }
        let keys = condition[operator].as_object().cloned().unwrap_or_default();
        let names: Vec<&String> = keys.keys().collect();
        if names != [key] {
            findings.push(format!("{what}: the condition keys are {names:?}, not [{key:?}] (the tag key must come from the parameter)"));
            return;
        }
        let values = string_set(&keys[key]);
        if !wanted(&values) {
            findings.push(format!("{what}: {operator} {key} takes {values:?}"));
        }
    };
    check_deny(
        &mut findings,
        "the deny of deleting a protected instance",
        &DENIED_DELETE,
        "StringEqualsIgnoreCase",
        &format!("aws:ResourceTag/{tag}"),
        &|values| values.contains("true") && values.iter().all(|v| v.trim().eq_ignore_ascii_case("true")),
    );
    check_deny(
        &mut findings,
        "the deny of changing the protection tag",
        &DENIED_TAGGING,
        "ForAnyValue:StringEqualsIgnoreCase",
        "aws:TagKeys",
        &|values| values == &BTreeSet::from([tag.clone()]),
    );
    for allow in statements.iter().filter(|s| s["Effect"] == "Allow") {
        if allow.get("NotAction").is_some() {
            findings.push(format!("an Allow with NotAction: {allow}"));
        }
        for action in string_set(&allow["Action"]) {
            let lower = action.to_ascii_lowercase();
            if lower == "*" || (lower.starts_with("scn:") && lower.contains('*')) {
                findings.push(format!("an Allow of the wildcard {action}"));
            } else if DENIED_TAGGING.iter().any(|a| a.eq_ignore_ascii_case(&action)) && !only_another_tag_key(allow, &tag) {
                findings.push(format!(
                    "an Allow of {action} not limited to one tag key other than {tag} (ForAllValues:StringEquals and Null on \
                     aws:TagKeys): the sweep's schedule mark is the only tag the functions write"
                ));
            }
        }
    }
    findings
}

/// Whether an Allow of tagging writes one tag key only, and not `protection`: every key of a request
/// must be that one (`ForAllValues:StringEquals`), and a request must name keys (`Null` false), as
/// `ForAllValues` holds for a request without any.
fn only_another_tag_key(allow: &Value, protection: &str) -> bool {
    let Some(condition) = allow["Condition"].as_object() else { return false };
    let mut operators: Vec<&str> = condition.keys().map(String::as_str).collect();
    operators.sort();
    // As written (a `Ref` of the schedule tag's parameter) or as deployed (its value).
    let keys = match condition.get("ForAllValues:StringEquals").map(|c| &c["aws:TagKeys"]) {
        Some(Value::Array(keys)) => keys.clone(),
        Some(key) => vec![key.clone()],
        None => Vec::new(),
    };
    let not_protection = |key: &Value| match key.as_str() {
        Some(key) => !key.eq_ignore_ascii_case(protection),
        None => key != &serde_json::json!({"Ref": "DeletionProtectionTag"}),
    };
    operators == ["ForAllValues:StringEquals", "Null"]
        && condition["ForAllValues:StringEquals"].as_object().is_some_and(|c| c.len() == 1)
        && condition["Null"] == serde_json::json!({"aws:TagKeys": "false"})
        && keys.len() == 1
        && keys.iter().all(not_protection)
}

/// A template's parameters and conditions, to resolve what a stack deployed with given parameter
/// values holds: `Fn::If` takes its branch, `Ref` of a parameter (or of a pseudo parameter given
/// as one, such as `AWS::AccountId`) its value, `AWS::NoValue` removes its member.
pub struct Resolver<'t> {
    template: &'t Value,
    parameters: Map<String, Value>,
}

impl<'t> Resolver<'t> {
    /// Every parameter at its default, then `given` over them.
    pub fn new(template: &'t Value, given: &[(&str, &str)]) -> Resolver<'t> {
        let mut parameters = Map::new();
        let declared = template["Parameters"].as_object().cloned().unwrap_or_default();
        for (name, declaration) in &declared {
            if let Some(default) = declaration.get("Default") {
                parameters.insert(name.clone(), default.clone());
            }
        }
        for (name, value) in given {
            assert!(declared.contains_key(*name) || name.starts_with("AWS::"), "the template has no parameter {name}");
            parameters.insert(name.to_string(), Value::from(*value));
        }
        // A list parameter is its value split at the commas.
        for (name, declaration) in &declared {
            if declaration["Type"] == "CommaDelimitedList" {
                if let Some(Value::String(text)) = parameters.get(name).cloned() {
                    parameters.insert(name.clone(), text.split(',').map(Value::from).collect());
                }
            }
        }
        Resolver { template, parameters }
    }

    pub fn condition(&self, name: &str) -> bool {
        let definition = self.template["Conditions"].get(name).unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(definition)
    }

    fn truth(&self, expression: &Value) -> bool {
        let object = expression.as_object().unwrap_or_else(|| panic!("not a condition: {expression}"));
        let (function, arguments) = object.iter().next().unwrap();
        let arguments = arguments.as_array();
        match function.as_str() {
            "Fn::Not" => !self.truth(&arguments.unwrap()[0]),
            "Fn::And" => arguments.unwrap().iter().all(|a| self.truth(a)),
            "Fn::Or" => arguments.unwrap().iter().any(|a| self.truth(a)),
            "Fn::Equals" => {
                let arguments = arguments.unwrap();
                self.resolve(&arguments[0]) == self.resolve(&arguments[1])
            }
            "Condition" => self.condition(expression["Condition"].as_str().unwrap()),
            other => panic!("unsupported condition function {other}"),
        }
    }

    /// Whether the stack holds the resource `logical_id` (it has no condition, or its condition holds).
    pub fn holds(&self, logical_id: &str) -> bool {
        let resource = self.template["Resources"].get(logical_id).unwrap_or_else(|| panic!("no resource {logical_id}"));
        resource.get("Condition").and_then(Value::as_str).is_none_or(|name| self.condition(name))
    }

    /// `value` as deployed: `None` when it is `AWS::NoValue`.
    pub fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Array(items) => Some(Value::Array(items.iter().filter_map(|item| self.resolve(item)).collect())),
            Value::Object(object) => {
                if let Some(branches) = object.get("Fn::If").and_then(Value::as_array) {
                    let chosen = if self.condition(branches[0].as_str().unwrap()) { &branches[1] } else { &branches[2] };
                    return self.resolve(chosen);
                }
                if let Some(name) = object.get("Ref").and_then(Value::as_str) {
                    if name == "AWS::NoValue" {
                        return None;
                    }
                    return Some(self.parameters.get(name).cloned().unwrap_or_else(|| value.clone()));
                }
                if let Some(join) = object.get("Fn::Join").and_then(Value::as_array) {
                    let separator = join[0].as_str().unwrap();
                    if let Some(Value::Array(parts)) = self.resolve(&join[1]) {
                        if let Some(texts) = parts.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() {
                            return Some(Value::from(texts.join(separator)));
                        }
                    }
                    return Some(value.clone());
                }
                Some(Value::Object(object.iter().filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v))).collect()))
            }
            other => Some(other.clone()),
        }
    }
}
