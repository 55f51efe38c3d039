//! AWS Lambda functions that delete AWS Supply Chain instances and follow each deletion to its end.
//!
//! - [`delete::DeleteFunction`]: the `delete-instance` function.
//! - [`check::CheckFunction`]: the `check-instance-status` function.
//! - [`sweep::SweepFunction`]: the `sweep-instances` function.
//! - [`model`]: the domain types every module speaks; [`input`]: the accepted event shapes, read
//!   into the model; [`error`]: the error names.
//! - [`supply_chain`], [`events`], [`scheduler`]: the adapters to the AWS services, built once at
//!   init by [`clients`].

pub mod check;
pub mod clients;
pub mod config;
pub mod dead_letters;
pub mod deadline;
pub mod delete;
pub mod error;
pub mod events;
pub mod http_client;
pub mod input;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod scheduler;
pub mod shutdown;
pub mod supply_chain;
pub mod sweep;

pub use check::{CheckFunction, CheckResponse};
pub use config::{CheckSettings, ConfigError, DeleteSettings, SweepSettings};
pub use delete::{DeleteFunction, DeleteResponse};
pub use error::Error;
pub use sweep::{SweepFunction, SweepReport};

use clients::Clients;

/// Builds the delete function from the environment: settings first (so a bad value stops init with a
/// clear message), then the SDK clients from `aws-config` defaults (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL_SUPPLYCHAIN`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, ...).
pub async fn delete_function_from_env() -> Result<DeleteFunction, ConfigError> {
    let settings = DeleteSettings::from_env()?;
    let clients = Clients::load(&settings.common).await?;
    let dead_letters = settings
        .dead_letter_queue_url
        .as_ref()
        .map(|url| dead_letters::DeadLetterQueue::new(aws_sdk_sqs::Client::new(&clients.sdk_config), url));
    Ok(DeleteFunction::new(clients.supply_chain, clients.bus, settings).with_dead_letters(dead_letters))
}

/// Builds the status checker from the environment, as [`delete_function_from_env`] does
/// (`AWS_ENDPOINT_URL_SCHEDULER` and the other standard variables apply).
pub async fn check_function_from_env() -> Result<CheckFunction, ConfigError> {
    let settings = CheckSettings::from_env()?;
    let clients = Clients::load(&settings.common).await?;
    let scheduler = scheduler::Scheduler::new(
        aws_sdk_scheduler::Client::new(&clients.sdk_config),
        settings.schedule_group.clone(),
        settings.scheduler_role_arn.clone(),
    )
    .with_dead_letter_arn(settings.schedule_dead_letter_arn.clone());
    Ok(CheckFunction::new(clients.supply_chain, clients.bus, scheduler, settings))
}

/// Builds the sweep from the environment, as [`delete_function_from_env`] does; its settings
/// require `EVENT_BUS_NAME`.
pub async fn sweep_function_from_env() -> Result<SweepFunction, ConfigError> {
    let settings = SweepSettings::from_env()?;
    let clients = Clients::load(&settings.common).await?;
    let bus = clients.bus.ok_or_else(|| ConfigError("EVENT_BUS_NAME is not set, but the sweep needs it".to_owned()))?;
    Ok(SweepFunction::new(clients.supply_chain, bus, settings))
}
