//! cfn-lint and the SAM translator accept the template.

use super::*;

#[test]
fn cfn_lint_reports_nothing_on_the_template() {
    let output = tools::run(Command::new(tools::venv_bin("cfn-lint")).arg(tools::repo_path("template.yaml")), "");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && printed.trim().is_empty(), "cfn-lint:\n{printed}");
}

#[test]
fn the_sam_translator_makes_a_cloudformation_template_that_cfn_lint_also_accepts() {
    let template = tools::transformed_template();
    assert_eq!(template.get("Transform"), None);
    for (id, kind) in [
        ("DeleteInstanceFunction", "AWS::Lambda::Function"),
        ("CheckInstanceStatusFunction", "AWS::Lambda::Function"),
        ("DeletionWorkflow", "AWS::StepFunctions::StateMachine"),
        ("OrganizationSweep", "AWS::StepFunctions::StateMachine"),
        ("EventBus", "AWS::Events::EventBus"),
        ("ScheduleGroup", "AWS::Scheduler::ScheduleGroup"),
        ("DeleteInstanceFunctionRequestQueue", "AWS::Lambda::EventSourceMapping"),
    ] {
        assert_eq!(resource(id)["Type"], kind, "{id}");
    }
    let path = std::env::temp_dir().join(format!("transformed-template-{}.json", std::process::id()));
    std::fs::write(&path, template.to_string()).unwrap();
    let output = tools::run(Command::new(tools::venv_bin("cfn-lint")).arg(&path), "");
    let _ = std::fs::remove_file(&path);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && printed.trim().is_empty(), "cfn-lint on the transformed template:\n{printed}");
}
