//! Data-driven scripts for the deterministic cluster simulation
//! (`raft_node::sim`): elections, replication, partitions, leader change
//! with uncommitted entries, restarts, snapshot install, membership changes
//! and learner promotion, all on the real raft loop, WAL, apply path and
//! store, with a scripted network and clock.
//!
//! A script is a goldenscript (the `goldenscript` crate): blocks of a
//! command, `---` and its expected output.
//!
//! `UPDATE_GOLDENFILES=1 cargo test -p raft-node --test raft_sim` rewrites the
//! expected outputs (review the diff before committing it).
//!
//! Commands: `cluster n=3 [snapshot-count=N]`, `tick [n=K] [node=I]`,
//! `campaign I`, `deliver [rounds=N]`, `put I key value`, `read I` (a read
//! index through member I), `results`, `status`,
//! `get I key`, `partition "1,2" "3"` (the two sides), `heal`, `stop I` (clean: the store is
//! flushed), `crash I` (what the store did not flush is lost), `power-loss "1,2"`
//! (as crash, and WAL writes not fsynced are lost too), `restart I [lagging]`,
//! `add I target [learner]`, `promote I target`, `remove I target`,
//! `join I`, `hashes [rev=R]`, `log I`, `conf I` (raft's configuration
//! and applied index), `lag I on|off` (hold the apply path
//! back), `apply I [n=K]` (run K queued apply batches, all by default),
//! `failpoint name actions` (needs the `failpoints` feature; scripts that
//! use it live in `testdata/sim-failpoints/`).

use std::fmt::Write as _;
use std::path::Path;

use raft::eraftpb::ConfChangeType;
use raft_node::sim::{Sim, ELECTION_TICKS};

fn ids(list: &str) -> Vec<u64> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse().expect("member id"))
        .collect()
}

