//! The apply thread: committed entries and leader snapshots, in log order,
//! into the store.
//!
//! Entries are applied in groups with their raft index (the store persists
//! the last index of a group in the same batch as the data; see
//! `etcd_store::ApplyGroup`), then the proposers waiting on the group's
//! request ids are answered. Applying is the only place that writes the store,
//! which keeps sled to a single writer. After each batch the raft loop is
//! told how far the store got ([`NodeMsg::Applied`]): that, and nothing
//! earlier, is what raft takes as applied. A committed ConfChange is handed
//! to the raft loop when it is reached, so raft's configuration changes in
//! log order with the store's member rows. A snapshot from the leader is
//! installed in its place in the same order, after the entries queued before
//! it. Every `snapshot_count` entries the store is flushed and the raft loop
//! is told it may release the WAL.
//!
//! An error that is not deterministic (the disk failed, the raft loop
//! stopped) stops the member without recording the entry as applied:
//! carrying on would let it diverge from the others.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{ConfChangeContext, RaftRequest};
use etcd_store::{Applied, ApplyGroup, Store, StoreError};
use prost::Message;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType, SnapshotMetadata};
use tokio::sync::{oneshot, watch};

use crate::auth::TokenProvider;
use crate::error::ServerError;
use crate::failpoints::crash_point;
use crate::lessor::Lessor;
use crate::messages::{ApplyMsg, ConfChangeOutcome, NodeMsg};
use crate::transport::Outbox;
use etcd_datadir::membership::Membership;
use etcd_datadir::snap_files::SnapFiles;

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

    pub fn trigger(&self, id: u64, result: ApplyResult) {
        if let Some(tx) = self.map.lock().expect("waiters lock").remove(&id) {
            let _ = tx.send(result);
        }
    }
}

pub struct Applier {
    pub store: Arc<Store>,
    pub waiters: Arc<Waiters>,
    pub lessor: Arc<Lessor>,
    pub membership: Arc<Membership>,
    pub transport: Arc<dyn Outbox>,
    pub applied_tx: Arc<watch::Sender<u64>>,
    pub node_tx: Sender<NodeMsg>,
    pub snapshot_count: u64,
    pub my_id: u64,
    /// Applied index at the last snapshot mark.
    pub last_snapshot: u64,
    /// Simple tokens are assigned and dropped as auth entries apply.
    pub tokens: Arc<TokenProvider>,
    /// Received snapshot files, deleted once the store holds them.
    pub snaps: SnapFiles,
}

/// Hands the committed ConfChange at an index to raft and answers what
/// became of it; an error means raft could not be asked (it stopped), which
/// says nothing about the change. On the apply thread this is a round trip
/// to the raft loop.
pub type ConfChanger<'a> =
    dyn FnMut(u64, &ConfChange) -> Result<ConfChangeOutcome, ServerError> + 'a;

impl Applier {
    /// Applies one message from the raft loop.
    pub fn apply_msg(
        &mut self,
        msg: ApplyMsg,
        conf: &mut ConfChanger<'_>,
    ) -> Result<(), ServerError> {
        match msg {
            ApplyMsg::Entries(entries) => self.apply_batch(&entries, conf),
            ApplyMsg::Snapshot { meta, data } => self.install_snapshot(&meta, &data),
        }
    }

    /// Replaces the store with a leader's snapshot (durably), then the
    /// member list and peers it carries.
    fn install_snapshot(
        &mut self,
        meta: &SnapshotMetadata,
        data: &[u8],
    ) -> Result<(), ServerError> {
        crash_point!("apply_snapshot_before_install");
        self.store.install_snapshot(data).map_err(fatal)?;
        crash_point!("apply_snapshot_after_install");
        self.membership.reload(&self.store).map_err(fatal)?;
        self.transport.set_peers(&self.peer_list());
        self.last_snapshot = meta.index;
        tracing::info!(
            index = meta.index,
            term = meta.term,
            "installed snapshot from leader"
        );
        if let Err(e) = self.snaps.remove_up_to(meta.index) {
            tracing::warn!(error = %e, "could not delete installed snapshot file");
        }
        self.publish_applied(meta.index);
        Ok(())
    }

    /// Tells the server and the raft loop that the store reached `index`.
    fn publish_applied(&self, index: u64) {
        self.applied_tx.send_if_modified(|a| {
            let newer = index > *a;
            if newer {
                *a = index;
            }
            newer
        });
        let _ = self.node_tx.send(NodeMsg::Applied(index));
    }

