//! Data-driven tests of the MVCC store against etcd 3.5's semantics.
//!
//! Each `testdata/*.txt` script is a sequence of commands, each followed by a
//! `----` line and the expected output (up to the next blank line). Every
//! write is applied to two stores, one on sled in a temp dir and one in
//! memory, which must answer identically. `restart` reopens the sled store
//! and checks that nothing observable changed (reads at every revision,
//! leases, alarms, hashes, watch history); `snapshot` checks that a snapshot
//! installed elsewhere reproduces the same state; and at the end of every
//! script both stores must be indistinguishable.
//!
//! `REWRITE=1 cargo test -p etcd-store --test datadriven` regenerates the
//! expectations. Review the diff by hand: the expectations state what etcd
//! does, they are not a record of what the store happens to do.
//!
//! Commands (keys and values are single tokens; `""` is empty, `\xNN` escapes):
//! - `put <key> [<value>] [lease=N] [prev_kv] [ignore_value] [ignore_lease]`
//! - `get <key> [end=<k>|prefix|fromkey] [rev=N] [limit=N] [keys_only]
//!   [count_only] [sort=<target>[,asc|desc]] [min_mod=N] [max_mod=N]
//!   [min_create=N] [max_create=N]`
//! - `del <key> [end=<k>|prefix|fromkey] [prev_kv]`
//! - `txn [novalidate] [readonly]` followed by lines
//!   `cmp <target> <key> [range] <op> <v>`, `then <op>`, `else <op>`;
//!   `then txn` / `else txn` open a nested txn that runs to a line `end`.
//!   `readonly` answers through `Store::txn_read_only` instead of the log.
//! - `compact <rev>`, `lease-grant <id> <ttl>`, `lease-revoke <id>`, `leases`
//! - `alarm activate|deactivate|get [member=N] [type=nospace|corrupt]`
//! - `watch-events from=N [max=M]`, `status`, `hash [rev=N]`, `restart`,
//!   `snapshot`, `noop`, `cluster <name> <value>|-`, `cluster-get <name>`
//!
//! Write commands take `index=N` to apply at a given raft index (the next
//! one by default). Puts, deletes, ranges and txns are first checked with
//! [`etcd_store::validate`] as the gRPC layer would (`invalid: ...`), unless
//! `novalidate` is given.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, Compare, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, LeaseRevokeRequest, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, ResponseHeader, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::KeyValue;
use etcd_store::{
    snapshot, validate, Applied, LeaseEntry, MemBackend, RevisionEvents, SledBackend, Store,
    StoreConfig, StoreError,
};

const TERM: u64 = 1;
/// etcd's default `--max-txn-ops`.
const MAX_TXN_OPS: usize = 128;

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_script(stringify!($name));
            }
        )*

        #[test]
        fn every_script_is_run() {
            let listed = [$(stringify!($name)),*];
            for path in script_paths() {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                assert!(
                    listed.contains(&stem.as_str()),
                    "testdata/{stem}.txt is not listed in scripts!"
                );
            }
        }
    };
}

scripts!(
    revisions,
    ranges,
    put_options,
    delete,
    txn_compare,
    txn_nested,
    readonly_txn,
    compaction,
    leases,
    watch,
    persistence,
    misc,
);

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn script_paths() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(testdata())
        .expect("testdata dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Script files
// ---------------------------------------------------------------------------

enum Item {
    /// Comment or blank line, kept as is on rewrite.
    Text(String),
    Case {
        line: usize,
        input: Vec<String>,
        expected: Vec<String>,
    },
}

fn parse_script(text: &str) -> Vec<Item> {
    let lines: Vec<&str> = text.lines().collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim().is_empty() || l.starts_with('#') {
            items.push(Item::Text(l.to_string()));
            i += 1;
            continue;
        }
        let start = i;
        let mut input = Vec::new();
        while i < lines.len() && lines[i] != "----" {
            input.push(lines[i].to_string());
            i += 1;
        }
        assert!(i < lines.len(), "line {}: command without ----", start + 1);
        i += 1;
        let mut expected = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            expected.push(lines[i].to_string());
            i += 1;
        }
        items.push(Item::Case {
            line: start + 1,
            input,
            expected,
        });
    }
    items
}

