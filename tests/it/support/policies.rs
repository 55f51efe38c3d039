//! IAM policies as the templates write them, for tests/it/template/ and tests/it/member_role.rs: a
//! policy document written as JSON text in `Fn::Sub` read back as JSON; the check that a role's
//! statements keep deletion protection; a template's conditions and `Fn::If` resolved for given
//! parameter values, so that a test can ask what a stack deployed with them would hold; and an
//! evaluator that decides a request against deployed statements as IAM does (identity, trust,
//! resource policies and SCPs), for the operators and context keys these policies use.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The text and the variables of an `Fn::Sub`: its short form (a text alone) or its long form.
fn sub_parts(sub: &Value) -> (&str, Map<String, Value>) {
    match sub {
        Value::String(text) => (text.as_str(), Map::new()),
        Value::Array(parts) => (
            parts[0].as_str().unwrap_or_else(|| panic!("Fn::Sub without a text: {sub}")),
            parts.get(1).and_then(Value::as_object).cloned().unwrap_or_default(),
        ),
        other => panic!("unexpected Fn::Sub {other}"),
    }
}

/// A policy document: as written, or, when it is JSON text in `Fn::Sub`, that text read as JSON
/// with each string that is exactly `${Name}` of the `Fn::Sub`'s variables replaced by the
/// variable's value (an intrinsic function, as CloudFormation substitutes it). Other `${...}`, such
/// as a parameter inside a condition key, stay as written.
pub fn document(value: &Value) -> Value {
    let Some(sub) = value.get("Fn::Sub") else { return value.clone() };
    let (text, variables) = sub_parts(sub);
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
    let tag = format!("${{{tag_parameter}}}");
    let delete = Deny {
        what: "the deny of deleting a protected instance",
        actions: &DENIED_DELETE,
        operator: "StringEqualsIgnoreCase",
        key: &format!("aws:ResourceTag/{tag}"),
        takes: &|values| values.contains("true") && values.iter().all(|v| v.trim().eq_ignore_ascii_case("true")),
    };
    let tagging = Deny {
        what: "the deny of changing the protection tag",
        actions: &DENIED_TAGGING,
        operator: "ForAnyValue:StringEqualsIgnoreCase",
        key: "aws:TagKeys",
        takes: &|values| values == &BTreeSet::from([tag.clone()]),
    };
    let mut findings = delete.findings(statements, instances);
    findings.extend(tagging.findings(statements, instances));
    findings.extend(broad_allow_findings(statements, &tag));
    findings
}

/// A Deny that deletion protection needs: of exactly `actions`, under one condition `operator` on
/// the one `key`, whose values `takes` accepts.
struct Deny<'a> {
    what: &'a str,
    actions: &'a [&'a str],
    operator: &'a str,
    key: &'a str,
    takes: &'a dyn Fn(&BTreeSet<String>) -> bool,
}

impl Deny<'_> {
    /// What is wrong with this deny among `statements`: there must be exactly one, on `instances`.
    fn findings(&self, statements: &[Value], instances: &Value) -> Vec<String> {
        let (what, actions, operator, key) = (self.what, self.actions, self.operator, self.key);
        let mut findings = Vec::new();
        let wanted: BTreeSet<String> = actions.iter().map(|a| a.to_string()).collect();
        let denies: Vec<&Value> = statements.iter().filter(|s| s["Effect"] == "Deny" && string_set(&s["Action"]) == wanted).collect();
        let [deny] = denies.as_slice() else {
            findings.push(format!("{what}: {} Deny statements of exactly {actions:?}, not one", denies.len()));
            return findings;
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
            return findings;
        }
        let keys = condition[operator].as_object().cloned().unwrap_or_default();
        let names: Vec<&String> = keys.keys().collect();
        if names != [key] {
            findings.push(format!("{what}: the condition keys are {names:?}, not [{key:?}] (the tag key must come from the parameter)"));
            return findings;
        }
        let values = string_set(&keys[key]);
        if !(self.takes)(&values) {
            findings.push(format!("{what}: {operator} {key} takes {values:?}"));
        }
        findings
    }
}

