//! Crash points for fault-injection tests.
//!
//! Some defects only show at one instant: between writing the WAL mark of a
//! snapshot and installing it, between applying an entry and answering its
//! proposer. A crash point names such an instant. Built with the
//! `failpoints` feature, a test turns one on (the `fail` crate: `fail::cfg`
//! in-process, or the `FAILPOINTS` environment variable for the binary) and
//! the member dies there: in the binary the process aborts, exactly as a
//! `kill -9` would leave it; in the in-process simulation the step returns an
//! error and the simulation drops the member without flushing anything.
//! Release builds leave the feature off and the points compile to nothing.
//!
//! More failpoints plant bugs rather than crashes, so the checkers of the
//! fault-injection suite can be shown to catch them: `read_barrier_skip`
//! (linearizable reads served locally, without ReadIndex: stale reads),
//! `read_lease_no_quorum` (with lease-based reads, a leader trusts its lease
//! without checking who answered it), `watch_drop_events` (watch events
//! skipped as if sent) and, in the store, `plant_revoke_keeps_keys` (a lease
//! revoke leaves the keys attached to the lease in place). Two defects of the raft/apply hand-off can be put
//! back for the randomized simulation to find: `plant_applied_when_queued`
//! (raft takes committed entries as applied once they are queued, so a
//! restarted member campaigns before it has replayed membership changes)
//! and `plant_reapply_below_snapshot` (a membership change a leader's
//! snapshot already covers is applied again on top of it).
//!
//! Two more slow a member down instead: `apply_inline_off` sends every
//! committed entry through the apply thread and `apply_thread_delay`
//! (armed with `sleep(ms)`) holds that thread back before each message, so
//! the store trails raft for as long as a test needs.

/// Dies here when the named failpoint is on (feature `failpoints`).
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| Err($crate::failpoints::crashed($name)))
    };
}
pub(crate) use crash_point;

#[cfg(feature = "failpoints")]
static ABORT_ON_CRASH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes crash points abort the process (the binary) instead of returning
/// an error (the simulation).
#[cfg(feature = "failpoints")]
pub fn abort_on_crash() {
    ABORT_ON_CRASH.store(true, std::sync::atomic::Ordering::SeqCst);
}

#[cfg(feature = "failpoints")]
pub(crate) fn crashed(name: &str) -> crate::error::ServerError {
    if ABORT_ON_CRASH.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!("failpoint {name}: crashing");
        std::process::abort();
    }
    crate::error::ServerError::Internal(format!("failpoint {name}: crashed"))
}

/// Arms failpoint `name` with `actions` (the `fail` crate's syntax, e.g.
/// `return`, `1*return`, `off`), for tests in this process.
#[cfg(feature = "failpoints")]
pub fn arm(name: &str, actions: &str) -> Result<(), String> {
    fail::cfg(name, actions)
}

/// Without the `failpoints` feature nothing can be armed.
#[cfg(not(feature = "failpoints"))]
pub fn arm(name: &str, _actions: &str) -> Result<(), String> {
    Err(format!(
        "cannot arm {name}: built without the `failpoints` feature"
    ))
}