    /// Applies committed entries in order, in groups (one store lock and
    /// one backend batch for a run of requests; membership entries apply
    /// on their own), answers their proposers once each group is written,
    /// then publishes the applied index and, every `snapshot_count` entries,
    /// flushes the store and asks the raft loop to release the WAL.
    pub fn apply_batch(
        &mut self,
        entries: &[Entry],
        conf: &mut ConfChanger<'_>,
    ) -> Result<(), ServerError> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let store = self.store.clone();
        let mut group = None;
        let mut replies = Vec::new();
        for e in entries {
            match decode(e)? {
                Decoded::ConfChange => {
                    self.answer_group(group.take(), &mut replies)?;
                    self.apply_conf_change(e, conf)?;
                }
                Decoded::Members(req) => {
                    self.answer_group(group.take(), &mut replies)?;
                    self.apply_member_rows(e, &req)?;
                }
                Decoded::Empty => {
                    // Leader no-ops carry nothing for the store; the index
                    // is recorded so a restart does not replay them.
                    let g = group.get_or_insert_with(|| store.begin_group());
                    g.apply_cluster_rows(e.index, e.term, &[]);
                }
                Decoded::Request(req) => {
                    let g = group.get_or_insert_with(|| store.begin_group());
                    let result = match g.apply(e.index, e.term, &req) {
                        Ok(applied) => Ok(applied),
                        Err(err) if err.is_deterministic() => Err(ServerError::Store(err)),
                        Err(err) => return Err(fatal(err)),
                    };
                    replies.push((req, result));
                }
            }
            if group.as_ref().is_some_and(|g| {
                g.len() >= MAX_GROUP_ENTRIES || g.pending_bytes() >= MAX_GROUP_BYTES
            }) {
                self.answer_group(group.take(), &mut replies)?;
            }
        }
        self.answer_group(group.take(), &mut replies)?;
        let (index, term) = (last.index, last.term);
        self.publish_applied(index);
        if self.snapshot_count > 0
            && index.saturating_sub(self.last_snapshot) >= self.snapshot_count
        {
            self.store.flush().map_err(fatal)?;
            self.last_snapshot = index;
            let _ = self.node_tx.send(NodeMsg::Compact { index, term });
        }
        Ok(())
    }

    /// Writes the group (if any), then answers the proposers of its
    /// requests: only then can they read what they wrote.
    fn answer_group(
        &self,
        group: Option<ApplyGroup<'_>>,
        replies: &mut Vec<(RaftRequest, ApplyResult)>,
    ) -> Result<(), ServerError> {
        if let Some(group) = group {
            group.commit().map_err(fatal)?;
        }
        if replies.is_empty() {
            return Ok(());
        }
        crash_point!("apply_before_reply");
        for (req, result) in replies.drain(..) {
            if let Ok(applied) = &result {
                self.after_apply(&req, applied);
            }
            self.waiters.trigger(req.id, result);
        }
        Ok(())
    }

    fn peer_list(&self) -> Vec<(u64, Vec<String>)> {
        self.membership
            .list()
            .into_iter()
            .map(|m| (m.id, m.peer_urls))
            .collect()
    }

    /// Applies a committed membership change: raft's configuration first
    /// (in the raft loop), then the member rows with the entry's index.
    fn apply_conf_change(&self, e: &Entry, conf: &mut ConfChanger<'_>) -> Result<(), ServerError> {
        let cc = ConfChange::parse_from_bytes(&e.data).map_err(|err| {
            ServerError::Internal(format!("bad conf change at {}: {err}", e.index))
        })?;
        let ctx = if cc.context.is_empty() {
            ConfChangeContext::default()
        } else {
            ConfChangeContext::decode(cc.context.as_ref()).map_err(|err| {
                ServerError::Internal(format!("bad conf change context at {}: {err}", e.index))
            })?
        };
        // An error here (raft could not be asked) is not the change's fault:
        // it propagates and the index stays unapplied, to be replayed.
        let outcome = hand_to_raft(conf, e.index, &cc)?;
        let conf_state = match outcome {
            ConfChangeOutcome::Applied(cs) => cs,
            ConfChangeOutcome::Superseded(_) => {
                // A snapshot already carried this change; the store gets its
                // member rows when that snapshot is installed, next.
                self.store
                    .apply_cluster_rows(e.index, e.term, &[])
                    .map_err(fatal)?;
                self.waiters.trigger(ctx.request_id, Ok(Applied::Nothing));
                return Ok(());
            }
            ConfChangeOutcome::Refused(reason) => {
                tracing::warn!(index = e.index, %reason, "raft refused a membership change");
                self.store
                    .apply_cluster_rows(e.index, e.term, &[])
                    .map_err(fatal)?;
                self.waiters
                    .trigger(ctx.request_id, Err(ServerError::Internal(reason)));
                return Ok(());
            }
        };
        let rows = self
            .membership
            .apply_conf_change(&cc, ctx.member.as_ref(), &conf_state);
        self.store
            .apply_cluster_rows(e.index, e.term, &rows)
            .map_err(fatal)?;
        self.transport.set_peers(&self.peer_list());
        tracing::info!(
            index = e.index,
            change = ?cc.get_change_type(),
            member = %format!("{:x}", cc.node_id),
            voters = ?conf_state.voters,
            learners = ?conf_state.learners,
            "applied membership change"
        );
        self.waiters.trigger(ctx.request_id, Ok(Applied::Nothing));
        if cc.get_change_type() == ConfChangeType::RemoveNode && cc.node_id == self.my_id {
            return Err(ServerError::Removed);
        }
        Ok(())
    }

    /// Member attributes or peer URLs: the member list changes with the
    /// store's rows.
    fn apply_member_rows(&self, e: &Entry, req: &RaftRequest) -> Result<(), ServerError> {
        let rows = match &req.op {
            Some(Op::MemberAttributes(a)) => {
                self.membership
                    .set_attributes(a.id, &a.name, &a.client_urls)
            }
            Some(Op::MemberUpdate(m)) => {
                let rows = self.membership.set_peer_urls(m.id, &m.peer_urls);
                self.transport.set_peers(&self.peer_list());
                rows
            }
            _ => Vec::new(),
        };
        self.store
            .apply_cluster_rows(e.index, e.term, &rows)
            .map_err(fatal)?;
        self.waiters.trigger(req.id, Ok(Applied::Nothing));
        Ok(())
    }

    /// Keeps the leader's lease clock in step with applied lease changes,
    /// and this member's simple tokens with applied auth changes.
    fn after_apply(&self, req: &RaftRequest, applied: &Applied) {
        match (&req.op, applied) {
            (_, Applied::LeaseGrant(g)) => self.lessor.grant(g.id, g.ttl),
            (Some(Op::LeaseRevoke(r)), _) => self.lessor.remove(r.id),
            _ => {}
        }
        let TokenProvider::Simple(simple) = self.tokens.as_ref() else {
            return;
        };
        match (&req.op, applied) {
            (_, Applied::Authenticated { user, token }) if !token.is_empty() => {
                simple.assign(token, user)
            }
            (Some(Op::UserDelete(u)), _) => simple.invalidate_user(&u.name),
            (Some(Op::UserChangePassword(u)), _) => simple.invalidate_user(&u.name),
            (Some(Op::AuthDisable(_)), _) => simple.clear(),
            _ => {}
        }
    }
}

