//! The parameters, as an operator reads them.

use super::*;

#[test]
fn every_parameter_is_in_exactly_one_group_with_a_label_for_the_console_and_sam_deploy_guided() {
    let template = source_template();
    let declared: BTreeSet<String> = template["Parameters"].as_object().unwrap().keys().cloned().collect();
    let interface = &template["Metadata"]["AWS::CloudFormation::Interface"];
    let mut grouped = Vec::new();
    for group in interface["ParameterGroups"].as_array().expect("ParameterGroups") {
        assert!(group["Label"]["default"].as_str().is_some_and(|label| !label.is_empty()), "{group}");
        grouped.extend(strings(&group["Parameters"]));
    }
    let unique: BTreeSet<String> = grouped.iter().cloned().collect();
    assert_eq!(unique.len(), grouped.len(), "a parameter in two groups: {grouped:?}");
    assert_eq!(unique, declared, "the groups hold exactly the declared parameters");
    let labels = interface["ParameterLabels"].as_object().expect("ParameterLabels");
    assert_eq!(labels.keys().cloned().collect::<BTreeSet<_>>(), declared, "one label per parameter");
    for (name, label) in labels {
        let text = label["default"].as_str().unwrap_or_default();
        assert!(!text.is_empty() && text.len() <= 80, "{name}: {label}");
    }
}

#[test]
fn every_parameter_has_a_row_with_its_default_on_the_deploy_page() {
    let parameters = source_template()["Parameters"].as_object().unwrap();
    let rows = deploy_page_defaults();
    let declared: BTreeSet<&String> = parameters.keys().collect();
    assert_eq!(rows.keys().collect::<BTreeSet<_>>(), declared, "the deploy page's table names exactly the parameters");
    for (name, declaration) in parameters {
        let default = match &declaration["Default"] {
            Value::String(text) if text.is_empty() => "empty".to_owned(),
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            other => panic!("{name}: a default that is not a string or a number: {other}"),
        };
        assert_eq!(rows[name], default, "{name}: the deploy page's default");
    }
}
