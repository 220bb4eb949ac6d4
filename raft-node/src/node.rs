//! The raft loop: the one thread that owns raft-rs's `RawNode`.
//!
//! Everything else talks to it through [`NodeMsg`] on a channel: proposals,
//! messages from peers, read-index requests, membership changes, snapshot
//! marks, shutdown. Each turn it ticks the clock when due, drains pending
//! messages (so many proposals share one `Ready`, hence one WAL fsync) and
//! processes the `Ready` in raft-rs's required order:
//!
//! 1. send messages a leader may send before persisting;
//! 2. install a snapshot from the leader, if any (store first, then WAL mark);
//! 3. hand committed entries to the apply thread;
//! 4. append new entries and the hard state to the WAL, one fsync;
//! 5. answer read-index requests whose read state arrived;
//! 6. send messages that must follow persistence; `advance`; repeat for the
//!    light ready.
//!
//! The loop runs on an OS thread, not a tokio task, because the fsync in
//! step 4 blocks by design.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_store::Store;
use raft::eraftpb::{ConfChange, ConfState, Entry, HardState, Message, Snapshot, SnapshotMetadata};
use raft::storage::MemStorage;
use raft::{ProgressState, RawNode, SnapshotStatus, StateRole, Storage};
use tokio::sync::{oneshot, watch};

use crate::apply::{Applier, ApplyMsg};
use crate::error::ServerError;
use crate::membership::Membership;
use crate::raft_storage::RaftStorage;
use crate::transport::Outbox;
use crate::wal::{Recovered, Wal};

/// A reply channel the raft loop answers once.
pub type Reply<T> = oneshot::Sender<Result<T, ServerError>>;

/// Requests to the raft loop.
pub enum NodeMsg {
    /// Append `data` (an encoded RaftRequest) to the log.
    Propose { data: Vec<u8> },
    /// Append a membership change to the log.
    ProposeConfChange { cc: ConfChange, reply: Reply<()> },
    /// A raft message from a peer.
    Step(Message),
    /// Reply with an index that reads may be served at once applied.
    ReadIndex { reply: Reply<u64> },
    /// A committed membership change is being applied: change raft's
    /// configuration and reply with the new one.
    ApplyConfChange {
        cc: ConfChange,
        reply: std::sync::mpsc::Sender<Result<ConfState, String>>,
    },
    /// Is learner `id` caught up enough with the leader to be promoted?
    LearnerReady { id: u64, reply: Reply<bool> },
    /// Hand leadership to `to`.
    TransferLeader { to: u64 },
    /// A peer could not be reached.
    Unreachable(u64),
    /// The outcome of sending a snapshot to a peer.
    SnapshotStatus { to: u64, ok: bool },
    /// The store is durable up to `index`: record a snapshot mark and release
    /// the log before it.
    Compact { index: u64, term: u64 },
    /// Another member refused our traffic because this member was removed
    /// from the cluster.
    Removed,
    /// Stop the loop.
    Shutdown,
}

/// What the loop publishes about itself after every turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftInfo {
    pub id: u64,
    pub leader: u64,
    pub term: u64,
    pub commit: u64,
    pub is_leader: bool,
    pub is_learner: bool,
    /// Increases every time this member becomes leader.
    pub leader_epoch: u64,
}

pub struct NodeSettings {
    pub id: u64,
    pub election_ticks: usize,
    pub tick: Duration,
    /// Use exactly `election_ticks` instead of a random timeout in
    /// [election, 2 * election) (for deterministic simulations).
    pub fixed_election_timeout: bool,
}

/// Where committed entries go.
pub enum Applying {
    /// To the apply thread (the server).
    Thread(Sender<ApplyMsg>),
    /// Applied right away on the raft loop's own thread (the deterministic
    /// simulation, where one thread runs everything).
    Inline(Box<Applier>),
}

