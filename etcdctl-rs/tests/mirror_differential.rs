//! `make-mirror`: its argument errors compared with the Go etcdctl, and real
//! mirroring between real etcds — the Go etcdctl and etcdctl-rs each mirror
//! the same source cluster into their own fresh destination cluster (with
//! and without prefix rewriting), the source changes while they run (puts,
//! deletes, multi-operation txns), and both destinations must end up with
//! the same keys, values and revisions.

mod common;

use std::time::{Duration, Instant};

use common::{case, compare_all, run_client, Case, Etcd, Proc, Side, GO_ETCDCTL, RS_ETCDCTL};

const ERROR_CASES: &[Case] = &[
    case("make-mirror"),
    case("make-mirror a b"),
    case("make-mirror --dest-prefix=x --no-dest-prefix $EP"),
    case("make-mirror -w xx $EP"),
    case("make-mirror --max-txn-ops=5 $EP"),
    case("make-mirror --dest-cert=/x $EP"),
    case("make-mirror --dest-key=/x $EP"),
];

#[test]
fn make_mirror_errors_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let failures = compare_all(&mut go, &mut rs, ERROR_CASES);
    common::assert_no_failures(failures, ERROR_CASES.len());
}

fn ctl(ep: &Etcd, args: &[&str]) -> String {
    let e = format!("--endpoints={}", ep.endpoint());
    let mut all = vec![e.as_str()];
    all.extend_from_slice(args);
    let (out, err, code) = run_client(GO_ETCDCTL, &all);
    assert_eq!(code, Some(0), "etcdctl {args:?}: {err}");
    out
}

fn ctl_stdin(ep: &Etcd, args: &[&str], stdin: &str) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '{stdin}' | {GO_ETCDCTL} --endpoints={} {}",
            ep.endpoint(),
            args.join(" ")
        ))
        .output()
        .expect("run etcdctl");
    assert!(out.status.success(), "{out:?}");
}

/// The destination's revision.
fn revision(ep: &Etcd) -> i64 {
    let out = ctl(ep, &["get", "x", "-w", "json"]);
    out.split("\"revision\":")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Waits (bounded) until both destinations reach `rev`.
fn wait_revision(dests: &[&Etcd], rev: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if dests.iter().all(|d| revision(d) >= rev) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let revs: Vec<i64> = dests.iter().map(|d| revision(d)).collect();
    panic!("destinations did not reach revision {rev}: {revs:?}");
}

/// One mirroring scenario: `flags` for both clients, `expected` revisions.
fn mirror_scenario(src: &Etcd, flags: &[&str], base_rev: i64, final_rev: i64) {
    let go_dest = Etcd::start();
    let rs_dest = Etcd::start();
    let src_ep = format!("--endpoints={}", src.endpoint());
    let start = |bin: &str, dest: &Etcd| {
        let mut args = vec![src_ep.as_str(), "make-mirror"];
        args.extend_from_slice(flags);
        let d = dest.endpoint();
        args.push(&d);
        Proc::spawn(bin, &args)
    };
    let mut go = start(GO_ETCDCTL, &go_dest);
    let mut rs = start(RS_ETCDCTL, &rs_dest);
    wait_revision(&[&go_dest, &rs_dest], base_rev);
    // Changes while mirroring: one txn per source revision.
    ctl(src, &["put", "p/c", "3"]);
    ctl(src, &["del", "p/a"]);
    ctl_stdin(
        src,
        &["txn"],
        "\\nput p/d 4\\nput p/e 5\\ndel p/b\\nput q/y 6\\n\\n\\n",
    );
    ctl(src, &["put", "q/z", "7"]);
    ctl(src, &["del", "p/", "--prefix"]);
    ctl(src, &["put", "p/f", "8"]);
    wait_revision(&[&go_dest, &rs_dest], final_rev);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!go.exited(), "go make-mirror ended: {}", go.stderr());
    assert!(
        !rs.exited(),
        "etcdctl-rs make-mirror ended: {}",
        rs.stderr()
    );
    let go_side = Side::new(GO_ETCDCTL, &go_dest);
    let rs_side = Side::new(RS_ETCDCTL, &rs_dest);
    for args in [
        &["get", "", "--prefix", "-w", "json"][..],
        &["get", "", "--prefix"][..],
    ] {
        let g = go_side.mask(&ctl(&go_dest, args));
        let r = rs_side.mask(&ctl(&rs_dest, args));
        assert_eq!(g, r, "destinations differ for {flags:?}");
    }
    assert_eq!(go.stdout(), rs.stdout());
    assert_eq!(go.stderr(), rs.stderr());
}

#[test]
fn make_mirror_mirrors_like_go_etcdctl() {
    if !common::reference_available() {
        return;
    }
    let src = Etcd::start();
    ctl(&src, &["put", "p/a", "1"]);
    ctl(&src, &["put", "p/b", "2"]);
    ctl(&src, &["put", "q/x", "3"]);
    ctl(&src, &["put", "p/b", "2b"]);
    // A prefix renamed: p/a, p/b copied (revisions 2, 3), then one txn per
    // source revision touching p/ (5 of them).
    mirror_scenario(&src, &["--prefix=p/", "--dest-prefix=m/"], 3, 8);
    // The whole key space: base copy of everything present now, then every
    // later source revision.
    ctl(&src, &["put", "p/a", "again"]);
    let keys = ctl(&src, &["get", "", "--prefix", "--keys-only"]);
    let n = keys.lines().filter(|l| !l.is_empty()).count() as i64;
    mirror_scenario(&src, &[], 1 + n, 1 + n + 6);
    // --no-dest-prefix drops the prefix on the destination.
    // (q/x, q/y, q/z copied, then the txn and the put touching q/).
    mirror_scenario(&src, &["--prefix=q/", "--no-dest-prefix"], 4, 6);
}
