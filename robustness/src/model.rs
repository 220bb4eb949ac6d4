//! The sequential specification of one etcd key, revisions included.
//!
//! The linearizability checker asks one question over and over: "if this operation took effect
//! now, in this state, could it have produced the response the client saw, and what is the
//! state afterwards?" This module answers it, for one key, with etcd's semantics:
//!
//! - a key is absent or holds (value, mod_revision, create_revision, version); a put on an
//!   absent key starts a generation (create_revision = mod_revision, version 1), a put on a
//!   present key keeps create_revision and bumps version; a delete of a present key reports
//!   deleted = 1 and of an absent key deleted = 0;
//! - every write that changes the store is applied at the revision its response header
//!   carries, so a write must set mod_revision to exactly that revision;
//! - revisions only grow along any linearization: the state remembers the highest header
//!   revision of the operations already linearized on this key (`floor`); a write must carry a
//!   revision above it and a read a revision at or above it (a read that sees revision R
//!   happened after every write at or below R);
//! - a CAS (compare mod_revision, put, else get) succeeds iff the key's mod_revision equals the
//!   expected one, an absent key counting as mod_revision 0;
//! - leases are seen from the key: the value remembers the lease it was put with (a read
//!   must report it), and the state remembers which leases were revoked. A revoke deletes
//!   the key if its value holds the lease (at the revision the response carries) and leaves it
//!   alone otherwise; a put with a revoked lease, or a second revoke, is answered "lease not
//!   found" and changes nothing, and a put with a live lease can never be answered so. This is
//!   exact only for leases never attached to another key, which the runner guarantees for
//!   every lease it revokes or lets expire.
//!
//! Unknown-outcome writes are the complication: when one is linearized its revision may not be
//! known. Then the revision fields become [`Rev::After`] ("some revision above the floor at the
//! time") and a later read that observes the value fixes them. The checker decides *whether* an
//! unknown write took effect (by linearizing it or not), so the model only describes it taking
//! effect; an unknown CAS that took effect is therefore a successful one.
//!
//! Values and leases are interned to small integers per key partition so states are cheap to
//! copy, hash and compare, which the checker's memoisation does millions of times.

/// An interned value (see [`crate::linearizability`], which interns per key).
pub type ValueId = u32;

/// An interned lease, below [`MAX_LEASES`].
pub type LeaseId = u8;

/// How many distinct leases one key's operations may name (the revoked set is a bit mask).
pub const MAX_LEASES: usize = 64;

/// A revision the model may only partly know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rev {
    Known(i64),
    /// Some revision strictly greater than this one, not observed yet.
    After(i64),
}

impl Rev {
    fn admits(self, observed: i64) -> bool {
        match self {
            Rev::Known(r) => r == observed,
            Rev::After(floor) => observed > floor,
        }
    }
}

/// The stored state of a present key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stored {
    pub value: ValueId,
    pub mod_revision: Rev,
    pub create_revision: Rev,
    /// `None` when an unknown-revision write raced with a deletion we could not order.
    pub version: Option<i64>,
    pub lease: Option<LeaseId>,
}

/// The model state of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyState {
    pub kv: Option<Stored>,
    /// Highest header revision among the linearized operations with a known response.
    pub floor: i64,
    /// Bit `i` set: lease `i` was revoked (or expired).
    pub revoked: u64,
}

/// A key-value as a response reported it, value interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub value: ValueId,
    pub mod_revision: i64,
    pub create_revision: i64,
    pub version: i64,
    pub lease: Option<LeaseId>,
}

