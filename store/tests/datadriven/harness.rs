//! The harness: a sled store and a memory store fed the same entries, and
//! the commands run against them.

use std::path::Path;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, LeaseGrantRequest, LeaseRevokeRequest, TxnRequest,
};
use etcd_store::{validate, Applied, MemBackend, SledBackend, Store, StoreConfig, StoreError};

use crate::compare::*;
use crate::parse::*;
use crate::render::*;
use crate::{MAX_TXN_OPS, TERM};

// ---------------------------------------------------------------------------
// The harness: a sled store and a memory store fed the same entries
// ---------------------------------------------------------------------------

pub(crate) struct Harness {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: Option<Store>,
    pub(crate) shadow: Store,
    pub(crate) index: u64,
}

pub(crate) fn config() -> StoreConfig {
    StoreConfig::default()
}

/// Opens the sled store in `dir`. sled 0.34 finishes writes of a dropped
/// database on its own thread pool, which keeps the directory's file lock for
/// a moment after the drop: reopening in the same process retries until the
/// lock is free.
pub(crate) fn open_sled(dir: &Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let backend = loop {
        match SledBackend::open(dir) {
            Ok(b) => break b,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                assert!(std::time::Instant::now() < deadline, "sled lock held: {e}");
                std::thread::yield_now();
            }
            Err(e) => panic!("open sled: {e}"),
        }
    };
    Store::open(Box::new(backend), config()).expect("open store")
}

pub(crate) fn open_mem() -> Store {
    Store::open(Box::new(MemBackend::default()), config()).expect("open mem store")
}

impl Harness {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_sled(dir.path());
        Harness {
            dir,
            store: Some(store),
            shadow: open_mem(),
            index: 0,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        self.store.as_ref().expect("store open")
    }

    /// Applies `op` to both stores at `index` (default: the next index) and
    /// checks what must hold whatever the request was.
    pub(crate) fn apply(
        &mut self,
        op: Option<Op>,
        index: Option<u64>,
    ) -> Result<Applied, StoreError> {
        let index = index.unwrap_or(self.index + 1);
        self.index = self.index.max(index);
        let req = RaftRequest {
            id: 0,
            op,
            proposed_at_ms: 0,
            ..Default::default()
        };
        let before = self.store().status();
        let got = self.store().apply(index, TERM, &req);
        let shadow = self.shadow.apply(index, TERM, &req);
        assert_eq!(got, shadow, "sled and memory stores answered differently");
        let after = self.store().status();
        if index <= before.applied_index {
            assert_eq!(got, Ok(Applied::Nothing), "old entry must be skipped");
            assert_eq!(before.revision, after.revision);
            assert_eq!(before.applied_index, after.applied_index);
        } else {
            assert_eq!(after.applied_index, index, "applied index must move");
            assert_eq!(after.applied_term, TERM);
        }
        if let Err(e) = &got {
            assert!(e.is_deterministic(), "non-deterministic error {e}");
            assert_eq!(
                before.revision, after.revision,
                "failed request made a revision"
            );
        }
        assert!(after.revision == before.revision || after.revision == before.revision + 1);
        assert_eq!(*self.store().subscribe().borrow(), after.revision);
        got
    }

