//! `check perf`: argument and precondition errors compared with the Go
//! etcdctl, and one full run of etcdctl-rs's 60-second check (the Go
//! etcdctl has no shorter variant) whose output must have etcdctl's shape:
//! the progress bar, the compaction/defragmentation lines, the PASS/FAIL
//! verdicts, and no keys left behind.

mod common;

use common::{case, compare_all, run_client, Case, Etcd, GO_ETCDCTL, RS_ETCDCTL};

const CASES: &[Case] = &[
    case("check perf --load=x"),
    case("check perf --load="),
    case("check perf --load=huge -w xx"),
    case("check perf -w xx"),
    case("check perf --auto-compact=maybe"),
    case("put /etcdctl-check-perf/k v"),
    case("check perf"),
    case("check perf --load=small extra"),
    case("put pp/k v"),
    case("check perf --prefix=pp/"),
];

#[test]
fn check_perf_errors_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let failures = compare_all(&mut go, &mut rs, CASES);
    common::assert_no_failures(failures, CASES.len());
}

#[test]
fn check_perf_runs_a_full_check() {
    if !common::reference_available() {
        return;
    }
    let etcd = Etcd::start();
    let ep = format!("--endpoints={}", etcd.endpoint());
    let mut p = common::Proc::spawn(
        RS_ETCDCTL,
        &[&ep, "check", "perf", "--auto-compact", "--auto-defrag"],
    );
    let code = p.wait_exit(std::time::Duration::from_secs(120));
    let out = p.stdout();
    assert!(
        code == Some(0) || code == Some(1),
        "{code:?} {}",
        p.stderr()
    );
    assert_eq!(p.stderr(), "");
    let (bar, report) = out.rsplit_once("1m0s\n").expect("final progress line");
    assert!(bar.starts_with("\r 0 / 60    0.00%"), "{bar:?}");
    assert!(bar.ends_with("\r 60 / 60  100.00% "), "{bar:?}");
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines.len() >= 8, "{report}");
    assert!(
        lines[0].starts_with("Compacting with revision "),
        "{report}"
    );
    assert_eq!(lines[1], lines[0].replace("Compacting", "Compacted"));
    assert_eq!(lines[2], format!("Defragmenting \"{}\"", etcd.endpoint()));
    assert_eq!(lines[3], format!("Defragmented \"{}\"", etcd.endpoint()));
    let n = lines.len();
    let verdict = lines[n - 1];
    assert_eq!(
        code,
        Some(if verdict == "PASS" { 0 } else { 1 }),
        "{report}"
    );
    assert!(
        lines[n - 4].starts_with("PASS: Throughput is ")
            || lines[n - 4].starts_with("FAIL: Throughput too low: "),
        "{report}"
    );
    assert!(lines[n - 4].ends_with(" writes/s"), "{report}");
    assert!(lines[n - 3].contains("Slowest request took"), "{report}");
    assert!(lines[n - 2].contains("Stddev"), "{report}");
    let (keys, _, _) = run_client(
        GO_ETCDCTL,
        &[
            &ep,
            "get",
            "/etcdctl-check-perf/",
            "--prefix",
            "--keys-only",
        ],
    );
    assert_eq!(keys, "");
}
