//! `etcd-robustness`: runs the fault-injection suite against etcd-rs and prints a report.
//!
//! Usage: `etcd-robustness [--long] [--runs N] [--seed S] [--bin PATH]`; the profile can also
//! be chosen with `ETCD_ROBUSTNESS_PROFILE=long`. Exits non-zero if any run fails.

use etcd_robustness::runner::{run, RunConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut long = std::env::var("ETCD_ROBUSTNESS_PROFILE").as_deref() == Ok("long");
    let mut runs = 2u64;
    let mut seed = std::process::id() as u64;
    let mut bin = None;
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--long" => long = true,
            "--runs" => runs = value("--runs").parse().expect("--runs N"),
            "--seed" => seed = value("--seed").parse().expect("--seed S"),
            "--bin" => bin = Some(value("--bin")),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut failed = false;
    for r in 0..runs {
        let mut cfg = if long {
            RunConfig::long(seed + r)
        } else {
            RunConfig::short(seed + r)
        };
        if let Some(b) = &bin {
            cfg.bin = b.into();
        }
        match rt.block_on(run(&cfg)) {
            Ok(report) => {
                println!("{report}");
                failed |= !report.passed();
            }
            Err(e) => {
                println!("run {r}: harness error: {e}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
