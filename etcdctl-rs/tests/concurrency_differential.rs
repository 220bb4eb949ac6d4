//! `lock` and `elect`: their command lines compared with the Go etcdctl
//! (each against its own etcd, lease ids masked), and their interplay with
//! the Go etcdctl on one shared etcd — a lock held by one client makes the
//! other wait until it is released, and candidates of both clients queue in
//! one election that observers of both clients report identically. Every
//! wait is bounded and every background client is killed on drop.

mod common;

use std::time::Duration;

use common::{case, mask_ids, Case, Etcd, Proc, Side, GO_ETCDCTL, RS_ETCDCTL};

const CASES: &[Case] = &[
    case("lock"),
    case("lock -w xx"),
    case("lock --ttl=x L"),
    case("lock L echo hi"),
    case("lock L false"),
    case("lock L -- ls -d /"),
    case("lock L printenv ETCD_LOCK_KEY"),
    case("lock L printenv ETCD_LOCK_REV"),
    case("lock --ttl=0 L nonexistent-command"),
    case("lock L ./nonexistent"),
    case("lock -w json L echo x"),
    case("lock -w xx L echo x"),
    case("elect"),
    case("elect E"),
    case("elect -l E p"),
    case("elect E a b"),
    case("elect -l"),
    case("elect E -w xx"),
    case("elect -w xx"),
    case("get L --prefix"),
];

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn lock_and_elect_command_lines_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let mut failures = Vec::new();
    for c in CASES {
        let g = go.run(c);
        let r = rs.run(c);
        let norm = |side: &Side, o: &std::process::Output| {
            (
                mask_ids(&side.mask(&String::from_utf8_lossy(&o.stdout))),
                mask_ids(&side.mask(&String::from_utf8_lossy(&o.stderr))),
                o.status.code(),
            )
        };
        let (g, r) = (norm(&go, &g), norm(&rs, &r));
        if g != r {
            failures.push(format!("`{}`\n  go: {g:?}\n  rs: {r:?}", c.args));
        }
    }
    common::assert_no_failures(failures, CASES.len());
}

/// Waits (bounded) until `n` keys exist under `prefix`.
fn wait_keys(ep: &str, prefix: &str, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        let (out, _, _) =
            common::run_client(GO_ETCDCTL, &[ep, "get", prefix, "--prefix", "--keys-only"]);
        if out.lines().filter(|l| !l.is_empty()).count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{n} keys never appeared under {prefix}");
}

fn args<'a>(ep: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![ep];
    v.extend_from_slice(rest);
    v
}

/// `holder` holds the lock; `waiter` (the other client) runs a command under
/// the same lock and must not get it before the holder is interrupted.
fn lock_handover(ep: &str, holder_bin: &str, waiter_bin: &str, name: &str) {
    let mut holder = Proc::spawn(holder_bin, &args(ep, &["lock", name]));
    assert!(
        holder.wait_lines(2, WAIT),
        "{holder_bin} did not get the lock: {}",
        holder.stderr()
    );
    let key = holder.stdout();
    assert!(key.starts_with(&format!("{name}/")), "{key:?}");
    let mut waiter = Proc::spawn(
        waiter_bin,
        &args(
            ep,
            &[
                "lock",
                name,
                "--",
                "sh",
                "-c",
                "echo acquired $ETCD_LOCK_KEY",
            ],
        ),
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !waiter.exited() && waiter.stdout().is_empty(),
        "{waiter_bin} got the lock held by {holder_bin}: {:?} {:?}",
        waiter.stdout(),
        waiter.stderr()
    );
    holder.interrupt();
    assert_eq!(holder.wait_exit(WAIT), Some(0), "{}", holder.stderr());
    assert_eq!(waiter.wait_exit(WAIT), Some(0), "{}", waiter.stderr());
    let out = waiter.stdout();
    assert!(
        out.starts_with(&format!("acquired {name}/")) && out != format!("acquired {}", key.trim()),
        "{out:?}"
    );
}

