//! `check-instance-status`: follows an AWS Supply Chain instance deletion to its end.

use std::sync::Arc;

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{service_fn, Error, Runtime};
use supplychain_delete_instance::shutdown::{InFlight, TrackLayer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting stops init with its message, before any invocation is taken.
    let function = supplychain_delete_instance::check_function_from_env().await.inspect_err(|error| tracing::error!("{error}"))?;
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
