//! The short profile against the real etcd-rs binary: two runs with faults must pass.
//! Needs `target/debug/etcd-rs` (or `ETCD_RS_BIN`); crash points need it built with
//! `--features raft-node/failpoints`.

use etcd_robustness::runner::{run, RunConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_profile_passes_against_etcd_rs() {
    let mut kinds = std::collections::BTreeSet::new();
    for seed in [7, 29] {
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
    // The first faults of these seeds are a partition, a membership change and a crash
    // point (the kind sequence depends on the seed only).
    for k in ["isolate-leader", "learner+promote", "crash-point"] {
        assert!(kinds.contains(k), "{k} was injected: {kinds:?}");
    }
}

/// The full-disk nemesis (root only, as CI runs): members run out of space, stop, and start
/// again on the same data directory once it has room; every checker must still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_disk_nemesis_stops_members_that_come_back_with_their_writes() {
    use etcd_robustness::runner::{cluster::Cluster, nemesis::Kind};
    assert!(
        Cluster::can_mount(),
        "the full-disk nemesis mounts a tmpfs: run as root (CI does)"
    );
    let mut cfg = RunConfig::short(2);
    cfg.nemeses = vec![Kind::FullDisk];
    cfg.traffic = std::time::Duration::from_secs(25);
    let report = run(&cfg).await.expect("the harness runs");
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(
        report.faults.iter().any(|f| f.contains("stopped")),
        "a member ran out of space and stopped: {report}"
    );
    assert!(report.acknowledged > 100, "traffic flowed: {report}");
}

/// Lease-based reads (`--experimental-lease-based-reads`) through the faults that threaten
/// a lease: an isolated or split-off leader, a one-way cut, a paused leader, a killed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_based_reads_stay_linearizable_through_partitions_and_pauses() {
    use etcd_robustness::runner::nemesis::Kind;
    let mut cfg = RunConfig::short(11);
    cfg.nemeses = vec![
        Kind::IsolateLeader,
        Kind::Split,
        Kind::OneWay,
        Kind::Stop,
        Kind::Kill,
    ];
    cfg.traffic = std::time::Duration::from_secs(25);
    cfg.max_faults = 5;
    cfg.member_flags = vec!["--experimental-lease-based-reads".into()];
    let report = run(&cfg).await.expect("the harness runs");
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(report.faults.len() >= 3, "faults were injected: {report}");
}
