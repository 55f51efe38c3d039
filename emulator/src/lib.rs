//! Local stand-ins for AWS services, for tests and demos of the Supply Chain deletion Lambda.
//!
//! * [`Emulator`]: an HTTP server speaking the AWS Supply Chain instance API (restJson1) as
//!   described by the official service model, with SigV4 checking, a lazily computed instance
//!   lifecycle, fault injection and a call log. It is controlled from Rust or over the admin
//!   path prefix `/_emulator/`.
//! * [`runtime_api::RuntimeApi`]: a local Lambda Runtime API that drives compiled Lambda binaries
//!   exactly as the Lambda service does, with the Extensions API on the same address.
//! * [`invoke_api::InvokeApi`]: a local Lambda Invoke API in front of those Runtime APIs.
//! * [`FaultProxy`]: a fault-injecting reverse proxy in front of services the emulator does not
//!   emulate (EventBridge, Scheduler, SQS), usually served by moto.
//!
//! Every server binds `127.0.0.1` on a free port by default and stops when its handle is dropped.
//!
//! The public modules:
//!
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
//! admin API under `/_emulator/`, and `store` the emulated service state behind one lock.

mod admin;
pub mod extensions_api;
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

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// Locks `mutex`, reusing it when a holder panicked: every lock here guards values a panic cannot
/// leave half-updated in a way that matters to tests.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The wall clock in milliseconds since the Unix epoch.
pub(crate) fn epoch_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}
