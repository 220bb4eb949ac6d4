//! Model-based property test of the MVCC store.
//!
//! Random sequences of puts (with leases, prev_kv, ignore_value/lease),
//! range deletes, flat txns (compares on every target, puts, deletes and
//! historical reads in both branches), compactions, lease grants and revokes,
//! historical range reads (limit, sort, filters, keys_only, count_only),
//! watch-history reads and restarts are run against the store and against a
//! naive model that keeps a full copy of the key space for every revision.
//! Every response must be identical: values, versions, create/mod revisions,
//! header revisions, counts, `more`, errors (compacted, future revision,
//! lease/key not found, duplicate key) and the events of every revision.
//! After each sequence the whole history is compared once more, and a second
//! store fed the same entries (without restarts) must report the same hash
//! and history. The second store applies them in groups
//! (`Store::begin_group`: runs of writes under one lock and one backend
//! batch, each run ending where the sequence reads or restarts), and must
//! answer every entry as the first store, which applies them one by one.
//!
//! The model knows nothing of generations, key indexes or rows: versions and
//! create revisions follow from "previous value in the snapshot or not", so
//! the store's bookkeeping is checked against the definition.

mod ops;
mod reference;
mod requests;
mod sut;

use std::collections::BTreeSet;

use etcd_proto::etcdrs::raft_request::Op as RaftOp;
use etcd_proto::etcdserverpb::{
    CompactionRequest, LeaseGrantRequest, LeaseRevokeRequest, RangeRequest,
};
use etcd_store::{validate, Applied, RevisionEvents, StoreError};
use proptest::prelude::*;

use ops::*;
use reference::*;
use requests::*;
use sut::*;

// ---------------------------------------------------------------------------
// Running a sequence
// ---------------------------------------------------------------------------

fn full_range(rev: i64) -> RangeRequest {
    RangeRequest {
        key: vec![0],
        range_end: vec![0],
        revision: rev,
        ..Default::default()
    }
}

fn check_everything(m: &Model, s: &Sut) {
    let store = s.store();
    let st = store.status();
    assert_eq!(st.revision, m.current(), "current revision");
    assert_eq!(st.compacted_revision, m.compacted, "compacted revision");
    assert_eq!(st.applied_index, s.index, "applied index");
    for rev in m.compacted.max(1)..=m.current() {
        let want = m.range(&full_range(rev), m.current(), m.state());
        assert_eq!(store.range(&full_range(rev)), want, "all keys at {rev}");
    }
    if m.compacted > 1 {
        let r = store.range(&full_range(m.compacted - 1));
        assert_eq!(r, Err(StoreError::Compacted));
    }
    let got: Result<Vec<RevisionEvents>, i64> = store
        .events_since(m.compacted, usize::MAX)
        .map(|v| v.iter().map(|e| (**e).clone()).collect())
        .map_err(|e| {
            e.compacted_revision()
                .expect("in-memory history is readable")
        });
    assert_eq!(got, m.events_since(m.compacted, usize::MAX), "history");
    let leases: Vec<i64> = store.leases().iter().map(|(id, _)| *id).collect();
    assert_eq!(leases, m.leases.iter().copied().collect::<Vec<_>>());
    for id in &m.leases {
        let keys: BTreeSet<Vec<u8>> = m
            .state()
            .values()
            .filter(|kv| kv.lease == *id)
            .map(|kv| kv.key.clone())
            .collect();
        assert_eq!(store.lease(*id).unwrap().keys, keys, "keys of lease {id}");
    }
    assert_eq!(store.hash_kv(0), s.twin.hash_kv(0), "hash_kv of twin");
    assert_eq!(store.hash_all(), s.twin.hash_all(), "rows of twin");
    let twin_history: Result<Vec<RevisionEvents>, i64> = s
        .twin
        .events_since(m.compacted, usize::MAX)
        .map(|v| v.iter().map(|e| (**e).clone()).collect())
        .map_err(|e| e.compacted_revision().expect("readable"));
    assert_eq!(twin_history, got, "history of twin");
}

fn run(ops: &[Op], sled: bool) {
    let mut m = Model::new();
    let mut s = Sut::new(sled);
    for op in ops {
        let current = m.current();
        match op {
            Op::Put(p) => {
                let req = put_request(p);
                validate::check_put(&req).expect("generated puts are valid");
                let got = s.apply(RaftOp::Put(req.clone()));
                assert_eq!(got, m.put(&req), "{op:?}");
            }
            Op::Del(r, prev_kv) => {
                let req = del_request(r, *prev_kv);
                let got = s.apply(RaftOp::DeleteRange(req.clone()));
                assert_eq!(got, m.delete(&req), "{op:?}");
            }
            Op::Txn(c, succ, fail) => {
                let req = txn_request(c, succ, fail, current);
                let want = m.txn(&req);
                let reads_only = succ.iter().chain(fail).all(|o| matches!(o, TxnOp::Get(_)));
                if reads_only {
                    // The read path for txns that cannot write.
                    let got = s.store().txn_read_only(&req).expect("read-only txn");
                    assert_eq!(got.map(Applied::Txn), want, "read-only {req:?}");
                }
                match validate::check_txn(&req, 128) {
                    Err(e) => assert_eq!(Err(e), want, "validation of {op:?}"),
                    Ok(()) => {
                        let got = s.apply(RaftOp::Txn(req.clone()));
                        assert_eq!(got, want, "{req:?}");
                    }
                }
            }
            Op::Compact(sel) => {
                let rev = 1 + i64::from(*sel) % (current + 1);
                let got = s.apply(RaftOp::Compaction(CompactionRequest {
                    revision: rev,
                    physical: false,
                }));
                assert_eq!(got, m.compact(rev), "compact {rev}");
            }
            Op::Get(g) => {
                s.apply_twin_group();
                let req = range_request(g, current);
                let got = s.store().range(&req);
                assert_eq!(got, m.range(&req, current, m.state()), "{req:?}");
            }
            Op::Events(sel, max) => {
                s.apply_twin_group();
                let from = pick_rev(*sel, current);
                let got: Result<Vec<RevisionEvents>, i64> = s
                    .store()
                    .events_since(from, *max)
                    .map(|v| v.iter().map(|e| (**e).clone()).collect())
                    .map_err(|e| {
                        e.compacted_revision()
                            .expect("in-memory history is readable")
                    });
                assert_eq!(got, m.events_since(from, *max), "events from {from}");
            }
            Op::LeaseGrant(id) => {
                let got = s.apply(RaftOp::LeaseGrant(LeaseGrantRequest {
                    id: *id,
                    ttl: LEASE_TTL,
                }));
                assert_eq!(got, m.lease_grant(*id), "{op:?}");
            }
            Op::LeaseRevoke(id) => {
                let got = s.apply(RaftOp::LeaseRevoke(LeaseRevokeRequest { id: *id }));
                assert_eq!(got, m.lease_revoke(*id), "{op:?}");
            }
            Op::Restart => {
                s.apply_twin_group();
                s.restart();
            }
        }
        let st = s.store().status();
        assert_eq!(
            (st.revision, st.compacted_revision, st.applied_index),
            (m.current(), m.compacted, s.index),
            "after {op:?}"
        );
    }
    s.apply_twin_group();
    check_everything(&m, &s);
    s.restart();
    check_everything(&m, &s);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    /// On a memory backend that survives restarts: many cases, long runs.
    #[test]
    fn store_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })]

    /// On sled, restarts reopening the data dir.
    #[test]
    fn sled_store_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops, true);
    }
}
