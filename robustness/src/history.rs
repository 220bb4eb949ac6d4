//! A recorded client history: what each client asked, when, and what it was told.
//!
//! This module owns the vocabulary every checker shares. An [`Operation`] is one request of
//! one client with the instant it was invoked and the instant its answer arrived. Instants are
//! nanoseconds on one monotonic clock shared by all clients of a run (a [`Clock`]), so "A
//! completed before B was invoked" is a plain comparison.
//!
//! The outcome is where honesty matters. A client that timed out or lost its connection does
//! not know whether its write was applied: recording such an operation as failed would make the
//! checker reject correct servers, and recording it as succeeded would make it accept broken
//! ones. So there are three outcomes: [`Outcome::Ok`] with the server's response,
//! [`Outcome::Failed`] when the recorder is sure nothing was applied (the server refused the
//! request before proposing it), and [`Outcome::Unknown`] otherwise. The recorder, which sees
//! the gRPC status, decides between the last two; when in doubt it must say `Unknown`.
//!
//! Keys and values are strings: the suite chooses them itself (unique values per write, so a
//! read identifies the write it observed), and readable strings make failure reports readable.

use std::fmt;
use std::time::Instant;

/// Which client issued an operation. A client runs one operation at a time.
pub type ClientId = u32;

/// Nanoseconds since the run's [`Clock`] started.
pub type Nanos = u64;

/// The one monotonic clock of a run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            base: Instant::now(),
        }
    }

    pub fn now(&self) -> Nanos {
        // A run lasts far less than the 584 years u64 nanoseconds can hold.
        self.base.elapsed().as_nanos() as Nanos
    }
}

/// How a read is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadConsistency {
    /// After a ReadIndex round: must be linearizable.
    Linearizable,
    /// From the member's local state at once: only per-member consistency and revision
    /// monotonicity can be asked of it.
    Serializable,
}

/// One request, always on a single key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Get {
        key: String,
        consistency: ReadConsistency,
    },
    /// `lease` 0 means no lease. The model keeps leases per key: a lease the runner revokes,
    /// or lets expire, must only ever be attached to this one key (see `runner::lease`);
    /// leases attached to several keys must outlive the run.
    Put {
        key: String,
        value: String,
        lease: i64,
    },
    Delete {
        key: String,
    },
    /// A txn: `if mod_revision(key) == expected_mod_revision then put(key, value) else get(key)`.
    /// A missing key has mod_revision 0.
    CasPut {
        key: String,
        expected_mod_revision: i64,
        value: String,
    },
    /// Revokes `lease`, which is attached to no key but `key` (so, for the per-key model, a
    /// revoke is a delete of `key` if its value holds the lease). A lease's expiry is
    /// recorded as a revoke of unknown outcome invoked when its grant was acknowledged.
    Revoke {
        key: String,
        lease: i64,
    },
}

impl Request {
    pub fn key(&self) -> &str {
        match self {
            Request::Get { key, .. }
            | Request::Put { key, .. }
            | Request::Delete { key }
            | Request::CasPut { key, .. }
            | Request::Revoke { key, .. } => key,
        }
    }

    /// Whether this request may change the store.
    pub fn is_write(&self) -> bool {
        !matches!(self, Request::Get { .. })
    }

    /// Whether real-time order applies to it (everything but serializable reads).
    pub fn is_linearizable(&self) -> bool {
        !matches!(
            self,
            Request::Get {
                consistency: ReadConsistency::Serializable,
                ..
            }
        )
    }

    /// The value this request writes, if any.
    pub fn written_value(&self) -> Option<&str> {
        match self {
            Request::Put { value, .. } | Request::CasPut { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// A key as a read returned it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyValue {
    pub value: String,
    pub mod_revision: i64,
    pub create_revision: i64,
    pub version: i64,
    /// The lease the value is attached to (0: none).
    pub lease: i64,
}

/// What the server answered. `revision` is always the response header's revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Get {
        revision: i64,
        kv: Option<KeyValue>,
    },
    Put {
        revision: i64,
    },
    Delete {
        revision: i64,
        deleted: i64,
    },
    /// `kv` is what the else-branch's get returned (always `None` when `succeeded`).
    CasPut {
        revision: i64,
        succeeded: bool,
        kv: Option<KeyValue>,
    },
    /// The revoke took effect; `revision` is the store's revision after it (the deletion's
    /// if the lease held the key, else unchanged).
    Revoke {
        revision: i64,
    },
    /// etcd's "requested lease not found" for a put with a lease or a revoke: a definite
    /// answer (the apply refused it, nothing changed), without a header.
    LeaseNotFound,
}

impl Response {
    /// The header's revision (`None` for an answer without a header).
    pub fn revision(&self) -> Option<i64> {
        match self {
            Response::Get { revision, .. }
            | Response::Put { revision }
            | Response::Delete { revision, .. }
            | Response::CasPut { revision, .. }
            | Response::Revoke { revision } => Some(*revision),
            Response::LeaseNotFound => None,
        }
    }

