//! Linearizable reads on the raft loop: ReadIndex requests batched per
//! turn, and re-sent until raft answers them (raft-rs drops a ReadIndex a
//! new leader cannot serve yet).

use crate::error::ServerError;
use crate::messages::Reply;

use super::*;

impl Node {
    /// Asks raft for one read index covering every request in `reads`.
    pub(super) fn request_read(&mut self, reads: Vec<Reply<u64>>) {
        if self.raw.raft.leader_id == raft::INVALID_ID {
            for r in reads {
                let _ = r.send(Err(ServerError::NoLeader));
            }
            return;
        }
        if self.lease.holds(&self.raw.raft) {
            let index = self.raw.raft.raft_log.committed;
            for r in reads {
                let _ = r.send(Ok(index));
            }
            return;
        }
        self.read_seq += 1;
        // The leader keys pending reads by context: make it unique across
        // members, or two followers' reads would collide.
        let mut ctx = self.raw.raft.id.to_be_bytes().to_vec();
        ctx.extend_from_slice(&self.read_seq.to_be_bytes());
        self.raw.read_index(ctx.clone());
        self.pending_reads.insert(
            ctx,
            PendingRead {
                waiters: reads,
                sent_at: self.ticks,
            },
        );
    }

    /// Asks again for read indexes that raft has not answered in a while.
    pub(super) fn retry_reads(&mut self) {
        if self.raw.raft.leader_id == raft::INVALID_ID {
            return;
        }
        let due: Vec<Vec<u8>> = self
            .pending_reads
            .iter_mut()
            .filter(|(_, p)| self.ticks - p.sent_at >= self.read_retry_ticks)
            .map(|(ctx, p)| {
                p.sent_at = self.ticks;
                ctx.clone()
            })
            .collect();
        for ctx in due {
            self.raw.read_index(ctx);
        }
    }
}
