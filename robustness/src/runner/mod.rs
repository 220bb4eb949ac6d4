//! One robustness run against a real etcd-rs cluster, start to verdict.
//!
//! Order of a run: start the members and wait for a leader; start clients, watchers and a
//! status poller; inject faults (kill -9 and restart of a random member or of the leader,
//! SIGSTOP/SIGCONT of the leader) a bounded number of times until the traffic deadline; heal
//! the cluster; read everything once more linearizably (the final revision and values); let
//! the watchers finish at that revision; compare HashKV of all members at it; then run every
//! checker. Everything is bounded by deadlines and counts, and the [`Cluster`] guard kills
//! every process even if the run panics.

pub mod cluster;
pub mod traffic;
pub mod watcher;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{HashKvRequest, RangeRequest, StatusRequest};
use tonic::transport::Channel;

use crate::history::{Clock, History};
use crate::kvlog::KvLog;
use crate::rng::Rng;
use crate::{linearizability, revisions, watch};
use cluster::Cluster;
use traffic::{TrafficConfig, KEY_PREFIX};

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub bin: PathBuf,
    pub members: usize,
    pub clients: u32,
    pub watchers: usize,
    pub keys: u64,
    pub traffic: Duration,
    pub max_faults: usize,
    pub op_timeout: Duration,
    pub snapshot_count: u64,
    pub seed: u64,
}

impl RunConfig {
    /// The binary: `ETCD_RS_BIN`, else `$CARGO_TARGET_DIR/debug/etcd-rs`, else the
    /// workspace's `target/debug/etcd-rs`.
    pub fn default_bin() -> PathBuf {
        if let Some(bin) = std::env::var_os("ETCD_RS_BIN") {
            return bin.into();
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        target.join("debug/etcd-rs")
    }

    pub fn short(seed: u64) -> RunConfig {
        RunConfig {
            bin: RunConfig::default_bin(),
            members: 3,
            clients: 6,
            watchers: 2,
            keys: 10,
            traffic: Duration::from_secs(12),
            max_faults: 3,
            op_timeout: Duration::from_secs(2),
            snapshot_count: 200,
            seed,
        }
    }

    pub fn long(seed: u64) -> RunConfig {
        RunConfig {
            clients: 12,
            keys: 50,
            traffic: Duration::from_secs(120),
            max_faults: 30,
            ..RunConfig::short(seed)
        }
    }
}

/// What a run found. `problems` is empty iff the run passed.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub operations: usize,
    pub acknowledged: usize,
    pub unknown: usize,
    pub watch_events: usize,
    pub faults: Vec<String>,
    pub final_revision: i64,
    pub problems: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {}: {} ops ({} acknowledged, {} unknown), {} watch events, final revision {}",
            self.seed,
            self.operations,
            self.acknowledged,
            self.unknown,
            self.watch_events,
            self.final_revision
        )?;
        writeln!(f, "faults: {}", self.faults.join("; "))?;
        if self.passed() {
            write!(f, "PASSED")
        } else {
            writeln!(f, "FAILED:")?;
            for p in &self.problems {
                writeln!(f, "- {p}")?;
            }
            Ok(())
        }
    }
}

fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string())
        .expect("a loopback URL is valid")
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy()
}

