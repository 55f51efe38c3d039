//! The emulator's integration tests, one binary: the emulator and the SDK clients the tests drive
//! it with are compiled and linked once. A module per concern; what they share is in [`support`].

mod support;

mod accounts_and_sts;
mod admin_and_process;
mod extensions_api;
mod faults;
mod instance_api;
mod invoke_api;
mod lifecycle;
mod list_and_tags;
mod proxy;
mod runtime_api;
mod signatures;