#[test]
fn lock_interoperates_with_go_etcdctl() {
    if !common::reference_available() {
        return;
    }
    let etcd = Etcd::start();
    let ep = format!("--endpoints={}", etcd.endpoint());
    lock_handover(&ep, GO_ETCDCTL, RS_ETCDCTL, "L1");
    lock_handover(&ep, RS_ETCDCTL, GO_ETCDCTL, "L2");

    // A waiter interrupted before it gets the lock gives up its place.
    let mut holder = Proc::spawn(GO_ETCDCTL, &args(&ep, &["lock", "L3"]));
    assert!(holder.wait_lines(2, WAIT));
    let mut waiters: Vec<Proc> = [GO_ETCDCTL, RS_ETCDCTL]
        .iter()
        .map(|bin| Proc::spawn(bin, &args(&ep, &["lock", "L3"])))
        .collect();
    wait_keys(&ep, "L3/", 3);
    std::thread::sleep(Duration::from_millis(300));
    let mut results = Vec::new();
    for w in &mut waiters {
        w.interrupt();
        let code = w.wait_exit(WAIT);
        results.push((w.stdout(), w.stderr(), code));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(
        results[1],
        (
            String::new(),
            "Error: context canceled\n".to_string(),
            Some(1)
        )
    );
    let (keys, _, _) =
        common::run_client(GO_ETCDCTL, &[&ep, "get", "L3/", "--prefix", "--keys-only"]);
    assert_eq!(keys, holder.stdout());
    holder.interrupt();
    assert_eq!(holder.wait_exit(WAIT), Some(0));

    // Losing the session's lease ends the holder with "session expired".
    let mut holders: Vec<Proc> = [("L4", GO_ETCDCTL), ("L5", RS_ETCDCTL)]
        .iter()
        .map(|(name, bin)| Proc::spawn(bin, &args(&ep, &["lock", "--ttl=5", name])))
        .collect();
    for h in &mut holders {
        assert!(h.wait_lines(2, WAIT));
        let key = h.stdout();
        let lease = key
            .trim()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let (out, err, code) = common::run_client(GO_ETCDCTL, &[&ep, "lease", "revoke", &lease]);
        assert_eq!(code, Some(0), "{out} {err}");
    }
    let ends: Vec<_> = holders
        .iter_mut()
        .map(|h| (h.wait_exit(WAIT), h.stderr()))
        .collect();
    assert_eq!(ends[0], ends[1]);
    assert_eq!(ends[1], (Some(1), "Error: session expired\n".to_string()));
}

#[test]
fn elect_interoperates_with_go_etcdctl() {
    if !common::reference_available() {
        return;
    }
    let etcd = Etcd::start();
    let ep = format!("--endpoints={}", etcd.endpoint());
    // Observers of both clients, started before any candidate.
    let mut observers: Vec<Proc> = [GO_ETCDCTL, RS_ETCDCTL]
        .iter()
        .flat_map(|bin| {
            [
                Proc::spawn(bin, &args(&ep, &["elect", "-l", "E"])),
                Proc::spawn(bin, &args(&ep, &["elect", "-l", "E", "-w", "json"])),
            ]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut candidates = Vec::new();
    for (i, (bin, proposal)) in [
        (GO_ETCDCTL, "first"),
        (RS_ETCDCTL, "second"),
        (GO_ETCDCTL, "third"),
        (RS_ETCDCTL, "fourth"),
    ]
    .into_iter()
    .enumerate()
    {
        candidates.push(Proc::spawn(bin, &args(&ep, &["elect", "E", proposal])));
        wait_keys(&ep, "E/", i + 1);
    }
    assert!(
        candidates[0].wait_lines(2, WAIT),
        "{}",
        candidates[0].stderr()
    );
    // Only the first candidate leads; the others wait their turn.
    std::thread::sleep(Duration::from_millis(700));
    for (i, c) in candidates.iter().enumerate().skip(1) {
        assert_eq!(c.stdout(), "", "candidate {i} leads too early");
    }
    let mut leaders = Vec::new();
    for c in candidates.iter_mut() {
        assert!(c.wait_lines(2, WAIT), "{}", c.stderr());
        leaders.push(c.stdout());
        c.interrupt();
        assert_eq!(c.wait_exit(WAIT), Some(0), "{}", c.stderr());
    }
    for (l, p) in leaders.iter().zip(["first", "second", "third", "fourth"]) {
        assert!(
            l.starts_with("E/") && l.ends_with(&format!("\n{p}\n")),
            "{l:?}"
        );
    }
    for (i, o) in observers.iter_mut().enumerate() {
        let lines = if i % 2 == 0 { 8 } else { 4 };
        assert!(o.wait_lines(lines, WAIT), "observer {i}: {:?}", o.stdout());
    }
    let outs: Vec<String> = observers.iter().map(Proc::stdout).collect();
    assert_eq!(outs[0], leaders.concat(), "go observer");
    assert_eq!(outs[0], outs[2], "simple observers differ");
    assert_eq!(outs[1], outs[3], "json observers differ");
    for o in &mut observers {
        o.interrupt();
        assert_eq!(o.wait_exit(WAIT), Some(0), "{}", o.stderr());
    }

    // A candidate interrupted while waiting withdraws its candidacy.
    let mut leader = Proc::spawn(RS_ETCDCTL, &args(&ep, &["elect", "E2", "a"]));
    assert!(leader.wait_lines(2, WAIT));
    let mut waiting: Vec<Proc> = [GO_ETCDCTL, RS_ETCDCTL]
        .iter()
        .map(|bin| Proc::spawn(bin, &args(&ep, &["elect", "E2", "b"])))
        .collect();
    wait_keys(&ep, "E2/", 3);
    std::thread::sleep(Duration::from_millis(300));
    let ends: Vec<_> = waiting
        .iter_mut()
        .map(|w| {
            w.interrupt();
            (w.wait_exit(WAIT), w.stdout(), w.stderr())
        })
        .collect();
    assert_eq!(ends[0], ends[1]);
    assert_eq!(ends[1].2, "Error: context canceled\n");
    let (keys, _, _) =
        common::run_client(GO_ETCDCTL, &[&ep, "get", "E2/", "--prefix", "--keys-only"]);
    assert_eq!(keys, leader.stdout().replace("\na\n", "\n\n"));
    leader.interrupt();
    assert_eq!(leader.wait_exit(WAIT), Some(0));
}
