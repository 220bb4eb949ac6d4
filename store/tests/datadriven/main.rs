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

mod compare;
mod harness;
mod parse;
mod render;

use std::fs;
use std::path::{Path, PathBuf};

use harness::Harness;

pub(crate) const TERM: u64 = 1;
/// etcd's default `--max-txn-ops`.
pub(crate) const MAX_TXN_OPS: usize = 128;

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
