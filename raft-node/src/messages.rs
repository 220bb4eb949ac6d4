//! The messages between the raft loop, the apply path and the rest of the
//! server, in a module of their own that depends on none of them: requests
//! to the raft loop ([`NodeMsg`]), what the loop hands the apply path
//! ([`ApplyMsg`]), what became of a membership change
//! ([`ConfChangeOutcome`]), and what the loop publishes about itself
//! ([`RaftInfo`]).

use std::sync::mpsc::Sender;

use raft::eraftpb::{ConfChange, ConfState, Entry, Message, SnapshotMetadata};
use tokio::sync::oneshot;

use crate::error::ServerError;

/// A reply channel the raft loop answers once.
pub type Reply<T> = oneshot::Sender<Result<T, ServerError>>;

/// What became of a committed ConfChange handed to raft by the apply path.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfChangeOutcome {
    /// Raft's configuration changed; this is the new one.
    Applied(ConfState),
    /// Raft refused the change (deterministically: every member refuses it
    /// at the same log position). The reason is kept for the proposer.
    Refused(String),
    /// A snapshot at or above the change's index already gave raft its
    /// configuration; this is the current one.
    Superseded(ConfState),
}

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
    /// The apply path reached the committed membership change at `index`:
    /// change raft's configuration and reply with the outcome.
    ApplyConfChange {
        index: u64,
        cc: ConfChange,
        reply: Sender<ConfChangeOutcome>,
    },
    /// The store has applied every entry up to `index`.
    Applied(u64),
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
    /// A leader has committed an entry of its own term, so `commit` is the
    /// cluster's (a new leader learns what is committed only then).
    pub term_committed: bool,
    pub is_learner: bool,
    /// Increases every time this member becomes leader.
    pub leader_epoch: u64,
}

/// What the raft loop hands the apply path, in log order.
pub enum ApplyMsg {
    /// Committed entries.
    Entries(Vec<Entry>),
    /// A snapshot from the leader, already durable in its file and marked in
    /// the WAL: install it into the store.
    Snapshot {
        meta: SnapshotMetadata,
        data: Vec<u8>,
    },
}