/// At most this many entries, or this many bytes of new rows, share one
/// store batch: a long catch-up is written in pieces, and holds the store's
/// lock against readers for a bounded time.
const MAX_GROUP_ENTRIES: usize = 1024;
const MAX_GROUP_BYTES: usize = 8 << 20;

/// What a committed entry asks of the apply path.
enum Decoded {
    /// A membership change: raft's configuration, then the member rows.
    ConfChange,
    /// Member attributes or peer URLs (rows of the member list).
    Members(RaftRequest),
    /// Nothing for the store (a leader's empty entry).
    Empty,
    /// A request for the store.
    Request(RaftRequest),
}

fn decode(e: &Entry) -> Result<Decoded, ServerError> {
    if e.get_entry_type() == EntryType::EntryConfChange {
        return Ok(Decoded::ConfChange);
    }
    if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
        return Ok(Decoded::Empty);
    }
    let req = RaftRequest::decode(e.data.as_ref()).map_err(|err| {
        ServerError::Internal(format!(
            "undecodable raft entry at index {}: {err}",
            e.index
        ))
    })?;
    Ok(match req.op {
        Some(Op::MemberAttributes(_) | Op::MemberUpdate(_)) => Decoded::Members(req),
        _ => Decoded::Request(req),
    })
}

/// Hands a committed ConfChange to raft. The failpoint stands for a raft
/// loop that stopped while the apply path was reaching the change.
fn hand_to_raft(
    conf: &mut ConfChanger<'_>,
    index: u64,
    cc: &ConfChange,
) -> Result<ConfChangeOutcome, ServerError> {
    fail::fail_point!("conf_change_raft_unreachable", |_| Err(
        ServerError::Stopped
    ));
    conf(index, cc)
}

fn fatal(e: StoreError) -> ServerError {
    ServerError::Internal(format!("apply failed, stopping member: {e}"))
}
