//! Linearizability checking of a recorded history against the per-key model.
//!
//! The search is Wing & Gong's, with Lowe's improvements as porcupine uses them: the history
//! becomes a time-ordered list of call and return entries; the search walks it from the
//! front, tries to linearize each call it meets (the model must accept it in the current
//! state), and backtracks when it reaches a return entry whose call was not linearized. A
//! cache of (set of linearized operations, model state) pairs already explored prunes every
//! branch that reaches a configuration seen before, which turns the usual exponential blow-up
//! into something proportional to the amount of real concurrency.
//!
//! Every operation touches one key and keys are independent in the model, so the history is
//! partitioned by key and each partition is checked on its own: a history is linearizable iff
//! every partition is (linearizability is compositional). This keeps the search small even for
//! long runs.
//!
//! What is fed to the search: failed operations are dropped (they did not happen), and so are
//! unknown-outcome reads (they changed nothing and told nobody anything). Unknown-outcome
//! writes get a return entry at +infinity: they may be linearized anywhere after their
//! invocation, or never. Reaching such a return entry during the walk means every operation
//! with a known outcome has been linearized, so the search has succeeded.
//!
//! The search has a budget (cache entries); exhausting it gives [`Verdict::Undecided`] rather
//! than running forever.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::history::{History, Operation, Outcome, Request, Response};
use crate::model::{CasResult, KeyState, LeaseId, ModelOp, Observed, ValueId, MAX_LEASES};

/// Default search budget per key: distinct (linearized set, state) configurations.
pub const DEFAULT_BUDGET: usize = 2_000_000;

/// Why a key's history is not linearizable, in terms a human can follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub key: String,
    /// History ids of the longest sequence of operations the search could linearize, in
    /// linearization order.
    pub longest_prefix: Vec<usize>,
    /// The model state after that prefix, rendered.
    pub state_after_prefix: String,
    /// History ids of the known-outcome operations left out of that prefix, earliest
    /// completion first: the first one is the operation nothing could explain.
    pub unexplained: Vec<usize>,
}

impl Violation {
    /// A multi-line report naming the operations involved.
    pub fn explain(&self, history: &History) -> String {
        let mut out = format!("key {:?} is not linearizable\n", self.key);
        out.push_str("longest linearizable prefix:\n");
        for &id in &self.longest_prefix {
            out.push_str(&format!("  {}\n", history.ops()[id]));
        }
        out.push_str(&format!("state after it: {}\n", self.state_after_prefix));
        out.push_str("left unexplained (earliest completion first):\n");
        for &id in self.unexplained.iter().take(8) {
            out.push_str(&format!("  {}\n", history.ops()[id]));
        }
        out
    }
}

/// The answer for a whole history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Violation),
    /// The search budget ran out on this key before an answer.
    Undecided {
        key: String,
    },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable => write!(f, "linearizable"),
            Verdict::NotLinearizable(v) => write!(
                f,
                "key {:?} not linearizable (prefix of {} ops, first unexplained op #{})",
                v.key,
                v.longest_prefix.len(),
                v.unexplained.first().copied().unwrap_or(usize::MAX)
            ),
            Verdict::Undecided { key } => write!(f, "undecided on key {key:?} (budget exhausted)"),
        }
    }
}

/// Checks a history with the default budget.
pub fn check(history: &History) -> Verdict {
    check_with_budget(history, DEFAULT_BUDGET)
}

