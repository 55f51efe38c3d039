//! `check-instance-status`: follows an AWS Supply Chain instance deletion to its end.

use lambda_runtime::{service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting stops init with its message, before any invocation is taken.
    let function = supplychain_delete_instance::check_function_from_env().await.inspect_err(|error| tracing::error!("{error}"))?;
    lambda_runtime::run(service_fn(|event| function.handle(event))).await
}
