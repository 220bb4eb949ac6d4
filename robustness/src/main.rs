//! `etcd-robustness`: runs the fault-injection suite against etcd-rs and prints a report.
//!
//! Usage: `etcd-robustness [--long] [--runs N] [--seed S] [--bin PATH] [--only KIND,...]
//! [--members N] [--secs S] [--snapshot-count N] [--member-flag FLAG]...`; the profile can also be chosen with
//! `ETCD_ROBUSTNESS_PROFILE=long`, which runs 500 times unless `--runs` says otherwise. `--only` restricts the nemeses (names as in the report:
//! kill, stop, isolate-leader, split, one-way, delay, remove+add, learner+promote,
//! crash-point, full-disk); `--members`, `--secs` and `--snapshot-count` override the shape, traffic
//! length and snapshot interval; `--member-flag` (repeatable) is passed to every member. Each run uses seed S + its index, so a failing run is
//! reproduced with `--runs 1 --seed <its seed>` and the same profile flags. Prints a summary of all runs; exits non-zero if any failed.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_robustness::runner::nemesis::Kind;

use etcd_robustness::runner::{run, RunConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut long = std::env::var("ETCD_ROBUSTNESS_PROFILE").as_deref() == Ok("long");
    let mut runs: Option<u64> = None;
    let mut seed = std::process::id() as u64;
    let mut bin = None;
    let mut only: Option<Vec<Kind>> = None;
    let mut members = None;
    let mut secs = None;
    let mut snapshot_count = None;
    let mut member_flags = Vec::new();
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--long" => long = true,
            "--runs" => runs = Some(value("--runs").parse().expect("--runs N")),
            "--seed" => seed = value("--seed").parse().expect("--seed S"),
            "--bin" => bin = Some(value("--bin")),
            "--member-flag" => member_flags.push(value("--member-flag")),
            "--members" => members = Some(value("--members").parse().expect("--members N")),
            "--secs" => secs = Some(value("--secs").parse().expect("--secs S")),
            "--snapshot-count" => {
                snapshot_count = Some(
                    value("--snapshot-count")
                        .parse()
                        .expect("--snapshot-count N"),
                )
            }
            "--only" => {
                let names = value("--only");
                only = Some(
                    names
                        .split(',')
                        .map(|n| {
                            *Kind::ALL
                                .iter()
                                .find(|k| k.name() == n)
                                .unwrap_or_else(|| panic!("unknown nemesis {n}"))
                        })
                        .collect(),
                );
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    // The long profile is 500 runs unless told otherwise; the short one is CI's two.
    let runs = runs.unwrap_or(if long { 500 } else { 2 });
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut failed = Vec::new();
    let (mut ops, mut events, mut faults) = (0, 0, BTreeMap::<&str, usize>::new());
    let mut shapes = BTreeMap::<usize, usize>::new();
    for r in 0..runs {
        let mut cfg = if long {
            RunConfig::long(seed + r)
        } else {
            RunConfig::short(seed + r)
        };
        if let Some(b) = &bin {
            cfg.bin = b.into();
        }
        if let Some(k) = &only {
            cfg.nemeses = k.clone();
        }
        if let Some(m) = members {
            cfg.members = m;
        }
        if let Some(n) = snapshot_count {
            cfg.snapshot_count = n;
        }
        cfg.member_flags = member_flags.clone();
        if let Some(s) = secs {
            cfg.traffic = Duration::from_secs(s);
        }
        match rt.block_on(run(&cfg)) {
            Ok(report) => {
                println!("{report}");
                ops += report.operations;
                events += report.watch_events;
                *shapes.entry(report.members).or_default() += 1;
                for (k, n) in &report.fault_kinds {
                    *faults.entry(k).or_default() += n;
                }
                if !report.passed() {
                    failed.push(cfg.seed);
                }
            }
            Err(e) => {
                println!("seed {}: harness error: {e}", cfg.seed);
                failed.push(cfg.seed);
            }
        }
    }
    println!(
        "SUMMARY: {runs} runs (members: {shapes:?}), {} faults {faults:?}, {ops} client ops checked, {events} watch events, failed seeds: {failed:?}",
        faults.values().sum::<usize>()
    );
    std::process::exit(i32::from(!failed.is_empty()));
}
