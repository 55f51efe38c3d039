//! The integration and end-to-end tests, one binary: the library, the SDKs and the test harness are
//! compiled and linked once, not once per file. A module per concern; what they share is in
//! [`support`]. Run one concern with its module path as the filter, for example
//! `cargo test --test it notice::`.

mod support;

mod approval;
mod arm64;
mod audit_record;
mod binaries;
mod catalogue;
mod dead_letters;
mod defaults;
mod delete_instance;
mod docs_commands;
mod docs_links;
mod fault_matrix;
mod http_client;
mod input_fuzz;
mod local_runtimes;
mod many_accounts;
mod member_role;
mod metrics;
mod notice;
mod notifications;
mod organization_approval;
mod organization_sweep;
mod protection_key_case;
mod reliability;
mod schedule_tag_grant;
mod soak;
mod state_machine;
mod status_checker;
mod sweep;
mod sweep_targets;
mod task_token;
mod template;
mod wire_forms;
mod workspace;
