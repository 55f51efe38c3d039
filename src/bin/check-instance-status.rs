//! `check-instance-status`: follows an AWS Supply Chain instance deletion to its end.

use supplychain_delete_instance::{check_function_from_env, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run(check_function_from_env()).await
}