    pub(crate) fn run(&mut self, input: &[String]) -> Vec<String> {
        let toks = tokenize(&input[0]);
        let cmd = toks[0].as_str();
        let args = Args::parse(&toks[1..]);
        let body = &input[1..];
        if cmd != "txn" {
            assert!(body.is_empty(), "{cmd} takes no body");
        }
        let index = args.opt_u64("index");
        match cmd {
            "put" => {
                let req = parse_put(&args);
                if let Err(e) = validate::check_put(&req) {
                    return vec![format!("invalid: {e}")];
                }
                render_applied(self.apply(Some(Op::Put(req)), index))
            }
            "del" => {
                let req = parse_del(&args);
                if let Err(e) = validate::check_delete(&req) {
                    return vec![format!("invalid: {e}")];
                }
                render_applied(self.apply(Some(Op::DeleteRange(req)), index))
            }
            "txn" => {
                let mut lines = body.iter();
                let req = parse_txn(&mut lines, false);
                if !args.flag("novalidate") {
                    if let Err(e) = validate::check_txn(&req, MAX_TXN_OPS) {
                        return vec![format!("invalid: {e}")];
                    }
                }
                if args.flag("readonly") {
                    return self.txn_read_only(&req);
                }
                render_applied(self.apply(Some(Op::Txn(req)), index))
            }
            "cluster" => {
                let index = index.unwrap_or(self.index + 1);
                self.index = self.index.max(index);
                let value = match args.pos(1) {
                    "-" => None,
                    v => Some(unescape(v)),
                };
                let rows = [(args.pos(0).to_string(), value)];
                for store in [self.store(), &self.shadow] {
                    store
                        .apply_cluster_rows(index, TERM, &rows)
                        .expect("cluster rows");
                }
                vec![format!("applied_index={}", self.store().applied_index())]
            }
            "cluster-get" => {
                let got = self.store().cluster_get(args.pos(0)).expect("cluster_get");
                assert_eq!(got, self.shadow.cluster_get(args.pos(0)).unwrap());
                vec![got.map_or("none".into(), |v| esc(&v))]
            }
            "get" => {
                let req = parse_get(&args);
                if let Err(e) = validate::check_range(&req) {
                    return vec![format!("invalid: {e}")];
                }
                let got = self.store().range(&req);
                assert_eq!(got, self.shadow.range(&req), "stores read differently");
                match got {
                    Ok(r) => render_range(&r),
                    Err(e) => vec![format!("error: {e}")],
                }
            }
            "compact" => {
                let revision = args.pos_i64(0);
                let op = Op::Compaction(CompactionRequest {
                    revision,
                    physical: false,
                });
                render_applied(self.apply(Some(op), index))
            }
            "lease-grant" => {
                let op = Op::LeaseGrant(LeaseGrantRequest {
                    id: args.pos_i64(0),
                    ttl: args.pos_i64(1),
                });
                render_applied(self.apply(Some(op), index))
            }
            "lease-revoke" => {
                let op = Op::LeaseRevoke(LeaseRevokeRequest {
                    id: args.pos_i64(0),
                });
                render_applied(self.apply(Some(op), index))
            }
            "leases" => {
                let out = render_leases(self.store());
                assert_eq!(out, render_leases(&self.shadow));
                out
            }
            "alarm" => {
                let action = match args.pos(0) {
                    "activate" => AlarmAction::Activate,
                    "deactivate" => AlarmAction::Deactivate,
                    "get" => AlarmAction::Get,
                    a => panic!("unknown alarm action {a}"),
                };
                let alarm = match args.opt("type") {
                    None => AlarmType::None,
                    Some("nospace") => AlarmType::Nospace,
                    Some("corrupt") => AlarmType::Corrupt,
                    Some(t) => panic!("unknown alarm type {t}"),
                };
                let op = Op::Alarm(AlarmRequest {
                    action: action as i32,
                    member_id: args.opt_u64("member").unwrap_or(0),
                    alarm: alarm as i32,
                });
                let mut out = render_applied(self.apply(Some(op), index));
                out.push(format!("raised: {:?}", self.store().alarms()));
                out
            }
            "noop" => render_applied(self.apply(None, index)),
            "watch-events" => {
                let from = args.opt_i64("from").expect("from=N");
                let max = args.opt_u64("max").map_or(usize::MAX, |m| m as usize);
                let got = events(self.store(), from, max);
                assert_eq!(
                    got,
                    events(&self.shadow, from, max),
                    "stores' histories differ"
                );
                match got {
                    Err(c) => vec![format!("error: compacted at {c}")],
                    Ok(evs) if evs.is_empty() => vec!["no events".into()],
                    Ok(evs) => render_events(&evs),
                }
            }
            "status" => {
                let s = self.store().status();
                vec![format!(
                    "rev={} compacted={} applied_index={} applied_term={}",
                    s.revision, s.compacted_revision, s.applied_index, s.applied_term
                )]
            }
            "hash" => {
                let rev = args.opt_i64("rev").unwrap_or(0);
                let got = self.store().hash_kv(rev);
                assert_eq!(got, self.shadow.hash_kv(rev), "stores hash differently");
                match got {
                    Err(e) => vec![format!("error: {e}")],
                    Ok((_, compacted, hashed)) => {
                        assert_eq!(
                            self.store().hash_all().unwrap(),
                            self.shadow.hash_all().unwrap(),
                            "backends hold different rows"
                        );
                        vec![format!("equal compacted={compacted} hashed_rev={hashed}")]
                    }
                }
            }
            "restart" => {
                let before = Fingerprint::of(self.store());
                self.store().flush().expect("flush");
                drop(self.store.take());
                self.store = Some(open_sled(self.dir.path()));
                let after = Fingerprint::of(self.store());
                assert_eq!(before, after, "restart changed the store");
                vec![format!(
                    "rev={} compacted={} applied_index={}",
                    after.revision, after.compacted, after.applied_index
                )]
            }
            "snapshot" => check_snapshot(self.store()),
            _ => panic!("unknown command {cmd}"),
        }
    }

    /// etcd's read path for txns that cannot write: answered without the
    /// log, and without any trace in either store.
    pub(crate) fn txn_read_only(&self, req: &TxnRequest) -> Vec<String> {
        let before = Fingerprint::of(self.store());
        let got = self.store().txn_read_only(req);
        assert_eq!(
            got,
            self.shadow.txn_read_only(req),
            "stores answered differently"
        );
        assert_eq!(
            Fingerprint::of(self.store()),
            before,
            "read-only txn left a trace"
        );
        assert_eq!(
            Fingerprint::of(&self.shadow),
            before,
            "read-only txn left a trace"
        );
        match got {
            None => vec!["not read-only".into()],
            Some(Err(e)) => vec![format!("error: {e}")],
            Some(Ok(t)) => render_txn(&t),
        }
    }

    pub(crate) fn check_stores_agree(&self) {
        let a = Fingerprint::of(self.store());
        let b = Fingerprint::of(&self.shadow);
        assert_eq!(a, b, "sled and memory stores diverged");
    }
}
