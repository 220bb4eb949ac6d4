//! A deterministic, single-threaded simulation of a cluster of raft loops.
//!
//! Each simulated member is the real [`Node`] (raft-rs `RawNode`, our WAL,
//! our raft storage, snapshot files) with the real apply path ([`Applier`]
//! applying to a real [`Store`]), but the network is a queue the test
//! controls and time only moves when the test ticks it. Election timeouts
//! are fixed rather than random, so a script of ticks, deliveries,
//! partitions and restarts always plays out the same way.
//!
//! The apply path is the server's, fed through the same channel, but the
//! simulation decides when it runs: right after each step by default, or
//! only when the script says `apply` once a member is set to `lag`. That is
//! how the schedules where the store trails raft (a restart replaying
//! membership, a snapshot arriving behind a backlog) are played exactly.
//!
//! Stores live in memory on a [`CrashDisk`]: what was flushed survives a
//! `crash`, what was not is lost, as after a `kill -9` of the real process.
//! A `power_loss` also loses WAL writes that were not fsynced.
//! A clean `stop` flushes first, as the binary does on SIGTERM. With the
//! `failpoints` feature a script can also arm the crash points of
//! `failpoints.rs`; a member that hits one is dropped as if it crashed.
//!
//! Used by `tests/raft_sim.rs` (data-driven scripts under
//! `tests/testdata/sim/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{ConfChangeContext, MemberRecord, RaftRequest};
use etcd_proto::etcdserverpb::PutRequest;
use etcd_store::{Store, StoreConfig};
use prost::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Message, MessageType};
use tokio::sync::{oneshot, watch};

use crate::apply::{Applier, ApplyResult, Waiters};
use crate::error::ServerError;
use crate::lessor::Lessor;
use crate::messages::{ApplyMsg, NodeMsg, RaftInfo};
use crate::node::{Node, NodeParts, NodeSettings};
use crate::recovery;
use crate::transport::Outbox;
use etcd_datadir::bootstrap;
use etcd_datadir::membership::{self, Membership};
use etcd_datadir::snap_files::SnapFiles;
use etcd_datadir::wal::{Recovered, Wal};

mod crash_disk;
mod inspect;

use crash_disk::CrashBackend;
pub use crash_disk::CrashDisk;

/// Ticks per election timeout in the simulation.
pub const ELECTION_TICKS: usize = 10;

/// Ticks a member that applied its own removal keeps running (etcd stops
/// such a member after ten ticks, so the others learn the commit).
pub const REMOVED_STOP_TICKS: usize = 10;

/// Collects a member's outgoing messages for the simulation to deliver.
#[derive(Default)]
struct Mailbox {
    queue: Mutex<Vec<Message>>,
}

impl Outbox for Mailbox {
    fn send(&self, msgs: Vec<Message>) {
        self.queue.lock().expect("mailbox lock").extend(msgs);
    }

    fn set_peers(&self, _members: &[(u64, Vec<String>)]) {}

    fn close(&self) {}
}

struct SimNode {
    node: Node,
    applier: Applier,
    /// Committed entries and snapshots the raft loop handed to the apply
    /// path and that are not applied yet.
    apply_rx: mpsc::Receiver<ApplyMsg>,
    /// Held back until the script says `apply`.
    lagging: bool,
    /// Ticks left before a member that applied its own removal stops (it
    /// keeps telling the others about the commit meanwhile, as etcd's
    /// delayed stop); its apply path is over.
    stopping: Option<usize>,
    mailbox: Arc<Mailbox>,
    store: Arc<Store>,
    waiters: Arc<Waiters>,
    membership: Arc<Membership>,
}

