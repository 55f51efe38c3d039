//! The time an invocation may spend on service calls: the invocation's deadline less a safety margin,
//! so that a hung or throttling service ends in our `Timeout` error before Lambda stops the process.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::CommonSettings;
use crate::error::Error;
use crate::model::Home;

/// The end of an invocation's time for service calls, shared by every call the invocation makes.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    ends: Instant,
}

impl Budget {
    /// `deadline_ms` is Lambda's `Lambda-Runtime-Deadline-Ms` (epoch milliseconds). Lambda never hands
    /// out an invocation whose deadline has passed, but local runtimes send 0 or a stale time: such a
    /// deadline falls back to `fallback` from now instead of failing every call.
    pub(crate) fn for_invocation(deadline_ms: u64, margin: Duration, fallback: Duration) -> Budget {
        Self::starting(deadline_ms, margin, fallback, SystemTime::now(), Instant::now())
    }

    fn starting(deadline_ms: u64, margin: Duration, fallback: Duration, wall_now: SystemTime, now: Instant) -> Budget {
        let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
        let left = match deadline.duration_since(wall_now) {
            Ok(left) if !left.is_zero() => left.saturating_sub(margin),
            _ => fallback,
        };
        Budget { ends: now + left }
    }

    /// A budget that ends `by` earlier (never before now), for a phase that must leave time for the
    /// one after it.
    pub(crate) fn ending_before(&self, by: Duration) -> Budget {
        let now = Instant::now();
        Budget { ends: self.ends.checked_sub(by).filter(|ends| *ends > now).unwrap_or(now) }
    }

    /// The time left, or `None` once it is spent.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.ends.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())
    }

    /// Runs one service call (an SDK `send`, retries included) within the budget: with no time left
    /// it is not started, and when the budget runs out first it is dropped, which cancels it. Both
    /// are the `Timeout` error; the call's own result is passed through. Each HTTP attempt inside is
    /// limited by the client's attempt timeout (`ATTEMPT_TIMEOUT_MS`), so one stalled answer is
    /// retried while the budget lasts.
    ///
    /// The budget is applied here, around the whole call, rather than as the SDK's operation
    /// timeout: that one differs per invocation, so it would have to be a configuration override
    /// on every call of all three services.
    pub async fn within<T>(&self, operation: &str, call: impl Future<Output = T>) -> Result<T, Error> {
        let left = self.remaining().ok_or_else(|| {
            Error::Timeout(format!("{operation} was not called: no time is left before the invocation deadline less its safety margin"))
        })?;
        tokio::time::timeout(left, call)
            .await
            .map_err(|_| Error::Timeout(format!("{operation} did not complete before the invocation deadline less its safety margin")))
    }
}

/// What every call of one invocation shares.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The invoked function's ARN, as Lambda gave it (a re-check schedule invokes it again).
    pub function_arn: String,
    /// Where the function runs.
    pub home: Home,
    pub budget: Budget,
}

impl Invocation {
    pub fn new(context: &lambda_runtime::Context, settings: &CommonSettings, home: Home) -> Self {
        Invocation {
            function_arn: context.invoked_function_arn.clone(),
            home,
            budget: Budget::for_invocation(context.deadline, settings.deadline_margin, settings.fallback_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARGIN: Duration = Duration::from_millis(500);
    const FALLBACK: Duration = Duration::from_secs(20);

    fn budget_at(deadline_ms: u64, wall_now_ms: u64) -> Duration {
        let now = Instant::now();
        let wall_now = UNIX_EPOCH + Duration::from_millis(wall_now_ms);
        Budget::starting(deadline_ms, MARGIN, FALLBACK, wall_now, now).ends - now
    }

    #[test]
    fn a_future_deadline_leaves_the_time_to_it_less_the_margin() {
        assert_eq!(budget_at(1_000_010_000, 1_000_000_000), Duration::from_millis(9_500));
    }

    #[test]
    fn a_deadline_closer_than_the_margin_leaves_no_time() {
        assert_eq!(budget_at(1_000_000_300, 1_000_000_000), Duration::ZERO);
    }

    #[test]
    fn a_missing_or_past_deadline_falls_back_to_the_default() {
        assert_eq!(budget_at(0, 1_000_000_000), FALLBACK);
        assert_eq!(budget_at(999_000_000, 1_000_000_000), FALLBACK);
        assert_eq!(budget_at(1_000_000_000, 1_000_000_000), FALLBACK);
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_to_call_with_a_timeout_error() {
        let budget = Budget { ends: Instant::now() };
        let mut started = false;
        let error = budget.within("DeleteInstance", async { started = true }).await.unwrap_err();
        assert_eq!(error.error_type(), "Timeout");
        assert!(error.to_string().contains("DeleteInstance was not called"), "{error}");
        assert!(!started);
    }

    #[tokio::test]
    async fn a_call_still_running_when_the_budget_ends_is_a_timeout_error() {
        // A call that never ends, given a budget short enough for the test to wait it out.
        let budget = Budget { ends: Instant::now() + Duration::from_millis(50) };
        let error = budget.within("GetInstance", std::future::pending::<()>()).await.unwrap_err();
        assert_eq!(error.error_type(), "Timeout");
        assert!(error.to_string().contains("GetInstance did not complete before the invocation deadline"), "{error}");
    }

    #[test]
    fn a_budget_ending_before_another_leaves_the_difference_or_nothing() {
        let now = Instant::now();
        let budget = Budget { ends: now + Duration::from_secs(10) };
        let shorter = budget.ending_before(Duration::from_secs(4));
        assert_eq!(shorter.ends, now + Duration::from_secs(6));
        assert!(budget.ending_before(Duration::from_secs(11)).remaining().is_none());
    }

    #[tokio::test]
    async fn a_call_within_the_budget_passes_its_own_result_through() {
        let budget = Budget::for_invocation(0, MARGIN, FALLBACK);
        assert_eq!(budget.within("GetInstance", async { Err::<(), _>("refused") }).await.unwrap(), Err("refused"));
    }
}
