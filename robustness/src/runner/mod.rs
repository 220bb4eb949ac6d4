//! One robustness run against a real etcd-rs cluster, start to verdict.
//!
//! Order of a run: start the members (1, 3 or 5, each behind its peer proxy) and wait for a
//! leader; start clients, a lease keeper, a compactor, watchers and a status poller; inject
//! faults ([`nemesis`]: process, network, membership, crash points) a bounded number of times
//! until the traffic deadline; heal the cluster; read everything once more linearizably (the
//! final revision and values); let the watchers finish at that revision; compare HashKV of all
//! current members at it; then run every checker. Everything is bounded by deadlines and
//! counts, and the [`Cluster`] guard kills every process even if the run panics.
//!
//! Clients, watchers and pollers reach the cluster through [`Endpoints`], the current member
//! list: membership nemeses add and remove members while they run, and a client whose member
//! fails moves on to another, as etcd's client balancer does.

pub mod cluster;
mod endpoints;
pub mod lease;
pub mod nemesis;
pub mod proxy;
mod report;
pub mod traffic;
pub mod watcher;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{HashKvRequest, RangeRequest};

use crate::history::{Clock, History};
use crate::kvlog::KvLog;
use crate::rng::Rng;
use crate::{linearizability, revisions, watch};
use cluster::Cluster;
pub use endpoints::Endpoints;
use endpoints::{await_leader, statuses};
pub use report::Report;
use traffic::{TrafficConfig, KEY_PREFIX};

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub bin: PathBuf,
    pub members: usize,
    /// The fault kinds this run may inject (those that fit the cluster size).
    pub nemeses: Vec<nemesis::Kind>,
    /// Leases granted (TTL long enough never to expire in a run) and attached to puts.
    pub leases: usize,
    /// Compact every this often (none if `None`).
    pub compact_every: Option<Duration>,
    pub clients: u32,
    pub watchers: usize,
    pub keys: u64,
    pub traffic: Duration,
    pub max_faults: usize,
    pub op_timeout: Duration,
    pub snapshot_count: u64,
    pub seed: u64,
    /// More flags for every member (e.g. `--experimental-lease-based-reads`).
    pub member_flags: Vec<String>,
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
            nemeses: nemesis::Kind::ALL.to_vec(),
            leases: 3,
            compact_every: Some(Duration::from_secs(3)),
            clients: 6,
            watchers: 2,
            keys: 10,
            traffic: Duration::from_secs(15),
            max_faults: 3,
            op_timeout: Duration::from_secs(2),
            snapshot_count: 50,
            seed,
            member_flags: Vec::new(),
        }
    }

    /// Cluster shape and snapshot count drawn from the seed: 1, 3 or 5 members; snapshots
    /// every 20 to 100 entries so lagging members install them.
    pub fn long(seed: u64) -> RunConfig {
        let mut rng = Rng::new(seed ^ 0x5ba9e);
        let members = match rng.below(100) {
            0..=14 => 1,
            15..=64 => 3,
            _ => 5,
        };
        let snapshot_count = [20, 50, 100][rng.below(3) as usize];
        RunConfig {
            members,
            clients: 12,
            keys: 50,
            leases: 5,
            traffic: Duration::from_secs(60),
            max_faults: 15,
            snapshot_count,
            ..RunConfig::short(seed)
        }
    }
}

