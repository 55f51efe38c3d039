//! Local stand-ins for AWS services, for tests and demos of the Supply Chain deletion Lambda.
//!
//! * [`Emulator`]: an HTTP server speaking the AWS Supply Chain instance API (restJson1) as
//!   described by the official service model, with SigV4 checking, a lazily computed instance
//!   lifecycle, fault injection and a call log. It is controlled from Rust or over the admin
//!   path prefix `/_emulator/`.
//! * [`runtime_api::RuntimeApi`]: a local Lambda Runtime API that drives compiled Lambda binaries
//!   exactly as the Lambda service does, with the Extensions API on the same address.
//! * [`invoke_api::InvokeApi`]: a local Lambda Invoke API in front of those Runtime APIs.
//! * STS `AssumeRole` on the emulator's own address, for the [`accounts::Account`]s and roles it
//!   holds: calls signed with the issued session credentials act in the role's account.
//! * [`FaultProxy`]: a fault-injecting reverse proxy in front of services the emulator does not
//!   emulate (EventBridge, Scheduler, SQS), usually served by moto.
//!
//! Every server binds `127.0.0.1` on a free port by default and stops when its handle is dropped.
//!
//! The public modules:
//!
//! * [`accounts`]: the accounts, their roles and trust, and the sessions AssumeRole issues;
//! * [`faults`]: the fault rules, the faults they inject and the call log, shared by the emulator
//!   and the proxy;
//! * [`http`]: the HTTP/1.1 accept loop, stop signal and JSON answers every server is built on;
//! * [`model`]: the shapes and constraints of the Supply Chain instance API, from the service model;
//! * [`sigv4`]: verification of SigV4 `Authorization` headers;
//! * [`runtime_api`]: the local Lambda Runtime API ([`runtime_api::RuntimeApi`]) and its invocations;
//! * [`extensions_api`]: the Lambda Extensions API the Runtime API server also serves;
//! * [`invoke_api`]: the local Lambda Invoke API;
//! * [`proxy`]: the fault proxy;
//! * `tls` (feature `tls`): HTTPS serving with a certificate authority generated at start, see
//!   `Emulator::start_tls`.
//!
//! Inside the crate, `server` holds the [`Emulator`] handle and its API front door, `admin` the
//! admin API under `/_emulator/`, `store` the emulated service state behind one lock, `sts` the
//! AssumeRole operation, and `query` the form bodies and XML documents of the AWS Query protocol,
//! which STS speaks.

pub mod accounts;
mod admin;
mod common;
mod config;
pub mod extensions_api;
pub mod faults;
pub mod http;
pub mod invoke_api;
pub mod model;
pub mod proxy;
mod query;
pub mod runtime_api;
mod server;
pub mod sigv4;
mod store;
mod sts;
#[cfg(feature = "tls")]
pub mod tls;

pub use accounts::{Account, Role};
pub use config::EmulatorConfig;
pub use faults::{CallRecord, Fault, FaultRule};
pub use model::Instance;
pub use proxy::FaultProxy;
pub use server::Emulator;
pub use sigv4::StaticCredentials;
pub use store::{ApiError, SeedInstance, StateChange};