/// How many read-index requests may wait for one raft read state.
const MAX_BATCH: usize = 4096;

pub struct Node {
    raw: RawNode<RaftStorage>,
    wal: Wal,
    store: Arc<Store>,
    membership: Arc<Membership>,
    transport: Arc<dyn Outbox>,
    rx: Receiver<NodeMsg>,
    apply: Applying,
    applied_tx: Arc<watch::Sender<u64>>,
    info: Arc<Mutex<RaftInfo>>,
    tick: Duration,
    /// Read-index requests by context, waiting for their read state.
    pending_reads: HashMap<Vec<u8>, Vec<Reply<u64>>>,
    read_seq: u64,
    was_leader: bool,
    leader_epoch: u64,
    /// The only voter campaigns as soon as raft lets it (not before its
    /// bootstrap configuration entries are handed to the apply path).
    campaign_alone: bool,
}

/// Everything the loop is built from.
pub struct NodeParts {
    pub settings: NodeSettings,
    pub wal: Wal,
    pub recovered: Recovered,
    pub store: Arc<Store>,
    pub membership: Arc<Membership>,
    pub transport: Arc<dyn Outbox>,
    pub rx: Receiver<NodeMsg>,
    pub apply: Applying,
    pub applied_tx: Arc<watch::Sender<u64>>,
    pub info: Arc<Mutex<RaftInfo>>,
    /// The configuration as of the store's applied index, if the store has one.
    pub conf_state: Option<ConfState>,
}

fn internal(e: &dyn std::fmt::Display) -> ServerError {
    ServerError::Internal(e.to_string())
}

impl Node {
    /// Builds the raft node from the WAL and the store.
    pub fn new(parts: NodeParts) -> Result<Node, ServerError> {
        let NodeParts {
            settings,
            wal,
            recovered,
            store,
            membership,
            transport,
            rx,
            apply,
            applied_tx,
            info,
            conf_state,
        } = parts;
        let applied = store.applied_index();
        let mut meta = recovered.snapshot.clone();
        let mut entries = recovered.entries;
        let wal_last = entries.last().map_or(meta.index, |e| e.index);
        if applied > wal_last {
            // The store is ahead of the log: a snapshot was installed and
            // the member stopped before its WAL mark. The store is the truth.
            meta.index = applied;
            meta.term = store.status().applied_term;
            entries.clear();
        }
        if let Some(cs) = conf_state {
            meta.set_conf_state(cs);
        }
        let mem = MemStorage::new();
        {
            let mut core = mem.wl();
            if meta.index > 0 {
                let mut snap = Snapshot::default();
                snap.set_metadata(meta.clone());
                core.apply_snapshot(snap).map_err(|e| internal(&e))?;
            } else {
                core.set_conf_state(meta.get_conf_state().clone());
            }
            core.append(&entries).map_err(|e| internal(&e))?;
            let last = entries.last().map_or(meta.index, |e| e.index);
            let mut hs = recovered.hard_state.clone();
            // raft-rs does not require the commit index to be persisted (it
            // arrives in light readies), so the WAL's copy may lag. Whatever
            // the snapshot mark covers or the store applied was committed.
            hs.commit = hs.commit.max(meta.index).max(applied.min(last));
            if hs != HardState::default() {
                core.set_hardstate(hs);
            }
        }
        let commit = mem.rl().hard_state().commit;
        let cfg = raft::Config {
            id: settings.id,
            election_tick: settings.election_ticks,
            heartbeat_tick: 1,
            applied: applied.max(meta.index).min(commit),
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            min_election_tick: if settings.fixed_election_timeout {
                settings.election_ticks
            } else {
                0
            },
            max_election_tick: if settings.fixed_election_timeout {
                settings.election_ticks + 1
            } else {
                0
            },
            ..Default::default()
        };
        cfg.validate().map_err(|e| internal(&e))?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let alone =
            meta.get_conf_state().voters == [settings.id] && !settings.fixed_election_timeout;
        let storage = RaftStorage {
            mem,
            store: store.clone(),
        };
        let raw = RawNode::new(&cfg, storage, &logger).map_err(|e| internal(&e))?;

        Ok(Node {
            raw,
            wal,
            store,
            membership,
            transport,
            rx,
            apply,
            applied_tx,
            info,
            tick: settings.tick,
            pending_reads: HashMap::new(),
            read_seq: 0,
            was_leader: false,
            leader_epoch: 0,
            campaign_alone: alone,
        })
    }

