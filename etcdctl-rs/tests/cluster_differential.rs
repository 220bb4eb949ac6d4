//! Differential test of the cluster and maintenance commands (member,
//! endpoint, alarm, defrag, move-leader, snapshot save and the argument,
//! flag and file errors of snapshot status/restore) and of endpoint failover.
//! Commands whose output depends on a member's history (db size, raft
//! index, hashes) run with both clients against the same etcd, where the
//! output must be byte-identical (protobuf included).

mod common;

use common::{assert_no_failures, case, compare_all, Case, Side};

/// Run by each client against its own etcd (ids masked).
const SEPARATE: &[Case] = &[
    case("put a 1"),
    case("put b 2"),
    case("member list"),
    case("member list -w json"),
    case("member list -w fields"),
    case("member list -w table"),
    case("member list --hex"),
    case("member add"),
    case("member add a b http://x"),
    case("member add x"),
    case("member remove"),
    case("member remove zz"),
    case("member remove 1234"),
    case("member update 1234"),
    case("member update 1234 --peer-urls=http://127.0.0.1:1"),
    case("member promote 1234"),
    case("endpoint health"),
    case("endpoint health -w json"),
    case("endpoint health -w fields"),
    case("endpoint health -w protobuf"),
    case("endpoint health --cluster"),
    case("endpoint status -w protobuf"),
    case("alarm list"),
    case("alarm list -w json"),
    case("alarm list -w table"),
    case("alarm list extra"),
    case("alarm disarm"),
    case("alarm disarm -w json"),
    case("defrag"),
    case("defrag -w json"),
    case("defrag --cluster"),
    case("snapshot save"),
    case("snapshot save $DIR/snap.db"),
    case("snapshot save /nonexistent/dir/snap.db"),
    case("snapshot save $DIR/x.db --endpoints=$EP,127.0.0.1:1"),
    case("get a --endpoints=127.0.0.1:1,$EP"),
    case("put c 3 --endpoints=127.0.0.1:1,$EP"),
    case("get c --endpoints=127.0.0.1:1 --command-timeout=1s"),
    case("put c 4 --endpoints=127.0.0.1:1 --command-timeout=1s -w json"),
    case("endpoint health --endpoints=127.0.0.1:1 --command-timeout=1s"),
    case("endpoint status --endpoints=127.0.0.1:1 --command-timeout=1s"),
    case("defrag --endpoints=127.0.0.1:1 --command-timeout=1s"),
    case("get a --endpoints=http://$EP"),
    case("move-leader"),
    case("move-leader zz"),
    case("move-leader 1 2"),
    case("move-leader 0x10"),
    case("move-leader fffffffffffffffff"),
    case("move-leader $MID"),
    case("move-leader $MID --hex"),
    case("move-leader $MID -w json"),
    case("move-leader $MID -w fields"),
    case("move-leader $MID -w table"),
    case("move-leader $MID -w xx"),
    case("move-leader 1234"),
    case("move-leader 1234 --endpoints=127.0.0.1:1 --command-timeout=1s"),
    case("move-leader 1234 --endpoints=127.0.0.1:1,$EP --command-timeout=1s"),
    case("move-leader 1234 --endpoints=$EP,127.0.0.1:1"),
    case("snapshot status"),
    case("snapshot status a b"),
    case("snapshot status $DIR/nonexistent.db"),
    case("snapshot status /etc/hostname"),
    case("snapshot status -w xx /etc/hostname"),
    case("snapshot restore"),
    case("snapshot restore a b"),
    case("snapshot restore $DIR/none.db --data-dir $DIR/r1"),
    case("snapshot restore /etc/hostname --data-dir $DIR/r2"),
    case("snapshot restore x --name n3 --data-dir $DIR/r3"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-advertise-peer-urls http://127.0.0.1:9"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-advertise-peer-urls http://localhost:2380,http://localhost:2381"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-advertise-peer-urls x"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-advertise-peer-urls http://localhost:2380/x"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-cluster default=foo"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-cluster garbage"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-cluster default=http://localhost:2380,default=http://localhost:2381"),
    case("snapshot restore x --data-dir $DIR/r3 --initial-cluster default=http://localhost:2380,b=http://localhost:2380"),
    case("snapshot restore x --data-dir $DIR"),
    case("snapshot restore x --data-dir $DIR/r4 --wal-dir $DIR"),
];

/// Run by both clients against the same etcd (no masking needed).
const SHARED: &[Case] = &[
    case("endpoint status"),
    case("endpoint status -w json"),
    case("endpoint status -w fields"),
    case("endpoint status -w table"),
    case("endpoint status --cluster"),
    case("endpoint hashkv"),
    case("endpoint hashkv -w json"),
    case("endpoint hashkv -w table"),
    case("endpoint hashkv -w fields"),
    case("endpoint hashkv --rev=2"),
    case("endpoint hashkv --cluster -w json"),
    case("get a -w protobuf"),
    case("get a --prefix -w protobuf"),
    case("member list -w protobuf"),
    case("alarm list -w protobuf"),
];

#[test]
fn cluster_commands_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let mut failures = compare_all(&mut go, &mut rs, SEPARATE);
    let mut rs_shared = Side::new(common::RS_ETCDCTL, &pair.go_etcd);
    failures.extend(compare_all(&mut go, &mut rs_shared, SHARED));
    assert_no_failures(failures, SEPARATE.len() + SHARED.len());
}