/// The simulated cluster.
pub struct Sim {
    dir: PathBuf,
    snapshot_count: u64,
    nodes: BTreeMap<u64, SimNode>,
    /// Each member's flushed store, by id.
    disks: BTreeMap<u64, CrashDisk>,
    /// Member records, by id, for every member ever created.
    records: BTreeMap<u64, MemberRecord>,
    /// Pairs (from, to) whose messages are dropped.
    cut: BTreeSet<(u64, u64)>,
    next_request: u64,
    pending: BTreeMap<u64, (String, oneshot::Receiver<ApplyResult>)>,
    /// Read-index requests waiting for their answer.
    reads: Vec<(String, oneshot::Receiver<Result<u64, ServerError>>)>,
    results: Vec<String>,
    /// The leader of each term seen so far; a second one is reported as a
    /// violation in the results (once).
    leaders: BTreeMap<u64, u64>,
    violations: BTreeSet<(u64, u64)>,
}

fn record(id: u64) -> MemberRecord {
    MemberRecord {
        id,
        name: format!("n{id}"),
        peer_urls: vec![format!("sim://{id}")],
        client_urls: Vec::new(),
        is_learner: false,
    }
}

impl Sim {
    /// A new cluster of members 1..=n in `dir`.
    pub fn new(dir: &Path, n: u64, snapshot_count: u64) -> Result<Sim, ServerError> {
        let mut sim = Sim {
            dir: dir.to_path_buf(),
            snapshot_count,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            records: (1..=n).map(|id| (id, record(id))).collect(),
            cut: BTreeSet::new(),
            next_request: 1,
            pending: BTreeMap::new(),
            reads: Vec::new(),
            results: Vec::new(),
            leaders: BTreeMap::new(),
            violations: BTreeSet::new(),
        };
        let initial: Vec<MemberRecord> = sim.records.values().cloned().collect();
        for id in 1..=n {
            sim.open(id, Some(&initial), false)?;
        }
        Ok(sim)
    }

    fn open(
        &mut self,
        id: u64,
        bootstrap_members: Option<&[MemberRecord]>,
        lagging: bool,
    ) -> Result<(), ServerError> {
        let internal = |e: &dyn std::fmt::Display| ServerError::Internal(e.to_string());
        let dir = self.dir.join(format!("n{id}"));
        let disk = self.disks.entry(id).or_default().clone();
        let backend = CrashBackend::open(disk).map_err(|e| internal(&e))?;
        let store = Arc::new(
            Store::open(Box::new(backend), StoreConfig::default()).map_err(|e| internal(&e))?,
        );
        let (mut wal, mut recovered) =
            Wal::open(&dir.join("wal"), 1 << 20).map_err(|e| internal(&e))?;
        if let Some(members) = bootstrap_members {
            if recovered == Recovered::default() {
                recovered =
                    bootstrap::write_initial_log(&mut wal, members).map_err(|e| internal(&e))?;
            }
        }
        let membership = Arc::new(Membership::load(&store).map_err(|e| internal(&e))?);
        let snaps = SnapFiles::new(&dir.join("snap")).map_err(|e| internal(&e))?;
        recovery::reconcile(&store, &membership, &mut wal, &mut recovered, &snaps)?;
        let mailbox = Arc::new(Mailbox::default());
        let outbox: Arc<dyn Outbox> = mailbox.clone();
        let waiters = Arc::new(Waiters::default());
        let (node_tx, node_rx) = mpsc::channel();
        let (apply_tx, apply_rx) = mpsc::channel();
        let (applied_tx, _) = watch::channel(store.applied_index());
        let applier = Applier {
            store: store.clone(),
            waiters: waiters.clone(),
            lessor: Arc::new(Lessor::default()),
            membership: membership.clone(),
            transport: outbox.clone(),
            applied_tx: Arc::new(applied_tx),
            node_tx,
            snapshot_count: self.snapshot_count,
            my_id: id,
            last_snapshot: store.applied_index(),
            tokens: Arc::new(crate::auth::TokenProvider::Simple(
                crate::auth::tokens::SimpleTokens::new(std::time::Duration::from_secs(300)),
            )),
            snaps: snaps.clone(),
        };
        let node = Node::new(NodeParts {
            settings: NodeSettings {
                id,
                election_ticks: ELECTION_TICKS,
                tick: Duration::from_millis(100),
                fixed_election_timeout: true,
                lease_based_reads: false,
            },
            wal,
            recovered,
            snaps,
            store: store.clone(),
            transport: outbox,
            rx: node_rx,
            sink: Box::new(apply_tx),
            info: Arc::new(Mutex::new(RaftInfo::default())),
            conf_state: membership::stored_conf_state(&store).map_err(|e| internal(&e))?,
        })?;
        self.nodes.insert(
            id,
            SimNode {
                node,
                applier,
                apply_rx,
                lagging,
                stopping: None,
                mailbox,
                store,
                waiters,
                membership,
            },
        );
        self.settle(id)
    }

