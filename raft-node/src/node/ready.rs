//! Processing a `Ready` in raft-rs's order (see the module above): snapshot
//! files and marks, committed entries to the apply path, WAL appends, log
//! compaction, and what the loop publishes about itself.

use raft::eraftpb::{Entry, Snapshot, SnapshotMetadata};
use raft::{StateRole, Storage};

use crate::error::ServerError;
use crate::failpoints::crash_point;
use crate::messages::RaftInfo;

use super::*;

impl Node {
    pub(super) fn compact(&mut self, index: u64, term: u64) -> Result<(), ServerError> {
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

    /// A snapshot from the leader: durable as a file first, then the WAL
    /// mark that releases the old log, then raft's in-memory log; the store
    /// installs it on the apply path, after the entries queued before it.
    pub(super) fn receive_snapshot(&mut self, snap: &Snapshot) -> Result<(), ServerError> {
        let meta = snap.get_metadata().clone();
        tracing::info!(
            index = meta.index,
            term = meta.term,
            bytes = snap.data.len(),
            "received snapshot from leader"
        );
        self.snaps
            .save(meta.index, &snap.data)
            .map_err(|e| internal(&e))?;
        crash_point!("raft_snapshot_before_wal_mark");
        self.wal.save_snapshot(&meta).map_err(|e| internal(&e))?;
        crash_point!("raft_snapshot_after_wal_mark");
        let mut bare = Snapshot::default();
        bare.set_metadata(meta.clone());
        self.raw
            .mut_store()
            .mem
            .wl()
            .apply_snapshot(bare)
            .map_err(|e| internal(&e))?;
        self.snapshot_floor = meta.index;
        self.sink.snapshot(meta, snap.data.to_vec())
    }

    pub(super) fn on_ready(&mut self) -> Result<(), ServerError> {
        if !self.raw.has_ready() {
            self.publish_info();
            return Ok(());
        }
        let mut ready = self.raw.ready();
        let mut msgs = ready.take_messages();
        self.lease.stamp(&mut msgs);
        self.transport.send(msgs);
        let snapshot_index = if ready.snapshot().is_empty() {
            None
        } else {
            let snap = ready.snapshot().clone();
            self.receive_snapshot(&snap)?;
            Some(snap.get_metadata().index)
        };
        self.send_committed(ready.take_committed_entries())?;
        let entries = ready.take_entries();
        // Whenever something is written, the hard state goes with it, with
        // the latest commit index: a commit learnt after an append (a light
        // ready) would otherwise not reach the disk until the term changes,
        // and a restarted member must know which configuration changes were
        // committed before it may campaign.
        let hs = (ready.hs().is_some() || !entries.is_empty()).then(|| self.raw.raft.hard_state());
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
            if let Some(pending) = self.pending_reads.remove(&rs.request_ctx) {
                for w in pending.waiters {
                    let _ = w.send(Ok(rs.index));
                }
            }
        }
        self.transport.send(ready.take_persisted_messages());
        let mut light = self.raw.advance_append(ready);
        if let Some(index) = snapshot_index {
            // raft restored its configuration from the snapshot already.
            self.note_applied(index);
        }
        if let Some(commit) = light.commit_index() {
            self.raw
                .mut_store()
                .mem
                .wl()
                .mut_hard_state()
                .set_commit(commit);
        }
        let mut msgs = light.take_messages();
        self.lease.stamp(&mut msgs);
        self.transport.send(msgs);
        self.send_committed(light.take_committed_entries())?;
        self.retry_deferred_conf_changes();
        self.publish_info();
        Ok(())
    }

    pub(super) fn send_committed(&mut self, entries: Vec<Entry>) -> Result<(), ServerError> {
        if entries.is_empty() {
            return Ok(());
        }
        #[cfg(feature = "failpoints")]
        let last = entries[entries.len() - 1].index;
        self.sink.entries(entries)?;
        // Planted defect 1 (see failpoints.rs): raft told the entries are
        // applied once they are queued.
        fail::fail_point!("plant_applied_when_queued", |_| {
            self.note_applied(last);
            Ok(())
        });
        Ok(())
    }

    /// Drops applied entries from raft's in-memory log once more than twice
    /// [`CATCH_UP_ENTRIES`] pile up behind the applied index (a leader keeps
    /// what its followers still lack, up to the next snapshot mark). Without
    /// this the log since the last snapshot mark (`--snapshot-count`
    /// entries) stays in memory.
    pub(super) fn trim_memory_log(&mut self) {
        let r = &self.raw.raft;
        let mut keep_from = r.raft_log.applied.saturating_sub(CATCH_UP_ENTRIES);
        // Called on every applied batch: nothing to do (and no follower to
        // look at) until a whole window has piled up.
        let first = r.raft_log.first_index();
        if keep_from < first + CATCH_UP_ENTRIES {
            return;
        }
        if r.state == StateRole::Leader {
            for (id, pr) in r.prs().iter() {
                if *id != r.id {
                    keep_from = keep_from.min(pr.matched + 1);
                }
            }
        }
        let mem = &self.raw.mut_store().mem;
        if keep_from >= first + CATCH_UP_ENTRIES {
            if let Err(e) = mem.wl().compact(keep_from) {
                tracing::warn!(error = %e, keep_from, "could not trim the in-memory raft log");
            }
        }
    }

    pub(super) fn publish_info(&mut self) {
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
            term_committed: is_leader && r.commit_to_current_term(),
            is_learner: r.prs().conf().learners().contains(&r.id),
            leader_epoch: self.leader_epoch,
        };
        if info.leader == raft::INVALID_ID && !self.pending_reads.is_empty() {
            for (_, pending) in self.pending_reads.drain() {
                for w in pending.waiters {
                    let _ = w.send(Err(ServerError::NoLeader));
                }
            }
        }
        *self.info.lock().expect("raft info lock") = info;
    }
}
