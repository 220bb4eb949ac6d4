//! The faults a run injects, one at a time, each healed before the next.
//!
//! A nemesis is chosen per fault from the kinds the run allows (a one-member cluster has no
//! network to partition and no member to spare). They follow what breaks real clusters:
//!
//! - **process**: kill -9 then restart (recovery from the WAL and store), SIGSTOP then
//!   SIGCONT (a leader that wakes up believing it still leads);
//! - **network**, through the peer proxies: isolate the leader; split the cluster in a
//!   minority and a majority (the leader on either side); cut one direction only (the
//!   leader's outbound or inbound traffic); add latency to every link or the leader's. A cut
//!   either resets connections (`drop`) or holds the bytes (`stall`). Each is healed after
//!   a few seconds;
//! - **membership**, as etcd requires it: remove a member, then add a *new* one (fresh data
//!   directory, `--initial-cluster-state existing`; a removed ID never returns); add a
//!   learner, start it, promote it (retried while etcd says it is not in sync), then remove
//!   an old member so the size stays the same;
//! - **crash points** in the binary (`FAILPOINTS`): restart a member with one armed, drive
//!   the cluster to the point (a follower far enough behind to get a snapshot, or a
//!   membership change), wait for it to die, and restart it without;
//! - **a full disk** (root only): a member's data directory moves to a tmpfs with little
//!   to spare (below or just above the store's 8 MiB reserve) and the member restarts
//!   there; it refuses to start, or runs until its store reaches the reserve, and stops,
//!   as etcd does on a full disk; then the disk grows and it starts again on the same
//!   directory, which must hold every write it acknowledged.
//!
//! The membership faults are in `membership.rs`. Every wait is bounded; a nemesis that cannot do its job (no leader, a member list that
//! cannot be read) says so in its description instead of failing the run. Liveness is not
//! what the checkers judge, safety is.

use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::RangeRequest;

mod membership;

use membership::{add_member, learner_promote, member_by_url, remove_add, remove_member};

use super::cluster::Cluster;
use super::endpoints::{leader, Endpoints};
use super::proxy::Link;
use crate::rng::Rng;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Kill,
    Stop,
    IsolateLeader,
    Split,
    OneWay,
    Delay,
    RemoveAdd,
    LearnerPromote,
    CrashPoint,
    FullDisk,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Kill,
        Kind::Stop,
        Kind::IsolateLeader,
        Kind::Split,
        Kind::OneWay,
        Kind::Delay,
        Kind::RemoveAdd,
        Kind::LearnerPromote,
        Kind::CrashPoint,
        Kind::FullDisk,
    ];

    /// Whether this fault makes sense on a cluster of `voters` members.
    pub fn fits(self, voters: usize) -> bool {
        match self {
            Kind::IsolateLeader | Kind::Split | Kind::OneWay | Kind::Delay => voters >= 2,
            Kind::RemoveAdd => voters >= 3,
            Kind::FullDisk => Cluster::can_mount(),
            _ => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::Stop => "stop",
            Kind::IsolateLeader => "isolate-leader",
            Kind::Split => "split",
            Kind::OneWay => "one-way",
            Kind::Delay => "delay",
            Kind::RemoveAdd => "remove+add",
            Kind::LearnerPromote => "learner+promote",
            Kind::CrashPoint => "crash-point",
            Kind::FullDisk => "full-disk",
        }
    }
}

/// The crash points of `raft-node/src/failpoints.rs`.
pub const CRASH_POINTS: [&str; 6] = [
    "raft_snapshot_before_wal_mark",
    "raft_snapshot_after_wal_mark",
    "apply_snapshot_before_install",
    "apply_snapshot_after_install",
    "apply_before_reply",
    "conf_change_raft_unreachable",
];

/// What a nemesis works with.
pub struct Ctx<'a> {
    pub cluster: &'a Arc<Mutex<Cluster>>,
    pub endpoints: &'a Arc<Endpoints>,
    pub rng: &'a mut Rng,
    pub snapshot_count: u64,
    /// Where a nemesis that could not do its job says so.
    pub notes: &'a mut Vec<String>,
}

