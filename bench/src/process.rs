//! What `/proc` tells of a live process: the readings every measure of a function's process takes.

use std::time::Duration;

/// CPU time a live process has used so far, all its threads: the first field of each thread's
/// `schedstat` (nanoseconds on a CPU). Unlike wall time it does not count waiting for the
/// emulator or the runtime API, nor time other processes took the CPU away, so it is the steadier
/// measure of what the process itself costs.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// `VmHWM` (peak resident set size) of a live process, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
