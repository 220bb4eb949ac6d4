//! Leases in the traffic: granted, attached to puts, kept alive, and checked.
//!
//! Two kinds of lease take part.
//!
//! **Shared leases**: a lease keeper grants a few leases with a TTL far longer than any run
//! (so none may expire while the run lasts, and a leader change only ever extends them) and
//! sends keep-alives for all of them every half second, on whichever member answers. Clients
//! attach them to puts of any key; since they never end, the key model only has to remember
//! which lease a value holds. What the keeper checks itself: a keep-alive for a lease whose
//! grant was acknowledged must answer a TTL above zero (etcd answers TTL 0 for a lease it
//! does not know, so TTL 0 means an acknowledged grant was lost, or the lease expired early),
//! and it must name the lease.
//!
//! **Key leases** ([`KeyLeases`]): clients grant leases that belong to one key and are only
//! ever attached to puts of that key, then revoke them or let them expire (a short TTL and no
//! keep-alive). Because such a lease touches a single key, its revoke is an operation of
//! that key's history (`Request::Revoke`) and the per-key linearizability model checks it
//! exactly: the key goes at the revoke's revision if its value holds the lease, and puts with
//! the lease are refused afterwards. An expiry is recorded as a revoke of unknown outcome
//! invoked when the grant was acknowledged: it may take effect at any later point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest};

use super::Endpoints;

/// TTL of every lease, in seconds: longer than any run.
pub const TTL: i64 = 3600;

/// Leases whose grant was acknowledged.
#[derive(Default)]
pub struct Leases {
    ids: Mutex<Vec<i64>>,
}

impl Leases {
    /// One of the granted leases, if any (`n` chooses which).
    pub fn pick(&self, n: u64) -> Option<i64> {
        let ids = self.ids.lock().expect("leases");
        (!ids.is_empty()).then(|| ids[n as usize % ids.len()])
    }

    fn add(&self, id: i64) {
        self.ids.lock().expect("leases").push(id);
    }

    fn all(&self) -> Vec<i64> {
        self.ids.lock().expect("leases").clone()
    }
}

/// TTL of a key lease meant to expire, in seconds (never kept alive).
pub const EXPIRING_TTL: i64 = 4;

/// At most this many key leases per key, over the whole run (the model tells a key's leases
/// apart by a bit mask; clients granting at once may each add one more).
const PER_KEY: usize = 40;

/// Key leases whose grant was acknowledged, by key, each with whether it is known to have
/// ended (revoked, or answered "lease not found"). Ended ones stay listed, so puts and
/// revokes sometimes try them and must be refused.
#[derive(Default)]
pub struct KeyLeases {
    by_key: Mutex<HashMap<String, Vec<(i64, bool)>>>,
}

impl KeyLeases {
    /// Whether `key` may have one more lease.
    pub fn room_for(&self, key: &str) -> bool {
        self.by_key
            .lock()
            .expect("key leases")
            .get(key)
            .is_none_or(|l| l.len() < PER_KEY)
    }

    pub fn add(&self, key: &str, id: i64) {
        self.by_key
            .lock()
            .expect("key leases")
            .entry(key.to_string())
            .or_default()
            .push((id, false));
    }

    /// Whether `id` is one of `key`'s own leases, not known to have ended.
    pub fn is_live(&self, key: &str, id: i64) -> bool {
        self.by_key
            .lock()
            .expect("key leases")
            .get(key)
            .is_some_and(|l| l.contains(&(id, false)))
    }

    pub fn ended(&self, key: &str, id: i64) {
        if let Some(l) = self.by_key.lock().expect("key leases").get_mut(key) {
            for lease in l.iter_mut().filter(|(l, _)| *l == id) {
                lease.1 = true;
            }
        }
    }

    /// One of `key`'s leases, if it has any: one not known to have ended, unless
    /// `n` says otherwise one time in ten or none is left.
    pub fn pick(&self, key: &str, n: u64) -> Option<i64> {
        let by_key = self.by_key.lock().expect("key leases");
        let all = by_key.get(key)?;
        let live: Vec<i64> = all.iter().filter(|l| !l.1).map(|l| l.0).collect();
        if !live.is_empty() && !n.is_multiple_of(10) {
            return Some(live[(n / 10) as usize % live.len()]);
        }
        (!all.is_empty()).then(|| all[(n / 10) as usize % all.len()].0)
    }
}

#[derive(Debug, Default)]
pub struct LeaseReport {
    pub granted: usize,
    pub keepalives: usize,
    pub problems: Vec<String>,
}

/// Grants up to `count` leases and keeps them alive until `deadline`.
pub async fn keep_leases(
    endpoints: Arc<Endpoints>,
    leases: Arc<Leases>,
    count: usize,
    deadline: Instant,
) -> LeaseReport {
    let mut report = LeaseReport::default();
    let mut round = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    while Instant::now() < deadline {
        tick.tick().await;
        round += 1;
        let mut client = LeaseClient::new(endpoints.pick(round));
        if report.granted < count {
            let r = tokio::time::timeout(
                Duration::from_secs(2),
                client.lease_grant(LeaseGrantRequest { ttl: TTL, id: 0 }),
            )
            .await;
            if let Ok(Ok(r)) = r {
                let r = r.into_inner();
                if r.id != 0 && r.error.is_empty() {
                    leases.add(r.id);
                    report.granted += 1;
                }
            }
        }
        let ids = leases.all();
        if ids.is_empty() {
            continue;
        }
        let requests = ids
            .iter()
            .map(|id| LeaseKeepAliveRequest { id: *id })
            .collect::<Vec<_>>();
        let expected = requests.len();
        // The request stream stays open until every answer arrived.
        let (tx, rx) = tokio::sync::mpsc::channel(expected.max(1));
        for r in requests {
            let _ = tx.try_send(r);
        }
        let exchange = async {
            let mut stream = client
                .lease_keep_alive(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await?
                .into_inner();
            let mut answers = Vec::new();
            while answers.len() < expected {
                match stream.message().await? {
                    Some(a) => answers.push(a),
                    None => break,
                }
            }
            drop(tx);
            Ok::<_, tonic::Status>(answers)
        };
        let Ok(Ok(answers)) = tokio::time::timeout(Duration::from_secs(2), exchange).await else {
            continue;
        };
        for a in answers {
            report.keepalives += 1;
            if !ids.contains(&a.id) {
                report.problems.push(format!(
                    "keep-alive answered for lease {:x} never asked",
                    a.id
                ));
            } else if a.ttl <= 0 && report.problems.len() < 10 {
                report.problems.push(format!(
                    "keep-alive of lease {:x} (granted, TTL {TTL} s, never revoked) answered TTL {}",
                    a.id, a.ttl
                ));
            }
        }
    }
    report
}
