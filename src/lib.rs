//! AWS Lambda functions that delete AWS Supply Chain instances and follow each deletion to its end.
//!
//! - [`delete::DeleteFunction`]: the `delete-instance` function.
//! - [`check::CheckFunction`]: the `check-instance-status` function.
//! - [`input`]: the accepted event shapes; [`record`]: the output record; [`error`]: the error names.
//! - [`supply_chain`], [`events`], [`scheduler`]: the adapters to the AWS services.

pub mod check;
pub mod config;
pub mod deadline;
pub mod delete;
pub mod error;
pub mod events;
pub mod input;
pub mod record;
pub mod scheduler;
pub mod supply_chain;

pub use config::{CheckSettings, ConfigError, DeleteSettings};
pub use check::{CheckFunction, CheckResponse};
pub use delete::{DeleteFunction, DeleteResponse};
pub use error::Error;

/// Builds the delete function from the environment: settings first (so a bad value stops init with a
/// clear message), then the SDK clients from `aws-config` defaults (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL_SUPPLYCHAIN`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, ...).
pub async fn delete_function_from_env() -> Result<DeleteFunction, ConfigError> {
    let settings = DeleteSettings::from_env()?;
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let supply_chain = supply_chain::SupplyChain::new(aws_sdk_supplychain::Client::new(&sdk_config));
    let bus = settings
        .common
        .event_bus
        .as_ref()
        .map(|name| events::EventBus::new(aws_sdk_eventbridge::Client::new(&sdk_config), name));
    Ok(DeleteFunction::new(supply_chain, bus, settings))
}

/// Builds the status checker from the environment, as [`delete_function_from_env`] does
/// (`AWS_ENDPOINT_URL_SCHEDULER` and the other standard variables apply).
pub async fn check_function_from_env() -> Result<CheckFunction, ConfigError> {
    let settings = CheckSettings::from_env()?;
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let supply_chain = supply_chain::SupplyChain::new(aws_sdk_supplychain::Client::new(&sdk_config));
    let bus = settings
        .common
        .event_bus
        .as_ref()
        .map(|name| events::EventBus::new(aws_sdk_eventbridge::Client::new(&sdk_config), name));
    let scheduler = scheduler::Scheduler::new(
        aws_sdk_scheduler::Client::new(&sdk_config),
        settings.schedule_group.clone(),
        settings.scheduler_role_arn.clone(),
    );
    Ok(CheckFunction::new(supply_chain, bus, scheduler, settings))
}
