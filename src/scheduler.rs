//! The adapter to EventBridge Scheduler: one-time schedules that invoke the status checker again.

use aws_sdk_scheduler::types::{ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target};
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

/// Scheduler's own limits for a target's retries: at most 185 retries, for at most 24 hours. A
/// check that Scheduler cannot deliver within them goes to the dead-letter queue.
pub const MAXIMUM_RETRY_ATTEMPTS: i32 = 185;
pub const MAXIMUM_EVENT_AGE_IN_SECONDS: i32 = 86_400;

/// The schedule group, the role Scheduler assumes and the queue of the checks it could not
/// deliver, with the SDK client built once at init.
#[derive(Debug, Clone)]
pub struct Scheduler {
    client: Client,
    group: String,
    role_arn: Option<String>,
    dead_letter_arn: Option<String>,
}

impl Scheduler {
    pub fn new(client: Client, group: impl Into<String>, role_arn: Option<String>) -> Self {
        Scheduler { client, group: group.into(), role_arn, dead_letter_arn: None }
    }

    /// The SQS queue (`SCHEDULE_DEAD_LETTER_ARN`) that receives a check Scheduler could not
    /// deliver; without it no schedule is created, as without the role.
    pub fn with_dead_letter_arn(self, dead_letter_arn: Option<String>) -> Self {
        Scheduler { dead_letter_arn, ..self }
    }

    /// `at(yyyy-mm-ddThh:mm:ss)` in UTC, the one-time schedule expression.
    pub(crate) fn at_expression(at: DateTime) -> String {
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
            Err(e) => {
                Err(Error::ScheduleFailed(format!("schedule {name:?} in group {:?} could not be read: {}", self.group, describe(OP, &e))))
            }
        }
    }

    pub async fn schedule(&self, check: &ScheduledCheck, budget: &Budget) -> Result<Scheduled, Error> {
        const OP: &str = "CreateSchedule";
        let role_arn = self.role_arn.as_deref().ok_or_else(|| {
            Error::ScheduleFailed("SCHEDULER_ROLE_ARN is not set, so the next status check cannot be scheduled".to_owned())
        })?;
        let dead_letter_arn = self.dead_letter_arn.as_deref().ok_or_else(|| {
            Error::ScheduleFailed(
                "SCHEDULE_DEAD_LETTER_ARN is not set, so the next status check cannot be scheduled with a dead-letter queue \
                 that keeps it if Scheduler cannot deliver it"
                    .to_owned(),
            )
        })?;
        // Without these, Scheduler drops a check it cannot deliver (throttling, a missing function, a
        // broken role) silently: retried as long as Scheduler allows, then kept in the queue.
        let retry_policy = RetryPolicy::builder()
            .maximum_retry_attempts(MAXIMUM_RETRY_ATTEMPTS)
            .maximum_event_age_in_seconds(MAXIMUM_EVENT_AGE_IN_SECONDS)
            .build();
        let dead_letter_config = DeadLetterConfig::builder().arn(dead_letter_arn).build();
        let target = Target::builder()
            .arn(&check.target_arn)
            .role_arn(role_arn)
            .input(check.input.to_string())
            .retry_policy(retry_policy)
            .dead_letter_config(dead_letter_config)
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
    use serde_json::json;
    use std::time::Duration;
    use supplychain_testkit::{unique_name, Moto, SCHEDULER_ROLE_ARN};

    fn check() -> ScheduledCheck {
        ScheduledCheck {
            name: format!("scn-delete-0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40-{}", unique_name()),
            at: DateTime::from_secs(1_767_323_045),
            target_arn: "arn:aws:lambda:us-east-1:123456789012:function:check-instance-status".to_owned(),
            input: json!({"statusCheck": {"instanceId": "0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40", "attempt": 2}}),
            description: "Next status check".to_owned(),
        }
    }

    fn budget() -> Budget {
        Budget::for_invocation(0, Duration::ZERO, Duration::from_secs(10))
    }

    /// The schedules of the group `moto.group`, read back from moto's Scheduler.
    async fn schedules(moto: &Moto) -> Vec<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        let client = Client::new(&moto.sdk_config);
        let listed = client.list_schedules().group_name(&moto.group).send().await.expect("list schedules");
        let mut schedules = Vec::new();
        for summary in listed.schedules() {
            let name = summary.name().expect("a name");
            schedules.push(client.get_schedule().group_name(&moto.group).name(name).send().await.expect("get schedule"));
        }
        schedules
    }

    #[tokio::test]
    async fn every_schedule_retries_as_long_as_scheduler_allows_then_keeps_the_check_in_the_dead_letter_queue() {
        let moto = Moto::start().await;
        let client = Client::new(&moto.function_config);
        let scheduler = Scheduler::new(client, &moto.group, Some(SCHEDULER_ROLE_ARN.to_owned()))
            .with_dead_letter_arn(Some(moto.schedule_dead_letter_arn.clone()));
        let check = check();

        let scheduled = scheduler.schedule(&check, &budget()).await;

        assert_eq!(scheduled, Ok(Scheduled::Created));
        let schedules = schedules(&moto).await;
        assert_eq!(schedules.len(), 1);
        assert_eq!(schedules[0].name(), Some(check.name.as_str()));
        let target = schedules[0].target().expect("a target");
        let retry = target.retry_policy().expect("a retry policy");
        assert_eq!(target.role_arn(), SCHEDULER_ROLE_ARN);
        assert_eq!((retry.maximum_retry_attempts(), retry.maximum_event_age_in_seconds()), (Some(185), Some(86_400)));
        assert_eq!(target.dead_letter_config().and_then(|d| d.arn()), Some(moto.schedule_dead_letter_arn.as_str()));
        assert_eq!(moto.proxy.call_count("CreateSchedule"), 1);
    }

    #[tokio::test]
    async fn without_a_dead_letter_queue_nothing_is_scheduled() {
        let moto = Moto::start().await;
        let client = Client::new(&moto.function_config);
        let scheduler = Scheduler::new(client, &moto.group, Some(SCHEDULER_ROLE_ARN.to_owned()));

        let error = scheduler.schedule(&check(), &budget()).await.unwrap_err();

        assert_eq!(error.error_type(), "ScheduleFailed");
        assert!(error.to_string().contains("SCHEDULE_DEAD_LETTER_ARN is not set"), "{error}");
        assert!(schedules(&moto).await.is_empty());
        assert!(moto.proxy.calls().is_empty(), "{:?}", moto.proxy.calls());
    }

    #[test]
    fn one_time_schedules_use_whole_seconds_in_utc() {
        assert_eq!(Scheduler::at_expression(DateTime::from_millis(1_767_323_045_500)), "at(2026-01-02T03:04:05)");
        assert_eq!(Scheduler::at_expression(DateTime::from_secs(1_767_323_045)), "at(2026-01-02T03:04:05)");
    }
}
