//! Membership on the raft loop: conf-change proposals (one unapplied at a
//! time, the rest deferred), raft's configuration changed when the apply
//! path reaches a committed change, and the learner readiness check.

use raft::eraftpb::ConfChange;
use raft::{ProgressState, StateRole};

use crate::error::ServerError;
use crate::messages::{ConfChangeOutcome, Reply};

use super::*;

impl Node {
    /// Proposes a membership change, or holds it while the leader still has
    /// an unapplied one (raft-rs would replace it by an empty entry and the
    /// proposer would wait for nothing).
    pub(super) fn propose_conf_change(&mut self, cc: ConfChange, reply: Reply<()>) {
        if self.raw.raft.state == StateRole::Leader && self.raw.raft.has_pending_conf() {
            self.deferred_conf_changes.push((cc, reply));
            return;
        }
        let result = self
            .raw
            .propose_conf_change(Vec::new(), cc)
            .map_err(|e| match e {
                raft::Error::ProposalDropped => ServerError::NoLeader,
                e => internal(&e),
            });
        let _ = reply.send(result);
    }

    /// Proposes the held membership changes once the leader has applied
    /// the previous one, or as soon as this member is no longer the leader
    /// (raft forwards or refuses them then).
    pub(super) fn retry_deferred_conf_changes(&mut self) {
        let r = &self.raw.raft;
        if self.deferred_conf_changes.is_empty()
            || (r.state == StateRole::Leader && r.has_pending_conf())
        {
            return;
        }
        for (cc, reply) in std::mem::take(&mut self.deferred_conf_changes) {
            self.propose_conf_change(cc, reply);
        }
    }

    /// Changes raft's configuration for the committed ConfChange at `index`,
    /// which the apply path has reached.
    pub fn apply_conf_change(&mut self, index: u64, cc: &ConfChange) -> ConfChangeOutcome {
        if index <= superseded_below(self.snapshot_floor) {
            return ConfChangeOutcome::Superseded(self.raw.raft.prs().conf().to_conf_state());
        }
        match self.raw.apply_conf_change(cc) {
            Ok(cs) => {
                self.raw.mut_store().mem.wl().set_conf_state(cs.clone());
                let me = self.raw.raft.id;
                self.removed = !cs.voters.contains(&me) && !cs.learners.contains(&me);
                ConfChangeOutcome::Applied(cs)
            }
            Err(e) => ConfChangeOutcome::Refused(e.to_string()),
        }
    }

    /// etcd's rule: a learner may be promoted once its log matches at least
    /// 90% of the leader's.
    pub(super) fn learner_ready(&self, id: u64) -> Result<bool, ServerError> {
        if self.raw.raft.state != StateRole::Leader {
            return Err(ServerError::NotLeader);
        }
        let leader_match = self.raw.raft.raft_log.last_index();
        let Some(pr) = self.raw.raft.prs().get(id) else {
            return Ok(false);
        };
        Ok(pr.state != ProgressState::Snapshot && pr.matched as f64 >= leader_match as f64 * 0.9)
    }
}
