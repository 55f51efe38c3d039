//! `delete-instance-multi-thread`: `src/bin/delete-instance.rs` on Tokio's default multi-threaded
//! runtime instead of `current_thread`, so the benchmark can measure what the runtime flavour
//! changes. Not deployed.

use supplychain_delete_instance::{delete_function_from_env, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run(delete_function_from_env()).await
}
