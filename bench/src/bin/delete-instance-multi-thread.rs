//! `delete-instance-multi-thread`: `src/bin/delete-instance.rs` on Tokio's default multi-threaded
//! runtime instead of `current_thread`, so the benchmark can measure what the runtime flavour
//! changes. Not deployed; keep it the same as that file but for the `#[tokio::main]` line.

use std::sync::Arc;

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{service_fn, Error, Runtime};
use supplychain_delete_instance::shutdown::{InFlight, TrackLayer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting stops init with its message, before any invocation is taken.
    let function = supplychain_delete_instance::delete_function_from_env().await.inspect_err(|error| tracing::error!("{error}"))?;
    let function = Arc::new(function);
    // On SIGTERM, invocations in flight get a short grace to answer, then the process exits
    // (see the `shutdown` module). The handler registers Lambda's no-op internal extension, during init.
    let in_flight = InFlight::new();
    lambda_runtime::spawn_graceful_shutdown_handler({
        let in_flight = in_flight.clone();
        move || in_flight.shut_down()
    })
    .await;
    // On Lambda Managed Instances one process takes up to AWS_LAMBDA_MAX_CONCURRENCY invocations at
    // once; elsewhere this takes them one by one, as `run` does.
    Runtime::new(service_fn(move |event| {
        let function = Arc::clone(&function);
        async move { function.handle(event).await }
    }))
    .layer(TracingLayer::new())
    .layer(TrackLayer(in_flight))
    .run_concurrent()
    .await
}