    /// Whether the response says the store changed (so a new revision was created). A
    /// revoke's response does not say whether it deleted anything.
    pub fn changed_store(&self) -> bool {
        match self {
            Response::Get { .. } | Response::Revoke { .. } | Response::LeaseNotFound => false,
            Response::Put { .. } => true,
            Response::Delete { deleted, .. } => *deleted > 0,
            Response::CasPut { succeeded, .. } => *succeeded,
        }
    }

    /// The key-value a read part of the response returned, if the response has a read part.
    pub fn read_kv(&self) -> Option<&Option<KeyValue>> {
        match self {
            Response::Get { kv, .. } => Some(kv),
            Response::CasPut {
                kv,
                succeeded: false,
                ..
            } => Some(kv),
            _ => None,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(Response),
    /// Definitely not applied; the reason is kept for reports.
    Failed(String),
    /// May or may not have taken effect (timeout, connection lost, leader change mid-flight).
    /// A write may carry the revision it is known to have been applied at, learned after the
    /// fact (see [`History::patch_unknown_writes`]).
    Unknown {
        applied_at: Option<i64>,
    },
}

/// One operation of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Index in the history; stable, used in reports.
    pub id: usize,
    pub client: ClientId,
    pub invoke: Nanos,
    /// `None` when the client never learned the outcome.
    pub complete: Option<Nanos>,
    pub request: Request,
    pub outcome: Outcome,
}

impl Operation {
    pub fn response(&self) -> Option<&Response> {
        match &self.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match self.complete {
            Some(c) => format!("{c}"),
            None => "?".into(),
        };
        write!(
            f,
            "#{} client {} [{}..{}] ",
            self.id, self.client, self.invoke, end
        )?;
        match &self.request {
            Request::Get { key, consistency } => write!(f, "get({key}, {consistency:?})")?,
            Request::Put { key, value, lease } if *lease != 0 => {
                write!(f, "put({key}, {value}, lease {lease:x})")?
            }
            Request::Put { key, value, .. } => write!(f, "put({key}, {value})")?,
            Request::Delete { key } => write!(f, "delete({key})")?,
            Request::CasPut {
                key,
                expected_mod_revision,
                value,
            } => write!(f, "cas({key}, mod_rev=={expected_mod_revision}, {value})")?,
            Request::Revoke { key, lease } => write!(f, "revoke({key}, lease {lease:x})")?,
        }
        write!(f, " -> ")?;
        match &self.outcome {
            Outcome::Ok(r) => write!(f, "{r:?}"),
            Outcome::Failed(why) => write!(f, "failed: {why}"),
            Outcome::Unknown { applied_at: None } => write!(f, "unknown"),
            Outcome::Unknown {
                applied_at: Some(r),
            } => write!(f, "unknown (applied at revision {r})"),
        }
    }
}

/// Records the operations of one client. Each client owns its recorder (no lock on the hot
/// path); the run merges them into a [`History`] at the end.
#[derive(Debug)]
pub struct ClientRecorder {
    client: ClientId,
    clock: Clock,
    ops: Vec<Operation>,
}

/// Names an invoked operation of a [`ClientRecorder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending(usize);

impl ClientRecorder {
    pub fn new(client: ClientId, clock: Clock) -> ClientRecorder {
        ClientRecorder {
            client,
            clock,
            ops: Vec::new(),
        }
    }

    /// Records the invocation; until [`Self::complete`] is called the outcome is unknown.
    pub fn invoke(&mut self, request: Request) -> Pending {
        self.ops.push(Operation {
            id: 0,
            client: self.client,
            invoke: self.clock.now(),
            complete: None,
            request,
            outcome: Outcome::Unknown { applied_at: None },
        });
        Pending(self.ops.len() - 1)
    }