fn run_script(name: &str) {
    let path = testdata().join(format!("{name}.txt"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut h = Harness::new();
    let mut failures = Vec::new();
    let mut rewritten = String::new();
    for item in parse_script(&text) {
        match item {
            Item::Text(t) => {
                rewritten.push_str(&t);
                rewritten.push('\n');
            }
            Item::Case {
                line,
                input,
                expected,
            } => {
                let actual = h.run(&input);
                assert!(
                    actual.iter().all(|l| !l.trim().is_empty()),
                    "{name}.txt:{line}: output has a blank line"
                );
                if actual != expected {
                    failures.push(format!(
                        "{name}.txt:{line}: {}\n--- expected\n{}\n--- actual\n{}",
                        input.join("\n"),
                        expected.join("\n"),
                        actual.join("\n")
                    ));
                }
                for l in input.iter().chain([&"----".to_string()]).chain(&actual) {
                    rewritten.push_str(l);
                    rewritten.push('\n');
                }
            }
        }
    }
    h.check_stores_agree();
    if rewrite {
        if rewritten != text {
            fs::write(&path, rewritten).expect("rewrite script");
        }
    } else if !failures.is_empty() {
        panic!(
            "{} case(s) failed:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

// ---------------------------------------------------------------------------
// The harness: a sled store and a memory store fed the same entries
// ---------------------------------------------------------------------------

struct Harness {
    dir: tempfile::TempDir,
    store: Option<Store>,
    shadow: Store,
    index: u64,
}

fn config() -> StoreConfig {
    StoreConfig::default()
}

/// Opens the sled store in `dir`. sled 0.34 finishes writes of a dropped
/// database on its own thread pool, which keeps the directory's file lock for
/// a moment after the drop: reopening in the same process retries until the
/// lock is free.
fn open_sled(dir: &Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let backend = loop {
        match SledBackend::open(dir) {
            Ok(b) => break b,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                assert!(std::time::Instant::now() < deadline, "sled lock held: {e}");
                std::thread::yield_now();
            }
            Err(e) => panic!("open sled: {e}"),
        }
    };
    Store::open(Box::new(backend), config()).expect("open store")
}

fn open_mem() -> Store {
    Store::open(Box::new(MemBackend::default()), config()).expect("open mem store")
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_sled(dir.path());
        Harness {
            dir,
            store: Some(store),
            shadow: open_mem(),
            index: 0,
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("store open")
    }

    /// Applies `op` to both stores at `index` (default: the next index) and
    /// checks what must hold whatever the request was.
    fn apply(&mut self, op: Option<Op>, index: Option<u64>) -> Result<Applied, StoreError> {
        let index = index.unwrap_or(self.index + 1);
        self.index = self.index.max(index);
        let req = RaftRequest {
            id: 0,
            op,
            proposed_at_ms: 0,
            ..Default::default()
        };
        let before = self.store().status();
        let got = self.store().apply(index, TERM, &req);
        let shadow = self.shadow.apply(index, TERM, &req);
        assert_eq!(got, shadow, "sled and memory stores answered differently");
        let after = self.store().status();
        if index <= before.applied_index {
            assert_eq!(got, Ok(Applied::Nothing), "old entry must be skipped");
            assert_eq!(before.revision, after.revision);
            assert_eq!(before.applied_index, after.applied_index);
        } else {
            assert_eq!(after.applied_index, index, "applied index must move");
            assert_eq!(after.applied_term, TERM);
        }
        if let Err(e) = &got {
            assert!(e.is_deterministic(), "non-deterministic error {e}");
            assert_eq!(
                before.revision, after.revision,
                "failed request made a revision"
            );
        }
        assert!(after.revision == before.revision || after.revision == before.revision + 1);
        assert_eq!(*self.store().subscribe().borrow(), after.revision);
        got
    }

    fn run(&mut self, input: &[String]) -> Vec<String> {
        let toks = tokenize(&input[0]);
        let cmd = toks[0].as_str();
        let args = Args::parse(&toks[1..]);
        let body = &input[1..];
        if cmd != "txn" {
            assert!(body.is_empty(), "{cmd} takes no body");
        }
        let index = args.opt_u64("index");
        match cmd {
            "put" => {
                let req = parse_put(&args);
                if let Err(e) = validate::check_put(&req) {
                    return vec![format!("invalid: {e}")];
                }
                render_applied(self.apply(Some(Op::Put(req)), index))
            }
            "del" => {
                let req = parse_del(&args);
                if let Err(e) = validate::check_delete(&req) {
                    return vec![format!("invalid: {e}")];
                }
                render_applied(self.apply(Some(Op::DeleteRange(req)), index))
            }
            "txn" => {
                let mut lines = body.iter();
                let req = parse_txn(&mut lines, false);
                if !args.flag("novalidate") {
                    if let Err(e) = validate::check_txn(&req, MAX_TXN_OPS) {
                        return vec![format!("invalid: {e}")];
                    }
                }
                if args.flag("readonly") {
                    return self.txn_read_only(&req);
                }
                render_applied(self.apply(Some(Op::Txn(req)), index))
            }
            "cluster" => {
                let index = index.unwrap_or(self.index + 1);
                self.index = self.index.max(index);
                let value = match args.pos(1) {
                    "-" => None,
                    v => Some(unescape(v)),
                };
                let rows = [(args.pos(0).to_string(), value)];
                for store in [self.store(), &self.shadow] {
                    store
                        .apply_cluster_rows(index, TERM, &rows)
                        .expect("cluster rows");
                }
                vec![format!("applied_index={}", self.store().applied_index())]
            }
            "cluster-get" => {
                let got = self.store().cluster_get(args.pos(0)).expect("cluster_get");
                assert_eq!(got, self.shadow.cluster_get(args.pos(0)).unwrap());
                vec![got.map_or("none".into(), |v| esc(&v))]
            }
            "get" => {
                let req = parse_get(&args);
                if let Err(e) = validate::check_range(&req) {
                    return vec![format!("invalid: {e}")];
                }
                let got = self.store().range(&req);
                assert_eq!(got, self.shadow.range(&req), "stores read differently");
                match got {
                    Ok(r) => render_range(&r),
                    Err(e) => vec![format!("error: {e}")],
                }
            }
            "compact" => {
                let revision = args.pos_i64(0);
                let op = Op::Compaction(CompactionRequest {
                    revision,
                    physical: false,
                });
                render_applied(self.apply(Some(op), index))
            }
            "lease-grant" => {
                let op = Op::LeaseGrant(LeaseGrantRequest {
                    id: args.pos_i64(0),
                    ttl: args.pos_i64(1),
                });
                render_applied(self.apply(Some(op), index))
            }
            "lease-revoke" => {
                let op = Op::LeaseRevoke(LeaseRevokeRequest {
                    id: args.pos_i64(0),
                });
                render_applied(self.apply(Some(op), index))
            }
            "leases" => {
                let out = render_leases(self.store());
                assert_eq!(out, render_leases(&self.shadow));
                out
            }
            "alarm" => {
                let action = match args.pos(0) {
                    "activate" => AlarmAction::Activate,
                    "deactivate" => AlarmAction::Deactivate,
                    "get" => AlarmAction::Get,
                    a => panic!("unknown alarm action {a}"),
                };
                let alarm = match args.opt("type") {
                    None => AlarmType::None,
                    Some("nospace") => AlarmType::Nospace,
                    Some("corrupt") => AlarmType::Corrupt,
                    Some(t) => panic!("unknown alarm type {t}"),
                };
                let op = Op::Alarm(AlarmRequest {
                    action: action as i32,
                    member_id: args.opt_u64("member").unwrap_or(0),
                    alarm: alarm as i32,
                });
                let mut out = render_applied(self.apply(Some(op), index));
                out.push(format!("raised: {:?}", self.store().alarms()));
                out
            }
            "noop" => render_applied(self.apply(None, index)),
            "watch-events" => {
                let from = args.opt_i64("from").expect("from=N");
                let max = args.opt_u64("max").map_or(usize::MAX, |m| m as usize);
                let got = events(self.store(), from, max);
                assert_eq!(
                    got,
                    events(&self.shadow, from, max),
                    "stores' histories differ"
                );
                match got {
                    Err(c) => vec![format!("error: compacted at {c}")],
                    Ok(evs) if evs.is_empty() => vec!["no events".into()],
                    Ok(evs) => render_events(&evs),
                }
            }
            "status" => {
                let s = self.store().status();
                vec![format!(
                    "rev={} compacted={} applied_index={} applied_term={}",
                    s.revision, s.compacted_revision, s.applied_index, s.applied_term
                )]
            }
            "hash" => {
                let rev = args.opt_i64("rev").unwrap_or(0);
                let got = self.store().hash_kv(rev);
                assert_eq!(got, self.shadow.hash_kv(rev), "stores hash differently");
                match got {
                    Err(e) => vec![format!("error: {e}")],
                    Ok((_, compacted, hashed)) => {
                        assert_eq!(
                            self.store().hash_all().unwrap(),
                            self.shadow.hash_all().unwrap(),
                            "backends hold different rows"
                        );
                        vec![format!("equal compacted={compacted} hashed_rev={hashed}")]
                    }
                }
            }
            "restart" => {
                let before = Fingerprint::of(self.store());
                self.store().flush().expect("flush");
                drop(self.store.take());
                self.store = Some(open_sled(self.dir.path()));
                let after = Fingerprint::of(self.store());
                assert_eq!(before, after, "restart changed the store");
                vec![format!(
                    "rev={} compacted={} applied_index={}",
                    after.revision, after.compacted, after.applied_index
                )]
            }
            "snapshot" => check_snapshot(self.store()),
            _ => panic!("unknown command {cmd}"),
        }
    }

    /// etcd's read path for txns that cannot write: answered without the
    /// log, and without any trace in either store.
    fn txn_read_only(&self, req: &TxnRequest) -> Vec<String> {
        let before = Fingerprint::of(self.store());
        let got = self.store().txn_read_only(req);
        assert_eq!(
            got,
            self.shadow.txn_read_only(req),
            "stores answered differently"
        );
        assert_eq!(
            Fingerprint::of(self.store()),
            before,
            "read-only txn left a trace"
        );
        assert_eq!(
            Fingerprint::of(&self.shadow),
            before,
            "read-only txn left a trace"
        );
        match got {
            None => vec!["not read-only".into()],
            Some(Err(e)) => vec![format!("error: {e}")],
            Some(Ok(t)) => render_txn(&t),
        }
    }

    fn check_stores_agree(&self) {
        let a = Fingerprint::of(self.store());
        let b = Fingerprint::of(&self.shadow);
        assert_eq!(a, b, "sled and memory stores diverged");
    }
}

// ---------------------------------------------------------------------------
// Whole-state comparison
// ---------------------------------------------------------------------------

/// Everything observable about a store.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    revision: i64,
    compacted: i64,
    applied_index: u64,
    applied_term: u64,
    leases: Vec<(i64, Option<LeaseEntry>)>,
    alarms: Vec<(u64, i32)>,
    hash_kv: Result<(u32, i64, i64), StoreError>,
    hash_all: u32,
    /// All keys at every revision that is still readable.
    reads: Vec<(i64, Result<RangeResponse, StoreError>)>,
    /// Watch history after the compacted revision.
    events: Result<Vec<RevisionEvents>, i64>,
}

impl Fingerprint {
    fn of(store: &Store) -> Self {
        let s = store.status();
        let leases = store
            .leases()
            .into_iter()
            .map(|(id, _)| (id, store.lease(id)))
            .collect();
        let reads = (s.compacted_revision.max(1)..=s.revision)
            .map(|rev| {
                let req = RangeRequest {
                    key: vec![0],
                    range_end: vec![0],
                    revision: rev,
                    ..Default::default()
                };
                (rev, store.range(&req))
            })
            .collect();
        Fingerprint {
            revision: s.revision,
            compacted: s.compacted_revision,
            applied_index: s.applied_index,
            applied_term: s.applied_term,
            leases,
            alarms: store.alarms(),
            hash_kv: store.hash_kv(0),
            hash_all: store.hash_all().expect("hash_all"),
            reads,
            events: events(store, s.compacted_revision + 1, usize::MAX),
        }
    }
}

fn events(store: &Store, from: i64, max: usize) -> Result<Vec<RevisionEvents>, i64> {
    store
        .events_since(from, max)
        .map(|evs| evs.iter().map(|e| (**e).clone()).collect())
        .map_err(|e| {
            e.compacted_revision()
                .expect("in-memory history is readable")
        })
}

/// Installs a snapshot of `store` into a fresh store and into one holding
/// other data; both must become indistinguishable from `store`.
fn check_snapshot(store: &Store) -> Vec<String> {
    let want = Fingerprint::of(store);
    let body = store.snapshot().expect("snapshot");

    let fresh = open_mem();
    fresh
        .install_snapshot(&body)
        .expect("install into fresh store");
    assert_eq!(Fingerprint::of(&fresh), want, "fresh store after install");
    assert_eq!(*fresh.subscribe().borrow(), want.revision);

    let busy = open_mem();
    let junk = [
        Op::Put(PutRequest {
            key: b"junk".to_vec(),
            value: b"x".to_vec(),
            ..Default::default()
        }),
        Op::LeaseGrant(LeaseGrantRequest { id: 4242, ttl: 60 }),
        Op::Alarm(AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: 9,
            alarm: AlarmType::Corrupt as i32,
        }),
    ];
    for (i, op) in junk.into_iter().enumerate() {
        let req = RaftRequest {
            id: 0,
            op: Some(op),
            proposed_at_ms: 0,
            ..Default::default()
        };
        busy.apply(1000 + i as u64, 7, &req).expect("junk apply");
    }
    busy.install_snapshot(&body).expect("install over data");
    assert_eq!(Fingerprint::of(&busy), want, "busy store after install");

    // A damaged body is refused and leaves the target alone.
    let truncated = &body[..body.len() - 1];
    assert!(matches!(
        busy.install_snapshot(truncated),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        Fingerprint::of(&busy),
        want,
        "refused snapshot changed the store"
    );

    // Backups are padded to 512 bytes and carry a sha256 trailer; the padded
    // body still installs.
    let mut file = body.clone();
    snapshot::append_sha256(&mut file);
    assert_eq!(file.len() % 512, 32);
    let padded = snapshot::verify_sha256(&file).expect("verify");
    assert!(padded.starts_with(&body) && padded[body.len()..].iter().all(|&b| b == 0));
    let restored = open_mem();
    restored
        .install_snapshot(padded)
        .expect("install padded body");
    assert_eq!(
        Fingerprint::of(&restored),
        want,
        "store restored from backup"
    );
    let last = file.len() - 1;
    file[last] ^= 1;
    assert!(snapshot::verify_sha256(&file).is_err());

    vec![format!(
        "installed: rev={} compacted={} applied_index={}",
        want.revision, want.compacted, want.applied_index
    )]
}

// ---------------------------------------------------------------------------
// Parsing commands
// ---------------------------------------------------------------------------

fn tokenize(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// Decodes `""` (empty) and `\xNN` escapes.
fn unescape(tok: &str) -> Vec<u8> {
    if tok == "\"\"" {
        return Vec::new();
    }
    let b = tok.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1] == b'x' {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex escape");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The range end of all keys with prefix `key` (etcd's `GetPrefixRangeEnd`).
fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Positional arguments and `name` / `name=value` options of a command.
struct Args {
    pos: Vec<String>,
    opts: Vec<(String, Option<String>)>,
}

const FLAGS: &[&str] = &[
    "prev_kv",
    "ignore_value",
    "ignore_lease",
    "keys_only",
    "count_only",
    "prefix",
    "fromkey",
    "novalidate",
    "readonly",
];

impl Args {
    fn parse(toks: &[String]) -> Self {
        let mut args = Args {
            pos: Vec::new(),
            opts: Vec::new(),
        };
        for t in toks {
            if FLAGS.contains(&t.as_str()) {
                args.opts.push((t.clone(), None));
            } else if let Some((k, v)) = t.split_once('=').filter(|(k, _)| !k.is_empty()) {
                args.opts.push((k.to_string(), Some(v.to_string())));
            } else {
                args.pos.push(t.clone());
            }
        }
        args
    }

    fn pos(&self, i: usize) -> &str {
        self.pos
            .get(i)
            .unwrap_or_else(|| panic!("missing argument {i}"))
    }

    fn pos_i64(&self, i: usize) -> i64 {
        self.pos(i).parse().expect("integer argument")
    }

    fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(k, v)| k == name && v.is_none())
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(k, v)| k == name && v.is_some())
            .and_then(|(_, v)| v.as_deref())
    }

    fn opt_i64(&self, name: &str) -> Option<i64> {
        self.opt(name).map(|v| v.parse().expect("integer option"))
    }

    fn opt_u64(&self, name: &str) -> Option<u64> {
        self.opt(name).map(|v| v.parse().expect("integer option"))
    }

    fn key(&self) -> Vec<u8> {
        unescape(self.pos(0))
    }

    fn range_end(&self) -> Vec<u8> {
        if self.flag("prefix") {
            prefix_end(&self.key())
        } else if self.flag("fromkey") {
            vec![0]
        } else {
            self.opt("end").map(unescape).unwrap_or_default()
        }
    }
}

fn parse_put(args: &Args) -> PutRequest {
    assert!(args.pos.len() <= 2, "put <key> [<value>]");
    PutRequest {
        key: args.key(),
        value: args.pos.get(1).map(|v| unescape(v)).unwrap_or_default(),
        lease: args.opt_i64("lease").unwrap_or(0),
        prev_kv: args.flag("prev_kv"),
        ignore_value: args.flag("ignore_value"),
        ignore_lease: args.flag("ignore_lease"),
    }
}

fn parse_del(args: &Args) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: args.key(),
        range_end: args.range_end(),
        prev_kv: args.flag("prev_kv"),
    }
}

