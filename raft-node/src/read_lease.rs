//! The leader's read lease: linearizable reads without a quorum round.
//!
//! By default a linearizable read asks raft for a read index, which costs the
//! leader one heartbeat round to a quorum (ReadIndex). With
//! `--experimental-lease-based-reads` the leader answers its own members'
//! reads from its commit index while it holds a lease: a time during which no
//! other member can have become leader. raft-rs's own `LeaseBased` option is
//! not used: its leader steps down only at the next check-quorum, up to two
//! election timeouts after it lost its quorum, while the others may elect a
//! new leader after one. The lease here is measured instead.
//!
//! Why a lease holds. A follower that hears from its leader refuses to vote
//! (and, its timer being reset, does not campaign) for an election timeout
//! (`election_ticks` ticks; raft-rs's "in lease" rule, with check-quorum on).
//! The leader stamps each plain heartbeat with the instant it sent it, and
//! the follower echoes the stamp in its response (raft echoes a heartbeat's
//! context). A stamp `s` answered by follower F proves F received a heartbeat
//! after `s`, so F neither votes nor campaigns before `s` + its election
//! timeout. If the members whose newest answered stamp is recent enough form
//! a quorum together with the leader, every possible quorum of voters
//! contains one of them, so no other leader can exist yet.
//!
//! What it assumes, and what is done about the rest:
//! - **Clocks run at nearly the same rate** on every member: the lease is 90%
//!   of `election_ticks - 1` ticks (a tick may fall just after a reset). A
//!   member whose clock runs more than 10% fast may vote early.
//! - **A member that restarts** forgets whom it heard from and would vote at
//!   once: with leases on, a member ignores vote requests for an election
//!   timeout after it starts.
//! - **A paused leader** (SIGSTOP, a VM stall) finds its stamps old when it
//!   wakes, because the lease is checked against the monotonic clock at the
//!   moment of the read.
//! - **Leadership transfer** elects the transferee at once, ignoring every
//!   promise: no lease while a transfer is pending.
//!
//! Without a lease (no quorum heard recently, no entry committed in this
//! term yet, a transfer) reads fall back to ReadIndex.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use raft::eraftpb::{Message, MessageType};
use raft::{Raft, StateRole, Storage, CAMPAIGN_TRANSFER};

/// Marks a heartbeat context as a lease stamp (read-index contexts are 16
/// bytes: member ID and sequence number).
const STAMP_MARK: u8 = b'L';
const STAMP_LEN: usize = 9;

/// Share of the followers' promise the leader relies on (clock rate margin).
const CLOCK_MARGIN: f64 = 0.9;

pub struct ReadLease {
    enabled: bool,
    /// How long an answered stamp keeps its follower's promise.
    duration: Duration,
    /// Stamps count from here (this process's start).
    epoch: Instant,
    /// Vote requests are ignored until then (a restarted member's promise).
    votes_held_until: Instant,
    /// The term the stamps below were answered in.
    term: u64,
    /// Per voter: the newest stamp it answered in `term`.
    answered: HashMap<u64, Instant>,
}

impl ReadLease {
    pub fn new(enabled: bool, election_ticks: usize, tick: Duration) -> ReadLease {
        let promise = tick * election_ticks.saturating_sub(1) as u32;
        let now = Instant::now();
        ReadLease {
            enabled,
            duration: promise.mul_f64(CLOCK_MARGIN),
            epoch: now,
            votes_held_until: now + tick * election_ticks as u32,
            term: 0,
            answered: HashMap::new(),
        }
    }

    /// Stamps the plain heartbeats among outgoing messages.
    pub fn stamp(&self, msgs: &mut [Message]) {
        if !self.enabled {
            return;
        }
        let nanos = self.epoch.elapsed().as_nanos() as u64;
        for m in msgs {
            if m.get_msg_type() == MessageType::MsgHeartbeat && m.context.is_empty() {
                let mut ctx = Vec::with_capacity(STAMP_LEN);
                ctx.push(STAMP_MARK);
                ctx.extend_from_slice(&nanos.to_be_bytes());
                m.context = ctx.into();
            }
        }
    }