    /// Records the answer. An `Unknown` outcome keeps the completion instant unknown too.
    pub fn complete(&mut self, pending: Pending, outcome: Outcome) {
        let now = self.clock.now();
        let op = &mut self.ops[pending.0];
        op.complete = match outcome {
            Outcome::Unknown { .. } => None,
            _ => Some(now),
        };
        op.outcome = outcome;
    }
}

/// All operations of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    ops: Vec<Operation>,
}

impl History {
    /// A history from operations; ids are reassigned to their index.
    pub fn new(mut ops: Vec<Operation>) -> History {
        for (i, op) in ops.iter_mut().enumerate() {
            op.id = i;
        }
        History { ops }
    }

    pub fn merge(recorders: impl IntoIterator<Item = ClientRecorder>) -> History {
        let mut ops: Vec<Operation> = recorders.into_iter().flat_map(|r| r.ops).collect();
        ops.sort_by_key(|op| (op.invoke, op.client));
        History::new(ops)
    }

    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Fills in the revision of unknown-outcome writes whose value was observed elsewhere
    /// (`observed` yields `(key, value, mod_revision)`: reads of this history, watch events,
    /// a final read). Values are unique per write, so an observed value names its write and
    /// proves it was applied at that revision. Returns how many operations were patched.
    pub fn patch_unknown_writes<'a>(
        &mut self,
        observed: impl IntoIterator<Item = (&'a str, &'a str, i64)>,
    ) -> usize {
        let seen: std::collections::HashMap<(&str, &str), i64> = observed
            .into_iter()
            .map(|(k, v, rev)| ((k, v), rev))
            .collect();
        let mut patched = 0;
        for op in &mut self.ops {
            if let Outcome::Unknown { applied_at: None } = op.outcome {
                if let Some(value) = op.request.written_value() {
                    if let Some(&rev) = seen.get(&(op.request.key(), value)) {
                        op.outcome = Outcome::Unknown {
                            applied_at: Some(rev),
                        };
                        patched += 1;
                    }
                }
            }
        }
        patched
    }

    /// Every `(key, value, mod_revision)` the reads of this history returned, for
    /// [`Self::patch_unknown_writes`].
    pub fn observed_values(&self) -> Vec<(String, String, i64)> {
        self.ops
            .iter()
            .filter_map(|op| {
                let kv = op.response()?.read_kv()?.as_ref()?;
                Some((
                    op.request.key().to_string(),
                    kv.value.clone(),
                    kv.mod_revision,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_keeps_unknown_completion_unknown_and_merge_orders_by_invocation() {
        let clock = Clock::start();
        let mut a = ClientRecorder::new(1, clock);
        let mut b = ClientRecorder::new(2, clock);
        let pb = b.invoke(Request::Delete { key: "k".into() });
        let pa = a.invoke(Request::Put {
            key: "k".into(),
            value: "v".into(),
            lease: 0,
        });
        a.complete(pa, Outcome::Unknown { applied_at: None });
        b.complete(
            pb,
            Outcome::Ok(Response::Delete {
                revision: 1,
                deleted: 0,
            }),
        );
        let h = History::merge([a, b]);
        assert_eq!(h.len(), 2);
        assert_eq!(h.ops()[0].client, 2, "b invoked first");
        assert_eq!(h.ops()[0].id, 0);
        assert!(h.ops()[0].complete.is_some());
        assert_eq!(h.ops()[1].complete, None);
    }

    #[test]
    fn patch_fills_the_revision_of_an_observed_unknown_write_only() {
        let put = |id, value: &str| Operation {
            id,
            client: 0,
            invoke: 0,
            complete: None,
            request: Request::Put {
                key: "k".into(),
                value: value.into(),
                lease: 0,
            },
            outcome: Outcome::Unknown { applied_at: None },
        };
        let mut h = History::new(vec![put(0, "seen"), put(1, "unseen")]);
        assert_eq!(h.patch_unknown_writes([("k", "seen", 7)]), 1);
        assert_eq!(
            h.ops()[0].outcome,
            Outcome::Unknown {
                applied_at: Some(7)
            }
        );
        assert_eq!(h.ops()[1].outcome, Outcome::Unknown { applied_at: None });
    }
}