/// Status of each member that answers: (member index, member id, leader id, term).
async fn statuses(channels: &[Channel]) -> Vec<(usize, u64, u64, u64)> {
    let mut out = Vec::new();
    for (i, ch) in channels.iter().enumerate() {
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

/// Index of the member the others agree leads, if any.
async fn leader(channels: &[Channel]) -> Option<usize> {
    let st = statuses(channels).await;
    let leader_id = st.iter().map(|s| s.2).find(|l| *l != 0)?;
    st.iter().find(|s| s.1 == leader_id).map(|s| s.0)
}

async fn await_leader(channels: &[Channel], within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(l) = leader(channels).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Runs once; an `Err` is a harness failure (cluster could not start), not a verdict.
pub async fn run(cfg: &RunConfig) -> Result<Report, String> {
    let cluster = Cluster::start(&cfg.bin, cfg.members, cfg.snapshot_count)
        .map_err(|e| format!("start cluster: {e}"))?;
    let urls: Vec<String> = cluster.members.iter().map(|m| m.client_url()).collect();
    let cluster = Arc::new(Mutex::new(cluster));
    let channels: Vec<Channel> = urls.iter().map(|u| channel(u)).collect();
    let mut report = Report {
        seed: cfg.seed,
        ..Report::default()
    };
    if await_leader(&channels, Duration::from_secs(30))
        .await
        .is_none()
    {
        return Err("no leader within 30 s of start".into());
    }

    let clock = Clock::start();
    let start = Instant::now();
    let deadline = start + cfg.traffic;
    let traffic = Arc::new(TrafficConfig {
        keys: cfg.keys,
        op_timeout: cfg.op_timeout,
        deadline,
        max_ops: 1_000_000,
    });
    let mut clients = Vec::new();
    for c in 0..cfg.clients {
        let ch = channels[c as usize % channels.len()].clone();
        let traffic = Arc::clone(&traffic);
        let seed = cfg.seed.wrapping_mul(1000).wrapping_add(c as u64);
        clients.push(tokio::spawn(async move {
            traffic::run_client(c, ch, clock, &traffic, seed).await
        }));
    }
    let (finish_tx, finish_rx) = tokio::sync::watch::channel(None);
    let watch_give_up = deadline + Duration::from_secs(60);
    let mut watchers = Vec::new();
    for w in 0..cfg.watchers {
        let mut chans = channels.clone();
        chans.rotate_left(w % channels.len());
        watchers.push(tokio::spawn(watcher::run_watcher(
            chans,
            finish_rx.clone(),
            watch_give_up,
            200,
        )));
    }
    // Leaders seen per term, polled until the end of the run.
    let terms: Arc<Mutex<BTreeMap<u64, HashSet<u64>>>> = Arc::default();
    let (stop_poll_tx, mut stop_poll_rx) = tokio::sync::watch::channel(false);
    let poller = {
        let channels = channels.clone();
        let terms = Arc::clone(&terms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop_poll_rx.changed() => return,
                }
                for (_, id, leader, term) in statuses(&channels).await {
                    if leader != 0 && leader == id {
                        terms
                            .lock()
                            .expect("terms")
                            .entry(term)
                            .or_default()
                            .insert(id);
                    }
                }
            }
        })
    };

    // Faults.
    let mut rng = Rng::new(cfg.seed ^ 0xfa17);
    for _ in 0..cfg.max_faults {
        let pause = Duration::from_millis(1000 + rng.below(2000));
        if Instant::now() + pause + Duration::from_secs(3) >= deadline {
            break;
        }
        tokio::time::sleep(pause).await;
        let target = match rng.below(3) {
            0 => rng.below(cfg.members as u64) as usize,
            _ => match leader(&channels).await {
                Some(l) => l,
                None => continue,
            },
        };
        if rng.chance(60) {
            cluster.lock().expect("cluster").kill(target);
            tokio::time::sleep(Duration::from_millis(300 + rng.below(1000))).await;
            cluster
                .lock()
                .expect("cluster")
                .restart(target)
                .map_err(|e| format!("restart m{target}: {e}"))?;
            report.faults.push(format!("kill -9 + restart m{target}"));
        } else {
            cluster
                .lock()
                .expect("cluster")
                .freeze(target)
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000))).await;
            cluster
                .lock()
                .expect("cluster")
                .thaw(target)
                .map_err(|e| e.to_string())?;
            report.faults.push(format!("SIGSTOP/SIGCONT m{target}"));
        }
    }
    let mut recorders = Vec::new();
    for c in clients {
        recorders.push(c.await.map_err(|e| format!("client task: {e}"))?);
    }
    {
        let mut cl = cluster.lock().expect("cluster");
        for crash in cl.crashed() {
            report.problems.push(format!("member crashed: {crash}"));
        }
        cl.heal().map_err(|e| format!("heal: {e}"))?;
    }
    if await_leader(&channels, Duration::from_secs(30))
        .await
        .is_none()
    {
        report.problems.push("no leader after healing".into());
    }

    // Final linearizable read of all keys (retried on any member, bounded).
    let mut final_read = None;
    for attempt in 0..60 {
        let mut kv = KvClient::new(channels[attempt % channels.len()].clone());
        let req = RangeRequest {
            key: KEY_PREFIX.as_bytes().to_vec(),
            range_end: {
                let mut e = KEY_PREFIX.as_bytes().to_vec();
                *e.last_mut().expect("non-empty prefix") += 1;
                e
            },
            ..Default::default()
        };
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), kv.range(req)).await {
            final_read = Some(r.into_inner());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let Some(final_read) = final_read else {
        report.problems.push("final read never succeeded".into());
        return Ok(report);
    };
    let final_rev = final_read.header.as_ref().map_or(0, |h| h.revision);
    report.final_revision = final_rev;
    let _ = finish_tx.send(Some(final_rev));
    let mut watch_records = Vec::new();
    for w in watchers {
        watch_records.extend(w.await.map_err(|e| format!("watcher task: {e}"))?);
    }

    // HashKV at the final revision on every member, once each has caught up.
    let mut hashes: HashMap<usize, u32> = HashMap::new();
    let hash_deadline = Instant::now() + Duration::from_secs(30);
    while hashes.len() < channels.len() && Instant::now() < hash_deadline {
        for (i, ch) in channels.iter().enumerate() {
            if hashes.contains_key(&i) {
                continue;
            }
            let mut m = MaintenanceClient::new(ch.clone());
            let req = HashKvRequest {
                revision: final_rev,
            };
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), m.hash_kv(req)).await {
                hashes.insert(i, r.into_inner().hash);
            }
        }
        if hashes.len() < channels.len() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let distinct: HashSet<u32> = hashes.values().copied().collect();
    if hashes.len() < channels.len() {
        report.problems.push(format!(
            "HashKV at revision {final_rev} answered by only {} members",
            hashes.len()
        ));
    }
    if distinct.len() > 1 {
        report.problems.push(format!(
            "HashKV differs between members at revision {final_rev}: {hashes:?}"
        ));
    }
    let _ = stop_poll_tx.send(true);
    let _ = poller.await;
    for (term, leaders) in terms.lock().expect("terms").iter() {
        if leaders.len() > 1 {
            report.problems.push(format!(
                "term {term} had {} leaders: {leaders:x?}",
                leaders.len()
            ));
        }
    }
    drop(cluster);

    // Checks.
    let mut history = History::merge(recorders);
    let final_kvs: Vec<(String, crate::history::KeyValue)> = final_read
        .kvs
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                traffic::to_kv(kv),
            )
        })
        .collect();
    let mut observed = history.observed_values();
    observed.extend(
        final_kvs
            .iter()
            .map(|(k, kv)| (k.clone(), kv.value.clone(), kv.mod_revision)),
    );
    for r in &watch_records {
        for resp in &r.responses {
            if let watch::WatchResponse::Events { events, .. } = resp {
                report.watch_events += events.len();
                observed.extend(
                    events
                        .iter()
                        .filter(|e| e.kind == crate::kvlog::EventType::Put)
                        .map(|e| (e.key.clone(), e.value.clone(), e.revision)),
                );
            }
        }
    }
    history.patch_unknown_writes(
        observed
            .iter()
            .map(|(k, v, r)| (k.as_str(), v.as_str(), *r)),
    );
    report.operations = history.len();
    report.acknowledged = history
        .ops()
        .iter()
        .filter(|o| o.response().is_some())
        .count();
    report.unknown = history
        .ops()
        .iter()
        .filter(|o| matches!(o.outcome, crate::history::Outcome::Unknown { .. }))
        .count();

    match linearizability::check(&history) {
        linearizability::Verdict::Linearizable => {}
        linearizability::Verdict::NotLinearizable(v) => report.problems.push(v.explain(&history)),
        undecided => report.problems.push(undecided.to_string()),
    }
    for v in revisions::check(&history, 5) {
        report.problems.push(v.explain(&history));
    }
    let mut log = KvLog::from_history(&history);
    log.add_final_read(final_kvs.iter().map(|(k, kv)| (k.as_str(), kv)));
    for c in log.conflicts().iter().take(5) {
        report
            .problems
            .push(format!("two changes claim one revision: {c:?}"));
    }
    for v in watch::validate(&watch_records, &log, 10) {
        report.problems.push(v.to_string());
    }
    if watch_records.is_empty() && cfg.watchers > 0 {
        report.problems.push("no watcher recorded anything".into());
    }
    Ok(report)
}