    /// Takes the stamp out of a heartbeat response (raft then sees a plain
    /// one) and records it if it answers this leader in its current term.
    pub fn on_incoming(&mut self, m: &mut Message, current_term: u64) {
        if m.get_msg_type() != MessageType::MsgHeartbeatResponse
            || m.context.len() != STAMP_LEN
            || m.context[0] != STAMP_MARK
        {
            return;
        }
        let mut nanos = [0u8; 8];
        nanos.copy_from_slice(&m.context[1..]);
        m.context = Default::default();
        if !self.enabled || m.term != current_term {
            return;
        }
        let sent = self.epoch + Duration::from_nanos(u64::from_be_bytes(nanos));
        if sent > Instant::now() {
            return;
        }
        if self.term != current_term {
            self.term = current_term;
            self.answered.clear();
        }
        let newest = self.answered.entry(m.from).or_insert(sent);
        if sent > *newest {
            *newest = sent;
        }
    }

    /// Whether a vote request must be ignored: a member that just started
    /// keeps the promise it may have made before it went down.
    pub fn holds_vote(&self, m: &Message) -> bool {
        self.enabled
            && matches!(
                m.get_msg_type(),
                MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
            )
            && m.context.as_ref() != CAMPAIGN_TRANSFER
            && Instant::now() < self.votes_held_until
    }

    /// Whether this member may answer a linearizable read from its commit
    /// index now.
    pub fn holds<S: Storage>(&self, raft: &Raft<S>) -> bool {
        if !self.enabled
            || raft.state != StateRole::Leader
            || raft.lead_transferee.is_some()
            || !raft.commit_to_current_term()
            || self.term != raft.term
        {
            return false;
        }
        // A planted bug for testing the fault-injection checkers: a lease
        // held without asking who answered, as raft-rs's lazy `LeaseBased`
        // would (stale reads from a deposed leader). Never in release builds.
        fail::fail_point!("read_lease_no_quorum", |_| true);
        let now = Instant::now();
        // The set type is raft's own (its hasher), named by inference.
        let mut fresh = Default::default();
        insert_fresh(&mut fresh, &self.answered, now, self.duration);
        fresh.insert(raft.id);
        raft.prs().has_quorum(&fresh)
    }
}

