//! One passing and at least one failing hand-made case per watch rule.

mod common;

use common::*;
use etcd_robustness::history::History;
use etcd_robustness::kvlog::{EventType, KvLog, LogEvent};
use etcd_robustness::watch::{self, WatchEvent, WatchRecord, WatchResponse, WatchRule};

/// Writes: p/a=1 @2, p/b=1 @3, p/a=2 @4, delete p/a @5, q/x=1 @6.
fn log() -> KvLog {
    KvLog::from_history(&History::new(vec![
        put(0, 0, 10, "p/a", "1", 2),
        put(0, 20, 30, "p/b", "1", 3),
        put(0, 40, 50, "p/a", "2", 4),
        delete(0, 60, 70, "p/a", 1, 5),
        put(0, 80, 90, "q/x", "1", 6),
    ]))
}

fn ev(rev: i64, key: &str, value: &str) -> WatchEvent {
    WatchEvent {
        kind: EventType::Put,
        key: key.into(),
        value: value.into(),
        revision: rev,
        create_revision: 2,
        version: 1,
    }
}

fn del(rev: i64, key: &str) -> WatchEvent {
    WatchEvent {
        kind: EventType::Delete,
        key: key.into(),
        value: String::new(),
        revision: rev,
        create_revision: 0,
        version: 0,
    }
}

fn events(events: Vec<WatchEvent>) -> WatchResponse {
    WatchResponse::Events {
        header_revision: events.last().map_or(0, |e| e.revision),
        events,
    }
}

fn progress(revision: i64) -> WatchResponse {
    WatchResponse::Progress { revision }
}

fn record(start: i64, responses: Vec<WatchResponse>) -> WatchRecord {
    WatchRecord {
        prefix: "p/".into(),
        start_revision: start,
        responses,
    }
}

/// The full correct stream of the prefix from revision 2.
fn good() -> WatchRecord {
    record(
        2,
        vec![
            events(vec![ev(2, "p/a", "1"), ev(3, "p/b", "1")]),
            events(vec![ev(4, "p/a", "2")]),
            progress(4),
            events(vec![del(5, "p/a")]),
            progress(6),
        ],
    )
}

