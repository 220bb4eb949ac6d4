//! The members clients may talk to, as membership nemeses change them, and
//! what every part of a run asks of them (each member's status, the leader).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::StatusRequest;
use tonic::transport::Channel;

/// The members clients may talk to: (slot, channel), changed by membership nemeses.
#[derive(Default)]
pub struct Endpoints {
    list: RwLock<Vec<(usize, Channel)>>,
}

impl Endpoints {
    pub fn new(urls: impl IntoIterator<Item = (usize, String)>) -> Arc<Endpoints> {
        Arc::new(Endpoints {
            list: RwLock::new(urls.into_iter().map(|(s, u)| (s, channel(&u))).collect()),
        })
    }

    pub fn all(&self) -> Vec<(usize, Channel)> {
        self.list.read().expect("endpoints").clone()
    }

    /// The `n`th endpoint, round robin.
    pub fn pick(&self, n: usize) -> Channel {
        self.pick_slot(n).1
    }

    /// The `n`th endpoint with its member slot.
    pub fn pick_slot(&self, n: usize) -> (usize, Channel) {
        let l = self.list.read().expect("endpoints");
        l[n % l.len()].clone()
    }

    pub fn len(&self) -> usize {
        self.list.read().expect("endpoints").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn add(&self, slot: usize, url: &str) {
        self.list
            .write()
            .expect("endpoints")
            .push((slot, channel(url)));
    }

    pub fn remove(&self, slot: usize) {
        let mut l = self.list.write().expect("endpoints");
        if l.len() > 1 {
            l.retain(|(s, _)| *s != slot);
        }
    }

    /// A copy without `slot`.
    pub fn without(this: &Endpoints, slot: usize) -> Endpoints {
        let mut l = this.all();
        if l.len() > 1 {
            l.retain(|(s, _)| *s != slot);
        }
        Endpoints {
            list: RwLock::new(l),
        }
    }
}

pub(crate) fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string())
        .expect("a loopback URL is valid")
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy()
}

/// Status of each member that answers: (member slot, member id, leader id, term).
pub(crate) async fn statuses(endpoints: &Endpoints) -> Vec<(usize, u64, u64, u64)> {
    let mut out = Vec::new();
    for (i, ch) in endpoints.all() {
        let mut m = MaintenanceClient::new(ch.clone());
        let st = tokio::time::timeout(Duration::from_millis(300), m.status(StatusRequest {})).await;
        if let Ok(Ok(st)) = st {
            let st = st.into_inner();
            let id = st.header.as_ref().map_or(0, |h| h.member_id);
            out.push((i, id, st.leader, st.raft_term));
        }
    }
    out
}

/// Slot of the member the others agree leads, if any.
pub(crate) async fn leader(endpoints: &Endpoints) -> Option<usize> {
    let st = statuses(endpoints).await;
    let leader_id = st.iter().map(|s| s.2).find(|l| *l != 0)?;
    st.iter().find(|s| s.1 == leader_id).map(|s| s.0)
}

pub(crate) async fn await_leader(endpoints: &Endpoints, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(l) = leader(endpoints).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
