//! The raft loop: the one thread that owns raft-rs's `RawNode`.
//!
//! Everything else talks to it through [`NodeMsg`] on a channel: proposals,
//! messages from peers, read-index requests, membership changes, snapshot
//! marks, what the apply path has applied, shutdown. Each turn it ticks the
//! clock when due, drains pending messages (so many proposals share one
//! `Ready`, hence one WAL fsync) and processes the `Ready` in raft-rs's
//! required order:
//!
//! 1. send messages a leader may send before persisting;
//! 2. a snapshot from the leader: its file, then its WAL mark, then it is
//!    queued for the apply path (see `snap_files.rs`);
//! 3. hand committed entries to the apply path;
//! 4. append new entries and the hard state to the WAL, one fsync;
//! 5. answer read-index requests whose read state arrived;
//! 6. send messages that must follow persistence; `advance_append`; repeat
//!    for the light ready.
//!
//! **Applied means applied to the store.** raft-rs is told an index is
//! applied only when the apply path reports it ([`NodeMsg::Applied`]), and a
//! committed ConfChange changes raft's configuration only when the apply path
//! reaches it in log order ([`NodeMsg::ApplyConfChange`]). raft-rs refuses to
//! campaign while committed configuration changes are unapplied, so a member
//! that restarts with membership still to replay cannot elect itself with a
//! configuration it has outgrown. The one exception is a snapshot: raft
//! restores its configuration from it at once, so its index counts as applied
//! from the moment it is persisted, and configuration changes below it that
//! were queued before it are answered as superseded.
//!
//! The loop runs on an OS thread, not a tokio task, because the fsync in
//! step 4 blocks by design.
//!
//! **Group commit on a busy machine.** A turn takes whatever is queued when
//! it starts. When the cores are saturated (many clients), the thread that
//! turns is woken by the first proposal and runs at once, while the workers
//! still decoding the next requests wait for a core: turns carried about 20
//! proposals each at 1 000 clients, where etcd's loop (scheduled by Go's
//! runtime) carries about 55. So when the previous turn carried at least
//! [`YIELD_AFTER`] messages, the loop yields its core once before draining
//! the queue; the workers that were waiting run first and their proposals
//! join the turn. On an idle core the yield returns at once, and a lone
//! client (turns of one message) never yields. Measured: a third of the
//! fsyncs and context switches under 1 000 clients, 12% less CPU per put
//! (benches/README.md, session 9).

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_store::Store;
use raft::eraftpb::{ConfChange, ConfState, HardState, Snapshot};
use raft::storage::MemStorage;
use raft::{RawNode, SnapshotStatus, Storage};

use crate::error::ServerError;
use crate::handoff::CommitSink;
use crate::messages::{NodeMsg, RaftInfo, Reply};
use crate::raft_storage::RaftStorage;
use crate::read_lease::ReadLease;
use crate::transport::Outbox;
use etcd_datadir::snap_files::SnapFiles;
use etcd_datadir::wal::{Recovered, Wal};

mod membership;
mod reads;
mod ready;

pub struct NodeSettings {
    pub id: u64,
    pub election_ticks: usize,
    pub tick: Duration,
    /// Use exactly `election_ticks` instead of a random timeout in
    /// [election, 2 * election) (for deterministic simulations).
    pub fixed_election_timeout: bool,
    /// Leaders answer read-index requests from their lease (see the
    /// `--experimental-lease-based-reads` flag) instead of a quorum round.
    pub lease_based_reads: bool,
}

/// How many read-index requests may wait for one raft read state.
const MAX_BATCH: usize = 4096;

/// Messages a turn must have carried for the next one to yield its core
/// before draining the queue (see the module notes).
const YIELD_AFTER: usize = 4;

/// How long a read-index request waits before it is asked again (etcd's
/// `readIndexRetryTime`): a leader drops it until it has committed an entry
/// of its term, and a request sent to a leader that lost its role is lost.
const READ_RETRY: Duration = Duration::from_millis(500);

/// Applied entries raft keeps in memory for followers that lag a little
/// (etcd's `SnapshotCatchUpEntries`). Older ones stay in the WAL until the
/// next snapshot mark (a restart replays them); a follower that needs them
/// gets a snapshot instead.
const CATCH_UP_ENTRIES: u64 = 5000;

/// Read-index requests sharing one raft request context.
struct PendingRead {
    waiters: Vec<Reply<u64>>,
    /// The tick count when the request was last sent to raft.
    sent_at: u64,
}