    /// Runs until shutdown or a fatal error (which it returns).
    pub fn run(mut self) -> Result<(), ServerError> {
        let result = self.run_loop();
        self.transport.close();
        result
    }

    fn run_loop(&mut self) -> Result<(), ServerError> {
        let mut next_tick = Instant::now() + self.tick;
        loop {
            let now = Instant::now();
            if now >= next_tick {
                self.raw.tick();
                next_tick = now + self.tick;
            }
            let wait = next_tick.saturating_duration_since(Instant::now());
            let mut reads = Vec::new();
            match self.rx.recv_timeout(wait) {
                Ok(msg) => {
                    if self.handle(msg, &mut reads)? {
                        return Ok(());
                    }
                    while let Ok(msg) = self.rx.try_recv() {
                        if self.handle(msg, &mut reads)? {
                            return Ok(());
                        }
                        if reads.len() >= MAX_BATCH {
                            break;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if !reads.is_empty() {
                self.request_read(reads);
            }
            self.on_ready()?;
            if self.campaign_alone {
                // Refused while committed configuration entries are not
                // yet handed to the apply path; retried on the next turn.
                if self.raw.raft.leader_id != raft::INVALID_ID {
                    self.campaign_alone = false;
                } else {
                    let _ = self.raw.campaign();
                    self.on_ready()?;
                }
            }
        }
    }

    /// One clock tick (the simulation drives time itself).
    pub fn tick(&mut self) {
        self.raw.tick();
    }

    /// Starts an election at once.
    pub fn campaign(&mut self) {
        let _ = self.raw.campaign();
    }

    /// Handles one request as the loop would, then processes the resulting
    /// ready state (for the simulation; read-index requests are answered
    /// through their reply channel).
    pub fn step_msg(&mut self, msg: NodeMsg) -> Result<(), ServerError> {
        let mut reads = Vec::new();
        self.handle(msg, &mut reads)?;
        if !reads.is_empty() {
            self.request_read(reads);
        }
        self.on_ready()
    }

    /// Processes whatever raft has ready.
    pub fn process_ready(&mut self) -> Result<(), ServerError> {
        self.on_ready()
    }

    /// Messages the apply path sent to the loop (snapshot marks), handled.
    pub fn drain_own_messages(&mut self) -> Result<(), ServerError> {
        while let Ok(msg) = self.rx.try_recv() {
            self.step_msg(msg)?;
        }
        Ok(())
    }

    /// The raft state as published.
    pub fn info(&self) -> RaftInfo {
        *self.info.lock().expect("raft info lock")
    }

    /// Number of WAL segment files.
    pub fn wal_segments(&self) -> usize {
        self.wal.segment_count()
    }

    /// Index of the first entry still in the in-memory log.
    pub fn first_log_index(&self) -> u64 {
        self.raw.store().first_index().unwrap_or(0)
    }

    /// Handles one message; returns true on shutdown.
    fn handle(&mut self, msg: NodeMsg, reads: &mut Vec<Reply<u64>>) -> Result<bool, ServerError> {
        match msg {
            NodeMsg::Propose { data } => {
                // A dropped proposal (no leader yet) is answered by the
                // proposer's own timeout.
                let _ = self.raw.propose(Vec::new(), data);
            }
            NodeMsg::ProposeConfChange { cc, reply } => {
                let result = self
                    .raw
                    .propose_conf_change(Vec::new(), cc)
                    .map_err(|e| match e {
                        raft::Error::ProposalDropped => ServerError::NoLeader,
                        e => internal(&e),
                    });
                let _ = reply.send(result);
            }
            NodeMsg::Step(m) => {
                if let Err(e) = self.raw.step(m) {
                    tracing::debug!(error = %e, "dropped raft message");
                }
            }
            NodeMsg::ReadIndex { reply } => reads.push(reply),
            NodeMsg::ApplyConfChange { cc, reply } => {
                let result = self.raw.apply_conf_change(&cc).map_err(|e| e.to_string());
                if let Ok(cs) = &result {
                    self.raw.mut_store().mem.wl().set_conf_state(cs.clone());
                }
                let _ = reply.send(result);
            }
            NodeMsg::LearnerReady { id, reply } => {
                let _ = reply.send(self.learner_ready(id));
            }
            NodeMsg::TransferLeader { to } => self.raw.transfer_leader(to),
            NodeMsg::Unreachable(id) => self.raw.report_unreachable(id),
            NodeMsg::SnapshotStatus { to, ok } => {
                let status = if ok {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.raw.report_snapshot(to, status);
            }
            NodeMsg::Compact { index, term } => self.compact(index, term)?,
            NodeMsg::Removed => return Err(ServerError::Removed),
            NodeMsg::Shutdown => return Ok(true),
        }
        Ok(false)
    }

    /// etcd's rule: a learner may be promoted once its log matches at least
    /// 90% of the leader's.
    fn learner_ready(&self, id: u64) -> Result<bool, ServerError> {
        if self.raw.raft.state != StateRole::Leader {
            return Err(ServerError::NotLeader);
        }
        let leader_match = self.raw.raft.raft_log.last_index();
        let Some(pr) = self.raw.raft.prs().get(id) else {
            return Ok(false);
        };
        Ok(pr.state != ProgressState::Snapshot && pr.matched as f64 >= leader_match as f64 * 0.9)
    }

    /// Asks raft for one read index covering every request in `reads`.
    fn request_read(&mut self, reads: Vec<Reply<u64>>) {
        if self.raw.raft.leader_id == raft::INVALID_ID {
            for r in reads {
                let _ = r.send(Err(ServerError::NoLeader));
            }
            return;
        }
        self.read_seq += 1;
        // The leader keys pending reads by context: make it unique across
        // members, or two followers' reads would collide.
        let mut ctx = self.raw.raft.id.to_be_bytes().to_vec();
        ctx.extend_from_slice(&self.read_seq.to_be_bytes());
        self.raw.read_index(ctx.clone());
        self.pending_reads.insert(ctx, reads);
    }

    fn compact(&mut self, index: u64, term: u64) -> Result<(), ServerError> {
        let store = self.raw.mut_store();
        let conf_state = store.initial_state().map_err(|e| internal(&e))?.conf_state;
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..Default::default()
        };
        meta.set_conf_state(conf_state);
        self.wal.save_snapshot(&meta).map_err(|e| internal(&e))?;
        let first = store.first_index().map_err(|e| internal(&e))?;
        let last = store.last_index().map_err(|e| internal(&e))?;
        if index >= first && index <= last {
            store.mem.wl().compact(index).map_err(|e| internal(&e))?;
        }
        tracing::info!(
            index,
            segments = self.wal.segment_count(),
            "saved snapshot mark, released log"
        );
        Ok(())
    }

    /// Installs a snapshot received from the leader: the store first (the
    /// data and its applied index, atomically), then raft's log, then the WAL
    /// mark that releases the old log.
    fn install_snapshot(&mut self, snap: &Snapshot) -> Result<(), ServerError> {
        let meta = snap.get_metadata().clone();
        tracing::info!(
            index = meta.index,
            term = meta.term,
            bytes = snap.data.len(),
            "installing snapshot from leader"
        );
        self.store
            .install_snapshot(&snap.data)
            .map_err(|e| internal(&e))?;
        self.membership
            .reload(&self.store)
            .map_err(|e| internal(&e))?;
        let peers: Vec<(u64, Vec<String>)> = self
            .membership
            .list()
            .into_iter()
            .map(|m| (m.id, m.peer_urls))
            .collect();
        self.transport.set_peers(&peers);
        let mut bare = Snapshot::default();
        bare.set_metadata(meta.clone());
        self.raw
            .mut_store()
            .mem
            .wl()
            .apply_snapshot(bare)
            .map_err(|e| internal(&e))?;
        self.wal.save_snapshot(&meta).map_err(|e| internal(&e))?;
        let index = meta.index;
        self.applied_tx.send_if_modified(|a| {
            let newer = index > *a;
            if newer {
                *a = index;
            }
            newer
        });
        Ok(())
    }

    fn on_ready(&mut self) -> Result<(), ServerError> {
        if !self.raw.has_ready() {
            self.publish_info();
            return Ok(());
        }
        let mut ready = self.raw.ready();
        self.transport.send(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let snap = ready.snapshot().clone();
            self.install_snapshot(&snap)?;
        }
        self.send_committed(ready.take_committed_entries())?;
        let entries = ready.take_entries();
        let hs = ready.hs().cloned();
        self.wal
            .append(&entries, hs.as_ref())
            .map_err(|e| internal(&e))?;
        if !entries.is_empty() {
            self.raw
                .mut_store()
                .mem
                .wl()
                .append(&entries)
                .map_err(|e| internal(&e))?;
        }
        if let Some(hs) = hs {
            self.raw.mut_store().mem.wl().set_hardstate(hs);
        }
        for rs in ready.take_read_states() {
            if let Some(waiters) = self.pending_reads.remove(&rs.request_ctx) {
                for w in waiters {
                    let _ = w.send(Ok(rs.index));
                }
            }
        }
        self.transport.send(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw
                .mut_store()
                .mem
                .wl()
                .mut_hard_state()
                .set_commit(commit);
        }
        self.transport.send(light.take_messages());
        self.send_committed(light.take_committed_entries())?;
        self.raw.advance_apply();
        self.publish_info();
        Ok(())
    }

    fn send_committed(&mut self, entries: Vec<Entry>) -> Result<(), ServerError> {
        if entries.is_empty() {
            return Ok(());
        }
        let Node { raw, apply, .. } = self;
        match apply {
            Applying::Thread(tx) => tx
                .send(ApplyMsg::Entries(entries))
                .map_err(|_| ServerError::Stopped),
            Applying::Inline(applier) => {
                let mut conf = |cc: &ConfChange| {
                    let cs = raw.apply_conf_change(cc).map_err(|e| e.to_string())?;
                    raw.mut_store().mem.wl().set_conf_state(cs.clone());
                    Ok(cs)
                };
                applier.apply_batch(&entries, &mut conf)
            }
        }
    }

    fn publish_info(&mut self) {
        let r = &self.raw.raft;
        let is_leader = r.state == StateRole::Leader;
        if is_leader && !self.was_leader {
            self.leader_epoch += 1;
        }
        self.was_leader = is_leader;
        let info = RaftInfo {
            id: r.id,
            leader: r.leader_id,
            term: r.term,
            commit: r.raft_log.committed,
            is_leader,
            is_learner: r.prs().conf().learners().contains(&r.id),
            leader_epoch: self.leader_epoch,
        };
        if info.leader == raft::INVALID_ID && !self.pending_reads.is_empty() {
            for (_, waiters) in self.pending_reads.drain() {
                for w in waiters {
                    let _ = w.send(Err(ServerError::NoLeader));
                }
            }
        }
        *self.info.lock().expect("raft info lock") = info;
    }
}