/// One operation as the model sees it: the request with the part of the response that must
/// be explained. Failed operations and unknown-outcome reads never reach the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelOp {
    Get {
        revision: i64,
        kv: Option<Observed>,
    },
    /// `revision` is `None` for an unknown outcome whose revision was not learned.
    Put {
        value: ValueId,
        lease: Option<LeaseId>,
        revision: Option<i64>,
    },
    /// `None`: unknown outcome (if it took effect, the key is absent afterwards).
    Delete {
        result: Option<(i64, i64)>,
    },
    CasPut {
        expected: i64,
        value: ValueId,
        result: CasResult,
    },
    /// `revision`: the store's revision after it; `None` for an unknown outcome (or an
    /// expiry).
    Revoke {
        lease: LeaseId,
        revision: Option<i64>,
    },
    /// A put with `lease`, or its revoke, answered "lease not found".
    LeaseNotFound {
        lease: LeaseId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasResult {
    Succeeded {
        revision: i64,
    },
    Failed {
        revision: i64,
        kv: Option<Observed>,
    },
    /// Took effect (so succeeded) at this revision if known.
    Unknown {
        revision: Option<i64>,
    },
}

impl KeyState {
    /// The state after `op` takes effect now, or `None` if `op` could not have produced its
    /// response in this state.
    pub fn step(&self, op: &ModelOp) -> Option<KeyState> {
        match *op {
            ModelOp::Get { revision, kv } => self.read(revision, kv),
            ModelOp::Put {
                value,
                lease,
                revision,
            } => {
                if lease.is_some_and(|l| self.is_revoked(l)) {
                    return None;
                }
                self.write(value, lease, revision)
            }
            ModelOp::Revoke { lease, revision } => self.revoke(lease, revision),
            ModelOp::LeaseNotFound { lease } => self.is_revoked(lease).then_some(*self),
            ModelOp::Delete { result } => self.delete(result),
            ModelOp::CasPut {
                expected,
                value,
                result,
            } => {
                let current = self.kv.map_or(Rev::Known(0), |s| s.mod_revision);
                match result {
                    CasResult::Succeeded { revision } => {
                        if !current.admits(expected) {
                            return None;
                        }
                        self.write(value, None, Some(revision))
                    }
                    CasResult::Failed { revision, kv } => {
                        if current == Rev::Known(expected) {
                            return None;
                        }
                        self.read(revision, kv)
                    }
                    CasResult::Unknown { revision } => {
                        if !current.admits(expected) {
                            return None;
                        }
                        self.write(value, None, revision)
                    }
                }
            }
        }
    }

    fn read(&self, revision: i64, observed: Option<Observed>) -> Option<KeyState> {
        if revision < self.floor {
            return None;
        }
        let kv = match (self.kv, observed) {
            (None, None) => None,
            (Some(s), Some(o)) => {
                let matches = s.value == o.value
                    && s.mod_revision.admits(o.mod_revision)
                    && s.create_revision.admits(o.create_revision)
                    && s.version.is_none_or(|v| v == o.version)
                    && s.lease == o.lease
                    && o.mod_revision <= revision
                    && o.create_revision <= o.mod_revision;
                if !matches {
                    return None;
                }
                // The read pins down whatever an unknown-revision write left open.
                Some(Stored {
                    value: o.value,
                    mod_revision: Rev::Known(o.mod_revision),
                    create_revision: Rev::Known(o.create_revision),
                    version: Some(o.version),
                    lease: o.lease,
                })
            }
            _ => return None,
        };
        Some(KeyState {
            kv,
            floor: revision,
            revoked: self.revoked,
        })
    }

    fn is_revoked(&self, lease: LeaseId) -> bool {
        self.revoked & (1 << lease) != 0
    }

    fn revoke(&self, lease: LeaseId, revision: Option<i64>) -> Option<KeyState> {
        if self.is_revoked(lease) {
            return None;
        }
        let holds = self.kv.is_some_and(|s| s.lease == Some(lease));
        let floor = match revision {
            None => self.floor,
            Some(r) if holds && r > self.floor => r,
            Some(r) if !holds && r >= self.floor => r,
            Some(_) => return None,
        };
        Some(KeyState {
            kv: if holds { None } else { self.kv },
            floor,
            revoked: self.revoked | (1 << lease),
        })
    }

    fn write(
        &self,
        value: ValueId,
        lease: Option<LeaseId>,
        revision: Option<i64>,
    ) -> Option<KeyState> {
        let (rev, floor) = match revision {
            Some(r) if r <= self.floor => return None,
            Some(r) => (Rev::Known(r), r),
            None => (Rev::After(self.floor), self.floor),
        };
        let (create_revision, version) = match self.kv {
            Some(s) => (s.create_revision, s.version.map(|v| v + 1)),
            None => (rev, Some(1)),
        };
        Some(KeyState {
            kv: Some(Stored {
                value,
                mod_revision: rev,
                create_revision,
                version,
                lease,
            }),
            floor,
            revoked: self.revoked,
        })
    }

    fn delete(&self, result: Option<(i64, i64)>) -> Option<KeyState> {
        match result {
            None => Some(KeyState { kv: None, ..*self }),
            Some((revision, deleted)) => {
                let present = self.kv.is_some();
                let ok = if present {
                    deleted == 1 && revision > self.floor
                } else {
                    deleted == 0 && revision >= self.floor
                };
                ok.then_some(KeyState {
                    kv: None,
                    floor: revision,
                    revoked: self.revoked,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(value: ValueId, m: i64, c: i64, v: i64) -> Option<Observed> {
        Some(Observed {
            value,
            mod_revision: m,
            create_revision: c,
            version: v,
            lease: None,
        })
    }

    #[test]
    fn put_then_get_tracks_generation_fields() {
        let s = KeyState::default();
        let s = s
            .step(&ModelOp::Put {
                value: 1,
                lease: None,
                revision: Some(5),
            })
            .expect("put on empty");
        let s = s
            .step(&ModelOp::Put {
                value: 2,
                lease: None,
                revision: Some(7),
            })
            .expect("second put");
        assert!(s
            .step(&ModelOp::Get {
                revision: 9,
                kv: obs(2, 7, 5, 2)
            })
            .is_some());
        // Wrong version, wrong create revision, wrong value, revision below the floor.
        for bad in [
            ModelOp::Get {
                revision: 9,
                kv: obs(2, 7, 5, 1),
            },
            ModelOp::Get {
                revision: 9,
                kv: obs(2, 7, 7, 2),
            },
            ModelOp::Get {
                revision: 9,
                kv: obs(1, 7, 5, 2),
            },
            ModelOp::Get {
                revision: 6,
                kv: obs(2, 7, 5, 2),
            },
        ] {
            assert!(s.step(&bad).is_none(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn writes_need_growing_revisions_and_delete_counts_must_match() {
        let s = KeyState::default()
            .step(&ModelOp::Put {
                value: 1,
                lease: None,
                revision: Some(5),
            })
            .expect("put");
        assert!(s
            .step(&ModelOp::Put {
                value: 2,
                lease: None,
                revision: Some(5)
            })
            .is_none());
        assert!(s
            .step(&ModelOp::Delete {
                result: Some((6, 0))
            })
            .is_none());
        let gone = s
            .step(&ModelOp::Delete {
                result: Some((6, 1)),
            })
            .expect("delete");
        assert_eq!(gone.kv, None);
        assert!(gone
            .step(&ModelOp::Delete {
                result: Some((6, 1))
            })
            .is_none());
    }

    #[test]
    fn cas_compares_mod_revision_with_absent_as_zero() {
        let empty = KeyState::default();
        let cas = |expected, result| ModelOp::CasPut {
            expected,
            value: 3,
            result,
        };
        assert!(empty
            .step(&cas(0, CasResult::Succeeded { revision: 2 }))
            .is_some());
        assert!(empty
            .step(&cas(4, CasResult::Succeeded { revision: 2 }))
            .is_none());
        assert!(empty
            .step(&cas(
                0,
                CasResult::Failed {
                    revision: 2,
                    kv: None
                }
            ))
            .is_none());
        assert!(empty
            .step(&cas(
                4,
                CasResult::Failed {
                    revision: 2,
                    kv: None
                }
            ))
            .is_some());
    }

    #[test]
    fn unknown_write_revision_is_pinned_by_a_later_read() {
        let s = KeyState::default()
            .step(&ModelOp::Put {
                value: 1,
                lease: None,
                revision: Some(3),
            })
            .expect("put");
        let s = s
            .step(&ModelOp::Put {
                value: 2,
                lease: None,
                revision: None,
            })
            .expect("unknown put");
        assert!(
            s.step(&ModelOp::Get {
                revision: 9,
                kv: obs(2, 3, 3, 2)
            })
            .is_none(),
            "the unknown write's revision must be above the floor"
        );
        let s = s
            .step(&ModelOp::Get {
                revision: 9,
                kv: obs(2, 8, 3, 2),
            })
            .expect("read of the unknown write");
        assert_eq!(s.kv.map(|k| k.mod_revision), Some(Rev::Known(8)));
    }

    #[test]
    fn a_revoke_deletes_only_a_key_that_holds_the_lease_and_only_once() {
        let put = |lease, revision| ModelOp::Put {
            value: 1,
            lease,
            revision: Some(revision),
        };
        let held = KeyState::default().step(&put(Some(0), 5)).expect("put");
        // Holding the lease: the revoke deletes at a new revision.
        let gone = held
            .step(&ModelOp::Revoke {
                lease: 0,
                revision: Some(6),
            })
            .expect("revoke deletes");
        assert_eq!(gone.kv, None);
        assert!(
            held.step(&ModelOp::Revoke {
                lease: 0,
                revision: Some(5)
            })
            .is_none(),
            "a deleting revoke needs a new revision"
        );
        // Twice, or a put with it afterwards: refused.
        let second = ModelOp::Revoke {
            lease: 0,
            revision: Some(7),
        };
        assert!(gone.step(&second).is_none());
        assert!(gone.step(&ModelOp::LeaseNotFound { lease: 0 }).is_some());
        assert!(gone.step(&put(Some(0), 8)).is_none());
        assert!(held.step(&ModelOp::LeaseNotFound { lease: 0 }).is_none());
        // Another lease's revoke leaves the key alone, at the same revision.
        let kept = held
            .step(&ModelOp::Revoke {
                lease: 1,
                revision: Some(5),
            })
            .expect("revoke of another lease");
        assert!(kept.kv.is_some());
        assert!(kept.step(&ModelOp::LeaseNotFound { lease: 1 }).is_some());
        // A put without the lease detaches the key from it.
        let detached = held.step(&put(None, 6)).expect("put without lease");
        let after = detached
            .step(&ModelOp::Revoke {
                lease: 0,
                revision: None,
            })
            .expect("expiry");
        assert!(after.kv.is_some(), "the key no longer holds the lease");
    }

    #[test]
    fn a_read_must_report_the_lease_the_value_holds() {
        let s = KeyState::default()
            .step(&ModelOp::Put {
                value: 1,
                lease: Some(2),
                revision: Some(3),
            })
            .expect("put");
        let mut seen = obs(1, 3, 3, 1);
        assert!(s
            .step(&ModelOp::Get {
                revision: 3,
                kv: seen
            })
            .is_none());
        if let Some(o) = seen.as_mut() {
            o.lease = Some(2);
        }
        assert!(s
            .step(&ModelOp::Get {
                revision: 3,
                kv: seen
            })
            .is_some());
    }
}
