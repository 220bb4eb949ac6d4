//! A deterministic, single-threaded simulation of a cluster of raft loops.
//!
//! Each simulated member is the real [`Node`] (raft-rs `RawNode`, our WAL,
//! our raft storage, snapshot install) with the real apply path ([`Applier`]
//! applying inline to a real [`Store`] on sled), but the network is a queue
//! the test controls and time only moves when the test ticks it. Election
//! timeouts are fixed rather than random, so a script of ticks, deliveries,
//! partitions and restarts always plays out the same way.
//!
//! Used by `tests/raft_sim.rs` (data-driven scripts under
//! `tests/testdata/sim/`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{ConfChangeContext, MemberRecord, RaftRequest};
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};
use etcd_store::{SledBackend, Store, StoreConfig, StoreError};
use prost::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Message, MessageType};
use tokio::sync::{oneshot, watch};

use crate::apply::{Applier, ApplyResult, Waiters};
use crate::bootstrap;
use crate::error::ServerError;
use crate::lessor::Lessor;
use crate::membership::{self, Membership};
use crate::node::{Applying, Node, NodeMsg, NodeParts, NodeSettings, RaftInfo};
use crate::transport::Outbox;
use crate::wal::{Recovered, Wal};

/// Ticks per election timeout in the simulation.
pub const ELECTION_TICKS: usize = 10;

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
    /// Member records, by id, for every member ever created.
    records: BTreeMap<u64, MemberRecord>,
    /// Pairs (from, to) whose messages are dropped.
    cut: BTreeSet<(u64, u64)>,
    next_request: u64,
    pending: BTreeMap<u64, (String, oneshot::Receiver<ApplyResult>)>,
    results: Vec<String>,
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

