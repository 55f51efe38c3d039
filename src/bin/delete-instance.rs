//! `delete-instance`: deletes the AWS Supply Chain instance each event names.

use supplychain_delete_instance::{delete_function_from_env, metrics, runtime, DeleteFunction};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = async {
        metrics::init_from_env()?;
        delete_function_from_env().await
    };
    runtime::run(init, |function: std::sync::Arc<DeleteFunction>, event| async move {
        let request_id = event.context.request_id.clone();
        metrics::recorded(&request_id, function.handle(event)).await
    })
    .await
}
