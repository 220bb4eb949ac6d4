//! Lease expiry clock.
//!
//! Which leases exist and which keys they hold is replicated state (in the
//! store). *When* a lease expires is decided by the leader alone, from this
//! in-memory clock: keep-alives renew it, and an expired lease is revoked by
//! proposing a LeaseRevoke through the log, so every member deletes its keys
//! at the same revision. A member that becomes leader (or restarts) gives
//! every lease its full TTL again, as etcd does, so no lease expires early
//! because of a leader change.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use etcd_store::Store;

#[derive(Default)]
pub struct Lessor {
    inner: Mutex<Clock>,
}

#[derive(Default)]
struct Clock {
    deadlines: HashMap<i64, Instant>,
    /// Expired leases whose revoke proposal is in flight.
    revoking: HashSet<i64>,
}

impl Lessor {
    /// Starts (or restarts) the clock of a granted lease.
    pub fn grant(&self, id: i64, ttl: i64) {
        let mut c = self.inner.lock().expect("lessor lock");
        c.deadlines.insert(id, Instant::now() + secs(ttl));
        c.revoking.remove(&id);
    }

    /// Renews a lease known to the store; returns its TTL, or None if the
    /// lease does not exist or has already expired (as etcd: an expired
    /// lease is on its way to being revoked and cannot come back, even
    /// before the expiry check has noticed it).
    pub fn renew(&self, store: &Store, id: i64) -> Option<i64> {
        let lease = store.lease(id)?;
        let now = Instant::now();
        let mut c = self.inner.lock().expect("lessor lock");
        let expired = c.deadlines.get(&id).is_some_and(|d| *d <= now);
        if expired || c.revoking.contains(&id) {
            return None;
        }
        c.deadlines.insert(id, now + secs(lease.ttl));
        Some(lease.ttl)
    }

    /// Time left before lease `id` expires.
    pub fn remaining(&self, id: i64) -> Option<Duration> {
        let c = self.inner.lock().expect("lessor lock");
        c.deadlines
            .get(&id)
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Gives every lease in the store its full TTL from now.
    pub fn promote(&self, store: &Store) {
        let now = Instant::now();
        let mut c = self.inner.lock().expect("lessor lock");
        c.deadlines = store
            .leases()
            .into_iter()
            .map(|(id, ttl)| (id, now + secs(ttl)))
            .collect();
        c.revoking.clear();
    }

    /// Expired leases not yet being revoked; marks them as being revoked.
    pub fn take_expired(&self) -> Vec<i64> {
        let now = Instant::now();
        let mut c = self.inner.lock().expect("lessor lock");
        let expired: Vec<i64> = c
            .deadlines
            .iter()
            .filter(|(id, d)| **d <= now && !c.revoking.contains(id))
            .map(|(id, _)| *id)
            .collect();
        c.revoking.extend(expired.iter().copied());
        expired
    }

    /// A revoke proposal failed: try again on the next check.
    pub fn revoke_failed(&self, id: i64) {
        self.inner.lock().expect("lessor lock").revoking.remove(&id);
    }

    /// Forgets a revoked lease.
    pub fn remove(&self, id: i64) {
        let mut c = self.inner.lock().expect("lessor lock");
        c.deadlines.remove(&id);
        c.revoking.remove(&id);
    }
}

fn secs(ttl: i64) -> Duration {
    Duration::from_secs(ttl.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdrs::raft_request::Op;
    use etcd_proto::etcdrs::RaftRequest;
    use etcd_proto::etcdserverpb::LeaseGrantRequest;
    use etcd_store::{MemBackend, StoreConfig};

    fn store_with_lease(id: i64, ttl: i64) -> Store {
        let store = Store::open(Box::<MemBackend>::default(), StoreConfig::default()).unwrap();
        let req = RaftRequest {
            id: 1,
            op: Some(Op::LeaseGrant(LeaseGrantRequest { id, ttl })),
            ..Default::default()
        };
        store.apply(1, 1, &req).unwrap();
        store
    }

    #[test]
    fn a_live_lease_is_renewed_with_its_ttl() {
        let store = store_with_lease(7, 30);
        let lessor = Lessor::default();
        lessor.grant(7, 30);
        assert_eq!(lessor.renew(&store, 7), Some(30));
        assert_eq!(lessor.renew(&store, 8), None, "unknown lease");
    }

    #[test]
    fn an_expired_lease_is_not_renewed_before_its_revoke() {
        let store = store_with_lease(7, 30);
        let lessor = Lessor::default();
        // Its deadline has passed, but the expiry check has not run yet.
        lessor
            .inner
            .lock()
            .unwrap()
            .deadlines
            .insert(7, Instant::now());
        assert_eq!(lessor.renew(&store, 7), None);
        assert_eq!(lessor.take_expired(), vec![7], "still revoked");
    }
}