fn cl(c: &Arc<Mutex<Cluster>>) -> std::sync::MutexGuard<'_, Cluster> {
    c.lock().expect("cluster")
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Injects one fault of `kind` and heals it; returns a description.
pub async fn inject(kind: Kind, ctx: &mut Ctx<'_>) -> Result<String, String> {
    let active = cl(ctx.cluster).active();
    let leader_slot = leader(ctx.endpoints).await;
    let pick_any = |rng: &mut Rng| active[rng.below(active.len() as u64) as usize];
    match kind {
        Kind::Kill | Kind::Stop => {
            let target = match leader_slot {
                Some(l) if ctx.rng.chance(66) => l,
                _ => pick_any(ctx.rng),
            };
            if kind == Kind::Kill {
                cl(ctx.cluster).kill(target);
                sleep_ms(300 + ctx.rng.below(1000)).await;
                cl(ctx.cluster)
                    .restart(target)
                    .map_err(|e| format!("restart m{target}: {e}"))?;
                Ok(format!("kill -9 + restart m{target}"))
            } else {
                cl(ctx.cluster).freeze(target).map_err(|e| e.to_string())?;
                sleep_ms(1000 + ctx.rng.below(2000)).await;
                cl(ctx.cluster).thaw(target).map_err(|e| e.to_string())?;
                Ok(format!("SIGSTOP/SIGCONT m{target}"))
            }
        }
        Kind::IsolateLeader | Kind::Split | Kind::OneWay | Kind::Delay => {
            network(kind, ctx, &active, leader_slot).await
        }
        Kind::RemoveAdd => remove_add(ctx, &active, leader_slot).await,
        Kind::LearnerPromote => learner_promote(ctx, &active).await,
        Kind::CrashPoint => crash_point(ctx, &active, leader_slot).await,
        Kind::FullDisk => {
            let target = pick_any(ctx.rng);
            full_disk(ctx, target).await
        }
    }
}

/// The free space an etcd-rs store keeps in reserve (`etcd_store::backend::FREE_SPACE_RESERVE`):
/// below it the member refuses to start or write.
const STORE_RESERVE: u64 = 8 << 20;

