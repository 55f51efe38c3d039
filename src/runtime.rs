//! How the three binaries run on Lambda: logging, the metrics of each invocation, `lambda_runtime`'s
//! tracing layer, concurrent invocations where the platform hands them out, and the
//! graceful-shutdown hook of `crate::shutdown`.

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{service_fn, LambdaEvent, Runtime};
use serde::Serialize;

use crate::config::ConfigError;
use crate::error::Error;
use crate::input::Payload;
use crate::metrics;
use crate::shutdown::{InFlight, TrackLayer};

/// A function the runtime serves: one handler for every event it is invoked with.
pub trait Function: Send + Sync + 'static {
    type Response: Serialize + Send + 'static;

    fn handle(&self, event: LambdaEvent<Payload>) -> impl Future<Output = Result<Self::Response, Error>> + Send;
}

/// Initialises logging (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`) and the metrics' settings,
/// builds the function with `init` (a bad setting stops init with its message, before any
/// invocation is taken), then serves invocations until the process is told to stop, each one's
/// metrics written when it ends ([`metrics::recorded`]).
pub async fn run<F: Function>(init: impl Future<Output = Result<F, ConfigError>>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let init = async {
        metrics::init_from_env()?;
        init.await
    };
    // On SIGTERM, invocations in flight get a short grace to answer, then the process exits. An
    // internal extension is registered for it, which must happen during init. That
    // round trip to the Extensions API does not depend on the function, so it runs while `init`
    // waits on its own network (the TLS handshake of the connection opened at init).
    let in_flight = InFlight::new();
    let (function, ()) = tokio::join!(init, crate::shutdown::register(in_flight.clone()));
    let function = Arc::new(function.inspect_err(|error| tracing::error!("{error}"))?);
    let handle = move |event: LambdaEvent<Payload>| {
        let function = Arc::clone(&function);
        async move {
            let request_id = event.context.request_id.clone();
            metrics::recorded(&request_id, function.handle(event)).await
        }
    };
    // On Lambda Managed Instances one process takes up to AWS_LAMBDA_MAX_CONCURRENCY invocations at
    // once; elsewhere this takes them one by one, as `lambda_runtime::run` does.
    Runtime::new(service_fn(handle)).layer(TracingLayer::new()).layer(TrackLayer(in_flight)).run_concurrent().await
}

impl Function for crate::delete::DeleteFunction {
    type Response = crate::delete::DeleteResponse;

    fn handle(&self, event: LambdaEvent<Payload>) -> impl Future<Output = Result<Self::Response, Error>> + Send {
        crate::delete::DeleteFunction::handle(self, event)
    }
}

impl Function for crate::check::CheckFunction {
    type Response = crate::check::CheckResponse;

    fn handle(&self, event: LambdaEvent<Payload>) -> impl Future<Output = Result<Self::Response, Error>> + Send {
        crate::check::CheckFunction::handle(self, event)
    }
}

impl Function for crate::sweep::SweepFunction {
    type Response = crate::sweep::SweepOutput;

    fn handle(&self, event: LambdaEvent<Payload>) -> impl Future<Output = Result<Self::Response, Error>> + Send {
        crate::sweep::SweepFunction::handle(self, event)
    }
}
