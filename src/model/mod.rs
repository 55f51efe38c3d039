//! The domain model: the types every other module speaks. Parsers (`input`) produce them; the
//! functions and the adapters to AWS consume them. States and outcomes are enums here and strings
//! only at the edges (records, events, reports, logs).

mod id;
mod outcome;
mod protection;
mod record;
mod requests;

pub use id::InstanceId;
pub use outcome::Outcome;
pub use protection::DeletionProtection;
pub use record::{timestamp, DeleteOutput, InstanceRecord, UnusableInstance};
pub use requests::{AnnouncedMarker, DeleteRequest, FollowRequest, Recheck, ReportRequest};