/// Member `target` restarts on a disk with little to spare, runs until it stops for lack of
/// space (or 10 s pass), and starts again once the disk has room. Half the time the room is
/// below the store's reserve (the member refuses to start), half the time up to 1 MiB above
/// it (the member starts and fills the rest while serving).
async fn full_disk(ctx: &mut Ctx<'_>, target: usize) -> Result<String, String> {
    let headroom = if ctx.rng.chance(50) {
        ctx.rng.below(512) << 10
    } else {
        STORE_RESERVE + (ctx.rng.below(1024) << 10)
    };
    let size = {
        let mut c = cl(ctx.cluster);
        c.kill(target);
        let size = c
            .move_to_small_disk(target, headroom)
            .map_err(|e| format!("small disk for m{target}: {e}"))?;
        c.restart(target)
            .map_err(|e| format!("restart m{target}: {e}"))?;
        size
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = None;
    while status.is_none() && Instant::now() < deadline {
        sleep_ms(100).await;
        status = cl(ctx.cluster).exited(target);
    }
    let mut c = cl(ctx.cluster);
    c.grow_disk(target)
        .map_err(|e| format!("grow the disk of m{target}: {e}"))?;
    c.restart(target)
        .map_err(|e| format!("restart m{target}: {e}"))?;
    let outcome = match status {
        Some(s) => format!("stopped ({s}), restarted with room"),
        None => "still running after 10 s, disk grown".to_string(),
    };
    Ok(format!(
        "full disk on m{target} ({} KiB tmpfs, {} KiB to spare): {outcome}",
        size >> 10,
        headroom >> 10
    ))
}

async fn network(
    kind: Kind,
    ctx: &mut Ctx<'_>,
    active: &[usize],
    leader_slot: Option<usize>,
) -> Result<String, String> {
    let net = Arc::clone(&cl(ctx.cluster).net);
    let cut = if ctx.rng.chance(50) {
        Link::Drop
    } else {
        Link::Stall
    };
    let lead = leader_slot.unwrap_or(active[0]);
    let others: Vec<usize> = active.iter().copied().filter(|s| *s != lead).collect();
    let what = match kind {
        Kind::IsolateLeader => {
            net.isolate(lead, &others, cut);
            format!("isolate leader m{lead} ({cut:?})")
        }
        Kind::Split => {
            // A minority of (n-1)/2 members (at least one), with the leader half the time.
            let mut order = others.clone();
            for i in (1..order.len()).rev() {
                order.swap(i, ctx.rng.below(i as u64 + 1) as usize);
            }
            let minority_size = ((active.len() - 1) / 2).max(1);
            let mut minority: Vec<usize> = if ctx.rng.chance(50) {
                let mut m = vec![lead];
                m.extend(order.iter().take(minority_size - 1));
                m
            } else {
                order.iter().take(minority_size).copied().collect()
            };
            minority.sort_unstable();
            let majority: Vec<usize> = active
                .iter()
                .copied()
                .filter(|s| !minority.contains(s))
                .collect();
            net.set(&minority, &majority, cut);
            net.set(&majority, &minority, cut);
            format!("split {minority:?} | {majority:?} ({cut:?})")
        }
        Kind::OneWay => {
            if ctx.rng.chance(50) {
                net.set(&[lead], &others, cut);
                format!("one-way: leader m{lead} cannot send ({cut:?})")
            } else {
                net.set(&others, &[lead], cut);
                format!("one-way: leader m{lead} cannot receive ({cut:?})")
            }
        }
        _ => {
            let d = Duration::from_millis(50 + ctx.rng.below(400));
            if ctx.rng.chance(50) {
                net.set(active, active, Link::Delay(d));
                format!("delay every link {} ms", d.as_millis())
            } else {
                net.set(&[lead], &others, Link::Delay(d));
                net.set(&others, &[lead], Link::Delay(d));
                format!("delay leader m{lead}'s links {} ms", d.as_millis())
            }
        }
    };
    sleep_ms(2000 + ctx.rng.below(3000)).await;
    net.heal();
    Ok(what)
}

/// Current revision as a linearizable read sees it, from any member.
async fn revision(endpoints: &Endpoints) -> Option<i64> {
    for (_, ch) in endpoints.all() {
        let mut kv = KvClient::new(ch);
        let r = tokio::time::timeout(
            Duration::from_secs(1),
            kv.range(RangeRequest {
                key: b"r/".to_vec(),
                limit: 1,
                ..Default::default()
            }),
        )
        .await;
        if let Ok(Ok(r)) = r {
            return r.into_inner().header.map(|h| h.revision);
        }
    }
    None
}

async fn crash_point(
    ctx: &mut Ctx<'_>,
    active: &[usize],
    leader_slot: Option<usize>,
) -> Result<String, String> {
    // A leader never receives a snapshot: those points want a follower, and a one-member
    // cluster has none.
    let followers: Vec<usize> = active
        .iter()
        .copied()
        .filter(|s| Some(*s) != leader_slot)
        .collect();
    let points: Vec<&str> = CRASH_POINTS
        .iter()
        .copied()
        .filter(|p| active.len() > 1 || !p.contains("snapshot"))
        .collect();
    let point = points[ctx.rng.below(points.len() as u64) as usize];
    let snapshot_point = point.contains("snapshot");
    let target = if snapshot_point && !followers.is_empty() {
        followers[ctx.rng.below(followers.len() as u64) as usize]
    } else {
        active[ctx.rng.below(active.len() as u64) as usize]
    };
    cl(ctx.cluster).kill(target);
    if snapshot_point {
        // Let the others move far enough ahead that the target needs a snapshot.
        let others = Endpoints::without(ctx.endpoints, target);
        let start = revision(&others).await;
        let deadline = Instant::now() + Duration::from_secs(8);
        while let Some(s) = start {
            match revision(&others).await {
                Some(r) if r >= s + 2 * ctx.snapshot_count as i64 + 10 => break,
                _ if Instant::now() >= deadline => break,
                _ => sleep_ms(200).await,
            }
        }
    } else {
        sleep_ms(200).await;
    }
    cl(ctx.cluster)
        .restart_armed(target, &format!("{point}=return"))
        .map_err(|e| format!("restart m{target}: {e}"))?;
    // For the conf-change point, a membership change every member applies: a learner that
    // never starts, added now and removed once the target is back (etcd allows one learner
    // at a time, so it must not stay).
    let mut phantom = None;
    if point == "conf_change_raft_unreachable" {
        sleep_ms(1000).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        // Unconfirmed when the crash point kills the only member while it applies the
        // add; the add then takes effect when that member replays it after the restart.
        let _ = add_member(ctx.endpoints, &url, true).await;
        phantom = Some(url);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = None;
    while Instant::now() < deadline {
        status = cl(ctx.cluster).exited(target);
        if status.is_some() {
            break;
        }
        sleep_ms(100).await;
    }
    let outcome = match status {
        Some(s) if s.signal() == Some(6) => "aborted there".to_string(),
        Some(s) => format!("exited: {s}"),
        None => {
            ctx.notes.push(format!(
                "crash point {point} on m{target} not reached within 10 s"
            ));
            "not reached within 10 s".to_string()
        }
    };
    {
        let mut c = cl(ctx.cluster);
        c.kill(target);
        c.restart(target)
            .map_err(|e| format!("restart m{target}: {e}"))?;
    }
    if let Some(url) = phantom {
        // Looked up after the restart: a linearizable member list includes an add that
        // was committed but only replayed now.
        if let Some(m) = member_by_url(ctx.endpoints, &url).await {
            if !remove_member(ctx.endpoints, m.id, &url).await {
                ctx.notes.push(format!(
                    "phantom learner {:x} not removed within 20 s",
                    m.id
                ));
            }
        }
    }
    Ok(format!("crash point {point} on m{target}: {outcome}"))
}
