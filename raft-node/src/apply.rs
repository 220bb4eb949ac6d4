//! The apply thread: committed entries, in log order, into the store.
//!
//! Each entry is applied with its raft index (the store persists that index
//! in the same batch as the data), then the proposer waiting on the entry's
//! request id is answered. Applying is the only place that writes the store,
//! which keeps sled to a single writer. Every `snapshot_count` entries the
//! store is flushed and the raft loop is told it may release the WAL.
//!
//! An error that is not deterministic (the disk failed) stops the member:
//! carrying on would let it diverge from the others.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_store::{Applied, Store, StoreError};
use prost::Message;
use raft::eraftpb::{Entry, EntryType};
use tokio::sync::{oneshot, watch};

use crate::error::ServerError;
use crate::lessor::Lessor;
use crate::node::NodeMsg;

pub enum ApplyMsg {
    Entries(Vec<Entry>),
}

/// The result a proposer receives.
pub type ApplyResult = Result<Applied, ServerError>;

/// Proposers waiting for their entry to be applied, by request id.
#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<u64, oneshot::Sender<ApplyResult>>>,
}

impl Waiters {
    pub fn register(&self, id: u64) -> oneshot::Receiver<ApplyResult> {
        let (tx, rx) = oneshot::channel();
        self.map.lock().expect("waiters lock").insert(id, tx);
        rx
    }

    pub fn cancel(&self, id: u64) {
        self.map.lock().expect("waiters lock").remove(&id);
    }

    fn trigger(&self, id: u64, result: ApplyResult) {
        if let Some(tx) = self.map.lock().expect("waiters lock").remove(&id) {
            let _ = tx.send(result);
        }
    }
}

pub struct Applier {
    pub store: Arc<Store>,
    pub waiters: Arc<Waiters>,
    pub lessor: Arc<Lessor>,
    pub applied_tx: watch::Sender<u64>,
    pub node_tx: Sender<NodeMsg>,
    pub snapshot_count: u64,
}

impl Applier {
    /// Applies batches until the channel closes; returns a fatal error if
    /// the store failed.
    pub fn run(self, rx: Receiver<ApplyMsg>) -> Result<(), ServerError> {
        let mut last_snapshot = self.store.applied_index();
        while let Ok(ApplyMsg::Entries(entries)) = rx.recv() {
            let mut last = None;
            for e in &entries {
                self.apply_entry(e)?;
                last = Some((e.index, e.term));
            }
            if let Some((index, term)) = last {
                self.applied_tx.send_replace(index);
                if self.snapshot_count > 0 && index - last_snapshot >= self.snapshot_count {
                    self.store.flush().map_err(fatal)?;
                    last_snapshot = index;
                    let _ = self.node_tx.send(NodeMsg::Compact { index, term });
                }
            }
        }
        Ok(())
    }

    fn apply_entry(&self, e: &Entry) -> Result<(), ServerError> {
        if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
            // Leader no-ops and configuration changes carry nothing for the
            // store; record the index so a restart does not replay them.
            return self
                .store
                .apply_cluster_rows(e.index, e.term, &[])
                .map_err(fatal);
        }
        let req = match RaftRequest::decode(e.data.as_ref()) {
            Ok(r) => r,
            Err(err) => {
                return Err(ServerError::Internal(format!(
                    "undecodable raft entry at index {}: {err}",
                    e.index
                )))
            }
        };
        let result = match self.store.apply(e.index, e.term, &req) {
            Ok(applied) => {
                self.after_apply(&req, &applied);
                Ok(applied)
            }
            Err(err) if err.is_deterministic() => Err(ServerError::Store(err)),
            Err(err) => return Err(fatal(err)),
        };
        self.waiters.trigger(req.id, result);
        Ok(())
    }

    /// Keeps the leader's lease clock in step with applied lease changes.
    fn after_apply(&self, req: &RaftRequest, applied: &Applied) {
        match (&req.op, applied) {
            (_, Applied::LeaseGrant(g)) => self.lessor.grant(g.id, g.ttl),
            (Some(Op::LeaseRevoke(r)), _) => self.lessor.remove(r.id),
            _ => {}
        }
    }
}

fn fatal(e: StoreError) -> ServerError {
    ServerError::Internal(format!("apply failed, stopping member: {e}"))
}