fn parse_get(args: &Args) -> RangeRequest {
    let (target, order) = match args.opt("sort") {
        None => (SortTarget::Key, SortOrder::None),
        Some(s) => {
            let (t, o) = s.split_once(',').unwrap_or((s, "none"));
            let target = match t {
                "key" => SortTarget::Key,
                "version" => SortTarget::Version,
                "create" => SortTarget::Create,
                "mod" => SortTarget::Mod,
                "value" => SortTarget::Value,
                _ => panic!("unknown sort target {t}"),
            };
            let order = match o {
                "none" => SortOrder::None,
                "asc" => SortOrder::Ascend,
                "desc" => SortOrder::Descend,
                _ => panic!("unknown sort order {o}"),
            };
            (target, order)
        }
    };
    RangeRequest {
        key: args.key(),
        range_end: args.range_end(),
        limit: args.opt_i64("limit").unwrap_or(0),
        revision: args.opt_i64("rev").unwrap_or(0),
        sort_order: order as i32,
        sort_target: target as i32,
        serializable: false,
        keys_only: args.flag("keys_only"),
        count_only: args.flag("count_only"),
        min_mod_revision: args.opt_i64("min_mod").unwrap_or(0),
        max_mod_revision: args.opt_i64("max_mod").unwrap_or(0),
        min_create_revision: args.opt_i64("min_create").unwrap_or(0),
        max_create_revision: args.opt_i64("max_create").unwrap_or(0),
    }
}