/// Checks a history; each key's search explores at most `budget` configurations.
pub fn check_with_budget(history: &History, budget: usize) -> Verdict {
    let mut by_key: HashMap<&str, Vec<&Operation>> = HashMap::new();
    for op in history.ops() {
        if let Request::Get { consistency, .. } = op.request {
            if consistency == crate::history::ReadConsistency::Serializable {
                continue;
            }
        }
        let relevant = match &op.outcome {
            Outcome::Failed(_) => false,
            Outcome::Unknown { .. } => op.request.is_write(),
            Outcome::Ok(_) => true,
        };
        if relevant {
            by_key.entry(op.request.key()).or_default().push(op);
        }
    }
    // A stable order makes reports reproducible.
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let partition = Partition::build(key, &by_key[key]);
        match partition.search(budget) {
            SearchResult::Ok => {}
            SearchResult::Exhausted => {
                return Verdict::Undecided {
                    key: key.to_string(),
                }
            }
            SearchResult::Illegal(v) => return Verdict::NotLinearizable(v),
        }
    }
    Verdict::Linearizable
}

/// One key's operations, translated for the model.
struct Partition<'a> {
    key: &'a str,
    ops: Vec<&'a Operation>,
    model_ops: Vec<ModelOp>,
    values: Vec<String>,
}

impl<'a> Partition<'a> {
    fn build(key: &'a str, ops: &[&'a Operation]) -> Partition<'a> {
        let mut interner = Interner::default();
        let model_ops = ops
            .iter()
            .map(|op| translate(op, &mut interner))
            .collect::<Vec<_>>();
        Partition {
            key,
            ops: ops.to_vec(),
            model_ops,
            values: interner.values,
        }
    }

    fn render(&self, state: &KeyState) -> String {
        match state.kv {
            None => format!("absent (floor revision {})", state.floor),
            Some(s) => format!(
                "value {:?} mod_revision {:?} create_revision {:?} version {:?} (floor revision {})",
                self.values[s.value as usize], s.mod_revision, s.create_revision, s.version,
                state.floor
            ),
        }
    }

    fn search(&self, budget: usize) -> SearchResult {
        let n = self.ops.len();
        let mut list = EntryList::new(&self.ops);
        let mut linearized = Bitset::new(n);
        let mut state = KeyState::default();
        let mut cache: HashSet<(Bitset, KeyState)> = HashSet::new();
        // (call entry, state before it) for every linearized operation, in order.
        let mut calls: Vec<(usize, KeyState)> = Vec::new();
        let mut best = BestPrefix::default();
        let mut entry = list.first();
        loop {
            let Some(e) = entry else {
                return SearchResult::Ok;
            };
            let op = list.op[e];
            if list.is_call[e] {
                if let Some(next) = state.step(&self.model_ops[op]) {
                    let mut candidate = linearized.clone();
                    candidate.set(op);
                    if cache.insert((candidate.clone(), next)) {
                        if cache.len() > budget {
                            return SearchResult::Exhausted;
                        }
                        calls.push((e, state));
                        best.pushed(&calls, &list, next);
                        state = next;
                        linearized = candidate;
                        list.lift(e);
                        entry = list.first();
                        continue;
                    }
                }
                entry = list.next(e);
            } else {
                if list.infinite[e] {
                    // Only unknown-outcome operations remain unlinearized.
                    return SearchResult::Ok;
                }
                let Some((call, before)) = calls.pop() else {
                    return SearchResult::Illegal(self.violation(&best));
                };
                best.popped(calls.len());
                linearized.clear(list.op[call]);
                state = before;
                list.unlift(call);
                entry = list.next(call);
            }
        }
    }

    fn violation(&self, best: &BestPrefix) -> Violation {
        let in_prefix: HashSet<usize> = best.ops.iter().copied().collect();
        let mut unexplained: Vec<&Operation> = (0..self.ops.len())
            .filter(|i| !in_prefix.contains(i) && self.ops[*i].complete.is_some())
            .map(|i| self.ops[i])
            .collect();
        unexplained.sort_by_key(|op| op.complete);
        Violation {
            key: self.key.to_string(),
            longest_prefix: best.ops.iter().map(|&i| self.ops[i].id).collect(),
            state_after_prefix: self.render(&best.state),
            unexplained: unexplained.iter().map(|op| op.id).collect(),
        }
    }
}

enum SearchResult {
    Ok,
    Illegal(Violation),
    Exhausted,
}

