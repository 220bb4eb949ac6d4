//! The short profile against the real etcd-rs binary: two runs with faults must pass.
//! Needs `target/debug/etcd-rs` (or `ETCD_RS_BIN`).

use etcd_robustness::runner::{run, RunConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_profile_passes_against_etcd_rs() {
    for seed in [1, 2] {
        let cfg = RunConfig::short(seed);
        let report = run(&cfg).await.expect("the harness runs");
        println!("{report}");
        assert!(report.acknowledged > 100, "traffic flowed: {report}");
        assert!(!report.faults.is_empty(), "faults were injected: {report}");
        assert!(report.watch_events > 0, "watchers saw events: {report}");
        assert!(report.passed(), "{report}");
    }
}