    /// Runs the apply path of member `id` on at most `max` queued messages.
    fn apply_queued(&mut self, id: u64, max: usize) -> Result<usize, ServerError> {
        let sn = self.node(id)?;
        let SimNode {
            node,
            applier,
            apply_rx,
            ..
        } = sn;
        let mut conf = |index: u64, cc: &ConfChange| Ok(node.apply_conf_change(index, cc));
        let mut n = 0;
        while n < max {
            let Ok(msg) = apply_rx.try_recv() else { break };
            applier.apply_msg(msg, &mut conf)?;
            n += 1;
        }
        Ok(n)
    }

    /// Lets member `id` run until it has nothing left to do on its own:
    /// the apply path (unless it lags) and the messages it sends itself.
    fn settle(&mut self, id: u64) -> Result<(), ServerError> {
        for _ in 0..1000 {
            let sn = self.node(id)?;
            let lagging = sn.lagging || sn.stopping.is_some();
            let applied = if lagging {
                0
            } else {
                self.apply_queued(id, usize::MAX)?
            };
            let own = self.node(id)?.node.drain_own_messages()?;
            if applied == 0 && own == 0 {
                return Ok(());
            }
        }
        Err(ServerError::Internal(format!("n{id} never settled")))
    }

    /// Runs `f` on member `id`, then lets it settle; a member that fails
    /// (a crash point, its own removal) is dropped as if it crashed.
    fn with_node(
        &mut self,
        id: u64,
        f: impl FnOnce(&mut SimNode) -> Result<(), ServerError>,
    ) -> Result<(), ServerError> {
        let outcome = f(self.node(id)?).and_then(|()| self.settle(id));
        if let Err(e) = outcome {
            self.fail(id, e);
        }
        self.check_one_leader_per_term();
        Ok(())
    }

    /// Member `id` failed with `e`: it is dropped as if it crashed, except
    /// after applying its own removal, when it stops a few ticks later.
    fn fail(&mut self, id: u64, e: ServerError) {
        match (e, self.nodes.get_mut(&id)) {
            (ServerError::Removed, Some(sn)) if sn.stopping.is_none() => {
                sn.stopping = Some(REMOVED_STOP_TICKS);
            }
            (ServerError::Removed, Some(_)) => {}
            (e, _) => {
                self.nodes.remove(&id);
                self.results.push(format!("n{id} stopped: {e}"));
            }
        }
    }

    /// One tick closer to stopping a removed member.
    fn count_down_stop(&mut self, id: u64) {
        let Some(sn) = self.nodes.get_mut(&id) else {
            return;
        };
        match sn.stopping {
            Some(0) | Some(1) => {
                self.nodes.remove(&id);
                self.results
                    .push(format!("n{id} stopped: {}", ServerError::Removed));
            }
            Some(n) => sn.stopping = Some(n - 1),
            None => {}
        }
    }

    /// Raft's election safety: at most one leader per term, ever.
    fn check_one_leader_per_term(&mut self) {
        for (id, sn) in &self.nodes {
            let info = sn.node.info();
            if !info.is_leader {
                continue;
            }
            let first = *self.leaders.entry(info.term).or_insert(*id);
            if first != *id && self.violations.insert((info.term, *id)) {
                self.results.push(format!(
                    "VIOLATION: n{first} and n{id} are both leaders of term {}",
                    info.term
                ));
            }
        }
    }

