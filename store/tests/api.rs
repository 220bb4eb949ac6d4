//! Direct checks of store APIs that scripts cannot express well: etcd's
//! txn size limits (`--max-txn-ops`, shared with nested txns), the shape
//! checks of `validate`, and `hash_kv` (equal for equal logs, different
//! otherwise, and a hash at an older revision equal to the hash of a store
//! that stopped there).

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use etcd_store::{validate, MemBackend, Store, StoreConfig, StoreError};

const MAX_TXN_OPS: usize = 128;

fn put_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            ..Default::default()
        })),
    }
}

fn puts(prefix: &str, n: usize) -> Vec<RequestOp> {
    (0..n).map(|i| put_op(&format!("{prefix}{i}"))).collect()
}

fn nested(success: Vec<RequestOp>) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestTxn(TxnRequest {
            success,
            ..Default::default()
        })),
    }
}

#[test]
fn txn_op_limit_counts_the_largest_list() {
    let ok = TxnRequest {
        success: puts("s", MAX_TXN_OPS),
        failure: puts("f", MAX_TXN_OPS),
        ..Default::default()
    };
    assert_eq!(validate::check_txn(&ok, MAX_TXN_OPS), Ok(()));

    let too_many = TxnRequest {
        failure: puts("f", MAX_TXN_OPS + 1),
        ..Default::default()
    };
    assert_eq!(
        validate::check_txn(&too_many, MAX_TXN_OPS),
        Err(StoreError::TooManyOps)
    );

    let compares = TxnRequest {
        compare: vec![
            Compare {
                key: b"k".to_vec(),
                ..Default::default()
            };
            MAX_TXN_OPS + 1
        ],
        ..Default::default()
    };
    assert_eq!(
        validate::check_txn(&compares, MAX_TXN_OPS),
        Err(StoreError::TooManyOps)
    );
}

#[test]
fn nested_txns_share_the_op_budget() {
    // etcd: a nested txn may have at most max - (ops of its parent).
    let outer = |inner: usize| {
        let mut success = puts("o", 99);
        success.push(nested(puts("i", inner)));
        TxnRequest {
            success,
            ..Default::default()
        }
    };
    assert_eq!(validate::check_txn(&outer(28), MAX_TXN_OPS), Ok(()));
    assert_eq!(
        validate::check_txn(&outer(29), MAX_TXN_OPS),
        Err(StoreError::TooManyOps)
    );
}

#[test]
fn txn_shape_checks() {
    let empty_op = TxnRequest {
        success: vec![RequestOp { request: None }],
        ..Default::default()
    };
    assert_eq!(
        validate::check_txn(&empty_op, MAX_TXN_OPS),
        Err(StoreError::KeyNotFound)
    );
    let empty_key = TxnRequest {
        failure: vec![RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest::default())),
        }],
        ..Default::default()
    };
    assert_eq!(
        validate::check_txn(&empty_key, MAX_TXN_OPS),
        Err(StoreError::EmptyKey)
    );
    let nested_bad = TxnRequest {
        success: vec![nested(vec![RequestOp {
            request: Some(Request::RequestRange(RangeRequest::default())),
        }])],
        ..Default::default()
    };
    assert_eq!(
        validate::check_txn(&nested_bad, MAX_TXN_OPS),
        Err(StoreError::EmptyKey)
    );
}

fn store() -> Store {
    Store::open(Box::new(MemBackend::default()), StoreConfig::default()).unwrap()
}

fn apply_puts(store: &Store, from: u64, keys: &[&str]) {
    for (i, k) in keys.iter().enumerate() {
        let req = RaftRequest {
            id: 0,
            op: Some(Op::Put(PutRequest {
                key: k.as_bytes().to_vec(),
                value: format!("value of {k}").into_bytes(),
                ..Default::default()
            })),
            proposed_at_ms: 0,
            ..Default::default()
        };
        store.apply(from + i as u64, 1, &req).unwrap();
    }
}

