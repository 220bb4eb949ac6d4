//! The short profile against the real etcd-rs binary: two runs with faults must pass.
//! Needs `target/debug/etcd-rs` (or `ETCD_RS_BIN`); crash points need it built with
//! `--features raft-node/failpoints`.

use etcd_robustness::runner::{run, RunConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_profile_passes_against_etcd_rs() {
    let mut kinds = std::collections::BTreeSet::new();
    for seed in [3, 5] {
        let cfg = RunConfig::short(seed);
        let report = run(&cfg).await.expect("the harness runs");
        println!("{report}");
        assert!(report.acknowledged > 100, "traffic flowed: {report}");
        assert!(!report.faults.is_empty(), "faults were injected: {report}");
        assert!(report.watch_events > 0, "watchers saw events: {report}");
        assert!(report.leases_granted > 0, "leases granted: {report}");
        assert!(report.keepalives > 0, "leases kept alive: {report}");
        assert!(report.passed(), "{report}");
        kinds.extend(report.fault_kinds.keys().copied());
    }
    // The first fault of these seeds is a partition and a membership change (the kind
    // sequence depends on the seed only).
    for k in ["isolate-leader", "learner+promote"] {
        assert!(kinds.contains(k), "{k} was injected: {kinds:?}");
    }
}