/// Small integers for one partition's values and leases.
#[derive(Default)]
struct Interner<'a> {
    ids: HashMap<&'a str, ValueId>,
    values: Vec<String>,
    leases: Vec<i64>,
}

impl<'a> Interner<'a> {
    fn value(&mut self, v: &'a str) -> ValueId {
        *self.ids.entry(v).or_insert_with(|| {
            self.values.push(v.to_string());
            (self.values.len() - 1) as ValueId
        })
    }

    /// `None` for lease 0 (no lease).
    fn lease(&mut self, id: i64) -> Option<LeaseId> {
        if id == 0 {
            return None;
        }
        let n = match self.leases.iter().position(|l| *l == id) {
            Some(n) => n,
            None => {
                self.leases.push(id);
                self.leases.len() - 1
            }
        };
        assert!(
            n < MAX_LEASES,
            "one key's operations name more than {MAX_LEASES} leases: the runner must cap them"
        );
        Some(n as LeaseId)
    }

    fn observe(&mut self, kv: &'a Option<crate::history::KeyValue>) -> Option<Observed> {
        kv.as_ref().map(|kv| Observed {
            value: self.value(&kv.value),
            mod_revision: kv.mod_revision,
            create_revision: kv.create_revision,
            version: kv.version,
            lease: self.lease(kv.lease),
        })
    }
}

fn translate<'a>(op: &'a Operation, intern: &mut Interner<'a>) -> ModelOp {
    match (&op.request, &op.outcome) {
        (Request::Get { .. }, Outcome::Ok(Response::Get { revision, kv })) => ModelOp::Get {
            revision: *revision,
            kv: intern.observe(kv),
        },
        (Request::Put { value, lease, .. }, Outcome::Ok(Response::Put { revision })) => {
            ModelOp::Put {
                value: intern.value(value),
                lease: intern.lease(*lease),
                revision: Some(*revision),
            }
        }
        (Request::Put { value, lease, .. }, Outcome::Unknown { applied_at }) => ModelOp::Put {
            value: intern.value(value),
            lease: intern.lease(*lease),
            revision: *applied_at,
        },
        (
            Request::Put { lease, .. } | Request::Revoke { lease, .. },
            Outcome::Ok(Response::LeaseNotFound),
        ) if *lease != 0 => ModelOp::LeaseNotFound {
            lease: intern.lease(*lease).expect("not 0"),
        },
        (Request::Revoke { lease, .. }, Outcome::Ok(Response::Revoke { revision }))
            if *lease != 0 =>
        {
            ModelOp::Revoke {
                lease: intern.lease(*lease).expect("not 0"),
                revision: Some(*revision),
            }
        }
        (Request::Revoke { lease, .. }, Outcome::Unknown { .. }) if *lease != 0 => {
            ModelOp::Revoke {
                lease: intern.lease(*lease).expect("not 0"),
                revision: None,
            }
        }
        (Request::Delete { .. }, Outcome::Ok(Response::Delete { revision, deleted })) => {
            ModelOp::Delete {
                result: Some((*revision, *deleted)),
            }
        }
        (Request::Delete { .. }, Outcome::Unknown { .. }) => ModelOp::Delete { result: None },
        (
            Request::CasPut {
                expected_mod_revision,
                value,
                ..
            },
            outcome,
        ) => {
            let result = match outcome {
                Outcome::Ok(Response::CasPut {
                    revision,
                    succeeded: true,
                    ..
                }) => CasResult::Succeeded {
                    revision: *revision,
                },
                Outcome::Ok(Response::CasPut {
                    revision,
                    succeeded: false,
                    kv,
                }) => CasResult::Failed {
                    revision: *revision,
                    kv: intern.observe(kv),
                },
                Outcome::Unknown { applied_at } => CasResult::Unknown {
                    revision: *applied_at,
                },
                other => impossible(op, other),
            };
            ModelOp::CasPut {
                expected: *expected_mod_revision,
                value: intern.value(value),
                result,
            }
        }
        (_, other) => impossible(op, other),
    }
}

