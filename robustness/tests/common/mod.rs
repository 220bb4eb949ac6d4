//! Test support: terse builders for hand-made histories, and a simulated linearizable etcd
//! (one revision counter, per-key generations) driven by concurrent clients, whose histories
//! a correct checker must always accept.

#![allow(dead_code)]

use std::collections::HashMap;

use etcd_robustness::history::{
    ClientId, History, KeyValue, Nanos, Operation, Outcome, ReadConsistency, Request, Response,
};

pub use etcd_robustness::rng::Rng;

pub fn kv(value: &str, mod_revision: i64, create_revision: i64, version: i64) -> KeyValue {
    KeyValue {
        value: value.into(),
        mod_revision,
        create_revision,
        version,
        lease: 0,
    }
}

pub fn kv_lease(
    value: &str,
    mod_revision: i64,
    create_revision: i64,
    version: i64,
    lease: i64,
) -> KeyValue {
    KeyValue {
        lease,
        ..kv(value, mod_revision, create_revision, version)
    }
}

fn op(
    client: ClientId,
    invoke: Nanos,
    complete: Option<Nanos>,
    request: Request,
    outcome: Outcome,
) -> Operation {
    Operation {
        id: 0,
        client,
        invoke,
        complete,
        request,
        outcome,
    }
}

pub fn put(c: ClientId, inv: Nanos, done: Nanos, key: &str, value: &str, rev: i64) -> Operation {
    put_lease(c, inv, done, key, value, 0, rev)
}

#[allow(clippy::too_many_arguments)]
pub fn put_lease(
    c: ClientId,
    inv: Nanos,
    done: Nanos,
    key: &str,
    value: &str,
    lease: i64,
    rev: i64,
) -> Operation {
    op(
        c,
        inv,
        Some(done),
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease,
        },
        Outcome::Ok(Response::Put { revision: rev }),
    )
}

/// A put with `lease` answered "lease not found".
pub fn lease_not_found(
    c: ClientId,
    inv: Nanos,
    done: Nanos,
    key: &str,
    value: &str,
    lease: i64,
) -> Operation {
    op(
        c,
        inv,
        Some(done),
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease,
        },
        Outcome::Ok(Response::LeaseNotFound),
    )
}

pub fn revoke(c: ClientId, inv: Nanos, done: Nanos, key: &str, lease: i64, rev: i64) -> Operation {
    op(
        c,
        inv,
        Some(done),
        Request::Revoke {
            key: key.into(),
            lease,
        },
        Outcome::Ok(Response::Revoke { revision: rev }),
    )
}

/// The expiry of `lease`, granted at `granted`: a revoke that may happen any time after.
pub fn expiry(granted: Nanos, key: &str, lease: i64) -> Operation {
    op(
        900_000,
        granted,
        None,
        Request::Revoke {
            key: key.into(),
            lease,
        },
        Outcome::Unknown { applied_at: None },
    )
}

pub fn put_unknown(c: ClientId, inv: Nanos, key: &str, value: &str) -> Operation {
    op(
        c,
        inv,
        None,
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease: 0,
        },
        Outcome::Unknown { applied_at: None },
    )
}

pub fn get(
    c: ClientId,
    inv: Nanos,
    done: Nanos,
    key: &str,
    found: Option<KeyValue>,
    rev: i64,
) -> Operation {
    op(
        c,
        inv,
        Some(done),
        Request::Get {
            key: key.into(),
            consistency: ReadConsistency::Linearizable,
        },
        Outcome::Ok(Response::Get {
            revision: rev,
            kv: found,
        }),
    )
}

pub fn delete(
    c: ClientId,
    inv: Nanos,
    done: Nanos,
    key: &str,
    deleted: i64,
    rev: i64,
) -> Operation {
    op(
        c,
        inv,
        Some(done),
        Request::Delete { key: key.into() },
        Outcome::Ok(Response::Delete {
            revision: rev,
            deleted,
        }),
    )
}

#[allow(clippy::too_many_arguments)]
pub fn cas(
    c: ClientId,
    inv: Nanos,
    done: Nanos,
    key: &str,
    expected: i64,
    value: &str,
    succeeded: bool,
    found: Option<KeyValue>,
    rev: i64,
) -> Operation {
    op(
        c,
        inv,
        Some(done),
        Request::CasPut {
            key: key.into(),
            expected_mod_revision: expected,
            value: value.into(),
        },
        Outcome::Ok(Response::CasPut {
            revision: rev,
            succeeded,
            kv: found,
        }),
    )
}

/// Shape of a simulated run.
pub struct SimConfig {
    pub clients: u32,
    pub keys: u32,
    pub ops: usize,
    /// Percent of operations whose client never learns the outcome.
    pub unknown_percent: u64,
    pub seed: u64,
}

/// A simulated run: the history, and for each op that applied, the state of its key right
/// before and after (for mutation tests).
pub struct SimRun {
    pub history: History,
}

