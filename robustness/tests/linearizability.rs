//! Testing the tester: hand-made histories a correct checker must reject or accept, and
//! simulated correct runs (always accepted) with one response corrupted (always rejected).

mod common;

use common::*;
use etcd_robustness::history::{History, Operation, Outcome, Response};
use etcd_robustness::linearizability::{check, Verdict};
use etcd_robustness::revisions;

fn verdict(ops: Vec<Operation>) -> (History, Verdict) {
    let h = History::new(ops);
    let v = check(&h);
    (h, v)
}

fn assert_rejected(ops: Vec<Operation>) -> etcd_robustness::linearizability::Violation {
    let (h, v) = verdict(ops);
    match v {
        Verdict::NotLinearizable(violation) => {
            // The report must render and name at least one operation.
            let text = violation.explain(&h);
            assert!(text.contains('#'), "report names operations: {text}");
            violation
        }
        other => panic!("expected a violation, got {other}"),
    }
}

fn assert_accepted(ops: Vec<Operation>) {
    let (h, v) = verdict(ops);
    if let Verdict::NotLinearizable(violation) = &v {
        panic!("wrongly rejected:\n{}", violation.explain(&h));
    }
    assert_eq!(v, Verdict::Linearizable);
}

#[test]
fn stale_read_after_completed_write_is_rejected() {
    let violation = assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        put(0, 20, 30, "k", "b", 3),
        // Invoked after "b" was acknowledged, still sees "a".
        get(1, 40, 50, "k", Some(kv("a", 2, 2, 1)), 3),
    ]);
    assert_eq!(violation.key, "k");
    assert_eq!(violation.unexplained.first(), Some(&2), "the stale read");
}

#[test]
fn lost_acknowledged_write_is_rejected() {
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        // The write was acknowledged, but a later read finds nothing.
        get(1, 20, 30, "k", None, 2),
    ]);
}

#[test]
fn two_cas_successes_on_the_same_expected_revision_are_rejected() {
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        cas(1, 20, 40, "k", 2, "b", true, None, 3),
        cas(2, 21, 41, "k", 2, "c", true, None, 4),
    ]);
}

#[test]
fn cas_that_fails_although_the_revision_matched_is_rejected() {
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        cas(1, 20, 40, "k", 2, "b", false, Some(kv("a", 2, 2, 1)), 2),
    ]);
}

#[test]
fn read_of_a_value_never_written_is_rejected() {
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        get(1, 5, 30, "k", Some(kv("ghost", 2, 2, 1)), 2),
    ]);
}

#[test]
fn read_with_wrong_mod_revision_is_rejected() {
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        get(1, 20, 30, "k", Some(kv("a", 5, 5, 1)), 5),
    ]);
}

#[test]
fn write_reordered_against_real_time_is_rejected() {
    // "a" completed before "b" was invoked, yet a read sees "b" replaced by "a": the store
    // applied them in the opposite order (revisions agree with that wrong order).
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 3),
        put(1, 20, 30, "k", "b", 2),
        get(2, 40, 50, "k", Some(kv("a", 3, 2, 2)), 3),
    ]);
}

#[test]
fn deleted_count_must_match_presence() {
    assert_rejected(vec![delete(0, 0, 10, "k", 1, 2)]);
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        delete(0, 20, 30, "k", 0, 2),
    ]);
}

#[test]
fn revisions_going_backwards_are_rejected_by_the_global_check() {
    // Different keys: each key alone is fine, only the global revision shows the problem.
    let h = History::new(vec![
        put(0, 0, 10, "a", "x", 5),
        put(0, 20, 30, "b", "y", 4),
        get(1, 40, 50, "c", None, 3),
    ]);
    assert!(check(&h).is_linearizable(), "per key it is consistent");
    let found = revisions::check(&h, 10);
    assert!(
        found
            .iter()
            .any(|v| v.rule == revisions::Rule::PerClient && v.later == 1),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.rule == revisions::Rule::RealTime && v.later == 2),
        "{found:?}"
    );
    // A write completed after another completed must get a strictly larger revision.
    let h = History::new(vec![
        put(0, 0, 10, "a", "x", 5),
        put(1, 20, 30, "b", "y", 5),
    ]);
    assert_eq!(revisions::check(&h, 10).len(), 1);
}

#[test]
fn monotone_revisions_pass_the_global_check() {
    let h = History::new(vec![
        put(0, 0, 10, "a", "x", 2),
        get(1, 5, 15, "b", None, 1), // overlaps the put: may read before it
        put(1, 20, 30, "b", "y", 3),
        get(0, 40, 50, "a", Some(kv("x", 2, 2, 1)), 3),
    ]);
    assert_eq!(revisions::check(&h, 10), vec![]);
}

