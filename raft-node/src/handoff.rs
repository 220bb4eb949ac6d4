//! How committed entries get from the raft loop to the store.
//!
//! The raft loop hands everything it commits, in log order, to a
//! [`CommitSink`]; it does not know what is behind it. The simulation puts
//! a plain channel there and applies when its script says so. A running
//! member puts a [`Handoff`]: a queue to the apply thread, which applies in
//! groups while the raft loop goes on to the next fsync, plus one shortcut.
//!
//! The shortcut: a lone client's put crossed three threads (the request's
//! task wakes the raft loop, the raft loop wakes the apply thread, the
//! apply thread wakes the request's task), and on a virtual machine every
//! wake-up of an idle thread is an interrupt to another CPU, tens of
//! microseconds each. So when the apply thread has nothing queued and is
//! not applying (its lock is free), a few ordinary entries are applied
//! right on the raft thread, under the same lock. Order holds: everything
//! handed over earlier has been applied (nothing is queued), and the apply
//! thread takes the lock for every message it applies. Configuration
//! changes and snapshots always go through the queue: applying a
//! configuration change asks the raft loop and waits for its answer, which
//! the raft loop cannot give itself. Under load the queue is rarely empty,
//! so big groups keep going to the apply thread and the pipeline stays.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_store::Store;

use raft::eraftpb::{ConfChange, Entry, EntryType, SnapshotMetadata};

use crate::apply::Applier;
use crate::error::ServerError;
use crate::messages::{ApplyMsg, NodeMsg};

/// At most this many entries are applied on the raft thread at once.
const INLINE_MAX_ENTRIES: usize = 8;

/// Where the raft loop hands committed entries and leader snapshots, in
/// log order.
pub trait CommitSink: Send {
    /// Committed entries, in order.
    fn entries(&mut self, entries: Vec<Entry>) -> Result<(), ServerError>;
    /// A leader's snapshot, durable in its file and marked in the WAL.
    fn snapshot(&mut self, meta: SnapshotMetadata, data: Vec<u8>) -> Result<(), ServerError>;
}

/// A queue for whoever applies (the simulation's apply path).
impl CommitSink for Sender<ApplyMsg> {
    fn entries(&mut self, entries: Vec<Entry>) -> Result<(), ServerError> {
        self.send(ApplyMsg::Entries(entries))
            .map_err(|_| ServerError::Stopped)
    }

    fn snapshot(&mut self, meta: SnapshotMetadata, data: Vec<u8>) -> Result<(), ServerError> {
        self.send(ApplyMsg::Snapshot { meta, data })
            .map_err(|_| ServerError::Stopped)
    }
}

/// The applier and how much is queued for it, shared by both threads.
struct Shared {
    applier: Mutex<Applier>,
    /// Messages sent to the apply thread and not applied yet.
    queued: AtomicUsize,
    /// Applying on the raft thread failed (the member stops; the apply
    /// thread must then not flush the store, as after its own failures).
    failed: AtomicBool,
}

/// The raft loop's side: the queue, and the shortcut (see the module notes).
pub struct Handoff {
    tx: Sender<ApplyMsg>,
    shared: Arc<Shared>,
}

/// The apply thread's side.
pub struct ApplyThread {
    rx: Receiver<ApplyMsg>,
    shared: Arc<Shared>,
}

/// Splits `applier` into the raft loop's sink and the apply thread's loop.
pub fn handoff(applier: Applier) -> (Handoff, ApplyThread) {
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = Arc::new(Shared {
        applier: Mutex::new(applier),
        queued: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    });
    (
        Handoff {
            tx,
            shared: shared.clone(),
        },
        ApplyThread { rx, shared },
    )
}

impl Handoff {
    fn queue(&mut self, msg: ApplyMsg) -> Result<(), ServerError> {
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        self.tx.send(msg).map_err(|_| ServerError::Stopped)
    }

    /// Applies `entries` here if they are few and ordinary and the apply
    /// thread is idle with nothing queued; gives them back otherwise.
    fn try_inline(&mut self, entries: Vec<Entry>) -> Result<Option<Vec<Entry>>, ServerError> {
        let ordinary = !inline_apply_off()
            && entries.len() <= INLINE_MAX_ENTRIES
            && entries
                .iter()
                .all(|e| e.get_entry_type() == EntryType::EntryNormal);
        if !ordinary || self.shared.queued.load(Ordering::SeqCst) != 0 {
            return Ok(Some(entries));
        }
        let Ok(mut applier) = self.shared.applier.try_lock() else {
            return Ok(Some(entries));
        };
        // The apply thread counts a message applied before it lets go of
        // the lock, so nothing sent earlier is still waiting.
        if self.shared.queued.load(Ordering::SeqCst) != 0 {
            return Ok(Some(entries));
        }
        let mut no_conf_changes = |index: u64, _: &ConfChange| {
            Err(ServerError::Internal(format!(
                "configuration change at {index} handed to the raft thread's apply"
            )))
        };
        if let Err(e) = applier.apply_batch(&entries, &mut no_conf_changes) {
            self.shared.failed.store(true, Ordering::SeqCst);
            return Err(e);
        }
        Ok(None)
    }
}

