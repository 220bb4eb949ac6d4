//! The raft loop: the one thread that owns raft-rs's `RawNode`.
//!
//! Everything else talks to it through [`NodeMsg`] on a channel: proposals,
//! read-index requests, snapshot marks, shutdown. Each turn it ticks the clock
//! when due, drains pending messages (so many proposals share one `Ready`,
//! hence one WAL fsync) and processes the `Ready` in raft-rs's required order:
//!
//! 1. send messages a leader may send before persisting;
//! 2. hand committed entries to the apply thread;
//! 3. append new entries and the hard state to the WAL, one fsync;
//! 4. answer read-index requests whose read state arrived;
//! 5. send messages that must follow persistence; `advance`; repeat for the
//!    light ready.
//!
//! The loop runs on an OS thread, not a tokio task, because the fsync in
//! step 3 blocks by design.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::storage::MemStorage;
use raft::{RawNode, StateRole};
use tokio::sync::oneshot;

use crate::apply::ApplyMsg;
use crate::error::ServerError;
use crate::wal::{Recovered, Wal};

/// Requests to the raft loop.
pub enum NodeMsg {
    /// Append `data` (an encoded RaftRequest) to the log.
    Propose { data: Vec<u8> },
    /// Reply with an index that reads may be served at once applied.
    ReadIndex {
        reply: oneshot::Sender<Result<u64, ServerError>>,
    },
    /// The store is durable up to `index`: record a snapshot mark and release
    /// the log before it.
    Compact { index: u64, term: u64 },
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
}

pub struct NodeSettings {
    pub id: u64,
    pub voters: Vec<u64>,
    pub election_ticks: usize,
    pub tick: Duration,
    /// Index the store has durably applied; raft does not hand those out again.
    pub applied: u64,
}

/// How many read-index requests may wait for one raft read state.
const MAX_BATCH: usize = 4096;

pub struct Node {
    raw: RawNode<MemStorage>,
    wal: Wal,
    rx: Receiver<NodeMsg>,
    apply_tx: Sender<ApplyMsg>,
    info: Arc<Mutex<RaftInfo>>,
    tick: Duration,
    /// Read-index requests by context, waiting for their read state.
    pending_reads: HashMap<Vec<u8>, Vec<oneshot::Sender<Result<u64, ServerError>>>>,
    read_seq: u64,
}

impl Node {
    /// Builds the raft node from what the WAL recovered. A brand-new log is
    /// bootstrapped with `voters` as its configuration.
    pub fn new(
        settings: NodeSettings,
        mut wal: Wal,
        recovered: Recovered,
        rx: Receiver<NodeMsg>,
        apply_tx: Sender<ApplyMsg>,
        info: Arc<Mutex<RaftInfo>>,
    ) -> Result<Node, ServerError> {
        let internal = |e: &dyn std::fmt::Display| ServerError::Internal(e.to_string());
        let storage = MemStorage::new();
        let fresh =
            recovered.snapshot.get_conf_state().voters.is_empty() && recovered.entries.is_empty();
        let mut snapshot_meta = recovered.snapshot.clone();
        if fresh {
            let mut cs = ConfState::default();
            cs.voters = settings.voters.clone();
            snapshot_meta = SnapshotMetadata::default();
            snapshot_meta.set_conf_state(cs);
            wal.save_snapshot(&snapshot_meta)
                .map_err(|e| internal(&e))?;
        }
        {
            let mut core = storage.wl();
            if snapshot_meta.index > 0 {
                let mut snap = Snapshot::default();
                snap.set_metadata(snapshot_meta.clone());
                core.apply_snapshot(snap).map_err(|e| internal(&e))?;
            } else {
                core.set_conf_state(snapshot_meta.get_conf_state().clone());
            }
            core.append(&recovered.entries).map_err(|e| internal(&e))?;
            if recovered.hard_state != HardState::default() {
                // raft-rs does not require the commit index to be persisted
                // (it arrives in light readies), so the WAL's copy may lag.
                // Everything up to the snapshot mark or applied by the store
                // was committed; never restart below that.
                let mut hs = recovered.hard_state.clone();
                let last = recovered
                    .entries
                    .last()
                    .map_or(snapshot_meta.index, |e| e.index);
                hs.commit = hs
                    .commit
                    .max(snapshot_meta.index)
                    .max(settings.applied.min(last));
                core.set_hardstate(hs);
            }
        }
        let applied = settings
            .applied
            .max(snapshot_meta.index)
            .min(storage.rl().hard_state().commit.max(snapshot_meta.index));
        let cfg = raft::Config {
            id: settings.id,
            election_tick: settings.election_ticks,
            heartbeat_tick: 1,
            applied,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        cfg.validate().map_err(|e| internal(&e))?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let mut raw = RawNode::new(&cfg, storage, &logger).map_err(|e| internal(&e))?;
        if settings.voters == [settings.id]
            || snapshot_meta.get_conf_state().voters == [settings.id]
        {
            // Alone in the cluster: no reason to wait an election timeout.
            let _ = raw.campaign();
        }
        Ok(Node {
            raw,
            wal,
            rx,
            apply_tx,
            info,
            tick: settings.tick,
            pending_reads: HashMap::new(),
            read_seq: 0,
        })
    }

    /// Runs until shutdown or a fatal error (which it returns).
    pub fn run(mut self) -> Result<(), ServerError> {
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
        }
    }