#[test]
fn hash_kv_follows_the_log() {
    let (a, b, c) = (store(), store(), store());
    apply_puts(&a, 1, &["x", "y", "z"]);
    apply_puts(&b, 1, &["x", "y", "z"]);
    apply_puts(&c, 1, &["x", "y"]);
    let (ha, _, rev_a) = a.hash_kv(0).unwrap();
    assert_eq!(a.hash_kv(0), b.hash_kv(0), "same log, same hash");
    assert_eq!(rev_a, 4);
    let (hc, _, rev_c) = c.hash_kv(0).unwrap();
    assert_ne!(ha, hc, "different logs, different hashes");
    // Up to revision 3, a holds exactly what c holds.
    assert_eq!(a.hash_kv(rev_c).unwrap().0, hc);
    // The raft index and term are not part of the key-value hash.
    apply_puts(&c, 10, &["z"]);
    assert_eq!(c.hash_kv(0).unwrap().0, ha);
    assert_ne!(c.hash_all().unwrap(), a.hash_all().unwrap());
}

/// History that cannot be read is reported as such, not as compacted: a
/// watch stream that took it for compaction found nothing to cancel and
/// asked again forever.
#[test]
fn unreadable_history_is_not_reported_as_compacted() {
    let backend = etcd_store::FaultyBackend::default();
    let fail = backend.fail_scans.clone();
    let store = Store::open(
        Box::new(backend),
        StoreConfig {
            history_revisions: 1,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    for (index, key) in ["a", "b", "c"].iter().enumerate() {
        let req = RaftRequest {
            id: index as u64 + 1,
            op: Some(Op::Put(PutRequest {
                key: key.as_bytes().to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        };
        store.apply(index as u64 + 1, 1, &req).unwrap();
    }
    // Revisions 2..=4; 2 and 3 have left the one-revision ring, so they
    // are read from the rows.
    assert_eq!(store.events_since(2, 10).unwrap().len(), 3);
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    match store.events_since(2, 10) {
        Err(etcd_store::HistoryError::Unreadable(reason)) => {
            assert!(reason.contains("disk failed"), "{reason}")
        }
        other => panic!("expected an unreadable history, got {other:?}"),
    }
}

/// A watch reading history while a leader's snapshot replaces the store
/// sees the old store or the new one, never the new rows with the old
/// state: the runner once caught a watch that read a snapshot's rows,
/// compacted past its position, under the old compaction revision, and
/// skipped the compacted revisions without being told.
#[test]
fn history_reads_never_mix_an_installed_snapshot_with_the_old_state() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let keys: Vec<String> = (0..40).map(|i| format!("k{}", i % 5)).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let source = store();
    apply_puts(&source, 1, &keys);
    let compact = RaftRequest {
        op: Some(Op::Compaction(
            etcd_proto::etcdserverpb::CompactionRequest {
                revision: 30,
                physical: true,
            },
        )),
        ..Default::default()
    };
    source.apply(41, 1, &compact).unwrap();
    let image = source.snapshot().unwrap();

    for round in 0..100 {
        // A small ring, so catching up reads the rows.
        let config = StoreConfig {
            history_revisions: 1,
            ..StoreConfig::default()
        };
        let target = Arc::new(Store::open(Box::new(MemBackend::default()), config).unwrap());
        apply_puts(&target, 1, &keys[..20]);
        let from = 15;
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (target, done) = (Arc::clone(&target), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    match target.events_since(from, 100) {
                        Ok(batch) => {
                            if let Some(first) = batch.first() {
                                assert_eq!(
                                    first.revision, from,
                                    "round {round}: history from {from} began at {}",
                                    first.revision
                                );
                            }
                        }
                        Err(etcd_store::HistoryError::Compacted(_)) => {}
                        Err(e) => panic!("round {round}: {e:?}"),
                    }
                }
            })
        };
        target.install_snapshot(&image).unwrap();
        done.store(true, Ordering::SeqCst);
        reader.join().expect("the reader saw a consistent history");
    }
}