    fn node(&mut self, id: u64) -> Result<&mut SimNode, ServerError> {
        self.nodes
            .get_mut(&id)
            .ok_or_else(|| ServerError::Internal(format!("no running member {id}")))
    }

    /// Advances member `id`'s clock by `n` ticks (all members if `None`).
    pub fn tick(&mut self, id: Option<u64>, n: usize) -> Result<(), ServerError> {
        let ids: Vec<u64> = match id {
            Some(id) => vec![id],
            None => self.nodes.keys().copied().collect(),
        };
        for _ in 0..n {
            for id in &ids {
                if self.nodes.contains_key(id) {
                    self.with_node(*id, |sn| {
                        sn.node.tick();
                        sn.node.process_ready()
                    })?;
                    self.count_down_stop(*id);
                }
            }
        }
        Ok(())
    }

    pub fn campaign(&mut self, id: u64) -> Result<(), ServerError> {
        self.with_node(id, |sn| {
            sn.node.campaign();
            sn.node.process_ready()
        })
    }

    /// Holds member `id`'s apply path back (`true`) until [`Sim::apply`],
    /// or lets it run after every step again (`false`, applying what waits).
    pub fn set_lagging(&mut self, id: u64, lagging: bool) -> Result<(), ServerError> {
        self.node(id)?.lagging = lagging;
        self.with_node(id, |_| Ok(()))
    }

    /// Runs member `id`'s apply path on at most `max` queued batches;
    /// returns how many it applied.
    pub fn apply(&mut self, id: u64, max: usize) -> Result<usize, ServerError> {
        let mut applied = 0;
        if self.node(id)?.stopping.is_some() {
            return Ok(0);
        }
        let outcome = self.apply_queued(id, max).and_then(|n| {
            applied = n;
            self.node(id)?.node.drain_own_messages().map(|_| ())
        });
        if let Err(e) = outcome {
            self.fail(id, e);
        }
        Ok(applied)
    }

    /// Delivers messages until none are in flight; returns how many were
    /// delivered (messages across a cut are dropped, not counted).
    pub fn deliver(&mut self) -> Result<usize, ServerError> {
        self.deliver_rounds(10_000, true)
    }

    /// Delivers the messages in flight `rounds` times (each round delivers
    /// what was sent before it; replies go out in the next round), so a
    /// script can stop in the middle of an exchange.
    pub fn deliver_rounds(
        &mut self,
        rounds: usize,
        until_quiet: bool,
    ) -> Result<usize, ServerError> {
        let mut delivered = 0;
        for _ in 0..rounds {
            let mut batch = Vec::new();
            for sn in self.nodes.values() {
                batch.append(&mut sn.mailbox.queue.lock().expect("mailbox lock"));
            }
            if batch.is_empty() {
                return Ok(delivered);
            }
            for m in batch {
                let (from, to) = (m.from, m.to);
                let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
                if self.cut.contains(&(from, to)) || !self.nodes.contains_key(&to) {
                    // The transport reports a snapshot it could not send
                    // (otherwise raft waits for its outcome forever).
                    if snapshot && self.nodes.contains_key(&from) {
                        self.with_node(from, |sn| {
                            sn.node.step_msg(NodeMsg::SnapshotStatus { to, ok: false })
                        })?;
                    }
                    continue;
                }
                delivered += 1;
                self.with_node(to, |sn| sn.node.step_msg(NodeMsg::Step(m)))?;
                if snapshot && self.nodes.contains_key(&from) {
                    self.with_node(from, |sn| {
                        sn.node.step_msg(NodeMsg::SnapshotStatus { to, ok: true })
                    })?;
                }
            }
            self.collect_results();
        }
        if until_quiet {
            return Err(ServerError::Internal("messages never settled".into()));
        }
        Ok(delivered)
    }

