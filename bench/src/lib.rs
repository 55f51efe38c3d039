//! The benchmark harness: cold start, first and warm invocations, peak memory and size of the
//! functions, side by side with the boto3 peer and the floors, in one run on one machine.
//!
//! Every subject is a real process driven through a local Lambda Runtime API
//! ([`RuntimeApi`]) against one Supply Chain emulator serving HTTPS with a generated certificate
//! authority:
//!
//! * `delete-instance` (with `DELETION_PROTECTION_TAG=""`, so it makes the single DeleteInstance
//!   call boto3's peer makes, and in its default configuration, which reads the tags first);
//! * `check-instance-status` as a Step Functions task (one GetInstance call);
//! * the boto3 peer (`bench/python/handler.py`, run by `awslambdaric`);
//! * `delete-instance` naming its own account and naming another one ([`MEMBER`]), whose member
//!   role it assumes through STS once per process and whose client it keeps for the warm
//!   invocations: each process must make exactly that one AssumeRole;
//! * the runtime floor, `noop-function` (a `lambda_runtime` function that does nothing);
//! * the service floor: a raw HTTP/1.1 client on one kept-alive TLS connection sending the same
//!   `DELETE /api/instance/{id}` in a loop (inside this process, on a thread of its own).
//!
//! Beside them, `sweep-instances` sweeps a fleet of [`SWEEP_FLEET`] instances in report mode, once
//! per round in one process, on an emulator of its own over plain HTTP: its time, and its calls,
//! which must be exactly one ListInstances per page and one ListTagsForResource per instance. The
//! same binary sweeps an organization (accounts x regions, in one invocation and as the
//! OrganizationSweep state machine's steps on one warm process, `organization`) and gives notice
//! before deletion (day 0, day 3, day 8, each against report mode on its fleet, `notice`), against
//! stand-ins for EventBridge and for KMS, which signs and checks the marks; each run's calls are
//! checked against the exact counts its fleet requires. From the measured times and counts, `cost`
//! prices one followed deletion and one organization sweep at the list prices of BENCHMARKS.md's
//! price table. Alone (`--only organization-scale`), the organization sweep's plan and summary run
//! at 1,000 to 100,000 targets with their plan and results in moto's S3 (`organization_scale`).
//!
//! Subjects are interleaved: each round starts every subject once, so load from other processes on
//! the machine falls on all of them alike and the ratios, taken within one run, stay meaningful
//! even when the absolute numbers move. The order changes from round to round, so no subject
//! always follows the same one.
//!
//! Measures: init, from process start to the first `GET /runtime/invocation/next`; an invocation,
//! from the event being handed out on `/next` to the answer being posted; peak RSS, `VmHWM` of the
//! process after its last invocation; sizes of the binaries and of the zip Lambda would receive.

mod cost;
mod floors;
mod measure;
mod notice;
mod options;
mod organization;
mod organization_scale;
mod process;
mod report;
mod run;
mod s3;
mod soak;
mod stats;
mod subjects;
mod sweeps;

pub use cost::{parse_prices, Prices, PRICE_KEYS};
pub use options::{Only, Options, MEMBER, SCALE_REGIONS, SWEEP_FLEET};
pub use report::Report;
pub use run::run;
pub use sweeps::{check_calls, ExpectedCalls};
