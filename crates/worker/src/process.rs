//! What the process a worker runs in asks of the kernel: applied first thing by the `fat`
//! binary, and by the benches that run a worker in their own process, so that they measure
//! what runs.

/// The allocator's own switch for transparent huge pages: when the environment sets it, the
/// choice is left to the allocator.
pub const ALLOCATOR_THP_SWITCH: &str = "MIMALLOC_ALLOW_THP";

/// Turn transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` is set.
/// Returns whether this call turned them off: not when the switch is set, not off Linux, and
/// not when the kernel refuses (the process then runs as before).
///
/// The setting covers every thread of the process, applies to memory first touched after the
/// call, and is inherited by the processes it starts (across `execve` too): a program that
/// asks for huge pages itself, started by `fat`, does not get them either (`cargo` and `rustc`
/// under `fat build` do not ask).
///
/// The `fat` binary's allocator (mimalloc) asks the kernel for transparent huge pages for its
/// arenas. A kernel that compacts memory on demand for such regions (`defrag` set to
/// `madvise`, a common default) makes the first touch of a fresh 2 MiB region wait for that
/// compaction. Measured with the replay bench on a 2-core machine: with huge pages, three runs
/// of five had one admission of 22 to 28 ms (every query of a worker waits behind the guard's
/// lock that long) and took five times as long to fill the guard; without, the longest
/// admission was 1.4 ms. What huge pages save in address translation is small beside that
/// for a server that answers in microseconds.
pub fn no_transparent_huge_pages() -> bool {
    if std::env::var_os(ALLOCATOR_THP_SWITCH).is_some() {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        rustix::thread::disable_transparent_huge_pages(true).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The kernel reports the process without transparent huge pages afterwards (in its
    /// status too, where the kernel shows that: Linux 5.0 on).
    #[test]
    fn transparent_huge_pages_are_turned_off() {
        if std::env::var_os(ALLOCATOR_THP_SWITCH).is_some() {
            eprintln!("{ALLOCATOR_THP_SWITCH} is set: the process keeps its huge pages");
            assert!(!no_transparent_huge_pages());
            return;
        }
        assert!(no_transparent_huge_pages());
        assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        if status.contains("THP_enabled:") {
            assert!(
                status.lines().any(|line| line == "THP_enabled:\t0"),
                "{status}"
            );
        }
    }
}