pub struct Node {
    raw: RawNode<RaftStorage>,
    wal: Wal,
    snaps: SnapFiles,
    transport: Arc<dyn Outbox>,
    rx: Receiver<NodeMsg>,
    sink: Box<dyn CommitSink>,
    info: Arc<Mutex<RaftInfo>>,
    tick: Duration,
    /// Ticks since start (read retries are timed in ticks).
    ticks: u64,
    read_retry_ticks: u64,
    /// The leader's read lease (off unless `--experimental-lease-based-reads`).
    lease: ReadLease,
    /// Read-index requests by context, waiting for their read state.
    pending_reads: HashMap<Vec<u8>, PendingRead>,
    read_seq: u64,
    /// Membership proposals waiting until the previous change is applied
    /// (raft-rs would silently turn them into empty entries).
    deferred_conf_changes: Vec<(ConfChange, Reply<()>)>,
    /// Index of the last snapshot raft restored from the leader: committed
    /// configuration changes at or below it are already in raft's config.
    snapshot_floor: u64,
    was_leader: bool,
    leader_epoch: u64,
    /// The only voter campaigns as soon as raft lets it (raft refuses while
    /// committed configuration changes are unapplied).
    campaign_alone: bool,
    /// This member applied its own removal: it stops soon, and until then
    /// only tells the others (heartbeats carry the commit index) and takes
    /// nothing from them (raft-rs's leader cannot handle responses once it
    /// is not in its own configuration).
    removed: bool,
    /// Messages the last turn took from the queue.
    last_turn_messages: usize,
}

