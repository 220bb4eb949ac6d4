//! What a simulation script observes: proposal results, leaders, member
//! lists, status lines, values, hashes and raft configurations.

use std::collections::{BTreeMap, HashMap};

use etcd_proto::etcdserverpb::RangeRequest;
use tokio::sync::oneshot;

use crate::error::ServerError;

use super::*;

impl Sim {
    pub(super) fn collect_results(&mut self) {
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
        let mut still = Vec::new();
        for (what, mut rx) in std::mem::take(&mut self.reads) {
            let outcome = match rx.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => {
                    still.push((what, rx));
                    continue;
                }
                Ok(Ok(index)) => format!("index {index}"),
                Ok(Err(e)) => format!("error: {e}"),
                Err(oneshot::error::TryRecvError::Closed) => "dropped".to_string(),
            };
            self.results.push(format!("{what}: {outcome}"));
        }
        self.reads = still;
    }

    /// Outcomes of proposals that finished since the last call (and events
    /// such as members stopping), without the pending ones.
    pub fn results_done(&mut self) -> Vec<String> {
        self.collect_results();
        std::mem::take(&mut self.results)
    }

    /// Outcomes of proposals since the last call (applied on the member
    /// that proposed them); proposals still waiting are listed as pending.
    pub fn results(&mut self) -> Vec<String> {
        self.collect_results();
        let mut out = std::mem::take(&mut self.results);
        for (what, _) in self.pending.values() {
            out.push(format!("{what}: pending"));
        }
        for (what, _) in &self.reads {
            out.push(format!("{what}: pending"));
        }
        out
    }

    /// Ids of the running members.
    pub fn running(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// The running member that leads the highest term, if any.
    pub fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .map(|(id, sn)| (*id, sn.node.info()))
            .filter(|(_, info)| info.is_leader)
            .max_by_key(|(_, info)| info.term)
            .map(|(id, _)| id)
    }

    /// The member list as member `id`'s store has it.
    pub fn members_of(&self, id: u64) -> Vec<u64> {
        self.nodes.get(&id).map_or_else(Vec::new, |sn| {
            sn.membership.list().iter().map(|m| m.id).collect()
        })
    }

    /// Whether member `id` holds its apply path back.
    pub fn is_lagging(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|sn| sn.lagging)
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

    /// HashKV of every running member at `rev` (but removed ones).
    pub fn hashes(&self, rev: i64) -> Result<HashMap<u64, u32>, ServerError> {
        let mut out = HashMap::new();
        // A removed member on its way out has nothing to agree on.
        for (id, sn) in self.nodes.iter().filter(|(_, sn)| sn.stopping.is_none()) {
            out.insert(*id, sn.store.hash_kv(rev)?.0);
        }
        Ok(out)
    }

    /// Every running member's raft configuration and member list (but
    /// removed ones on their way out).
    pub fn configurations(&self) -> BTreeMap<u64, String> {
        self.nodes
            .iter()
            .filter(|(_, sn)| sn.stopping.is_none())
            .map(|(id, sn)| {
                let members: Vec<u64> = sn.membership.list().iter().map(|m| m.id).collect();
                (*id, format!("{} members={members:?}", raft_conf(sn)))
            })
            .collect()
    }

    /// Member `id`'s raft configuration and what raft takes as applied.
    pub fn conf(&self, id: u64) -> Option<String> {
        self.nodes.get(&id).map(|sn| {
            format!(
                "{} raft-applied={} store-applied={}",
                raft_conf(sn),
                sn.node.raft_applied(),
                sn.store.applied_index()
            )
        })
    }

    /// First index still in member `id`'s in-memory log.
    pub fn first_log_index(&self, id: u64) -> Option<u64> {
        self.nodes.get(&id).map(|sn| sn.node.first_log_index())
    }
}

/// A member's raft configuration, sorted: `voters=[..] learners=[..]`.
pub(super) fn raft_conf(sn: &SimNode) -> String {
    let cs = sn.node.conf_state();
    let mut voters = cs.voters.clone();
    voters.sort_unstable();
    let mut learners = cs.learners.clone();
    learners.sort_unstable();
    format!("voters={voters:?} learners={learners:?}")
}