/// The Allows among `statements` that are broader than the functions need: NotAction, a wildcard
/// over scn, or tagging not limited to one tag key other than the protection tag `tag`.
fn broad_allow_findings(statements: &[Value], tag: &str) -> Vec<String> {
    let mut findings = Vec::new();
    for allow in statements.iter().filter(|s| s["Effect"] == "Allow") {
        if allow.get("NotAction").is_some() {
            findings.push(format!("an Allow with NotAction: {allow}"));
        }
        for action in string_set(&allow["Action"]) {
            let lower = action.to_ascii_lowercase();
            if lower == "*" || (lower.starts_with("scn:") && lower.contains('*')) {
                findings.push(format!("an Allow of the wildcard {action}"));
            } else if DENIED_TAGGING.iter().any(|a| a.eq_ignore_ascii_case(&action)) && !only_another_tag_key(allow, tag) {
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

/// The pseudo parameters a [`Resolver`] gives when a test does not: the stack of testkit's account
/// and region.
const PSEUDO_PARAMETERS: [(&str, &str); 4] = [
    ("AWS::Partition", "aws"),
    ("AWS::Region", "us-east-1"),
    ("AWS::AccountId", "123456789012"),
    ("AWS::StackName", "supplychain-delete-instance"),
];

impl Resolver<'_> {
    /// `value` as IAM holds it once deployed, to evaluate: [`Resolver::resolve`], then every `Ref`,
    /// `Fn::Sub` and `${Name}` filled in, condition keys included (the JSON policy texts write the
    /// protection tag inside a key). A parameter or pseudo parameter is its value; a resource of the
    /// stack is `<LogicalId>` and its attribute `<LogicalId.Attribute>`, which match no real ARN.
    pub fn deployed(&self, value: &Value) -> Value {
        self.resolve(value).map_or(Value::Null, |resolved| self.filled(&resolved))
    }

    fn value_of(&self, name: &str) -> String {
        if let Some(value) = self.parameters.get(name) {
            return match value {
                Value::String(text) => text.clone(),
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
                other => other.to_string(),
            };
        }
        PSEUDO_PARAMETERS.iter().find(|(pseudo, _)| *pseudo == name).map_or_else(|| format!("<{name}>"), |(_, value)| value.to_string())
    }

    fn substituted(&self, text: &str, variables: &Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else { break };
            let name = &rest[start + 2..start + end];
            out.push_str(&rest[..start]);
            match variables.get(name) {
                Some(Value::String(value)) => out.push_str(value),
                Some(other) => out.push_str(&other.to_string()),
                None => out.push_str(&self.value_of(name)),
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn filled(&self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::from(self.substituted(text, &Map::new())),
            Value::Array(items) => Value::Array(items.iter().map(|item| self.filled(item)).collect()),
            Value::Object(object) => {
                if let Some(name) = object.get("Ref").and_then(Value::as_str) {
                    return Value::from(self.value_of(name));
                }
                if let Some(attribute) = object.get("Fn::GetAtt").and_then(Value::as_array) {
                    let parts: Vec<&str> = attribute.iter().filter_map(Value::as_str).collect();
                    return Value::from(format!("<{}>", parts.join(".")));
                }
                if let Some(sub) = object.get("Fn::Sub") {
                    let (text, variables) = sub_parts(sub);
                    let variables: Map<String, Value> = variables.iter().map(|(k, v)| (k.clone(), self.deployed(v))).collect();
                    return Value::from(self.substituted(text, &variables));
                }
                Value::Object(object.iter().map(|(k, v)| (self.substituted(k, &Map::new()), self.filled(v))).collect())
            }
            other => other.clone(),
        }
    }

    /// Every statement of the identity policies of the role `logical_id`, as deployed: its inline
    /// policies and the stack's managed policies it attaches.
    pub fn role_statements(&self, logical_id: &str) -> Vec<Value> {
        assert!(self.holds(logical_id), "the stack does not hold {logical_id}");
        let properties = self.resolve(&self.template["Resources"][logical_id]["Properties"]).unwrap();
        let mut documents: Vec<Value> =
            properties["Policies"].as_array().into_iter().flatten().map(|p| p["PolicyDocument"].clone()).collect();
        for attached in properties["ManagedPolicyArns"].as_array().into_iter().flatten() {
            let id =
                attached["Ref"].as_str().unwrap_or_else(|| panic!("{logical_id} attaches a policy that is not the stack's: {attached}"));
            documents.push(self.resolve(&self.template["Resources"][id]["Properties"]["PolicyDocument"]).unwrap());
        }
        documents.iter().flat_map(|d| statements(&document(d))).map(|s| self.deployed(&s)).collect()
    }

    /// The trust policy's statements of the role `logical_id`, as deployed.
    pub fn trust_statements(&self, logical_id: &str) -> Vec<Value> {
        assert!(self.holds(logical_id), "the stack does not hold {logical_id}");
        let trust = self.deployed(&self.template["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"]);
        statements(&trust)
    }
}

/// One request as IAM sees it: who makes it, the action, the resource, and the request context's
/// keys (named without regard to case, as IAM names them).
#[derive(Clone, Debug)]
pub struct Request {
    /// The principal: a role's ARN (an assumed role's session is its role, as `aws:PrincipalArn`
    /// gives it), or a service principal such as `events.amazonaws.com`.
    pub principal: String,
    pub action: String,
    pub resource: String,
    context: BTreeMap<String, Vec<String>>,
}

impl Request {
    /// A request of `principal`, with `aws:PrincipalArn` and `aws:PrincipalAccount` set from it
    /// when it is an IAM ARN.
    pub fn new(principal: &str, action: &str, resource: &str) -> Request {
        let mut request =
            Request { principal: principal.to_owned(), action: action.to_owned(), resource: resource.to_owned(), context: BTreeMap::new() };
        if let Some(account) = principal.strip_prefix("arn:").and_then(|arn| arn.split(':').nth(3)) {
            request = request.with("aws:PrincipalArn", &[principal]).with("aws:PrincipalAccount", &[account]);
        }
        request
    }

    /// The same request with the context key `key` holding `values` (none: the key is absent).
    pub fn with(mut self, key: &str, values: &[&str]) -> Request {
        let key = key.to_ascii_lowercase();
        if values.is_empty() {
            self.context.remove(&key);
        } else {
            self.context.insert(key, values.iter().map(|v| v.to_string()).collect());
        }
        self
    }

    /// A request on an instance tagged `key` = `value` (`aws:ResourceTag/<key>`).
    pub fn on_tagged(self, key: &str, value: &str) -> Request {
        self.with(&format!("aws:ResourceTag/{key}"), &[value])
    }

    pub fn values_of(&self, key: &str) -> &[String] {
        self.context.get(&key.to_ascii_lowercase()).map_or(&[], Vec::as_slice)
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Decision {
    /// An Allow applies and no Deny does.
    Allowed,
    /// Neither applies: IAM's implicit deny (for an SCP, which only denies here: not denied).
    NotAllowed,
    /// An explicit Deny applies.
    Denied,
}

/// What IAM decides for `request` given `statements` (deployed, [`Resolver::deployed`]): an explicit
/// Deny wins, then an Allow, else the request is not allowed. A statement with a `Principal` (a trust
/// or resource policy) applies only to the principals it names.
pub fn decide(statements: &[Value], request: &Request) -> Decision {
    let applies = |statement: &&Value| {
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none(), "not modelled: {statement}");
        assert!(statement.get("NotPrincipal").is_none(), "not modelled: {statement}");
        string_set(&statement["Action"]).iter().any(|a| glob(&a.to_ascii_lowercase(), &request.action.to_ascii_lowercase()))
            && (statement.get("Resource").is_none() || string_set(&statement["Resource"]).iter().any(|r| glob(r, &request.resource)))
            && statement.get("Principal").is_none_or(|principal| names_principal(principal, &request.principal))
            && holds(&statement["Condition"], request)
    };
    let matching: Vec<&Value> = statements.iter().filter(applies).collect();
    if matching.iter().any(|s| s["Effect"] == "Deny") {
        Decision::Denied
    } else if matching.iter().any(|s| s["Effect"] == "Allow") {
        Decision::Allowed
    } else {
        Decision::NotAllowed
    }
}

/// Whether a policy's `Principal` names `principal`: `*` (or `{"AWS": "*"}`) names everyone; an
/// account (`123456789012` or its `:root` ARN) every principal of it; a role ARN that role; a
/// service that service.
fn names_principal(written: &Value, principal: &str) -> bool {
    if written == "*" {
        return true;
    }
    let account = principal.strip_prefix("arn:").and_then(|arn| arn.split(':').nth(3));
    let object = written.as_object().unwrap_or_else(|| panic!("a Principal not modelled here: {written}"));
    object.iter().any(|(kind, names)| match kind.as_str() {
        "AWS" => string_set(names).iter().any(|name| {
            name == "*"
                || name == principal
                || Some(name.as_str()) == account
                || name.strip_suffix(":root").and_then(|root| root.split(':').nth(4)).is_some_and(|a| Some(a) == account)
        }),
        "Service" => string_set(names).contains(principal),
        other => panic!("the principal kind {other} is not modelled here"),
    })
}

/// Whether `condition` holds for `request`, for the operators these policies use, with IAM's rules
/// (IAM User Guide, "IAM JSON policy elements: Condition operators" and "Single-valued vs.
/// multivalued context keys"): every operator and every key of one must hold; a key holds when the
/// request's value matches any of the listed ones; a negated operator holds when none does, and so
/// when the key is absent, a positive one not; ForAllValues holds when every value of the request
/// is listed, and so for a request without any; ForAnyValue when one is; Null false when the key is
/// present. ARNs compare part by part, a wildcard never spanning a colon.
pub fn holds(condition: &Value, request: &Request) -> bool {
    condition.as_object().into_iter().flatten().all(|(operator, keys)| {
        keys.as_object().unwrap_or_else(|| panic!("{operator}: {keys}")).iter().all(|(key, wanted)| {
            let wanted = string_set(wanted);
            let values = request.values_of(key);
            let any = |matches: &dyn Fn(&str, &str) -> bool| values.iter().any(|v| wanted.iter().any(|w| matches(w, v)));
            let exact = |w: &str, v: &str| w == v;
            let ignoring_case = |w: &str, v: &str| w.eq_ignore_ascii_case(v);
            let like = |w: &str, v: &str| glob(w, v);
            match operator.as_str() {
                "StringEquals" | "ForAnyValue:StringEquals" => any(&exact),
                "StringNotEquals" => !any(&exact),
                "StringEqualsIgnoreCase" | "ForAnyValue:StringEqualsIgnoreCase" => any(&ignoring_case),
                "StringNotEqualsIgnoreCase" => !any(&ignoring_case),
                "StringLike" => any(&like),
                "StringNotLike" => !any(&like),
                "ArnEquals" | "ArnLike" => any(&arn_like),
                "ArnNotEquals" | "ArnNotLike" => !any(&arn_like),
                "ForAllValues:StringEquals" => values.iter().all(|v| wanted.contains(v)),
                "Null" => wanted == BTreeSet::from([values.is_empty().to_string()]),
                other => panic!("the condition operator {other} is not modelled here"),
            }
        })
    })
}

/// `*` any run of characters, `?` one character, the rest itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    fn matches(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|at| matches(rest, &t[at..])),
            Some(('?', rest)) => !t.is_empty() && matches(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && matches(rest, &t[1..]),
        }
    }
    matches(&pattern, &text)
}

/// ArnLike: the six colon-separated parts of an ARN each matched by [`glob`], so that a wildcard
/// of one part never reaches into the next.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    let (pattern, arn): (Vec<&str>, Vec<&str>) = (pattern.splitn(6, ':').collect(), arn.splitn(6, ':').collect());
    pattern.len() == 6 && arn.len() == 6 && pattern.iter().zip(&arn).all(|(p, a)| glob(p, a))
}