fn open_store(dir: &Path) -> Result<Store, StoreError> {
    // sled may hold its lock for a moment after a member was dropped.
    let mut tries = 0;
    loop {
        match SledBackend::open(dir) {
            Ok(b) => return Store::open(Box::new(b), StoreConfig::default()),
            Err(e) if tries < 200 => {
                tries += 1;
                let _ = e;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

impl Sim {
    /// A new cluster of members 1..=n in `dir`.
    pub fn new(dir: &Path, n: u64, snapshot_count: u64) -> Result<Sim, ServerError> {
        let mut sim = Sim {
            dir: dir.to_path_buf(),
            snapshot_count,
            nodes: BTreeMap::new(),
            records: (1..=n).map(|id| (id, record(id))).collect(),
            cut: BTreeSet::new(),
            next_request: 1,
            pending: BTreeMap::new(),
            results: Vec::new(),
        };
        let initial: Vec<MemberRecord> = sim.records.values().cloned().collect();
        for id in 1..=n {
            sim.open(id, Some(&initial))?;
        }
        Ok(sim)
    }

    fn open(
        &mut self,
        id: u64,
        bootstrap_members: Option<&[MemberRecord]>,
    ) -> Result<(), ServerError> {
        let internal = |e: &dyn std::fmt::Display| ServerError::Internal(e.to_string());
        let dir = self.dir.join(format!("n{id}"));
        let store = Arc::new(open_store(&dir.join("db")).map_err(|e| internal(&e))?);
        let (mut wal, mut recovered) =
            Wal::open(&dir.join("wal"), 1 << 20).map_err(|e| internal(&e))?;
        if let Some(members) = bootstrap_members {
            if recovered == Recovered::default() {
                recovered =
                    bootstrap::write_initial_log(&mut wal, members).map_err(|e| internal(&e))?;
            }
        }
        let membership = Arc::new(Membership::load(&store).map_err(|e| internal(&e))?);
        let mailbox = Arc::new(Mailbox::default());
        let outbox: Arc<dyn Outbox> = mailbox.clone();
        let waiters = Arc::new(Waiters::default());
        let (node_tx, node_rx) = mpsc::channel();
        let (applied_tx, _) = watch::channel(store.applied_index());
        let applied_tx = Arc::new(applied_tx);
        let applier = Applier {
            store: store.clone(),
            waiters: waiters.clone(),
            lessor: Arc::new(Lessor::default()),
            membership: membership.clone(),
            transport: outbox.clone(),
            applied_tx: applied_tx.clone(),
            node_tx,
            snapshot_count: self.snapshot_count,
            my_id: id,
            last_snapshot: store.applied_index(),
            tokens: Arc::new(crate::auth::TokenProvider::Simple(
                crate::auth::tokens::SimpleTokens::new(std::time::Duration::from_secs(300)),
            )),
        };
        let node = Node::new(NodeParts {
            settings: NodeSettings {
                id,
                election_ticks: ELECTION_TICKS,
                tick: Duration::from_millis(100),
                fixed_election_timeout: true,
            },
            wal,
            recovered,
            store: store.clone(),
            membership: membership.clone(),
            transport: outbox,
            rx: node_rx,
            apply: Applying::Inline(Box::new(applier)),
            applied_tx,
            info: Arc::new(Mutex::new(RaftInfo::default())),
            conf_state: membership::stored_conf_state(&store).map_err(|e| internal(&e))?,
        })?;
        self.nodes.insert(
            id,
            SimNode {
                node,
                mailbox,
                store,
                waiters,
                membership,
            },
        );
        Ok(())
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
                let sn = self.node(*id)?;
                sn.node.tick();
                sn.node.process_ready()?;
                sn.node.drain_own_messages()?;
            }
        }
        Ok(())
    }

    pub fn campaign(&mut self, id: u64) -> Result<(), ServerError> {
        let sn = self.node(id)?;
        sn.node.campaign();
        sn.node.process_ready()
    }

    /// Delivers messages until none are in flight; returns how many were
    /// delivered (messages across a cut are dropped, not counted).
    pub fn deliver(&mut self) -> Result<usize, ServerError> {
        let mut delivered = 0;
        for _ in 0..10_000 {
            let mut batch = Vec::new();
            for sn in self.nodes.values() {
                batch.append(&mut sn.mailbox.queue.lock().expect("mailbox lock"));
            }
            if batch.is_empty() {
                return Ok(delivered);
            }
            for m in batch {
                if self.cut.contains(&(m.from, m.to)) || !self.nodes.contains_key(&m.to) {
                    continue;
                }
                let (from, to) = (m.from, m.to);
                let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
                delivered += 1;
                let sn = self.node(to)?;
                let stepped = sn
                    .node
                    .step_msg(NodeMsg::Step(m))
                    .and_then(|()| sn.node.drain_own_messages());
                if let Err(e) = stepped {
                    // The member stopped itself (e.g. it applied its own
                    // removal), as the real process would exit.
                    self.nodes.remove(&to);
                    self.results.push(format!("n{to} stopped: {e}"));
                    continue;
                }
                if snapshot {
                    if let Some(sender) = self.nodes.get_mut(&from) {
                        sender
                            .node
                            .step_msg(NodeMsg::SnapshotStatus { to, ok: true })?;
                    }
                }
            }
            self.collect_results();
        }
        Err(ServerError::Internal("messages never settled".into()))
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

    /// Stops member `id` (its WAL and store stay on disk).
    pub fn stop(&mut self, id: u64) {
        self.nodes.remove(&id);
    }

    /// Starts a stopped member again from its data dir.
    pub fn restart(&mut self, id: u64) -> Result<(), ServerError> {
        self.nodes.remove(&id);
        self.open(id, None)
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
        let sn = self.node(via)?;
        let rx = sn.waiters.register(id);
        sn.node.step_msg(NodeMsg::Propose {
            data: req.encode_to_vec(),
        })?;
        self.pending
            .insert(id, (format!("put {key}={value} via {via}"), rx));
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
        let sn = self.node(via)?;
        let rx = sn.waiters.register(request_id);
        let (tx, proposed) = oneshot::channel();
        sn.node
            .step_msg(NodeMsg::ProposeConfChange { cc, reply: tx })?;
        let outcome = match proposed.blocking_recv() {
            Ok(Ok(())) => "proposed".to_string(),
            Ok(Err(e)) => format!("refused: {e}"),
            Err(_) => "refused: stopped".to_string(),
        };
        self.pending
            .insert(request_id, (format!("{kind:?} {target} via {via}"), rx));
        Ok(outcome)
    }

    /// Starts a member that joins the running cluster with an empty log.
    pub fn join(&mut self, id: u64) -> Result<(), ServerError> {
        self.records.entry(id).or_insert_with(|| record(id));
        self.open(id, None)
    }

    fn collect_results(&mut self) {
        let mut done = Vec::new();
        for (id, (what, rx)) in self.pending.iter_mut() {
            let outcome = match rx.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => continue,
                Ok(Ok(_)) => "ok".to_string(),
                Ok(Err(e)) => format!("error: {e}"),
                Err(oneshot::error::TryRecvError::Closed) => "dropped".to_string(),
            };
            self.results.push(format!("{what}: {outcome}"));
            done.push(*id);
        }
        for id in done {
            self.pending.remove(&id);
        }
    }

    /// Outcomes of proposals since the last call (applied on the member
    /// that proposed them); proposals still waiting are listed as pending.
    pub fn results(&mut self) -> Vec<String> {
        self.collect_results();
        let mut out = std::mem::take(&mut self.results);
        for (what, _) in self.pending.values() {
            out.push(format!("{what}: pending"));
        }
        out
    }

    /// One line per running member.
    pub fn status(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(id, sn)| {
                let info = sn.node.info();
                let role = if info.is_leader {
                    "leader"
                } else if info.leader == 0 {
                    "no-leader"
                } else {
                    "follower"
                };
                let members: Vec<String> = sn
                    .membership
                    .list()
                    .iter()
                    .map(|m| format!("{}{}", m.id, if m.is_learner { "L" } else { "" }))
                    .collect();
                format!(
                    "n{id}: {role} term={} leader={} commit={} applied={} rev={} members=[{}]",
                    info.term,
                    info.leader,
                    info.commit,
                    sn.store.applied_index(),
                    sn.store.current_revision(),
                    members.join(",")
                )
            })
            .collect()
    }

    /// Member `id`'s local value of `key`.
    pub fn get(&self, id: u64, key: &str) -> Result<String, ServerError> {
        let sn = self
            .nodes
            .get(&id)
            .ok_or_else(|| ServerError::Internal(format!("no running member {id}")))?;
        let resp = sn.store.range(&RangeRequest {
            key: key.into(),
            serializable: true,
            ..Default::default()
        })?;
        Ok(match resp.kvs.first() {
            Some(kv) => format!(
                "{}={} mod={}",
                String::from_utf8_lossy(&kv.key),
                String::from_utf8_lossy(&kv.value),
                kv.mod_revision
            ),
            None => format!("{key}: not found"),
        })
    }

    /// HashKV of every running member at `rev`.
    pub fn hashes(&self, rev: i64) -> Result<HashMap<u64, u32>, ServerError> {
        let mut out = HashMap::new();
        for (id, sn) in &self.nodes {
            out.insert(*id, sn.store.hash_kv(rev)?.0);
        }
        Ok(out)
    }

    /// First index still in member `id`'s in-memory log.
    pub fn first_log_index(&self, id: u64) -> Option<u64> {
        self.nodes.get(&id).map(|sn| sn.node.first_log_index())
    }
}
