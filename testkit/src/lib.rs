//! The one harness that runs the functions locally, shared by the tests, the benchmark and
//! `examples/local_run.rs`:
//!
//! - [`function`]: a compiled function binary launched with Lambda's environment against a local
//!   Lambda Runtime API, and driven through it;
//! - [`emulators`]: the Supply Chain emulator, checking every request's signature;
//! - [`moto`]: moto's server (EventBridge, Scheduler, SQS) behind a fault proxy, with a bus, a
//!   subscriber queue and a schedule group of one's own;
//! - [`emf`]: a validator of the CloudWatch embedded metric format lines the functions write;
//! - [`soak`]: the deployed stack played locally under load, faults and crashes, with its verdict.

pub mod emf;
pub mod emulators;
pub mod function;
mod local;
pub mod moto;
pub mod soak;

pub use emulators::{emulator, emulator_with, https_emulator, seed, seed_with_tags, states};
pub use function::{error_of, error_type, faked_clock, lambda_command, response, FunctionProcess};
pub use local::{
    repo_path, sdk_config, unique_name, ACCESS_KEY_ID, ACCOUNT, CHECK_ARN, DELETE_ARN, REGION, SCHEDULER_ROLE_ARN, SECRET_ACCESS_KEY,
    SWEEP_ARN,
};
pub use moto::{moto_endpoint, queue_arn, Moto};