/// Simulates a correct etcd: every operation takes effect atomically at a linearization
/// point inside its [invoke, complete] interval (unknown-outcome writes: at some point after
/// invocation, possibly long after the client gave up, or never).
pub fn simulate(cfg: &SimConfig) -> SimRun {
    let mut rng = Rng::new(cfg.seed);
    // Plan: per client, sequential intervals; each op gets a linearization point.
    struct Planned {
        client: ClientId,
        invoke: Nanos,
        lin: Nanos,
        complete: Nanos,
        unknown: bool,
        applies: bool,
        kind: u64,
        key: String,
        /// One of the key's own leases (ids are unique per key), for puts and revokes.
        lease: i64,
        with_lease: bool,
    }
    let mut plans = Vec::with_capacity(cfg.ops);
    let per_client = cfg.ops / cfg.clients as usize;
    for client in 0..cfg.clients {
        let mut t: Nanos = rng.below(50);
        for _ in 0..per_client {
            let key = rng.below(cfg.keys as u64);
            let invoke = t + rng.below(30);
            let lin = invoke + 1 + rng.below(200);
            let complete = lin + 1 + rng.below(200);
            let unknown = rng.chance(cfg.unknown_percent);
            // An unknown write may land long after the client moved on, or never.
            let (lin, applies) = if unknown {
                (invoke + 1 + rng.below(3000), rng.chance(50))
            } else {
                (lin, true)
            };
            plans.push(Planned {
                client,
                invoke,
                lin,
                complete,
                unknown,
                applies,
                kind: rng.below(100),
                key: format!("key{key}"),
                lease: 1000 + key as i64 * 10 + rng.below(3) as i64,
                with_lease: rng.chance(25),
            });
            t = complete;
        }
    }
    plans.sort_by_key(|p| p.lin);

    let mut revision: i64 = 1;
    let mut store = SimStore::default();
    let mut ops = Vec::with_capacity(plans.len());
    for (n, p) in plans.iter().enumerate() {
        let value = format!("v{n}");
        let current = store.kvs.get(&p.key).cloned();
        let request = match p.kind {
            36..=39 => Request::Revoke {
                key: p.key.clone(),
                lease: p.lease,
            },
            0..=35 => Request::Get {
                key: p.key.clone(),
                consistency: if p.kind < 5 {
                    ReadConsistency::Serializable
                } else {
                    ReadConsistency::Linearizable
                },
            },
            40..=69 => Request::Put {
                key: p.key.clone(),
                value: value.clone(),
                lease: if p.with_lease { p.lease } else { 0 },
            },
            70..=79 => Request::Delete { key: p.key.clone() },
            _ => Request::CasPut {
                key: p.key.clone(),
                // Usually the current revision (as a client that just read would), else stale.
                expected_mod_revision: match (&current, rng.chance(70)) {
                    (Some(kv), true) => kv.mod_revision,
                    (Some(kv), false) => kv.mod_revision - 1,
                    (None, true) => 0,
                    (None, false) => revision,
                },
                value: value.clone(),
            },
        };
        let response = if p.applies {
            Some(apply(&mut store, &mut revision, &request))
        } else {
            None
        };
        let (complete, outcome) = match (p.unknown, response) {
            (false, Some(r)) => (Some(p.complete), Outcome::Ok(r)),
            _ => (None, Outcome::Unknown { applied_at: None }),
        };
        ops.push(op(p.client, p.invoke, complete, request, outcome));
    }
    ops.sort_by_key(|o| o.invoke);
    SimRun {
        history: History::new(ops),
    }
}

/// The simulated server's state: live keys and revoked leases.
#[derive(Default)]
struct SimStore {
    kvs: HashMap<String, KeyValue>,
    revoked: std::collections::HashSet<i64>,
}

fn apply(store: &mut SimStore, revision: &mut i64, request: &Request) -> Response {
    let mut write = |store: &mut SimStore, key: &str, value: &str, lease: i64| {
        *revision += 1;
        let entry = store.kvs.get(key).cloned();
        store.kvs.insert(
            key.to_string(),
            KeyValue {
                value: value.to_string(),
                mod_revision: *revision,
                create_revision: entry.as_ref().map_or(*revision, |e| e.create_revision),
                version: entry.map_or(1, |e| e.version + 1),
                lease,
            },
        );
        *revision
    };
    match request {
        Request::Get { key, .. } => Response::Get {
            revision: *revision,
            kv: store.kvs.get(key).cloned(),
        },
        Request::Put { lease, .. } | Request::Revoke { lease, .. }
            if store.revoked.contains(lease) =>
        {
            Response::LeaseNotFound
        }
        Request::Put { key, value, lease } => Response::Put {
            revision: write(store, key, value, *lease),
        },
        Request::Revoke { key, lease } => {
            store.revoked.insert(*lease);
            if store.kvs.get(key).is_some_and(|kv| kv.lease == *lease) {
                store.kvs.remove(key);
                *revision += 1;
            }
            Response::Revoke {
                revision: *revision,
            }
        }
        Request::Delete { key } => {
            let deleted = if store.kvs.remove(key).is_some() {
                *revision += 1;
                1
            } else {
                0
            };
            Response::Delete {
                revision: *revision,
                deleted,
            }
        }
        Request::CasPut {
            key,
            expected_mod_revision,
            value,
        } => {
            let current = store.kvs.get(key).map_or(0, |kv| kv.mod_revision);
            if current == *expected_mod_revision {
                Response::CasPut {
                    revision: write(store, key, value, 0),
                    succeeded: true,
                    kv: None,
                }
            } else {
                Response::CasPut {
                    revision: *revision,
                    succeeded: false,
                    kv: store.kvs.get(key).cloned(),
                }
            }
        }
    }
}