/// A response of the wrong kind for its request: the recorder's bug, not the server's, so
/// it is reported loudly rather than judged.
fn impossible(op: &Operation, outcome: &Outcome) -> ! {
    panic!("history holds a response of the wrong kind: {op} ({outcome:?})")
}

/// The doubly linked list of call/return entries, with lift/unlift in O(1).
struct EntryList {
    /// Per entry: the partition-local operation index.
    op: Vec<usize>,
    is_call: Vec<bool>,
    /// Return entries of unknown-outcome operations.
    infinite: Vec<bool>,
    /// The return entry of each call entry.
    matching: Vec<usize>,
    /// Links; index `n` (one past the entries) is the head sentinel.
    next: Vec<usize>,
    prev: Vec<usize>,
}

const NIL: usize = usize::MAX;

impl EntryList {
    fn new(ops: &[&Operation]) -> EntryList {
        // (time, returns-after-calls at equal time, op, is_call)
        let mut raw: Vec<(u128, u8, usize, bool)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            raw.push((op.invoke as u128, 0, i, true));
            // Unknown completion sorts after every real instant.
            let ret = op.complete.map_or(u128::MAX, |c| c as u128);
            raw.push((ret, 1, i, false));
        }
        // Calls before returns at equal instants: ties are treated as overlap, which can only
        // make the checker more permissive, never reject a correct server.
        raw.sort_unstable();
        let n = raw.len();
        let mut list = EntryList {
            op: Vec::with_capacity(n),
            is_call: Vec::with_capacity(n),
            infinite: Vec::with_capacity(n),
            matching: vec![NIL; n],
            next: vec![NIL; n + 1],
            prev: vec![NIL; n + 1],
        };
        let mut call_of = vec![NIL; ops.len()];
        for (idx, &(time, _, op, is_call)) in raw.iter().enumerate() {
            list.op.push(op);
            list.is_call.push(is_call);
            list.infinite.push(!is_call && time == u128::MAX);
            if is_call {
                call_of[op] = idx;
            } else {
                list.matching[call_of[op]] = idx;
            }
        }
        let head = n;
        let mut last = head;
        for idx in 0..n {
            list.next[last] = idx;
            list.prev[idx] = last;
            last = idx;
        }
        list.next[last] = NIL;
        list
    }

    fn head(&self) -> usize {
        self.op.len()
    }

    fn first(&self) -> Option<usize> {
        self.next(self.head())
    }

    fn next(&self, e: usize) -> Option<usize> {
        let n = self.next[e];
        (n != NIL).then_some(n)
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }

    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.matching[call]);
    }

    /// Exactly reverses [`Self::lift`] (the return entry goes back first).
    fn unlift(&mut self, call: usize) {
        self.relink(self.matching[call]);
        self.relink(call);
    }
}

/// A fixed-size set of operation indexes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(n: usize) -> Bitset {
        Bitset(vec![0; n.div_ceil(64)])
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The longest linearized sequence seen, maintained incrementally: `common` is how much of
/// it is still a prefix of the current stack, so each push copies only what diverged.
#[derive(Default)]
struct BestPrefix {
    ops: Vec<usize>,
    state: KeyState,
    common: usize,
}

impl BestPrefix {
    fn pushed(&mut self, calls: &[(usize, KeyState)], list: &EntryList, state: KeyState) {
        let depth = calls.len();
        let op = list.op[calls[depth - 1].0];
        if self.common == depth - 1 && self.ops.get(depth - 1) == Some(&op) {
            self.common = depth;
        }
        if depth > self.ops.len() {
            self.ops.truncate(self.common);
            self.ops
                .extend(calls[self.common..].iter().map(|(e, _)| list.op[*e]));
            self.common = depth;
            self.state = state;
        }
    }

    fn popped(&mut self, depth: usize) {
        self.common = self.common.min(depth);
    }
}
