//! Data-driven tests of the MVCC store against etcd 3.5's semantics.
//!
//! Each `testdata/*.txt` script is a goldenscript: blocks of commands, each
//! block followed by a `---` line and the expected output (up to the next
//! blank line). Every write is applied to two stores, one on sled in a temp
//! dir and one in memory, which must answer identically. `restart` reopens
//! the sled store and checks that nothing observable changed (reads at every
//! revision, leases, alarms, hashes, watch history); `snapshot` checks that
//! a snapshot installed elsewhere reproduces the same state; and at the end
//! of every script both stores must be indistinguishable.
//!
//! `UPDATE_GOLDENFILES=1 cargo test -p etcd-store --test datadriven`
//! regenerates the expectations. Review the diff by hand: the expectations
//! state what etcd does, they are not a record of what the store happens to
//! do.
//!
//! Keys and values are goldenscript strings, one character per byte: quote
//! anything beyond letters, digits and `_-./@` (`"\x00"`, `""` for empty,
//! `"="` for a compare operator). A block is one command, or a `txn` and
//! the lines of its body. Commands:
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

use std::error::Error;
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

/// Runs one script with goldenscript. A block's commands are collected and
/// run together when the block ends (a `txn` takes the lines after it).
struct ScriptRunner {
    harness: Harness,
    block: Vec<String>,
}

impl goldenscript::Runner for ScriptRunner {
    fn run(&mut self, command: &goldenscript::Command) -> Result<String, Box<dyn Error>> {
        self.block.push(command_line(command));
        Ok(String::new())
    }

    fn end_block(&mut self) -> Result<String, Box<dyn Error>> {
        let lines = std::mem::take(&mut self.block);
        let output = self.harness.run(&lines);
        assert!(
            output.iter().all(|l| !l.trim().is_empty()),
            "{}: output has a blank line",
            lines.join(" / ")
        );
        Ok(output.join("\n"))
    }

    fn end_script(&mut self) -> Result<(), Box<dyn Error>> {
        self.harness.check_stores_agree();
        Ok(())
    }
}

/// A command as the harness reads it: whitespace-separated tokens with
/// `name=value` options, bytes outside printable ASCII as `\xNN` and an
/// empty value as `""`. goldenscript has already decoded the script's
/// quoting; a key or value is a byte string, one character per byte.
fn command_line(command: &goldenscript::Command) -> String {
    let mut toks = vec![command.name.clone()];
    for arg in &command.args {
        let value = escape(&arg.value);
        toks.push(match &arg.key {
            Some(key) => format!("{key}={value}"),
            None => value,
        });
    }
    toks.join(" ")
}

fn escape(s: &str) -> String {
    if s.is_empty() {
        return "\"\"".into();
    }
    s.chars()
        .map(|c| {
            let byte = u8::try_from(u32::from(c))
                .unwrap_or_else(|_| panic!("{s:?}: one character per byte, up to \\xff"));
            if byte.is_ascii_graphic() && byte != b'\\' {
                char::from(byte).to_string()
            } else {
                format!("\\x{byte:02x}")
            }
        })
        .collect()
}

fn run_script(name: &str) {
    let mut runner = ScriptRunner {
        harness: Harness::new(),
        block: Vec::new(),
    };
    goldenscript::run(&mut runner, testdata().join(format!("{name}.txt")))
        .unwrap_or_else(|e| panic!("{name}.txt: {e}"));
}
