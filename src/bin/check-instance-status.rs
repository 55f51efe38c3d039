//! `check-instance-status`: follows an AWS Supply Chain instance deletion to its end.

use lambda_runtime::{service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let function = supplychain_delete_instance::check_function_from_env().await?;
    lambda_runtime::run(service_fn(|event| function.handle(event))).await
}
