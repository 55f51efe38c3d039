//! The soak: the deployed stack played locally with the real binaries, under a load of deletion
//! requests, faults at a stated rate on every call the functions make, and function processes
//! killed mid-invocation; its verdict says whether every request ended exactly as it must.
//!
//! What plays what:
//!
//! - Supply Chain and STS: the emulator ([`supplychain_emulator::Emulator`]), checking signatures,
//!   with a member account whose roles trust the stack's account; its call log is the record of
//!   what was done.
//! - EventBridge, Scheduler and SQS as the functions call them: [`services`], in this process,
//!   behind the project's fault proxy. In-process rather than moto's server because they must keep
//!   the emulator's clock, which the soak moves on (a visibility timeout of 180 s, Lambda's retries
//!   one and two minutes later and re-checks minutes apart would otherwise take hours), and so
//!   that nothing of theirs is lost between a call and the verdict.
//! - The bus's rules: the stack's own rules that invoke the functions, read from template.yaml
//!   ([`stack`]), matched as EventBridge documents ([`pattern`]); a match is an asynchronous
//!   invocation.
//! - Lambda ([`lambda`], [`engine`]): several processes of each binary, one invocation at a time
//!   each; the request queue's event source mapping (batch size, maximum concurrency, visibility
//!   timeout, `maxReceiveCount` then the dead-letter queue, partial batch responses); asynchronous
//!   invocations retried twice, one and two minutes later, then sent to the on-failure destination
//!   with their errorType; an environment killed (SIGKILL) mid-invocation replaced by a cold one.
//! - Scheduler: each one-time re-check fired when due on the emulator's clock, then deleted;
//!   markers of announced ends, which fire a day later and are ignored, are left in place.
//! - Step Functions: the `DeletionWorkflow`'s `DeleteInstance` task with its retriers and its
//!   catch-all, read from the state machine's definition.

pub mod engine;
pub mod faults;
pub mod lambda;
pub mod load;
pub mod pattern;
pub mod random;
pub mod services;
pub mod stack;
pub mod verdict;
pub mod world;

mod run;

pub use random::Random;
pub use run::{run, Settings, Soak};