/// Everything the loop is built from.
pub struct NodeParts {
    pub settings: NodeSettings,
    pub wal: Wal,
    /// What the WAL held, already reconciled with the store
    /// (`recovery::reconcile`).
    pub recovered: Recovered,
    pub snaps: SnapFiles,
    pub store: Arc<Store>,
    pub transport: Arc<dyn Outbox>,
    pub rx: Receiver<NodeMsg>,
    /// Committed entries and snapshots go here, in log order.
    pub sink: Box<dyn CommitSink>,
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
            snaps,
            store,
            transport,
            rx,
            sink,
            info,
            conf_state,
        } = parts;
        let applied = store.applied_index();
        let mut meta = recovered.snapshot.clone();
        let entries = recovered.entries;
        let wal_last = entries.last().map_or(meta.index, |e| e.index);
        if applied > wal_last || applied < meta.index {
            return Err(ServerError::Internal(format!(
                "store applied index {applied} is outside the WAL [{}, {wal_last}]: \
                 reconcile them before starting raft",
                meta.index
            )));
        }
        if let Some(cs) = conf_state {
            meta.set_conf_state(cs);
        }
        // Entries the store applied long ago stay in the WAL but not in
        // memory: raft starts from a snapshot mark just before the catch-up
        // window (the conf state is the store's, as of `applied`).
        let skip = entries
            .iter()
            .take_while(|e| e.index < applied.saturating_sub(CATCH_UP_ENTRIES))
            .count();
        let mut mem_meta = meta.clone();
        if let Some(last_skipped) = skip.checked_sub(1).map(|i| &entries[i]) {
            mem_meta.index = last_skipped.index;
            mem_meta.term = last_skipped.term;
        }
        let mem = MemStorage::new();
        {
            let mut core = mem.wl();
            if mem_meta.index > 0 {
                let mut snap = Snapshot::default();
                snap.set_metadata(mem_meta);
                core.apply_snapshot(snap).map_err(|e| internal(&e))?;
            } else {
                core.set_conf_state(meta.get_conf_state().clone());
            }
            core.append(&entries[skip..]).map_err(|e| internal(&e))?;
            let mut hs = recovered.hard_state.clone();
            // The WAL's commit index may lag (a commit learnt after the last
            // append is written with the next one). Whatever the snapshot
            // mark covers or the store applied was committed.
            hs.commit = hs.commit.max(meta.index).max(applied);
            if hs != HardState::default() {
                core.set_hardstate(hs);
            }
        }
        let cfg = raft::Config {
            id: settings.id,
            election_tick: settings.election_ticks,
            heartbeat_tick: 1,
            applied,
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
        let storage = RaftStorage {
            mem,
            store: store.clone(),
        };
        let raw = RawNode::new(&cfg, storage, &logger).map_err(|e| internal(&e))?;
        let tick_ms = settings.tick.as_millis().max(1) as u64;
        let read_retry_ticks = (READ_RETRY.as_millis() as u64).div_ceil(tick_ms).max(1);

        Ok(Node {
            raw,
            wal,
            snaps,
            transport,
            rx,
            sink,
            info,
            tick: settings.tick,
            ticks: 0,
            read_retry_ticks,
            lease: ReadLease::new(
                settings.lease_based_reads,
                settings.election_ticks,
                settings.tick,
            ),
            pending_reads: HashMap::new(),
            read_seq: 0,
            deferred_conf_changes: Vec::new(),
            snapshot_floor: meta.index,
            was_leader: false,
            leader_epoch: 0,
            campaign_alone: !settings.fixed_election_timeout,
            last_turn_messages: 0,
            removed: false,
        })
    }

    /// Runs the loop on a thread of its own (named `raft`); a failure is
    /// reported through `fatal`.
    pub fn spawn(
        self,
        fatal: tokio::sync::watch::Sender<Option<String>>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || {
                if let Err(e) = self.run() {
                    tracing::error!(error = %e, "raft loop failed");
                    fatal.send_replace(Some(e.to_string()));
                }
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
                self.tick();
                next_tick = now + self.tick;
            }
            let wait = next_tick.saturating_duration_since(Instant::now());
            let mut reads = Vec::new();
            match self.rx.recv_timeout(wait) {
                Ok(msg) => {
                    if self.last_turn_messages >= YIELD_AFTER {
                        std::thread::yield_now();
                    }
                    let mut messages = 1;
                    if self.handle(msg, &mut reads)? {
                        return Ok(());
                    }
                    while let Ok(msg) = self.rx.try_recv() {
                        messages += 1;
                        if self.handle(msg, &mut reads)? {
                            return Ok(());
                        }
                        if reads.len() >= MAX_BATCH {
                            break;
                        }
                    }
                    self.last_turn_messages = messages;
                }
                Err(RecvTimeoutError::Timeout) => self.last_turn_messages = 0,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if !reads.is_empty() {
                self.request_read(reads);
            }
            self.on_ready()?;
            self.maybe_campaign_alone()?;
        }
    }

    /// A member that is the only voter of its configuration elects itself
    /// without waiting for an election timeout. raft refuses while committed
    /// configuration changes are unapplied (a restart replaying the log that
    /// added other members), and once they apply the member is not alone.
    fn maybe_campaign_alone(&mut self) -> Result<(), ServerError> {
        if !self.campaign_alone {
            return Ok(());
        }
        let r = &self.raw.raft;
        let voters = r.prs().conf().voters();
        let count = voters.ids().len();
        if count == 0 {
            // The bootstrap configuration is not applied yet.
            return Ok(());
        }
        let alone = count == 1 && voters.contains(r.id);
        if r.leader_id != raft::INVALID_ID || !alone {
            self.campaign_alone = false;
            return Ok(());
        }
        let _ = self.raw.campaign();
        self.on_ready()
    }

    /// One clock tick (the simulation drives time itself).
    pub fn tick(&mut self) {
        self.raw.tick();
        self.ticks += 1;
        self.retry_reads();
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

    /// Messages the apply path sent to the loop (applied indexes, snapshot
    /// marks), handled. Returns how many there were.
    pub fn drain_own_messages(&mut self) -> Result<usize, ServerError> {
        let mut n = 0;
        while let Ok(msg) = self.rx.try_recv() {
            self.step_msg(msg)?;
            n += 1;
        }
        Ok(n)
    }

    /// The raft state as published.
    pub fn info(&self) -> RaftInfo {
        *self.info.lock().expect("raft info lock")
    }

    /// Zeroes WAL writes that were not fsynced, as a power loss would (for
    /// the simulation, just before it drops this member).
    pub fn lose_unsynced_writes(&mut self) -> Result<(), ServerError> {
        self.wal.lose_unsynced_writes().map_err(|e| internal(&e))
    }

    /// Index of the first entry still in the in-memory log.
    pub fn first_log_index(&self) -> u64 {
        self.raw.store().first_index().unwrap_or(0)
    }

    /// Raft's current configuration.
    pub fn conf_state(&self) -> ConfState {
        self.raw.raft.prs().conf().to_conf_state()
    }

    /// The index raft takes as applied.
    pub fn raft_applied(&self) -> u64 {
        self.raw.raft.raft_log.applied
    }

    /// Handles one message; returns true on shutdown.
    fn handle(&mut self, msg: NodeMsg, reads: &mut Vec<Reply<u64>>) -> Result<bool, ServerError> {
        match msg {
            NodeMsg::Propose { data } => {
                // A dropped proposal (no leader yet) is answered by the
                // proposer's own timeout.
                let _ = self.raw.propose(Vec::new(), data);
            }
            NodeMsg::ProposeConfChange { cc, reply } => self.propose_conf_change(cc, reply),
            NodeMsg::Step(_) if self.removed => {}
            NodeMsg::Step(mut m) => {
                self.lease.on_incoming(&mut m, self.raw.raft.term);
                if self.lease.holds_vote(&m) {
                    return Ok(false);
                }
                if let Err(e) = self.raw.step(m) {
                    tracing::debug!(error = %e, "dropped raft message");
                }
            }
            NodeMsg::ReadIndex { reply } => reads.push(reply),
            NodeMsg::ApplyConfChange { index, cc, reply } => {
                let outcome = self.apply_conf_change(index, &cc);
                let _ = reply.send(outcome);
            }
            NodeMsg::Applied(index) => self.note_applied(index),
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

    /// The store applied everything up to `index`: tell raft.
    fn note_applied(&mut self, index: u64) {
        let log = &self.raw.raft.raft_log;
        let index = index.min(log.committed).min(log.persisted);
        if index > log.applied {
            self.raw.advance_apply_to(index);
            self.trim_memory_log();
        }
        self.retry_deferred_conf_changes();
    }
}

/// Changes at or below this index are superseded by the snapshot raft
/// restored. Planted defect 4 (failpoint `plant_reapply_below_snapshot`,
/// see failpoints.rs): none is, so a change the snapshot already covers is
/// applied again on top of it.
fn superseded_below(snapshot_floor: u64) -> u64 {
    fail::fail_point!("plant_reapply_below_snapshot", |_| 0);
    snapshot_floor
}
