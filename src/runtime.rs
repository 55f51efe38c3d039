//! How the three binaries run on Lambda: `lambda_runtime`'s tracing layer, concurrent invocations where
//! the platform hands them out, and the graceful-shutdown hook of [`crate::shutdown`].

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{service_fn, LambdaEvent, Runtime};
use serde::Serialize;

use crate::error::Error;
use crate::input::Payload;
use crate::shutdown::{InFlight, TrackLayer};

/// Initialises logging (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`), builds the function with
/// `init` (a bad setting stops init with its message, before any invocation is taken), then serves
/// invocations with `handle` until the process is told to stop.
pub async fn run<F, I, H, Fut, R>(init: I, handle: H) -> Result<(), lambda_runtime::Error>
where
    I: Future<Output = Result<F, crate::ConfigError>>,
    F: Send + Sync + 'static,
    H: Fn(Arc<F>, LambdaEvent<Payload>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
    R: Serialize + Send + 'static,
{
    lambda_runtime::tracing::init_default_subscriber();
    // On SIGTERM, invocations in flight get a short grace to answer, then the process exits. An
    // internal extension is registered for it, which must happen during init. That
    // round trip to the Extensions API does not depend on the function, so it runs while `init`
    // waits on its own network (the TLS handshake of the connection opened at init).
    let in_flight = InFlight::new();
    let (function, ()) = tokio::join!(init, crate::shutdown::register(in_flight.clone()));
    let function = Arc::new(function.inspect_err(|error| tracing::error!("{error}"))?);
    // On Lambda Managed Instances one process takes up to AWS_LAMBDA_MAX_CONCURRENCY invocations at
    // once; elsewhere this takes them one by one, as `lambda_runtime::run` does.
    Runtime::new(service_fn(move |event| handle(Arc::clone(&function), event)))
        .layer(TracingLayer::new())
        .layer(TrackLayer(in_flight))
        .run_concurrent()
        .await
}
