//! `delete-instance`: deletes the AWS Supply Chain instance each event names.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting stops init with its message, before any invocation is taken.
    let function = supplychain_delete_instance::delete_function_from_env().await.inspect_err(|error| tracing::error!("{error}"))?;
    let function = Arc::new(function);
    // On Lambda Managed Instances one process takes up to AWS_LAMBDA_MAX_CONCURRENCY invocations at
    // once; elsewhere this takes them one by one, as `run` does.
    lambda_runtime::run_concurrent(service_fn(move |event| {
        let function = Arc::clone(&function);
        async move { function.handle(event).await }
    }))
    .await
}
