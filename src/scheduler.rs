//! The adapter to EventBridge Scheduler: one-time schedules that invoke the status checker again.

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
use aws_sdk_scheduler::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::Value;

use crate::deadline::Budget;
use crate::error::{describe, Error};

/// One future status check.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledCheck {
    /// Derived from the instance and the attempt, so a duplicate event creates nothing twice.
    pub name: String,
    pub at: DateTime,
    /// The function to invoke (the checker itself).
    pub target_arn: String,
    /// The event the function receives.
    pub input: Value,
    pub description: String,
}

/// What happened to a [`ScheduledCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    Created,
    /// A schedule of that name exists: a duplicate event got there first, which is fine.
    AlreadyScheduled,
}

/// The schedule group and the role Scheduler assumes, with the SDK client built once at init.
#[derive(Debug, Clone)]
pub struct Scheduler {
    client: Client,
    group: String,
    role_arn: Option<String>,
}

impl Scheduler {
    pub fn new(client: Client, group: impl Into<String>, role_arn: Option<String>) -> Self {
        Scheduler { client, group: group.into(), role_arn }
    }

    /// `at(yyyy-mm-ddThh:mm:ss)` in UTC, the one-time schedule expression.
    pub fn at_expression(at: DateTime) -> String {
        let text = at.fmt(Format::DateTime).unwrap_or_default();
        // RFC 3339 "2026-11-28T01:02:03.5Z" → "2026-11-28T01:02:03".
        format!("at({})", &text[..text.len().min(19)])
    }

    /// Whether a schedule of that name exists in the group.
    pub async fn exists(&self, name: &str, budget: &Budget) -> Result<bool, Error> {
        const OP: &str = "GetSchedule";
        let call = self.client.get_schedule().name(name).group_name(&self.group).send();
        let found = budget.within(OP, call).await.map_err(|timeout| {
            Error::ScheduleFailed(format!("schedule {name:?} in group {:?} could not be read: {timeout}", self.group))
        })?;
        match found {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(false),
            Err(e) => Err(Error::ScheduleFailed(format!(
                "schedule {name:?} in group {:?} could not be read: {}",
                self.group,
                describe(OP, &e)
            ))),
        }
    }

    pub async fn schedule(&self, check: &ScheduledCheck, budget: &Budget) -> Result<Scheduled, Error> {
        const OP: &str = "CreateSchedule";
        let role_arn = self.role_arn.as_deref().ok_or_else(|| {
            Error::ScheduleFailed("SCHEDULER_ROLE_ARN is not set, so the next status check cannot be scheduled".to_owned())
        })?;
        let target = Target::builder()
            .arn(&check.target_arn)
            .role_arn(role_arn)
            .input(check.input.to_string())
            .build()
            .map_err(|e| Error::Unexpected(format!("the schedule target is incomplete: {e}")))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| Error::Unexpected(format!("the flexible time window is incomplete: {e}")))?;
        let call = self
            .client
            .create_schedule()
            .name(&check.name)
            .group_name(&self.group)
            .schedule_expression(Self::at_expression(check.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            // The same name makes a retried call idempotent too.
            .client_token(&check.name)
            .description(&check.description)
            .send();
        let created = budget.within(OP, call).await.map_err(|timeout| {
            Error::ScheduleFailed(format!("the next status check was not scheduled in group {:?}: {timeout}", self.group))
        })?;
        match created {
            Ok(_) => Ok(Scheduled::Created),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => Ok(Scheduled::AlreadyScheduled),
            Err(e) => Err(Error::ScheduleFailed(format!(
                "the next status check was not scheduled in group {:?}: {}",
                self.group,
                describe(OP, &e)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_schedules_use_whole_seconds_in_utc() {
        assert_eq!(Scheduler::at_expression(DateTime::from_millis(1_767_323_045_500)), "at(2026-01-02T03:04:05)");
        assert_eq!(Scheduler::at_expression(DateTime::from_secs(1_767_323_045)), "at(2026-01-02T03:04:05)");
    }
}
