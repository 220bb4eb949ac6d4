//! Criterion micro-benchmarks of the MVCC store (`etcd-store`) alone.
//!
//! These measure the state machine without gRPC, raft or the WAL, so a
//! regression here is a store regression, and the gap between these numbers
//! and the end-to-end `etcd-bench` numbers is the cost of everything else.
//!
//! - `put/{mem,sled}`: `Store::apply` of one put (128-byte value) over
//!   1000 keys; every iteration makes a new revision, so the store grows
//!   during the measurement, as etcd does without compaction. The sled
//!   backend writes into a temporary directory (no explicit flush per put:
//!   that is the caller's durability policy, not the store's).
//! - `range/single_key/{mem,sled}`: one-key `Store::range` among 1000 keys.
//! - `range/prefix_1000/{mem,sled}`: a prefix range returning all 1000 keys.
//! - `txn/compare_put`: a txn with a `version > -1` compare and one put.
//! - `watch/events_since_{ring,rows}`: reading 100 revisions of watch
//!   history, from the in-memory ring and (ring too small) from the rows.
//!
//! Times are kept short (2 s measurement, 20 samples) so the whole suite
//! runs in about a minute on two cores.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{Compare, PutRequest, RangeRequest, RequestOp, TxnRequest};
use etcd_store::{Backend, MemBackend, SledBackend, Store, StoreConfig};
use tempfile::TempDir;

const KEYS: u64 = 1000;
const VALUE_SIZE: usize = 128;

/// A store and the raft index of the next entry to apply (indexes must
/// strictly increase). The temp dir, if any, lives as long as the store.
struct Bench {
    store: Store,
    index: Cell<u64>,
    _dir: Option<TempDir>,
}

impl Bench {
    fn new(backend: &str, config: StoreConfig) -> Bench {
        let (boxed, dir): (Box<dyn Backend>, Option<TempDir>) = match backend {
            "mem" => (Box::new(MemBackend::default()), None),
            "sled" => {
                let dir = tempfile::tempdir().expect("create temp dir for sled");
                let sled = SledBackend::open(dir.path()).expect("open sled backend");
                (Box::new(sled), Some(dir))
            }
            other => panic!("unknown backend {other}"),
        };
        Bench {
            store: Store::open(boxed, config).expect("open store"),
            index: Cell::new(0),
            _dir: dir,
        }
    }

    fn apply(&self, op: Op) {
        let index = self.index.get() + 1;
        self.index.set(index);
        let req = RaftRequest {
            id: index,
            op: Some(op),
            proposed_at_ms: 0,
            ..Default::default()
        };
        let applied = self.store.apply(index, 1, &req).expect("apply");
        black_box(applied);
    }

    /// Writes keys `key/000` .. `key/999` once each.
    fn preload(&self) {
        for i in 0..KEYS {
            self.apply(Op::Put(put(i)));
        }
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key/{:03}", i % KEYS).into_bytes()
}

fn put(i: u64) -> PutRequest {
    PutRequest {
        key: key(i),
        value: vec![b'v'; VALUE_SIZE],
        ..Default::default()
    }
}

fn bench_put(c: &mut Criterion) {
    let mut g = c.benchmark_group("put");
    g.throughput(Throughput::Elements(1));
    for backend in ["mem", "sled"] {
        let b = Bench::new(backend, StoreConfig::default());
        let mut i = 0u64;
        g.bench_function(BenchmarkId::from_parameter(backend), |bench| {
            bench.iter(|| {
                i += 1;
                b.apply(Op::Put(put(i)));
            })
        });
    }
    g.finish();
}

fn bench_range(c: &mut Criterion) {
    let mut g = c.benchmark_group("range");
    for backend in ["mem", "sled"] {
        let b = Bench::new(backend, StoreConfig::default());
        b.preload();
        let mut i = 0u64;
        g.bench_function(BenchmarkId::new("single_key", backend), |bench| {
            bench.iter(|| {
                i += 7;
                let req = RangeRequest {
                    key: key(i),
                    ..Default::default()
                };
                let resp = b.store.range(&req).expect("range");
                assert_eq!(resp.count, 1, "preloaded key must exist");
                black_box(resp);
            })
        });
        let prefix = RangeRequest {
            key: b"key/".to_vec(),
            range_end: b"key0".to_vec(),
            ..Default::default()
        };
        g.bench_function(BenchmarkId::new("prefix_1000", backend), |bench| {
            bench.iter(|| {
                let resp = b.store.range(&prefix).expect("range");
                assert_eq!(resp.kvs.len(), KEYS as usize, "prefix covers all keys");
                black_box(resp);
            })
        });
    }
    g.finish();
}

fn bench_txn(c: &mut Criterion) {
    let mut g = c.benchmark_group("txn");
    g.throughput(Throughput::Elements(1));
    let b = Bench::new("mem", StoreConfig::default());
    b.preload();
    let mut i = 0u64;
    g.bench_function("compare_put", |bench| {
        bench.iter(|| {
            i += 1;
            let txn = TxnRequest {
                compare: vec![Compare {
                    result: CompareResult::Greater as i32,
                    target: CompareTarget::Version as i32,
                    key: key(i),
                    target_union: Some(TargetUnion::Version(0)),
                    ..Default::default()
                }],
                success: vec![RequestOp {
                    request: Some(Request::RequestPut(put(i))),
                }],
                failure: vec![],
            };
            b.apply(Op::Txn(txn));
        })
    });
    g.finish();
}

fn bench_watch_history(c: &mut Criterion) {
    const READ: usize = 100;
    let mut g = c.benchmark_group("watch");
    g.throughput(Throughput::Elements(READ as u64));
    // The default ring (8192 revisions) holds all 1000: served from memory.
    // A ring of 16 revisions forces the read back to the backend rows.
    for (name, history_revisions) in [("events_since_ring", 8192), ("events_since_rows", 16)] {
        let config = StoreConfig {
            history_revisions,
            ..StoreConfig::default()
        };
        let b = Bench::new("mem", config);
        b.preload();
        let from = b.store.current_revision() - READ as i64 - 200;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                let evs = b
                    .store
                    .events_since(from, READ)
                    .expect("history not compacted");
                assert_eq!(evs.len(), READ, "one revision per put");
                black_box(evs);
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    targets = bench_put, bench_range, bench_txn, bench_watch_history
}
criterion_main!(benches);