/// Runs once; an `Err` is a harness failure (cluster could not start), not a verdict.
pub async fn run(cfg: &RunConfig) -> Result<Report, String> {
    let cluster = Cluster::start(&cfg.bin, cfg.members, cfg.snapshot_count, &cfg.member_flags)
        .map_err(|e| format!("start cluster: {e}"))?;
    let endpoints = Endpoints::new(
        cluster
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (i, m.client_url())),
    );
    let cluster = Arc::new(Mutex::new(cluster));
    let mut report = Report {
        seed: cfg.seed,
        members: cfg.members,
        snapshot_count: cfg.snapshot_count,
        ..Report::default()
    };
    if await_leader(&endpoints, Duration::from_secs(30))
        .await
        .is_none()
    {
        return Err("no leader within 30 s of start".into());
    }

    let clock = Clock::start();
    let start = Instant::now();
    let deadline = start + cfg.traffic;
    let leases = Arc::new(lease::Leases::default());
    let key_leases = Arc::new(lease::KeyLeases::default());
    let traffic = Arc::new(TrafficConfig {
        keys: cfg.keys,
        op_timeout: cfg.op_timeout,
        deadline,
        max_ops: 1_000_000,
    });
    let mut clients = Vec::new();
    for c in 0..cfg.clients {
        let endpoints = Arc::clone(&endpoints);
        let traffic = Arc::clone(&traffic);
        let leases = Arc::clone(&leases);
        let key_leases = Arc::clone(&key_leases);
        let seed = cfg.seed.wrapping_mul(1000).wrapping_add(c as u64);
        clients.push(tokio::spawn(async move {
            traffic::run_client(c, endpoints, leases, key_leases, clock, &traffic, seed).await
        }));
    }
    let lease_keeper = tokio::spawn(lease::keep_leases(
        Arc::clone(&endpoints),
        Arc::clone(&leases),
        cfg.leases,
        deadline,
    ));
    let compactor = cfg
        .compact_every
        .map(|every| tokio::spawn(traffic::compactor(Arc::clone(&endpoints), every, deadline)));
    let (finish_tx, finish_rx) = tokio::sync::watch::channel(None);
    let watch_give_up = deadline + Duration::from_secs(60);
    let mut watchers = Vec::new();
    for w in 0..cfg.watchers {
        watchers.push(tokio::spawn(watcher::run_watcher(
            Arc::clone(&endpoints),
            w,
            finish_rx.clone(),
            watch_give_up,
            300,
        )));
    }
    // Leaders seen per term, polled until the end of the run.
    let terms: Arc<Mutex<BTreeMap<u64, HashSet<u64>>>> = Arc::default();
    let (stop_poll_tx, mut stop_poll_rx) = tokio::sync::watch::channel(false);
    let poller = {
        let endpoints = Arc::clone(&endpoints);
        let terms = Arc::clone(&terms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop_poll_rx.changed() => return,
                }
                for (_, id, leader, term) in statuses(&endpoints).await {
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
    // Kinds come from their own generator, so the sequence of kinds of a seed does not
    // depend on how many draws each nemesis made.
    let mut kind_rng = Rng::new(cfg.seed ^ 0x6e6d);
    for _ in 0..cfg.max_faults {
        let pause = Duration::from_millis(1000 + rng.below(2000));
        if Instant::now() + pause + Duration::from_secs(3) >= deadline {
            break;
        }
        tokio::time::sleep(pause).await;
        let size = cluster.lock().expect("cluster").active().len();
        let kinds: Vec<nemesis::Kind> = cfg
            .nemeses
            .iter()
            .copied()
            .filter(|k| k.fits(size))
            .collect();
        if kinds.is_empty() {
            break;
        }
        let kind = kinds[kind_rng.below(kinds.len() as u64) as usize];
        let mut ctx = nemesis::Ctx {
            cluster: &cluster,
            endpoints: &endpoints,
            rng: &mut rng,
            snapshot_count: cfg.snapshot_count,
            notes: &mut report.notes,
        };
        match nemesis::inject(kind, &mut ctx).await {
            Ok(what) => {
                *report.fault_kinds.entry(kind.name()).or_default() += 1;
                report.faults.push(what);
            }
            // A nemesis that could not act (no member answered a membership call, a
            // process could not be spawned) is noted; the run goes on and is still judged.
            Err(e) => report.notes.push(format!("{}: {e}", kind.name())),
        }
    }
    let mut recorders = Vec::new();
    for c in clients {
        recorders.extend(c.await.map_err(|e| format!("client task: {e}"))?);
    }
    let lease_report = lease_keeper.await.map_err(|e| format!("lease task: {e}"))?;
    report.leases_granted = lease_report.granted;
    report.keepalives = lease_report.keepalives;
    report.problems.extend(lease_report.problems);
    if let Some(c) = compactor {
        report.compactions = c.await.map_err(|e| format!("compactor: {e}"))?;
    }
    {
        let mut cl = cluster.lock().expect("cluster");
        for crash in cl.crashed() {
            report.problems.push(format!("member crashed: {crash}"));
        }
        cl.heal().map_err(|e| format!("heal: {e}"))?;
    }
    if await_leader(&endpoints, Duration::from_secs(30))
        .await
        .is_none()
    {
        report.problems.push("no leader after healing".into());
    }

    // Final linearizable read of all keys (retried on any member, bounded).
    let mut final_read = None;
    for attempt in 0..60 {
        let mut kv = KvClient::new(endpoints.pick(attempt));
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
        report.logs = cluster
            .lock()
            .expect("cluster")
            .copy_logs()
            .map(tempfile::TempDir::keep);
        return Ok(report);
    };
    let final_rev = final_read.header.as_ref().map_or(0, |h| h.revision);
    report.final_revision = final_rev;
    let _ = finish_tx.send(Some(final_rev));
    let mut watch_records = Vec::new();
    for w in watchers {
        let (records, errors) = w.await.map_err(|e| format!("watcher task: {e}"))?;
        watch_records.extend(records);
        report.notes.extend(errors);
    }

    // HashKV at the final revision on every current member, once each has caught up.
    let members = endpoints.all();
    let mut hashes: HashMap<usize, u32> = HashMap::new();
    let hash_deadline = Instant::now() + Duration::from_secs(30);
    while hashes.len() < members.len() && Instant::now() < hash_deadline {
        for (i, ch) in &members {
            if hashes.contains_key(i) {
                continue;
            }
            let mut m = MaintenanceClient::new(ch.clone());
            let req = HashKvRequest {
                revision: final_rev,
            };
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), m.hash_kv(req)).await {
                hashes.insert(*i, r.into_inner().hash);
            }
        }
        if hashes.len() < members.len() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let distinct: HashSet<u32> = hashes.values().copied().collect();
    if hashes.len() < members.len() {
        report.problems.push(format!(
            "HashKV at revision {final_rev} answered by only {} of {} members",
            hashes.len(),
            members.len()
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
    let unidentified = cluster.lock().expect("cluster").net.unidentified();
    if unidentified > 0 {
        report.notes.push(format!(
            "({unidentified} peer connections not traced to a member)"
        ));
    }
    // Every process ends here; the logs are copied aside and kept if the run fails.
    let logs = {
        let mut cl = cluster.lock().expect("cluster");
        cl.kill_all();
        cl.copy_logs()
    };
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
    for op in history.ops() {
        use crate::history::{Outcome, Request, Response};
        match (&op.request, &op.outcome) {
            (_, Outcome::Ok(Response::LeaseNotFound)) => report.lease_refusals += 1,
            (Request::Revoke { .. }, Outcome::Ok(_)) => report.revokes += 1,
            (Request::Revoke { .. }, _) if op.client >= traffic::EXPIRIES => report.expiries += 1,
            _ => {}
        }
    }

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
    if !report.passed() {
        report.logs = logs.map(tempfile::TempDir::keep);
    }
    Ok(report)
}
