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

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use accounts::{Account, Role};
pub use faults::{CallRecord, Fault, FaultRule};
pub use model::Instance;
pub use proxy::FaultProxy;
pub use server::Emulator;
pub use sigv4::StaticCredentials;
pub use store::{ApiError, SeedInstance, StateChange};

/// How an [`Emulator`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The home account (default `123456789012`): calls signed with the base credentials act in
    /// it, and instances seeded without an account belong to it.
    pub account_id: String,
    /// The home region (default `us-east-1`): served, and the region of instances seeded without one.
    pub region: String,
    /// More regions served besides `region` (none by default). A call acts in the region of its
    /// signature's credential scope; a region not served is refused (403).
    pub extra_regions: Vec<String>,
    /// The accounts and their roles, for STS AssumeRole (none by default). The home account may be
    /// listed too, for roles of its own.
    pub accounts: Vec<Account>,
    /// The shortest `DurationSeconds` AssumeRole accepts (default 900, as STS); lower it so tests
    /// can see sessions expire.
    pub min_session_seconds: u64,
    /// The principal the base credentials stand for in trust policies, for example the function's
    /// role `arn:aws:iam::123456789012:role/DeleteFunctionRole`; `arn:aws:iam::ACCOUNT:root` of the
    /// home account when absent.
    pub home_principal_arn: Option<String>,
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
            extra_regions: Vec::new(),
            accounts: Vec::new(),
            min_session_seconds: 900,
            home_principal_arn: None,
            credentials: None,
            create_delay: Duration::ZERO,
            delete_delay: Duration::ZERO,
            deleted_retention: Duration::from_secs(60),
        }
    }
}

impl EmulatorConfig {
    /// Every region served: `region`, then `extra_regions`.
    pub fn regions(&self) -> Vec<String> {
        let mut regions = vec![self.region.clone()];
        regions.extend(self.extra_regions.iter().filter(|r| **r != self.region).cloned());
        regions
    }

    /// The principal of the base credentials: `home_principal_arn`, or the home account's root.
    pub fn home_principal(&self) -> String {
        self.home_principal_arn.clone().unwrap_or_else(|| format!("arn:aws:iam::{}:root", self.account_id))
    }

    /// Adds `account`, or merges its roles into the account of the same id (a role of the same
    /// name is replaced).
    pub(crate) fn add_account(&mut self, account: Account) {
        match self.accounts.iter_mut().find(|a| a.account_id == account.account_id) {
            None => self.accounts.push(account),
            Some(existing) => {
                for role in account.roles {
                    existing.roles.retain(|r| r.name != role.name);
                    existing.roles.push(role);
                }
            }
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
