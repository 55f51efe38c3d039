//! The domain model: the types every other module speaks. Parsers (`input`) produce them; the
//! functions and the adapters to AWS consume them. States and outcomes are enums here and strings
//! only at the edges (records, events, reports, logs).

pub mod arn;
mod id;
mod outcome;
mod plan;
mod protection;
mod record;
mod requests;
mod target;

pub use arn::Home;
pub use id::InstanceId;
pub use outcome::Outcome;
pub use plan::{PlanId, S3Location};
pub use protection::{DeletionProtection, ProtectingTag};
pub use record::{timestamp, DeleteOutput, InstanceRecord, ReportedInstance, UnusableInstance};
pub(crate) use requests::optional_time;
pub use requests::{carried_request, AnnouncedMarker, DeleteRequest, FollowRequest, Recheck, ReportRequest, SweepOrigin};
pub use target::{account_allowed, every_pair, AccountId, Reach, Region, Target, TARGET_MEMBERS};