fn parse_op(toks: &[String]) -> RequestOp {
    let args = Args::parse(&toks[1..]);
    let request = match toks[0].as_str() {
        "put" => Request::RequestPut(parse_put(&args)),
        "get" => Request::RequestRange(parse_get(&args)),
        "del" => Request::RequestDeleteRange(parse_del(&args)),
        op => panic!("unknown txn op {op}"),
    };
    RequestOp {
        request: Some(request),
    }
}

/// `cmp <target> <key> [end=..|prefix|fromkey] <op> <value>`
fn parse_cmp(toks: &[String]) -> Compare {
    assert!(toks.len() >= 4, "cmp <target> <key> [range] <op> <value>");
    let (op, value) = (&toks[toks.len() - 2], &toks[toks.len() - 1]);
    let args = Args::parse(&toks[1..toks.len() - 2]);
    let result = match op.as_str() {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        _ => panic!("unknown compare op {op}"),
    };
    let int = || value.parse::<i64>().expect("integer compare value");
    let (target, union) = match toks[0].as_str() {
        "value" => (CompareTarget::Value, TargetUnion::Value(unescape(value))),
        "version" => (CompareTarget::Version, TargetUnion::Version(int())),
        "create" => (CompareTarget::Create, TargetUnion::CreateRevision(int())),
        "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(int())),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(int())),
        t => panic!("unknown compare target {t}"),
    };
    Compare {
        result: result as i32,
        target: target as i32,
        key: args.key(),
        range_end: args.range_end(),
        target_union: Some(union),
    }
}

