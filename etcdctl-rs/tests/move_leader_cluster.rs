//! `move-leader` on a real three-member etcd cluster: etcdctl-rs and the Go
//! etcdctl take turns transferring leadership, with identical output, and
//! both refuse identically when no given endpoint is the leader.

mod common;

use std::time::{Duration, Instant};

use common::{run_client, Etcd, GO_ETCDCTL, RS_ETCDCTL};

/// (member id, leader id) as member `e` reports them.
fn status(e: &Etcd) -> (u64, u64) {
    let ep = format!("--endpoints={}", e.endpoint());
    let (out, _, _) = run_client(GO_ETCDCTL, &[&ep, "endpoint", "status", "-w", "fields"]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("\"{name}\" : ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("MemberID"), field("Leader"))
}

/// Waits (bounded) until every member agrees on a leader; returns its index.
fn leader(members: &[Etcd]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let st: Vec<(u64, u64)> = members.iter().map(status).collect();
        let l = st[0].1;
        if l != 0 && st.iter().all(|s| s.1 == l) {
            if let Some(i) = st.iter().position(|s| s.0 == l) {
                return i;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the cluster has no leader");
}

#[test]
fn move_leader_transfers_leadership_like_go_etcdctl() {
    if !common::reference_available() {
        return;
    }
    let members = Etcd::start_cluster(3);
    let all = members
        .iter()
        .map(Etcd::endpoint)
        .collect::<Vec<_>>()
        .join(",");
    let all_eps = format!("--endpoints={all}");
    for bin in [RS_ETCDCTL, GO_ETCDCTL, RS_ETCDCTL] {
        let from = leader(&members);
        let to = (from + 1) % members.len();
        let (from_id, to_id) = (status(&members[from]).0, status(&members[to]).0);
        let target = format!("{to_id:x}");
        let (out, err, code) = run_client(bin, &[&all_eps, "move-leader", &target]);
        assert_eq!(
            (out, err, code),
            (
                format!("Leadership transferred from {from_id:x} to {to_id:x}\n"),
                String::new(),
                Some(0)
            ),
            "{bin}"
        );
        assert_eq!(leader(&members), to, "{bin} did not move the leader");
    }
    // Only followers given: both refuse the same way.
    let l = leader(&members);
    let followers: Vec<String> = (0..members.len())
        .filter(|i| *i != l)
        .map(|i| members[i].endpoint())
        .collect();
    let eps = format!("--endpoints={}", followers.join(","));
    let target = format!("{:x}", status(&members[l]).0);
    let go = run_client(GO_ETCDCTL, &[&eps, "move-leader", &target]);
    let rs = run_client(RS_ETCDCTL, &[&eps, "move-leader", &target]);
    assert_eq!(go, rs);
    assert_eq!(rs.2, Some(128), "{rs:?}");
    assert!(
        rs.1.starts_with("Error: no leader endpoint given at ["),
        "{rs:?}"
    );
    // A member id that is not in the cluster.
    let mut go = run_client(GO_ETCDCTL, &[&all_eps, "move-leader", "1234"]);
    let mut rs = run_client(RS_ETCDCTL, &[&all_eps, "move-leader", "1234"]);
    go.1 = common::mask_volatile(&go.1);
    rs.1 = common::mask_volatile(&rs.1);
    assert_eq!(go, rs);
    assert!(
        rs.1.ends_with("Error: etcdserver: bad leader transferee\n"),
        "{rs:?}"
    );
    // JSON output.
    let l = leader(&members);
    let target = format!("{:x}", status(&members[(l + 1) % 3]).0);
    let rs = run_client(
        RS_ETCDCTL,
        &[&all_eps, "move-leader", &target, "-w", "json"],
    );
    assert_eq!(rs.2, Some(0), "{rs:?}");
    let l = leader(&members);
    let target = format!("{:x}", status(&members[(l + 1) % 3]).0);
    let go = run_client(
        GO_ETCDCTL,
        &[&all_eps, "move-leader", &target, "-w", "json"],
    );
    assert_eq!(go, rs);
}