#[test]
fn concurrent_overlapping_operations_are_accepted() {
    assert_accepted(vec![
        put(0, 0, 100, "k", "a", 2),
        put(1, 10, 90, "k", "b", 3),
        // Both reads overlap both writes; they see different but consistent states.
        get(2, 5, 95, "k", Some(kv("a", 2, 2, 1)), 2),
        get(3, 20, 110, "k", Some(kv("b", 3, 2, 2)), 3),
        cas(4, 50, 120, "k", 3, "c", true, None, 4),
        get(2, 130, 140, "k", Some(kv("c", 4, 2, 3)), 4),
        delete(3, 150, 160, "k", 1, 5),
        get(4, 170, 180, "k", None, 5),
    ]);
}

#[test]
fn unknown_write_that_took_effect_late_is_accepted() {
    assert_accepted(vec![
        put(0, 0, 10, "k", "a", 2),
        // Client 1 gave up on "b"; it landed after "c" was acknowledged.
        put_unknown(1, 20, "k", "b"),
        put(2, 30, 40, "k", "c", 3),
        get(3, 50, 60, "k", Some(kv("c", 3, 2, 2)), 3),
        get(3, 70, 80, "k", Some(kv("b", 4, 2, 3)), 4),
    ]);
}

#[test]
fn unknown_write_that_never_took_effect_is_accepted() {
    assert_accepted(vec![
        put(0, 0, 10, "k", "a", 2),
        put_unknown(1, 20, "k", "b"),
        get(3, 50, 60, "k", Some(kv("a", 2, 2, 1)), 2),
        get(3, 1000, 1100, "k", Some(kv("a", 2, 2, 1)), 2),
    ]);
}

#[test]
fn unknown_write_cannot_take_effect_before_it_was_invoked() {
    assert_rejected(vec![
        put(0, 0, 10, "k", "a", 2),
        get(3, 20, 30, "k", Some(kv("b", 3, 2, 2)), 3),
        put_unknown(1, 40, "k", "b"),
    ]);
}

#[test]
fn failed_operations_are_ignored() {
    let mut failed = put(1, 20, 30, "k", "b", 0);
    failed.outcome = Outcome::Failed("not leader".into());
    assert_accepted(vec![
        put(0, 0, 10, "k", "a", 2),
        failed,
        get(3, 50, 60, "k", Some(kv("a", 2, 2, 1)), 2),
    ]);
}

#[test]
fn a_put_with_a_revoked_lease_that_succeeds_is_rejected() {
    assert_rejected(vec![
        put_lease(0, 0, 10, "k", "a", 7, 2),
        revoke(1, 20, 30, "k", 7, 3),
        put_lease(0, 40, 50, "k", "b", 7, 4),
    ]);
}

#[test]
fn a_key_that_survives_the_revoke_of_its_lease_is_rejected() {
    assert_rejected(vec![
        put_lease(0, 0, 10, "k", "a", 7, 2),
        revoke(1, 20, 30, "k", 7, 3),
        get(2, 40, 50, "k", Some(kv_lease("a", 2, 2, 1, 7)), 3),
    ]);
    // The revoke's response must carry the deletion's revision, not the old one.
    assert_rejected(vec![
        put_lease(0, 0, 10, "k", "a", 7, 2),
        revoke(1, 20, 30, "k", 7, 2),
    ]);
}

#[test]
fn a_revoke_leaves_a_key_that_no_longer_holds_the_lease() {
    assert_accepted(vec![
        put_lease(0, 0, 10, "k", "a", 7, 2),
        put(0, 20, 30, "k", "b", 3),
        revoke(1, 40, 50, "k", 7, 3),
        get(2, 60, 70, "k", Some(kv("b", 3, 2, 2)), 3),
        lease_not_found(0, 80, 90, "k", "c", 7),
    ]);
}

#[test]
fn lease_not_found_for_a_live_lease_is_rejected() {
    assert_rejected(vec![
        put_lease(0, 0, 10, "k", "a", 7, 2),
        lease_not_found(0, 20, 30, "k", "b", 7),
    ]);
}

#[test]
fn a_read_must_name_the_lease_of_the_value() {
    assert_rejected(vec![
        put_lease(0, 0, 10, "k", "a", 7, 2),
        get(1, 20, 30, "k", Some(kv("a", 2, 2, 1)), 2),
    ]);
}

