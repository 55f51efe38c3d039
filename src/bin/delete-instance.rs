//! `delete-instance`: deletes the AWS Supply Chain instance each event names.

use supplychain_delete_instance::{delete_function_from_env, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run(delete_function_from_env()).await
}
