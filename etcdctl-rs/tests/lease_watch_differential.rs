//! Differential test of the lease and watch commands: the Go etcdctl and
//! etcdctl-rs each run the same command lines against their own fresh
//! etcd; lease ids, cluster ids and timings are masked before comparing.

mod common;

use common::{assert_no_failures, case, compare_all, compare_streaming, with_stdin, Case};

const LEASE_CASES: &[Case] = &[
    case("lease grant 100"),
    case("put lk v --lease=$LEASE"),
    case("lease timetolive $LEASE"),
    case("lease timetolive $LEASE --keys"),
    case("lease timetolive $LEASE --keys -w json"),
    case("lease timetolive $LEASE -w fields"),
    case("lease list"),
    case("lease list -w json"),
    case("lease list -w fields"),
    case("lease keep-alive --once $LEASE"),
    case("lease keep-alive --once $LEASE -w json"),
    case("lease keep-alive --once $LEASE -w fields"),
    case("lease keep-alive --once $LEASE -w table"),
    case("put lk v3 --ignore-lease --prev-kv"),
    case("get lk -w json"),
    case("lease grant"),
    case("lease grant x"),
    case("lease grant 99999999999999"),
    case("lease revoke"),
    case("lease revoke zz"),
    case("lease timetolive"),
    case("lease keep-alive"),
    case("lease revoke $LEASE"),
    case("lease revoke $LEASE -w json"),
    case("lease timetolive $LEASE"),
    case("lease timetolive $LEASE -w json"),
    case("lease keep-alive --once $LEASE"),
    case("lease keep-alive $LEASE"),
    case("get lk"),
    case("lease grant 50 -w json"),
    case("lease revoke $LEASE -w fields"),
    case("lease grant 50 -w fields"),
    case("lease revoke $LEASE -w protobuf"),
    // Watch history so the events do not depend on timing.
    case("put w1 a"),
    case("put w1 b"),
    case("put w2 c"),
    case("del w1"),
    case("watch"),
    case("watch a --"),
    case("watch a b --prefix"),
    case("watch --rev=x a"),
    with_stdin("watch -i", "\nbogus\nwatch\nwatch a b c --prefix\n"),
    case("compaction 15"),
    case("watch w1 --rev 2"),
    case("watch w1 --rev 2 -w json"),
];

/// (arguments, stdout lines to wait for)
const WATCH_CASES: &[(&str, usize)] = &[
    ("watch w1 --rev 15", 9),
    ("watch w1 --rev 15 --prev-kv", 13),
    ("watch w --prefix --rev 15", 12),
    ("watch w --prefix --rev 15 -w json", 4),
    ("watch w --prefix --rev 15 -w fields --prev-kv", 56),
    ("watch w1 w3 --rev=15 --hex", 12),
    ("watch w1 --rev 15 -- sh -c echo", 12),
    ("watch --rev 15 w2 -- printenv ETCD_WATCH_REVISION ETCD_WATCH_EVENT_TYPE ETCD_WATCH_KEY ETCD_WATCH_VALUE", 7),
];

#[test]
fn lease_and_watch_commands_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    // Pad the revision so the watch cases start at a known revision.
    let pad: Vec<Case> = (0..10).map(|_| case("put pad x")).collect();
    let mut failures = compare_all(&mut go, &mut rs, &pad);
    failures.extend(compare_all(&mut go, &mut rs, LEASE_CASES));
    for (args, lines) in WATCH_CASES {
        failures.extend(compare_streaming(&mut go, &mut rs, args, *lines));
    }
    assert_no_failures(failures, pad.len() + LEASE_CASES.len() + WATCH_CASES.len());
}
