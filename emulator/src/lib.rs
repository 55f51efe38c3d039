//! Local stand-ins for AWS services, for tests and demos of the Supply Chain deletion Lambda.
//!
//! * [`Emulator`]: an HTTP server speaking the AWS Supply Chain instance API (restJson1) as
//!   described by the official service model, with SigV4 checking, a lazily computed instance
//!   lifecycle, fault injection and a call log. It is controlled from Rust or over the admin
//!   path prefix `/_emulator/`.
//! * [`runtime_api::RuntimeApi`]: a local Lambda Runtime API that drives compiled Lambda binaries
//!   exactly as the Lambda service does.
//!
//! * [`tls`] (feature `tls`): HTTPS serving with a certificate authority generated at start, see
//!   `Emulator::start_tls`.
//!
//! Both servers bind `127.0.0.1` on a free port by default and stop when their handle is dropped.

pub mod faults;
pub mod http;
pub mod invoke_api;
pub mod model;
pub mod proxy;
pub mod runtime_api;
mod server;
pub mod sigv4;
mod store;
#[cfg(feature = "tls")]
pub mod tls;

use std::time::Duration;

pub use faults::{CallRecord, Fault, FaultRule};
pub use model::Instance;
pub use proxy::FaultProxy;
pub use server::Emulator;
pub use sigv4::StaticCredentials;
pub use store::{ApiError, SeedInstance, StateChange};

/// How an [`Emulator`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The account that owns created instances (default `123456789012`).
    pub account_id: String,
    /// The region requests must be signed for (default `us-east-1`).
    pub region: String,
    /// When set, the access key must match and signatures are recomputed and compared.
    pub credentials: Option<StaticCredentials>,
    /// Time an instance stays `Initializing` after CreateInstance.
    pub create_delay: Duration,
    /// Time an instance stays `Deleting` (unless it was seeded with `deletePolls`).
    pub delete_delay: Duration,
    /// Time a `Deleted` instance stays readable before it answers 404 (default 60 s).
    pub deleted_retention: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            credentials: None,
            create_delay: Duration::ZERO,
            delete_delay: Duration::ZERO,
            deleted_retention: Duration::from_secs(60),
        }
    }
}