#[test]
fn an_expiry_may_delete_the_key_any_time_after_the_grant() {
    assert_accepted(vec![
        expiry(5, "k", 7),
        put_lease(0, 10, 20, "k", "a", 7, 2),
        get(1, 30, 40, "k", Some(kv_lease("a", 2, 2, 1, 7)), 2),
        get(1, 50, 60, "k", None, 3),
        lease_not_found(0, 70, 80, "k", "b", 7),
    ]);
    // ...but not before the put that attached it, and only once.
    assert_rejected(vec![
        expiry(5, "k", 7),
        put_lease(0, 10, 20, "k", "a", 7, 2),
        get(1, 50, 60, "k", None, 3),
        put_lease(0, 70, 80, "k", "b", 7, 4),
    ]);
}

#[test]
fn simulated_correct_runs_are_always_accepted() {
    let (mut revokes, mut refusals) = (0, 0);
    for seed in 0..40 {
        let run = simulate(&SimConfig {
            clients: 6,
            keys: 3,
            ops: 300,
            unknown_percent: 8,
            seed,
        });
        let v = check(&run.history);
        if let Verdict::NotLinearizable(violation) = &v {
            panic!(
                "seed {seed} wrongly rejected:\n{}",
                violation.explain(&run.history)
            );
        }
        assert_eq!(v, Verdict::Linearizable, "seed {seed}");
        assert_eq!(revisions::check(&run.history, 5), vec![], "seed {seed}");
        for op in run.history.ops() {
            match op.response() {
                Some(Response::Revoke { .. }) => revokes += 1,
                Some(Response::LeaseNotFound) => refusals += 1,
                _ => {}
            }
        }
    }
    assert!(
        revokes > 100 && refusals > 100,
        "the runs revoke leases ({revokes}) and refuse revoked ones ({refusals})"
    );
}

/// Replaces one read's result with an older state of the same key, observed earlier by
/// another read, which a write acknowledged before the read was invoked had already replaced.
fn make_one_read_stale(history: &History, pick: u64) -> Option<History> {
    let ops = history.ops();
    let read_kv = |op: &Operation| match op.response() {
        Some(Response::Get { kv, .. }) if op.request.is_linearizable() => Some(kv.clone()),
        _ => None,
    };
    let mut candidates = Vec::new();
    for g in ops {
        let Some(current) = read_kv(g) else { continue };
        for old in ops {
            let Some(Some(old_kv)) = read_kv(old) else {
                continue;
            };
            if old.request.key() != g.request.key() || Some(old_kv.clone()) == current {
                continue;
            }
            let overwritten = ops.iter().any(|w| {
                w.request.key() == g.request.key()
                    && w.complete.is_some_and(|c| c < g.invoke)
                    && w.response().is_some_and(|r| {
                        r.changed_store()
                            && r.revision().is_some_and(|rev| rev > old_kv.mod_revision)
                    })
            });
            if overwritten {
                candidates.push((g.id, old_kv));
                break;
            }
        }
    }
    if candidates.is_empty() {
        return None;
    }
    let (id, stale) = candidates.swap_remove((pick % candidates.len() as u64) as usize);
    let mut mutated = ops.to_vec();
    if let Outcome::Ok(Response::Get { kv, .. }) = &mut mutated[id].outcome {
        *kv = Some(stale);
    }
    Some(History::new(mutated))
}

#[test]
fn simulated_runs_with_one_stale_read_are_always_rejected() {
    let mut mutated_runs = 0;
    for seed in 0..40 {
        let run = simulate(&SimConfig {
            clients: 6,
            keys: 3,
            ops: 300,
            unknown_percent: 8,
            seed,
        });
        let Some(bad) = make_one_read_stale(&run.history, seed) else {
            continue;
        };
        mutated_runs += 1;
        assert!(
            matches!(check(&bad), Verdict::NotLinearizable(_)),
            "seed {seed}: stale read accepted"
        );
    }
    assert!(
        mutated_runs >= 30,
        "only {mutated_runs} runs could be mutated"
    );
}

#[test]
fn large_concurrent_history_is_checked() {
    // ~20k operations over 100 keys from 16 concurrent clients (no timing asserted; this
    // shows the search stays tractable at the size of a long robustness run).
    let run = simulate(&SimConfig {
        clients: 16,
        keys: 100,
        ops: 20_000,
        unknown_percent: 3,
        seed: 7,
    });
    assert_eq!(run.history.len(), 20_000);
    assert_eq!(check(&run.history), Verdict::Linearizable);
    assert_eq!(revisions::check(&run.history, 5), vec![]);
}