/// Test hook (failpoint `apply_inline_off`): everything goes through the
/// apply thread (with `apply_thread_delay`, a store that trails raft).
fn inline_apply_off() -> bool {
    fail::fail_point!("apply_inline_off", |_| true);
    false
}

impl CommitSink for Handoff {
    fn entries(&mut self, entries: Vec<Entry>) -> Result<(), ServerError> {
        match self.try_inline(entries)? {
            None => Ok(()),
            Some(entries) => self.queue(ApplyMsg::Entries(entries)),
        }
    }

    fn snapshot(&mut self, meta: SnapshotMetadata, data: Vec<u8>) -> Result<(), ServerError> {
        self.queue(ApplyMsg::Snapshot { meta, data })
    }
}

impl ApplyThread {
    /// Runs the apply path on a thread of its own (named `apply`). A member
    /// that applied its own removal stops `removed_stop_delay` later, as
    /// etcd (so the others learn that the removal committed); any stop is
    /// reported through `fatal`. The store is flushed at the end only after
    /// a clean stop: after a failure the disk may be what failed (sled can
    /// wait forever on a full one), and the WAL replays what the store lost.
    pub fn spawn(
        self,
        node_tx: Sender<NodeMsg>,
        store: Arc<Store>,
        removed_stop_delay: Duration,
        fatal: tokio::sync::watch::Sender<Option<String>>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("apply".into())
            .spawn(move || {
                let clean = match self.run(node_tx) {
                    Ok(()) => true,
                    Err(ServerError::Removed) => {
                        tracing::warn!("this member was removed; stopping shortly");
                        std::thread::sleep(removed_stop_delay);
                        fatal.send_replace(Some(ServerError::Removed.to_string()));
                        true
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "apply stopped");
                        fatal.send_replace(Some(e.to_string()));
                        false
                    }
                };
                if clean {
                    if let Err(e) = store.flush() {
                        tracing::error!(error = %e, "final store flush failed");
                    }
                }
            })
    }

    /// Applies what the raft loop queues until it stops; returns a fatal
    /// error if the store failed, here or on the raft thread (or this
    /// member was removed).
    pub fn run(self, node_tx: Sender<NodeMsg>) -> Result<(), ServerError> {
        let mut via_raft_loop = |index: u64, cc: &ConfChange| {
            let (tx, rx) = std::sync::mpsc::channel();
            node_tx
                .send(NodeMsg::ApplyConfChange {
                    index,
                    cc: cc.clone(),
                    reply: tx,
                })
                .map_err(|_| ServerError::Stopped)?;
            rx.recv().map_err(|_| ServerError::Stopped)
        };
        let mut next = None;
        loop {
            let msg = match next.take() {
                Some(msg) => msg,
                None => match self.rx.recv() {
                    Ok(msg) => msg,
                    Err(_) if self.shared.failed.load(Ordering::SeqCst) => {
                        return Err(ServerError::Internal(
                            "applying committed entries on the raft thread failed".into(),
                        ))
                    }
                    Err(_) => return Ok(()),
                },
            };
            // Test hook: a slow apply path (the store trails raft by as
            // long as the failpoint sleeps).
            fail::fail_point!("apply_thread_delay");
            let mut applier = self.shared.applier.lock().expect("applier lock");
            // Entries queued behind these are applied with them, in one
            // group: the raft loop hands over committed entries up to twice
            // per turn, and more turns pass while a group is written.
            let mut taken = 1;
            let msg = match msg {
                ApplyMsg::Entries(mut entries) => {
                    while let Ok(more) = self.rx.try_recv() {
                        match more {
                            ApplyMsg::Entries(e) => {
                                entries.extend(e);
                                taken += 1;
                            }
                            other => {
                                // Still counted as queued until applied.
                                next = Some(other);
                                break;
                            }
                        }
                    }
                    ApplyMsg::Entries(entries)
                }
                other => other,
            };
            applier.apply_msg(msg, &mut via_raft_loop)?;
            self.shared.queued.fetch_sub(taken, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use etcd_proto::etcdrs::raft_request::Op;
    use etcd_proto::etcdrs::RaftRequest;
    use etcd_proto::etcdserverpb::PutRequest;
    use etcd_store::{FaultyBackend, Store, StoreConfig};
    use prost::Message as _;
    use raft::eraftpb::Message;

    use super::*;
    use crate::apply::Waiters;
    use crate::auth::tokens::SimpleTokens;
    use crate::auth::TokenProvider;
    use crate::lessor::Lessor;
    use crate::transport::Outbox;
    use etcd_datadir::membership::Membership;
    use etcd_datadir::snap_files::SnapFiles;

    struct NoPeers;

    impl Outbox for NoPeers {
        fn send(&self, _: Vec<Message>) {}
        fn set_peers(&self, _: &[(u64, Vec<String>)]) {}
        fn close(&self) {}
    }

    fn put(index: u64, key: &str) -> Entry {
        let req = RaftRequest {
            id: index,
            op: Some(Op::Put(PutRequest {
                key: key.as_bytes().to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        };
        Entry {
            index,
            term: 1,
            data: req.encode_to_vec().into(),
            ..Default::default()
        }
    }

    fn conf_change(index: u64) -> Entry {
        let mut e = put(index, "unused");
        e.set_entry_type(EntryType::EntryConfChange);
        e
    }

    /// A handoff over an in-memory store (whose writes fail once the
    /// returned flag is set), and the raft loop's channel.
    #[allow(clippy::type_complexity)]
    fn setup(
        dir: &std::path::Path,
    ) -> (
        Handoff,
        ApplyThread,
        Arc<Store>,
        std::sync::mpsc::Receiver<NodeMsg>,
        Arc<AtomicBool>,
    ) {
        let backend = FaultyBackend::default();
        let broken = backend.fail_writes.clone();
        let store = Arc::new(Store::open(Box::new(backend), StoreConfig::default()).unwrap());
        let (node_tx, node_rx) = std::sync::mpsc::channel();
        let (applied_tx, _) = tokio::sync::watch::channel(0);
        let (handoff, thread) = handoff(Applier {
            store: store.clone(),
            waiters: Arc::new(Waiters::default()),
            lessor: Arc::new(Lessor::default()),
            membership: Arc::new(Membership::load(&store).unwrap()),
            transport: Arc::new(NoPeers),
            applied_tx: Arc::new(applied_tx),
            node_tx,
            snapshot_count: 0,
            my_id: 1,
            last_snapshot: 0,
            tokens: Arc::new(TokenProvider::Simple(SimpleTokens::new(
                std::time::Duration::from_secs(300),
            ))),
            snaps: SnapFiles::new(dir).unwrap(),
        });
        (handoff, thread, store, node_rx, broken)
    }

    #[test]
    fn few_entries_apply_on_the_raft_thread_only_when_nothing_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let (mut handoff, thread, store, node_rx, _) = setup(dir.path());
        // Idle apply path: applied at once, here.
        handoff.entries(vec![put(1, "a"), put(2, "b")]).unwrap();
        assert_eq!(store.applied_index(), 2);
        // Too many at once: queued for the apply thread.
        handoff
            .entries(
                (3..3 + INLINE_MAX_ENTRIES as u64 + 1)
                    .map(|i| put(i, "c"))
                    .collect(),
            )
            .unwrap();
        assert_eq!(store.applied_index(), 2);
        // With something queued, even one entry waits its turn behind it.
        let last = 3 + INLINE_MAX_ENTRIES as u64 + 1;
        handoff.entries(vec![put(last, "d")]).unwrap();
        assert_eq!(store.applied_index(), 2);
        // A configuration change is never applied on the raft thread (it
        // asks the raft loop, which cannot answer itself).
        assert!(handoff
            .try_inline(vec![conf_change(last + 1)])
            .unwrap()
            .is_some());

        // The apply thread applies the queue in order; then the raft
        // thread may apply again.
        let applying = std::thread::spawn(move || thread.run(std::sync::mpsc::channel().0));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // (The count drops once a message is applied, just after the
        // store's index moves.)
        while handoff.shared.queued.load(Ordering::SeqCst) != 0 {
            assert!(std::time::Instant::now() < deadline, "queue not applied");
            std::thread::yield_now();
        }
        assert_eq!(store.applied_index(), last);
        handoff.entries(vec![put(last + 1, "e")]).unwrap();
        assert_eq!(store.applied_index(), last + 1);
        let rev = |key: &str| {
            store
                .range(&etcd_proto::etcdserverpb::RangeRequest {
                    key: key.as_bytes().to_vec(),
                    ..Default::default()
                })
                .unwrap()
                .kvs[0]
                .mod_revision
        };
        // Log order is revision order, across both paths.
        assert!(
            rev("a") < rev("b")
                && rev("b") < rev("c")
                && rev("c") < rev("d")
                && rev("d") < rev("e")
        );
        drop(handoff);
        applying.join().unwrap().unwrap();
        // Every applied batch was reported to the raft loop.
        let reported: Vec<u64> = node_rx
            .try_iter()
            .filter_map(|m| match m {
                NodeMsg::Applied(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(reported.last(), Some(&(last + 1)));
    }

    #[test]
    fn a_failed_apply_on_the_raft_thread_makes_the_apply_thread_fail_too() {
        let dir = tempfile::tempdir().unwrap();
        let (mut handoff, thread, _store, _node_rx, broken) = setup(dir.path());
        handoff.entries(vec![put(1, "a")]).unwrap();
        broken.store(true, Ordering::SeqCst);
        assert!(handoff.entries(vec![put(2, "b")]).is_err());
        // The raft loop stops; the apply thread then reports a failure, so
        // the member does not flush a store whose disk failed.
        drop(handoff);
        assert!(thread.run(std::sync::mpsc::channel().0).is_err());
    }
}