    /// Asks member `via` for a read index (a linearizable read's barrier);
    /// its answer shows in [`Sim::results`].
    pub fn read_index(&mut self, via: u64) -> Result<(), ServerError> {
        let (tx, rx) = oneshot::channel();
        self.reads.push((format!("read index via {via}"), rx));
        self.with_node(via, |sn| sn.node.step_msg(NodeMsg::ReadIndex { reply: tx }))
    }

    /// Drops messages between the groups (both directions).
    pub fn partition(&mut self, a: &[u64], b: &[u64]) {
        for x in a {
            for y in b {
                self.cut.insert((*x, *y));
                self.cut.insert((*y, *x));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Stops member `id` cleanly: the store is flushed, as the binary does
    /// on SIGTERM (its WAL and store stay on disk).
    pub fn stop(&mut self, id: u64) -> Result<(), ServerError> {
        if let Some(sn) = self.nodes.remove(&id) {
            sn.store.flush()?;
        }
        Ok(())
    }

    /// Kills member `id`: whatever its store did not flush is lost, as
    /// after `kill -9`; its WAL (fsynced on every append) stays.
    pub fn crash(&mut self, id: u64) {
        self.nodes.remove(&id);
    }

    /// Cuts member `id`'s power: as [`Sim::crash`], and what its WAL wrote
    /// but did not fsync is lost too (nothing, unless a bug acknowledged
    /// entries before their fsync).
    pub fn power_loss(&mut self, id: u64) -> Result<(), ServerError> {
        if let Some(mut sn) = self.nodes.remove(&id) {
            sn.node.lose_unsynced_writes()?;
        }
        Ok(())
    }

    /// Starts a stopped member again from its data dir (a running one is
    /// crashed first); with `lagging`, its apply path waits for `apply`.
    pub fn restart(&mut self, id: u64, lagging: bool) -> Result<(), ServerError> {
        self.crash(id);
        self.open(id, None, lagging)
    }

    /// Proposes a put through member `via`.
    pub fn put(&mut self, via: u64, key: &str, value: &str) -> Result<(), ServerError> {
        let id = self.next_request;
        self.next_request += 1;
        let req = RaftRequest {
            id,
            op: Some(Op::Put(PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            })),
            proposed_at_ms: 0,
            ..Default::default()
        };
        let rx = self.node(via)?.waiters.register(id);
        self.pending
            .insert(id, (format!("put {key}={value} via {via}"), rx));
        self.with_node(via, |sn| {
            sn.node.step_msg(NodeMsg::Propose {
                data: req.encode_to_vec(),
            })
        })?;
        self.collect_results();
        Ok(())
    }

    /// Proposes a membership change through member `via`.
    pub fn conf_change(
        &mut self,
        via: u64,
        kind: ConfChangeType,
        target: u64,
    ) -> Result<String, ServerError> {
        let request_id = self.next_request;
        self.next_request += 1;
        let member = self
            .records
            .entry(target)
            .or_insert_with(|| record(target))
            .clone();
        let mut cc = ConfChange::default();
        cc.set_change_type(kind);
        cc.node_id = target;
        cc.context = ConfChangeContext {
            request_id,
            member: Some(member),
        }
        .encode_to_vec()
        .into();
        let rx = self.node(via)?.waiters.register(request_id);
        let (tx, mut proposed) = oneshot::channel();
        self.with_node(via, |sn| {
            sn.node
                .step_msg(NodeMsg::ProposeConfChange { cc, reply: tx })
        })?;
        let outcome = match proposed.try_recv() {
            Ok(Ok(())) => "proposed".to_string(),
            Ok(Err(e)) => format!("refused: {e}"),
            Err(oneshot::error::TryRecvError::Empty) => "held".to_string(),
            Err(oneshot::error::TryRecvError::Closed) => "refused: stopped".to_string(),
        };
        self.pending
            .insert(request_id, (format!("{kind:?} {target} via {via}"), rx));
        Ok(outcome)
    }

    /// Starts a member that joins the running cluster with an empty log.
    pub fn join(&mut self, id: u64) -> Result<(), ServerError> {
        self.records.entry(id).or_insert_with(|| record(id));
        self.open(id, None, false)
    }
}