fn arg<'a>(args: &'a [&'a str], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

fn num(s: &str) -> u64 {
    s.parse().expect("number")
}

/// Runs one command; returns its output.
fn run(sim: &mut Option<Sim>, dir: &Path, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (cmd, args) = words.split_first().expect("a command");
    if *cmd == "cluster" {
        let n = arg(args, "n").map_or(3, num);
        let snap = arg(args, "snapshot-count").map_or(0, num);
        *sim = Some(Sim::new(dir, n, snap).expect("start cluster"));
        return "ok".into();
    }
    let sim = sim.as_mut().expect("`cluster` must come first");
    let result: Result<String, String> = (|| {
        let e = |e: raft_node::ServerError| e.to_string();
        Ok(match *cmd {
            "tick" => {
                let n = match arg(args, "n") {
                    None => 1,
                    Some("election") => ELECTION_TICKS,
                    Some(v) => v.parse().expect("ticks"),
                };
                sim.tick(arg(args, "node").map(num), n).map_err(e)?;
                "ok".into()
            }
            "campaign" => {
                sim.campaign(num(args[0])).map_err(e)?;
                "ok".into()
            }
            "deliver" => match arg(args, "rounds") {
                Some(n) => format!(
                    "delivered {}",
                    sim.deliver_rounds(num(n) as usize, false).map_err(e)?
                ),
                None => format!("delivered {}", sim.deliver().map_err(e)?),
            },
            "read" => {
                sim.read_index(num(args[0])).map_err(e)?;
                "ok".into()
            }
            "put" => {
                sim.put(num(args[0]), args[1], args[2]).map_err(e)?;
                "ok".into()
            }
            "results" => {
                let r = sim.results();
                if r.is_empty() {
                    "(none)".into()
                } else {
                    r.join("\n")
                }
            }
            "status" => sim.status().join("\n"),
            "get" => sim.get(num(args[0]), args[1]).map_err(e)?,
            "partition" => {
                sim.partition(&ids(args[0]), &ids(args[1]));
                "ok".into()
            }
            "heal" => {
                sim.heal();
                "ok".into()
            }
            "stop" => {
                sim.stop(num(args[0])).map_err(e)?;
                "ok".into()
            }
            "crash" => {
                sim.crash(num(args[0]));
                "ok".into()
            }
            "power-loss" => {
                for id in ids(&args.join(" ")) {
                    sim.power_loss(id).map_err(e)?;
                }
                "ok".into()
            }
            "lag" => {
                sim.set_lagging(num(args[0]), args.get(1) != Some(&"off"))
                    .map_err(e)?;
                "ok".into()
            }
            "apply" => {
                let n = arg(args, "n").map_or(usize::MAX, |v| v.parse().expect("count"));
                format!("applied {}", sim.apply(num(args[0]), n).map_err(e)?)
            }
            "failpoint" => {
                raft_node::failpoints::arm(args[0], &args[1..].join(" "))?;
                "ok".into()
            }
            "restart" => {
                sim.restart(num(args[0]), args.get(1) == Some(&"lagging"))
                    .map_err(e)?;
                "ok".into()
            }
            "join" => {
                sim.join(num(args[0])).map_err(e)?;
                "ok".into()
            }
            "add" => {
                let kind = if args.get(2) == Some(&"learner") {
                    ConfChangeType::AddLearnerNode
                } else {
                    ConfChangeType::AddNode
                };
                sim.conf_change(num(args[0]), kind, num(args[1]))
                    .map_err(e)?
            }
            "promote" => sim
                .conf_change(num(args[0]), ConfChangeType::AddNode, num(args[1]))
                .map_err(e)?,
            "remove" => sim
                .conf_change(num(args[0]), ConfChangeType::RemoveNode, num(args[1]))
                .map_err(e)?,
            "hashes" => {
                let rev = arg(args, "rev").map_or(0, |v| v.parse().expect("revision"));
                let hashes = sim.hashes(rev).map_err(e)?;
                let mut distinct: Vec<u32> = hashes.values().copied().collect();
                distinct.sort_unstable();
                distinct.dedup();
                let mut members: Vec<u64> = hashes.keys().copied().collect();
                members.sort_unstable();
                if distinct.len() == 1 {
                    format!("equal on {members:?}")
                } else {
                    let mut out = String::from("DIFFERENT:");
                    for m in members {
                        let _ = write!(out, " n{m}={:08x}", hashes[&m]);
                    }
                    out
                }
            }
            "conf" => sim.conf(num(args[0])).ok_or("not running")?,
            "log" => format!(
                "first index {}",
                sim.first_log_index(num(args[0])).ok_or("not running")?
            ),
            other => return Err(format!("unknown command {other}")),
        })
    })();
    result.unwrap_or_else(|err| format!("error: {err}"))
}

/// Runs the commands of a script on one simulation.
struct SimRunner {
    sim: Option<Sim>,
    dir: tempfile::TempDir,
}

impl goldenscript::Runner for SimRunner {
    fn run(
        &mut self,
        command: &goldenscript::Command,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let mut line = command.name.clone();
        for a in &command.args {
            line.push(' ');
            if let Some(key) = &a.key {
                let _ = write!(line, "{key}=");
            }
            line.push_str(&a.value);
        }
        Ok(run(&mut self.sim, self.dir.path(), &line))
    }
}

fn run_script(path: &Path) {
    let mut runner = SimRunner {
        sim: None,
        dir: tempfile::tempdir().expect("tempdir"),
    };
    goldenscript::run(&mut runner, path).expect("script runs");
}

macro_rules! script {
    ($name:ident) => {
        #[test]
        fn $name() {
            run_script(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/testdata/sim")
                    .join(concat!(stringify!($name), ".txt")),
            );
        }
    };
}

/// Failpoints are process-wide: these scripts run one at a time, each from
/// a clean slate.
#[cfg(feature = "failpoints")]
static FAILPOINTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(feature = "failpoints")]
macro_rules! failpoint_script {
    ($name:ident) => {
        #[test]
        fn $name() {
            let _one_at_a_time = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
            let scenario = fail::FailScenario::setup();
            run_script(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/testdata/sim-failpoints")
                    .join(concat!(stringify!($name), ".txt")),
            );
            scenario.teardown();
        }
    };
}

script!(election);
script!(replication);
script!(leader_change);
script!(snapshot);
script!(membership);
script!(restart_replays_membership);
script!(snapshot_behind_backlog);
script!(read_index_new_leader);
script!(power_loss);

#[cfg(feature = "failpoints")]
failpoint_script!(conf_change_raft_unreachable);
#[cfg(feature = "failpoints")]
failpoint_script!(crash_during_snapshot_install);
#[cfg(feature = "failpoints")]
failpoint_script!(ack_before_fsync);