fn rules(w: &WatchRecord, log: &KvLog) -> Vec<WatchRule> {
    watch::validate(std::slice::from_ref(w), log, 100)
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

#[test]
fn a_correct_stream_passes_every_rule() {
    assert_eq!(watch::validate(&[good()], &log(), 100), vec![]);
    // Starting later only needs the later events.
    let later = record(4, vec![events(vec![ev(4, "p/a", "2"), del(5, "p/a")])]);
    assert_eq!(rules(&later, &log()), vec![]);
}

#[test]
fn a_resumed_stream_complete_only_below_its_start_is_checked_without_panicking() {
    // Resumed at 6 on a member whose current revision is 5: its progress says 5.
    let resumed = record(6, vec![progress(5)]);
    assert_eq!(rules(&resumed, &log()), vec![]);
    assert_eq!(log().range(6, 5).count(), 0);
    assert_eq!(log().range(3, 4).count(), 2);
}

#[test]
fn ordered_rejects_going_back_and_equal_revisions_across_responses() {
    let back = record(2, vec![events(vec![ev(3, "p/b", "1"), ev(2, "p/a", "1")])]);
    assert!(rules(&back, &log()).contains(&WatchRule::Ordered));
    let split = record(
        2,
        vec![
            events(vec![ev(2, "p/a", "1")]),
            events(vec![ev(2, "p/a", "1")]),
        ],
    );
    assert!(rules(&split, &log()).contains(&WatchRule::Ordered));
    let too_old = record(3, vec![events(vec![ev(2, "p/a", "1"), ev(3, "p/b", "1")])]);
    assert!(rules(&too_old, &log()).contains(&WatchRule::Ordered));
}

#[test]
fn unique_rejects_a_duplicate_event() {
    let dup = record(
        2,
        vec![events(vec![
            ev(2, "p/a", "1"),
            ev(2, "p/a", "1"),
            ev(3, "p/b", "1"),
        ])],
    );
    assert_eq!(rules(&dup, &log()), vec![WatchRule::Unique]);
}

#[test]
fn atomic_rejects_a_revision_split_or_partial() {
    // A two-key revision (as a multi-key txn would make), fed to the log directly.
    let mut log = KvLog::default();
    for key in ["p/a", "p/b"] {
        log.add(
            2,
            LogEvent {
                key: key.into(),
                kind: EventType::Put,
                value: "1".into(),
            },
        );
    }
    let whole = record(2, vec![events(vec![ev(2, "p/a", "1"), ev(2, "p/b", "1")])]);
    assert_eq!(rules(&whole, &log), vec![]);
    let split = record(
        2,
        vec![
            events(vec![ev(2, "p/a", "1")]),
            events(vec![ev(2, "p/b", "1")]),
        ],
    );
    assert!(rules(&split, &log).contains(&WatchRule::Atomic));
    let partial = record(2, vec![events(vec![ev(2, "p/a", "1")])]);
    assert!(rules(&partial, &log).contains(&WatchRule::Atomic));
}

#[test]
fn reliable_rejects_a_gap_before_the_last_event_or_progress() {
    let gap = record(2, vec![events(vec![ev(2, "p/a", "1"), ev(4, "p/a", "2")])]);
    assert_eq!(rules(&gap, &log()), vec![WatchRule::Reliable]);
    // Nothing after revision 2 was promised, so stopping there is fine...
    let stopped = record(2, vec![events(vec![ev(2, "p/a", "1")])]);
    assert_eq!(rules(&stopped, &log()), vec![]);
    // ...but a progress notification promises everything up to its revision.
    let promised = record(2, vec![events(vec![ev(2, "p/a", "1")]), progress(6)]);
    let found = watch::validate(&[promised], &log(), 100);
    assert_eq!(found.len(), 3, "missed @3, @4, @5: {found:?}");
    assert!(found.iter().all(|v| v.rule == WatchRule::Reliable));
}

#[test]
fn bookmarkable_rejects_an_event_at_or_below_an_earlier_progress_revision() {
    let late = record(
        2,
        vec![
            events(vec![ev(2, "p/a", "1"), ev(3, "p/b", "1")]),
            progress(4),
            events(vec![ev(4, "p/a", "2")]),
        ],
    );
    assert_eq!(rules(&late, &log()), vec![WatchRule::Bookmarkable]);
}

#[test]
fn consistent_rejects_events_no_write_explains() {
    let wrong_value = record(2, vec![events(vec![ev(2, "p/a", "999")])]);
    assert_eq!(rules(&wrong_value, &log()), vec![WatchRule::Consistent]);
    let wrong_type = record(5, vec![events(vec![ev(5, "p/a", "")])]);
    assert_eq!(rules(&wrong_type, &log()), vec![WatchRule::Consistent]);
    let outside = record(6, vec![events(vec![ev(6, "q/x", "1")])]);
    assert_eq!(rules(&outside, &log()), vec![WatchRule::Consistent]);
    let unknown_revision = record(7, vec![events(vec![ev(7, "p/z", "new")])]);
    assert_eq!(
        rules(&unknown_revision, &log()),
        vec![WatchRule::Consistent]
    );
}

#[test]
fn consistent_accepts_an_unknown_outcome_write_at_an_unknown_revision() {
    let log = KvLog::from_history(&History::new(vec![
        put(0, 0, 10, "p/a", "1", 2),
        put_unknown(1, 100, "p/z", "late"),
    ]));
    let w = record(7, vec![events(vec![ev(7, "p/z", "late")])]);
    assert_eq!(rules(&w, &log), vec![]);
}

#[test]
fn consistent_places_a_revokes_deletion_at_its_revision_only() {
    let log = KvLog::from_history(&History::new(vec![
        put_lease(0, 0, 10, "p/a", "1", 7, 2),
        revoke(1, 20, 30, "p/a", 7, 3),
    ]));
    let at_the_revoke = record(3, vec![events(vec![del(3, "p/a")])]);
    assert_eq!(rules(&at_the_revoke, &log), vec![]);
    let elsewhere = record(4, vec![events(vec![del(4, "p/a")])]);
    assert_eq!(rules(&elsewhere, &log), vec![WatchRule::Consistent]);
    // An expiry (a revoke of unknown outcome) may delete at any revision.
    let expiring = KvLog::from_history(&History::new(vec![
        put_lease(0, 0, 10, "p/a", "1", 7, 2),
        expiry(5, "p/a", 7),
    ]));
    assert_eq!(rules(&elsewhere, &expiring), vec![]);
}

#[test]
fn the_log_reports_two_different_changes_claimed_for_one_revision() {
    let log = KvLog::from_history(&History::new(vec![
        put(0, 0, 10, "k", "a", 2),
        put(1, 0, 10, "k", "b", 2),
    ]));
    assert_eq!(log.conflicts().len(), 1);
    assert_eq!(log.conflicts()[0].revision, 2);
}
