//! Leases in the traffic: granted, attached to puts, kept alive, and checked.
//!
//! A lease keeper grants a few leases with a TTL far longer than any run (so none may expire
//! while the run lasts, and a leader change only ever extends them) and sends keep-alives for
//! all of them every half second, on whichever member answers. Clients attach the granted
//! leases to some of their puts; because the leases never expire and are never revoked, a
//! lease-bound put is, for the key model, an ordinary put (`Request::Put { lease }`), and the
//! linearizability and watch checkers cover it unchanged. What the lease machinery adds is
//! checked here: a keep-alive for a lease whose grant was acknowledged must answer a TTL
//! above zero (etcd answers TTL 0 for a lease it does not know, so TTL 0 means an
//! acknowledged grant was lost, or the lease expired early), and it must name the lease.

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
