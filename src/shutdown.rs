//! Graceful shutdown. On SIGTERM (Lambda's Shutdown phase, which lasts 500 ms for a function with an
//! internal extension) invocations in flight get a short grace to finish and post their answer; those
//! still running after it are abandoned unanswered, and the process exits.
//!
//! Lambda sends SIGTERM only to a function with an extension, so an internal extension that
//! subscribes to no event is registered at init. A Runtime API without the Extensions API (older
//! local runtimes, some test harnesses) refuses the registration: the function then runs without
//! graceful shutdown, which is a refinement, rather than failing its init.
//!
//! An abandoned invocation is never lost: Lambda counts it as failed, so an asynchronous invoke is
//! retried and an SQS batch becomes visible again and is delivered again. Every step the functions
//! take is idempotent (a deletion already under way is success, a schedule already there is kept), so
//! the repeat finishes the work without doing anything twice.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use tokio::sync::Notify;

/// The name of the internal extension, unique within the function.
pub const EXTENSION_NAME: &str = "supplychain-graceful-shutdown";

/// Registers the internal extension and, once it is registered, shuts down gracefully on SIGTERM
/// (and SIGINT). Registration must happen during init; when the Extensions API refuses it, one WARN
/// line says so and the function goes on without graceful shutdown. Every line is written through
/// `tracing`, so it follows `AWS_LAMBDA_LOG_FORMAT` (one JSON object per line under `JSON`).
pub(crate) async fn register(in_flight: Arc<InFlight>) {
    let registered = lambda_extension::Extension::new().with_events(&[]).with_extension_name(EXTENSION_NAME).register().await;
    let extension = match registered {
        Ok(extension) => extension,
        Err(error) => {
            tracing::warn!(
                error = %error,
                "graceful shutdown is off: the Extensions API did not register the internal extension; invocations are served without it"
            );
            return;
        }
    };
    tokio::spawn(async move {
        let on_signal = async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut terminate), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                tracing::warn!("graceful shutdown is off: the signal handlers could not be installed");
                return std::future::pending::<()>().await;
            };
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "shutting down");
            in_flight.shut_down().await;
            std::process::exit(0);
        };
        // The extension's own loop only keeps its registration alive (it subscribes to no event); an
        // error in it does not matter, so the signal handler is what ends the process.
        let run = async move {
            let _ = extension.run().await;
        };
        tokio::join!(on_signal, run);
    });
}

/// How long invocations in flight may still take once SIGTERM arrives: Lambda's 500 ms shutdown
/// window, less time for the process to log and exit.
pub(crate) const GRACE: Duration = Duration::from_millis(300);

/// Counts the invocations in flight, from the moment the runtime hands one over until its answer
/// has been posted back to the Runtime API.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    pub fn new() -> Arc<InFlight> {
        Arc::new(InFlight::default())
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until nothing is in flight, or `grace` has passed; returns how many invocations are
    /// still in flight (and so abandoned).
    pub async fn drain(&self, grace: Duration) -> usize {
        let _ = tokio::time::timeout(grace, async {
            loop {
                let idle = self.idle.notified();
                if self.count() == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
        self.count()
    }

    /// Lets invocations in flight finish within [`GRACE`], and says how that went.
    pub(crate) async fn shut_down(self: Arc<Self>) {
        let in_flight = self.count();
        let abandoned = self.drain(GRACE).await;
        if abandoned == 0 {
            tracing::info!(in_flight, outcome = "finished", "shutting down: no invocation left in flight");
        } else {
            tracing::warn!(
                in_flight,
                abandoned,
                outcome = "abandoned",
                "shutting down: invocations still in flight are abandoned unanswered, so Lambda retries them"
            );
        }
    }

    fn enter(self: &Arc<Self>) -> Guard {
        self.count.fetch_add(1, Ordering::SeqCst);
        Guard(self.clone())
    }
}

struct Guard(Arc<InFlight>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The outermost layer of the runtime, so that an invocation counts until its answer is posted.
#[derive(Debug, Clone)]
pub(crate) struct TrackLayer(pub Arc<InFlight>);

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track { inner, in_flight: self.0.clone() }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Track<S> {
    inner: S,
    in_flight: Arc<InFlight>,
}

impl<S> Service<LambdaInvocation> for Track<S>
where
    S: Service<LambdaInvocation>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let guard = self.in_flight.enter();
        let answered = self.inner.call(invocation);
        Box::pin(async move {
            let result = answered.await;
            drop(guard);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn draining_with_nothing_in_flight_returns_at_once() {
        let in_flight = InFlight::new();
        assert_eq!(in_flight.drain(Duration::from_secs(60)).await, 0);
    }

    #[tokio::test]
    async fn draining_ends_when_the_last_invocation_is_answered() {
        let in_flight = InFlight::new();
        let guard = in_flight.enter();
        let (drained, ()) = tokio::join!(in_flight.drain(Duration::from_secs(60)), async move {
            tokio::task::yield_now().await;
            drop(guard);
        });
        assert_eq!(drained, 0);
    }

    #[tokio::test]
    async fn an_invocation_still_running_after_the_grace_is_abandoned() {
        let in_flight = InFlight::new();
        let _guard = in_flight.enter();
        assert_eq!(in_flight.drain(Duration::from_millis(20)).await, 1);
    }
}
