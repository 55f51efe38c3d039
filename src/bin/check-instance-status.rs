//! `check-instance-status`: follows an AWS Supply Chain instance deletion to its end.

use supplychain_delete_instance::{check_function_from_env, metrics, runtime, CheckFunction};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = async {
        metrics::init_from_env()?;
        check_function_from_env().await
    };
    runtime::run(init, |function: std::sync::Arc<CheckFunction>, event| async move {
        let request_id = event.context.request_id.clone();
        metrics::recorded(&request_id, function.handle(event)).await
    })
    .await
}
