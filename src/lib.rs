//! AWS Lambda functions that delete AWS Supply Chain instances and follow each deletion to its end.
//!
//! The functions, each built from the environment by the composition root (`composition`) and run by
//! [`runtime::run`]:
//! - [`DeleteFunction`]: the `delete-instance` function;
//! - [`CheckFunction`]: the `check-instance-status` function;
//! - [`SweepFunction`]: the `sweep-instances` function.
//!
//! What they are made of, from the bottom layer up (a module imports only from layers below it):
//! - [`model`]: the domain types every module speaks (instance id, record, outcome, requests, the
//!   deletion-protection rule); `error`: the error enum and its stable `errorType` names;
//!   [`config`]: the settings, read once at init;
//! - [`input`]: the accepted event shapes, read into the model;
//! - `deadline`: the invocation's time budget; [`metrics`]: the EMF metrics of each invocation;
//! - the adapters to AWS services: `supply_chain`, `events` (the bus), `scheduler`,
//!   `dead_letters`, `notice_key` (KMS), `plan_store` (S3), over one HTTP client (`http_client`);
//! - the functions: `delete`, `check`, `sweep`;
//! - `composition`: the composition root, which builds every adapter and each function;
//!   [`runtime`] and `shutdown`: how the binaries serve invocations on Lambda.

mod check;
mod composition;
pub mod config;
pub mod contract;
mod dead_letters;
mod deadline;
mod delete;
mod error;
mod events;
mod http_client;
pub mod input;
pub mod metrics;
pub mod model;
mod notice_key;
mod plan_store;
pub mod runtime;
mod scheduler;
mod shutdown;
mod supply_chain;
mod sweep;

// What a caller builds the functions from, or names in its tests, beside the public modules of the
// model, the contract, the settings, the inputs, the metrics and the runtime; the rest is the
// library's own.
pub use check::{marker_name, schedule_name, CheckFunction, CheckResponse};
pub use composition::{check_function_from_env, delete_function_from_env, sweep_function_from_env};
pub use config::{CheckSettings, ConfigError, DeleteSettings, SweepSettings};
pub use contract::SweepReport;
pub use dead_letters::DeadLetterQueue;
pub use delete::{DeleteFunction, DeleteResponse};
pub use error::Error;
pub use events::EventBus;
pub use http_client::trusting;
pub use scheduler::Scheduler;
pub use shutdown::EXTENSION_NAME;
pub use supply_chain::{SupplyChain, TargetClients};
pub use sweep::{ApprovalPlan, Approved, Awaiting, OrganizationPlan, PlanClosed, PlannedTarget, SweepFunction, SweepOutput};
