//! Raft's in-memory log does not hold everything since the last snapshot
//! mark: applied entries beyond etcd's catch-up window are dropped from
//! memory (they stay in the WAL until the next mark), except those a
//! leader's followers still lack.

use raft_node::sim::Sim;

const WINDOW: u64 = 5000;

/// Puts `n` keys through the leader, delivering and applying as it goes.
fn put_many(sim: &mut Sim, leader: u64, from: usize, n: usize) {
    for i in from..from + n {
        sim.put(leader, &format!("k{i}"), "v").expect("put");
        if i % 100 == 0 {
            sim.deliver().expect("deliver");
        }
    }
    sim.deliver().expect("deliver");
}

#[test]
fn applied_entries_leave_memory_but_not_what_a_follower_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No snapshot marks: without trimming, every entry would stay in memory.
    let mut sim = Sim::new(dir.path(), 3, 0).expect("sim");
    sim.deliver().expect("deliver");
    sim.tick(Some(1), raft_node::sim::ELECTION_TICKS)
        .expect("tick");
    for _ in 0..5 {
        sim.deliver().expect("deliver");
    }
    assert_eq!(sim.leader(), Some(1));

    put_many(&mut sim, 1, 0, 3 * WINDOW as usize);
    for id in [1, 2, 3] {
        let first = sim.first_log_index(id).expect("running");
        assert!(
            first > WINDOW,
            "member {id} still holds its log from index {first} in memory"
        );
    }

    // Member 3 is cut off after the first 15 000 puts: the leader keeps
    // what it lacks (from about index 15 000), its peer trims further.
    sim.partition(&[3], &[1, 2]);
    put_many(&mut sim, 1, 3 * WINDOW as usize, 3 * WINDOW as usize);
    let pinned = sim.first_log_index(1).expect("running");
    assert!(
        pinned <= 3 * WINDOW + 10,
        "the leader dropped entries its cut-off follower lacks (first index {pinned})"
    );
    assert!(sim.first_log_index(2).expect("running") > pinned + WINDOW);

    // Healed, member 3 catches up from the log and the leader trims again.
    sim.heal();
    for _ in 0..50 {
        sim.tick(None, 1).expect("tick");
        sim.deliver().expect("deliver");
    }
    put_many(&mut sim, 1, 6 * WINDOW as usize, 10);
    assert_eq!(sim.get(3, "k29999").expect("read"), "k29999=v mod=30001");
    assert!(sim.first_log_index(1).expect("running") > pinned);
    let hashes = sim.hashes(0).expect("hashes");
    let distinct: std::collections::HashSet<_> = hashes.values().collect();
    assert_eq!(distinct.len(), 1, "{hashes:?}");

    // A restart reads the whole WAL since its last mark, but keeps only the
    // catch-up window in memory.
    sim.stop(2).expect("stop");
    sim.restart(2, false).expect("restart");
    let first = sim.first_log_index(2).expect("running");
    assert!(
        first > 4 * WINDOW,
        "restarted member holds its log from {first}"
    );
    assert_eq!(sim.get(2, "k29999").expect("read"), "k29999=v mod=30001");
}