    /// Handles one message; returns true on shutdown.
    fn handle(
        &mut self,
        msg: NodeMsg,
        reads: &mut Vec<oneshot::Sender<Result<u64, ServerError>>>,
    ) -> Result<bool, ServerError> {
        match msg {
            NodeMsg::Propose { data } => {
                // A dropped proposal is answered by the proposer's timeout;
                // with no leader, fail fast instead.
                if self.raw.raft.leader_id == raft::INVALID_ID {
                    tracing::debug!("proposal dropped: no leader");
                }
                let _ = self.raw.propose(Vec::new(), data);
            }
            NodeMsg::ReadIndex { reply } => reads.push(reply),
            NodeMsg::Compact { index, term } => self.compact(index, term)?,
            NodeMsg::Shutdown => return Ok(true),
        }
        Ok(false)
    }

    /// Asks raft for one read index covering every request in `reads`.
    fn request_read(&mut self, reads: Vec<oneshot::Sender<Result<u64, ServerError>>>) {
        if self.raw.raft.leader_id == raft::INVALID_ID {
            for r in reads {
                let _ = r.send(Err(ServerError::NoLeader));
            }
            return;
        }
        self.read_seq += 1;
        let ctx = self.read_seq.to_be_bytes().to_vec();
        self.raw.read_index(ctx.clone());
        self.pending_reads.insert(ctx, reads);
    }

    fn compact(&mut self, index: u64, term: u64) -> Result<(), ServerError> {
        let internal = |e: &dyn std::fmt::Display| ServerError::Internal(e.to_string());
        use raft::Storage;
        let store = self.raw.mut_store();
        let conf_state = store.initial_state().map_err(|e| internal(&e))?.conf_state;
        let mut meta = SnapshotMetadata::default();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(conf_state);
        self.wal.save_snapshot(&meta).map_err(|e| internal(&e))?;
        let first = store.first_index().map_err(|e| internal(&e))?;
        if index >= first {
            store.wl().compact(index).map_err(|e| internal(&e))?;
        }
        tracing::info!(
            index,
            segments = self.wal.segment_count(),
            "saved snapshot mark, released log"
        );
        Ok(())
    }

    fn on_ready(&mut self) -> Result<(), ServerError> {
        if !self.raw.has_ready() {
            self.publish_info();
            return Ok(());
        }
        let internal = |e: &dyn std::fmt::Display| ServerError::Internal(e.to_string());
        let mut ready = self.raw.ready();
        // Single member: there are no peers to send messages to yet.
        let _ = ready.take_messages();
        if !ready.snapshot().is_empty() {
            return Err(ServerError::Internal(
                "raft snapshot install is not supported by a single member".into(),
            ));
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
                .wl()
                .append(&entries)
                .map_err(|e| internal(&e))?;
        }
        if let Some(hs) = hs {
            self.raw.mut_store().wl().set_hardstate(hs);
        }
        for rs in ready.take_read_states() {
            if let Some(waiters) = self.pending_reads.remove(&rs.request_ctx) {
                for w in waiters {
                    let _ = w.send(Ok(rs.index));
                }
            }
        }
        let _ = ready.take_persisted_messages();
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw
                .mut_store()
                .wl()
                .mut_hard_state()
                .set_commit(commit);
        }
        let _ = light.take_messages();
        self.send_committed(light.take_committed_entries())?;
        self.raw.advance_apply();
        self.publish_info();
        Ok(())
    }

    fn send_committed(&mut self, entries: Vec<Entry>) -> Result<(), ServerError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.apply_tx
            .send(ApplyMsg::Entries(entries))
            .map_err(|_| ServerError::Stopped)
    }

    fn publish_info(&mut self) {
        let r = &self.raw.raft;
        let info = RaftInfo {
            id: r.id,
            leader: r.leader_id,
            term: r.term,
            commit: r.raft_log.committed,
            is_leader: r.state == StateRole::Leader,
        };
        if !info.is_leader && !self.pending_reads.is_empty() && info.leader == raft::INVALID_ID {
            for (_, waiters) in self.pending_reads.drain() {
                for w in waiters {
                    let _ = w.send(Err(ServerError::NoLeader));
                }
            }
        }
        *self.info.lock().expect("raft info lock") = info;
    }
}
