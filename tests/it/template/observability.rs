//! What an operator reads: traces, metrics, the dashboard and the saved queries.

use super::*;

#[test]
fn every_function_traces_with_x_ray_and_writes_metrics_to_the_namespace_parameter() {
    for function in ["DeleteInstanceFunction", "CheckInstanceStatusFunction", "SweepInstancesFunction"] {
        let function = properties(function);
        assert_eq!(function["TracingConfig"], json!({ "Mode": "Active" }));
        assert_eq!(function["Environment"]["Variables"]["METRICS_NAMESPACE"], json!({ "Ref": "MetricsNamespace" }));
    }
    let parameter = &tools::transformed_template()["Parameters"]["MetricsNamespace"];
    assert_eq!(parameter["Default"], supplychain_delete_instance::metrics::DEFAULT_NAMESPACE);
}

#[test]
fn the_dashboard_graphs_every_metric_the_functions_write_and_nothing_they_do_not() {
    use supplychain_delete_instance::metrics::METRICS;
    let (body, variables) = dashboard();
    let widgets = body["widgets"].as_array().unwrap();
    let mut graphed = BTreeSet::new();
    let mut services = BTreeSet::new();
    for widget in widgets {
        for row in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().unwrap();
            match row[0].as_str() {
                Some("MetricsNamespace") => {
                    graphed.insert(row[1].as_str().unwrap().to_owned());
                }
                Some("...") => {}
                Some(namespace) => {
                    services.insert(format!("{namespace} {}", row[1].as_str().unwrap()));
                }
                // A metric math expression: SEARCH names the metric it finds.
                None => {
                    let expression = row[0]["expression"].as_str().unwrap();
                    let name = expression.split("MetricName=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
                    assert!(expression.starts_with("SEARCH('{MetricsNamespace,"), "{expression}");
                    graphed.insert(name.to_owned());
                }
            }
        }
    }
    let written: BTreeSet<String> = METRICS.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(graphed, written, "the dashboard's metrics against src/metrics.rs");
    for expected in [
        "AWS/Lambda Errors",
        "AWS/Lambda Throttles",
        "AWS/Lambda Duration",
        "AWS/SQS ApproximateNumberOfMessagesVisible",
        "AWS/States ExecutionsStarted",
        "AWS/States ExecutionsFailed",
    ] {
        assert!(services.contains(expected), "no graph of {expected}: {services:?}");
    }
    // The queue depth graph shows the request queue and both dead-letter queues.
    for queue in ["RequestQueue", "RequestDeadLetterQueue", "InvocationDeadLetterQueue"] {
        assert!(variables.values().any(|v| v == &json!({ "Fn::GetAtt": [queue, "QueueName"] })), "{queue}");
    }
    // The alarm widget shows every alarm of the stack.
    let alarms: BTreeSet<String> =
        resources().iter().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm").map(|(id, _)| id.clone()).collect();
    let shown: BTreeSet<String> = widgets
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().clone())
        .map(|name| variables[name.as_str().unwrap()]["Fn::GetAtt"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, alarms);
}

#[test]
fn the_saved_queries_read_the_log_groups_of_the_functions_they_are_about() {
    let delete = json!({ "Ref": "DeleteInstanceLogGroup" });
    let check = json!({ "Ref": "CheckInstanceStatusLogGroup" });
    for (id, groups, reads) in [
        ("InstanceHistoryQuery", json!([delete, check]), "INSTANCE_ID"),
        ("RefusalsQuery", json!([delete]), "fields.error_type"),
        ("SlowestDeletionsQuery", json!([check]), supplychain_delete_instance::metrics::TIME_TO_DELETE),
    ] {
        let query = properties(id);
        assert_eq!(resource(id)["Type"], "AWS::Logs::QueryDefinition");
        assert_eq!(query["LogGroupNames"], groups, "{id}");
        assert!(query["QueryString"].as_str().unwrap().contains(reads), "{id}");
    }
}