fn parse_txn<'a>(lines: &mut impl Iterator<Item = &'a String>, nested: bool) -> TxnRequest {
    let mut t = TxnRequest::default();
    while let Some(line) = lines.next() {
        let toks = tokenize(line);
        match toks[0].as_str() {
            "cmp" => t.compare.push(parse_cmp(&toks[1..])),
            "then" | "else" => {
                let op = if toks[1] == "txn" {
                    RequestOp {
                        request: Some(Request::RequestTxn(parse_txn(lines, true))),
                    }
                } else {
                    parse_op(&toks[1..])
                };
                if toks[0] == "then" {
                    t.success.push(op);
                } else {
                    t.failure.push(op);
                }
            }
            "end" if nested => return t,
            _ => panic!("bad txn line: {line}"),
        }
    }
    assert!(!nested, "nested txn without end");
    t
}

// ---------------------------------------------------------------------------
// Rendering results
// ---------------------------------------------------------------------------

fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn fmt_kv(kv: &KeyValue) -> String {
    let mut s = format!(
        "{}=\"{}\" create={} mod={} ver={}",
        esc(&kv.key),
        esc(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version
    );
    if kv.lease != 0 {
        write!(s, " lease={}", kv.lease).unwrap();
    }
    s
}

fn rev_of(h: &Option<ResponseHeader>) -> String {
    match h {
        None => "none".into(),
        Some(h) => {
            assert_eq!((h.cluster_id, h.member_id, h.raft_term), (0, 0, 0));
            h.revision.to_string()
        }
    }
}

fn render_applied(r: Result<Applied, StoreError>) -> Vec<String> {
    match r {
        Err(e) => vec![format!("error: {e}")],
        Ok(Applied::Nothing) => vec!["nothing".into()],
        Ok(Applied::Put(p)) => render_put(&p),
        Ok(Applied::DeleteRange(d)) => render_del(&d),
        Ok(Applied::Txn(t)) => render_txn(&t),
        Ok(Applied::Compaction(c)) => vec![format!("rev={}", rev_of(&c.header))],
        Ok(Applied::LeaseGrant(g)) => vec![format!(
            "id={} ttl={} rev={}{}",
            g.id,
            g.ttl,
            rev_of(&g.header),
            if g.error.is_empty() {
                String::new()
            } else {
                format!(" error={}", g.error)
            }
        )],
        Ok(Applied::LeaseRevoke(r)) => vec![format!("rev={}", rev_of(&r.header))],
        Ok(Applied::Alarm(a)) => {
            let mut out = vec![format!("rev={}", rev_of(&a.header))];
            for m in &a.alarms {
                out.push(format!("alarm member={} type={}", m.member_id, m.alarm));
            }
            out
        }
        Ok(Applied::Auth { auth_revision }) => vec![format!("auth_revision={auth_revision}")],
        Ok(Applied::Authenticated { user, token }) => {
            vec![format!("authenticated user={user} token={token}")]
        }
    }
}

fn render_put(p: &PutResponse) -> Vec<String> {
    let mut out = vec![format!("rev={}", rev_of(&p.header))];
    if let Some(prev) = &p.prev_kv {
        out.push(format!("prev_kv: {}", fmt_kv(prev)));
    }
    out
}

fn render_del(d: &DeleteRangeResponse) -> Vec<String> {
    let mut out = vec![format!("rev={} deleted={}", rev_of(&d.header), d.deleted)];
    for kv in &d.prev_kvs {
        out.push(format!("prev_kv: {}", fmt_kv(kv)));
    }
    out
}

fn render_range(r: &RangeResponse) -> Vec<String> {
    let mut out = vec![format!(
        "rev={} count={} more={}",
        rev_of(&r.header),
        r.count,
        r.more
    )];
    out.extend(r.kvs.iter().map(fmt_kv));
    out
}

fn render_txn(t: &TxnResponse) -> Vec<String> {
    let mut out = vec![format!(
        "succeeded={} rev={}",
        t.succeeded,
        rev_of(&t.header)
    )];
    for r in &t.responses {
        let (label, lines) = match &r.response {
            Some(Response::ResponsePut(p)) => ("put", render_put(p)),
            Some(Response::ResponseRange(g)) => ("get", render_range(g)),
            Some(Response::ResponseDeleteRange(d)) => ("del", render_del(d)),
            Some(Response::ResponseTxn(t)) => ("txn", render_txn(t)),
            None => ("none", vec![String::new()]),
        };
        out.push(format!("{label}: {}", lines[0]));
        out.extend(lines[1..].iter().map(|l| format!("  {l}")));
    }
    out
}

fn render_events(evs: &[RevisionEvents]) -> Vec<String> {
    let mut out = Vec::new();
    for rev in evs {
        out.push(format!("rev={}", rev.revision));
        for e in &rev.events {
            let kind = match EventType::try_from(e.r#type) {
                Ok(EventType::Put) => "PUT",
                Ok(EventType::Delete) => "DELETE",
                Err(_) => "?",
            };
            let kv = e.kv.as_ref().map_or("none".into(), fmt_kv);
            out.push(format!("  {kind} {kv}"));
            if let Some(prev) = &e.prev_kv {
                out.push(format!("    prev_kv: {}", fmt_kv(prev)));
            }
        }
    }
    out
}

fn render_leases(store: &Store) -> Vec<String> {
    let leases = store.leases();
    if leases.is_empty() {
        return vec!["no leases".into()];
    }
    leases
        .into_iter()
        .map(|(id, ttl)| {
            let entry = store.lease(id).expect("listed lease exists");
            assert_eq!(entry.ttl, ttl);
            let keys: Vec<String> = entry.keys.iter().map(|k| esc(k)).collect();
            format!("lease {id} ttl={ttl} keys=[{}]", keys.join(" "))
        })
        .collect()
}