/// Adds the voters whose newest answered stamp is younger than `duration`.
fn insert_fresh<B: std::hash::BuildHasher>(
    set: &mut HashSet<u64, B>,
    answered: &HashMap<u64, Instant>,
    now: Instant,
    duration: Duration,
) {
    for (id, sent) in answered {
        if now.duration_since(*sent) < duration {
            set.insert(*id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat() -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgHeartbeat);
        m
    }

    fn response_to(hb: &Message, from: u64, term: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgHeartbeatResponse);
        m.from = from;
        m.term = term;
        m.context = hb.context.clone();
        m
    }

    #[test]
    fn stamps_plain_heartbeats_only_and_strips_answers() {
        let mut lease = ReadLease::new(true, 10, Duration::from_millis(100));
        let mut with_ctx = heartbeat();
        with_ctx.context = vec![7u8; 16].into();
        let mut msgs = vec![heartbeat(), with_ctx];
        lease.stamp(&mut msgs);
        assert_eq!(msgs[0].context.len(), STAMP_LEN);
        assert_eq!(
            msgs[1].context.as_ref(),
            &[7u8; 16][..],
            "read-index context kept"
        );
        let mut answer = response_to(&msgs[0], 2, 3);
        lease.on_incoming(&mut answer, 3);
        assert!(answer.context.is_empty(), "raft sees a plain response");
        assert!(lease.answered.contains_key(&2));
        // An answer from another term proves nothing about this one.
        let mut old = response_to(&msgs[0], 3, 2);
        lease.on_incoming(&mut old, 3);
        assert!(!lease.answered.contains_key(&3));
    }

    /// A leader of voters 1, 2, 3 that has committed an entry of its term.
    fn leader() -> Raft<raft::storage::MemStorage> {
        let cfg = raft::Config {
            id: 1,
            check_quorum: true,
            ..Default::default()
        };
        let storage = raft::storage::MemStorage::new_with_conf_state((vec![1, 2, 3], vec![]));
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let mut r = Raft::new(&cfg, storage, &logger).expect("raft");
        r.become_candidate();
        r.become_leader();
        // The leader's own empty entry, written, and member 2's ack of it.
        let (last, term) = (r.raft_log.last_index(), r.term);
        let written = r.raft_log.unstable_entries().to_vec();
        r.raft_log
            .mut_store()
            .wl()
            .append(&written)
            .expect("append");
        r.raft_log.stable_entries(last, term);
        r.on_persist_entries(last, term);
        let mut ack = Message::default();
        ack.set_msg_type(MessageType::MsgAppendResponse);
        ack.from = 2;
        ack.term = r.term;
        ack.index = r.raft_log.last_index();
        r.step(ack).expect("step");
        assert!(
            r.commit_to_current_term(),
            "committed {} last {} term {}",
            r.raft_log.committed,
            r.raft_log.last_index(),
            r.term
        );
        r
    }

    fn answer(lease: &mut ReadLease, r: &Raft<raft::storage::MemStorage>, from: u64) {
        let mut msgs = vec![heartbeat()];
        lease.stamp(&mut msgs);
        let mut m = response_to(&msgs[0], from, r.term);
        lease.on_incoming(&mut m, r.term);
    }

    #[test]
    fn a_quorum_of_fresh_answers_holds_the_lease_until_it_ages() {
        let r = leader();
        let tick = Duration::from_millis(20);
        let mut lease = ReadLease::new(true, 5, tick);
        assert!(!lease.holds(&r), "nobody answered yet");
        answer(&mut lease, &r, 2);
        assert!(lease.holds(&r), "the leader and member 2 are a quorum of 3");
        // The lease is 90% of 4 ticks: 72 ms.
        std::thread::sleep(Duration::from_millis(80));
        assert!(!lease.holds(&r), "the answer is too old");
        answer(&mut lease, &r, 3);
        assert!(lease.holds(&r));
        let off = ReadLease::new(false, 5, tick);
        assert!(!off.holds(&r), "leases off: always ReadIndex");
    }

    #[test]
    fn no_lease_while_handing_leadership_over() {
        let mut r = leader();
        let mut lease = ReadLease::new(true, 10, Duration::from_millis(100));
        answer(&mut lease, &r, 2);
        assert!(lease.holds(&r));
        r.lead_transferee = Some(2);
        assert!(!lease.holds(&r));
    }

    #[test]
    fn a_stamp_from_the_future_is_refused() {
        let mut lease = ReadLease::new(true, 10, Duration::from_millis(100));
        let mut hb = heartbeat();
        let mut ctx = vec![STAMP_MARK];
        ctx.extend_from_slice(&u64::MAX.to_be_bytes());
        hb.context = ctx.into();
        let mut answer = response_to(&hb, 2, 1);
        lease.on_incoming(&mut answer, 1);
        assert!(lease.answered.is_empty());
    }

    #[test]
    fn votes_are_held_right_after_start_unless_transferring() {
        let lease = ReadLease::new(true, 10, Duration::from_millis(100));
        let mut vote = Message::default();
        vote.set_msg_type(MessageType::MsgRequestVote);
        assert!(lease.holds_vote(&vote));
        vote.context = CAMPAIGN_TRANSFER.to_vec().into();
        assert!(!lease.holds_vote(&vote));
        let off = ReadLease::new(false, 10, Duration::from_millis(100));
        vote.context = Default::default();
        assert!(!off.holds_vote(&vote));
    }
}
