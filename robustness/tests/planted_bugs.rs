//! Testing the tester: the same short run, against a server with a bug
//! planted through a failpoint, must fail its checks. The server binary is
//! built with `--features raft-node/failpoints` (as scripts/test-all does);
//! members inherit `FAILPOINTS` from this process (each test file runs in a
//! process of its own under nextest, and this file holds one test per
//! process-wide setting).

use std::time::Duration;

use etcd_robustness::runner::{run, RunConfig};

async fn run_with_planted_bug(failpoints: &str) -> String {
    // Set before any member starts; members inherit it.
    std::env::set_var("FAILPOINTS", failpoints);
    let cfg = RunConfig {
        traffic: Duration::from_secs(8),
        ..RunConfig::short(3)
    };
    let report = run(&cfg).await.expect("the harness runs");
    std::env::remove_var("FAILPOINTS");
    assert!(report.acknowledged > 100, "traffic flowed: {report}");
    assert!(
        !report.passed(),
        "the checks passed although {failpoints} was planted \
         (is etcd-rs built with --features raft-node/failpoints?):\n{report}"
    );
    report.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn planted_bugs_are_caught() {
    // Linearizable reads served from the local store: stale reads.
    let report = run_with_planted_bug("read_barrier_skip=return").await;
    assert!(
        report.contains("went backwards") || report.contains("not linearizable"),
        "{report}"
    );
    // Watch events skipped as if sent.
    let report = run_with_planted_bug("watch_drop_events=1%return").await;
    assert!(report.contains("Reliable: missed"), "{report}");
    // A lease revoke that leaves the lease's keys behind.
    let report = run_with_planted_bug("plant_revoke_keeps_keys=return").await;
    assert!(report.contains("not linearizable"), "{report}");
}
