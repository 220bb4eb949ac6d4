//! The etcd v3 API client mode (`ETCDCTL_API` unset or `3`): resolves the
//! command line against the command tree the way cobra does, parses flags
//! with pflag semantics, prints usage/help, and runs the command handler.

mod alarm;
mod argify;
mod auth;
mod check;
mod check_datascale;
mod client;
mod command_tree;
mod commands;
mod compaction;
mod compare;
mod concurrency;
mod defrag;
mod del;
mod elect;
mod endpoint;
mod error;
mod flags;
mod get;
mod global;
mod gofmt;
mod lease;
mod lock;
pub(crate) mod logline;
mod member;
mod metrics;
mod mirror;
mod move_leader;
mod password;
mod printer;
mod put;
mod role;
mod snapshot;
mod snapshot_file;
mod tabwriter;
mod tls;
mod txn;
pub(crate) mod urls;
mod usage;
mod user;
mod util;
mod version;
mod watch;

use std::future::Future;
use std::io::Write;

use commands::{Command, ROOT};
use error::{CtlError, CtlResult, EXIT_ERROR};
use flags::{FlagSet, Spec};

/// Command-line words: bytes, as Go strings need not be UTF-8.
pub type Args = Vec<Vec<u8>>;

/// A resolved command line, handed to the command handler.
pub struct Invocation {
    /// The command path, root first.
    pub path: Vec<&'static Command>,
    /// Parsed flags (local and inherited) and positional arguments.
    pub flags: FlagSet,
    /// The process arguments (without the program name), for `watch`.
    pub raw_args: Vec<Vec<u8>>,
}

impl Invocation {
    /// Positional arguments, as bytes (Go strings need not be UTF-8).
    pub fn args(&self) -> &[Vec<u8>] {
        &self.flags.args
    }

    /// Positional arguments as text, for names and numbers (bytes that are
    /// not UTF-8 become U+FFFD).
    pub fn str_args(&self) -> Vec<String> {
        self.args()
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// `etcdctl lease grant`.
    pub fn command_path(&self) -> String {
        usage::command_path(&self.path)
    }

    /// Runs a future to completion on a fresh single-threaded runtime.
    pub fn block_on<F: Future>(&self, fut: F) -> CtlResult<F::Output> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CtlError::new(EXIT_ERROR, e.to_string()))?;
        Ok(rt.block_on(fut))
    }
}

/// Runs etcdctl v3 with the given arguments and returns the exit code.
pub fn run(args: Vec<Vec<u8>>) -> i32 {
    let result = execute(&args);
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => 0,
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&e.stderr_text());
            let _ = err.flush();
            e.code
        }
    }
}

/// All flags a command accepts: its own, inherited ones, and `--help`.
fn flag_specs(path: &[&'static Command]) -> Vec<Spec> {
    let mut specs = usage::local_flags(path);
    specs.extend(usage::inherited_flags(path));
    specs
}

/// cobra's `stripFlags`: the non-flag words of `args`.
/// Whether `s` is a flag whose value is the next word (`--name v`, `-n v`),
/// as cobra decides when it looks for subcommand words.
fn flag_takes_value(s: &[u8], fs: &FlagSet) -> bool {
    let has_eq = s.contains(&b'=');
    if let Some(name) = s.strip_prefix(b"--") {
        !has_eq && fs.is_bool(name) != Some(true)
    } else {
        // cobra checks the length in bytes and looks up the first byte.
        s.first() == Some(&b'-')
            && !has_eq
            && s.len() == 2
            && fs.is_short_bool(s[1] as char) != Some(true)
    }
}

fn strip_flags(args: &[Vec<u8>], fs: &FlagSet) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        i += 1;
        if s == b"--" {
            break;
        }
        let takes_value = flag_takes_value(s, fs);
        if takes_value {
            if args.len() - i <= 1 {
                break;
            }
            i += 1;
        } else if !s.is_empty() && s[0] != b'-' {
            words.push(s.clone());
        }
    }
    words
}

/// cobra's `argsMinusFirstX`: `args` without the first word equal to `x`.
fn args_minus_first(args: &[Vec<u8>], x: &[u8], fs: &FlagSet) -> Vec<Vec<u8>> {
    let mut pos = 0;
    while pos < args.len() {
        let s = &args[pos];
        if s == b"--" {
            break;
        }
        let takes_value = flag_takes_value(s, fs);
        if takes_value {
            pos += 2;
            continue;
        }
        if s.first() != Some(&b'-') && s == x {
            let mut out = args[..pos].to_vec();
            out.extend_from_slice(&args[pos + 1..]);
            return out;
        }
        pos += 1;
    }
    args.to_vec()
}

/// cobra's `Find`: the command named by `args` and the remaining args.
fn find(args: &[Vec<u8>]) -> Result<(Vec<&'static Command>, Args), Vec<u8>> {
    let mut path: Vec<&'static Command> = vec![&ROOT];
    let mut rest = args.to_vec();
    loop {
        let fs = FlagSet::new(&flag_specs(&path));
        let words = strip_flags(&rest, &fs);
        let Some(word) = words.first() else { break };
        let current = path[path.len() - 1];
        match commands::find_next(current, word) {
            Some(next) => {
                rest = args_minus_first(&rest, word, &fs);
                path.push(next);
            }
            None => break,
        }
    }
    if path.len() == 1 {
        let fs = FlagSet::new(&flag_specs(&path));
        if let Some(word) = strip_flags(&rest, &fs).first() {
            return Err(format!(
                "unknown command {} for \"etcdctl\"{}",
                gofmt::quote(word),
                commands::suggestions(&ROOT, &gofmt::go_runes(word))
            )
            .into_bytes());
        }
    }
    Ok((path, rest))
}

fn print_usage(path: &[&'static Command]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(usage::render(path).as_bytes());
    let _ = out.flush();
}

/// Writes raw bytes to stderr.
fn eprint_bytes(parts: &[&[u8]]) {
    let mut err = std::io::stderr().lock();
    for p in parts {
        let _ = err.write_all(p);
    }
    let _ = err.flush();
}

fn execute(args: &[Vec<u8>]) -> CtlResult {
    let (path, rest) = match find(args) {
        Ok(found) => found,
        Err(msg) => {
            eprint_bytes(&[b"Error: ", &msg, b"\nRun 'etcdctl --help' for usage.\n"]);
            return Err(CtlError::new(EXIT_ERROR, msg));
        }
    };
    let mut fs = FlagSet::new(&flag_specs(&path));
    if let Err(msg) = fs.parse(&rest) {
        eprint_bytes(&[b"Error: ", &msg, b"\n"]);
        print_usage(&path);
        eprintln!();
        return Err(CtlError::new(EXIT_ERROR, msg));
    }
    let cmd = path[path.len() - 1];
    let Some(run) = cmd.run.filter(|_| !fs.get_bool("help")) else {
        print_usage(&path);
        return Ok(());
    };
    let inv = Invocation {
        path,
        flags: fs,
        raw_args: args.to_vec(),
    };
    run(&inv)
}

/// cobra's `help` command: prints the usage of the named command.
pub fn help_command(inv: &Invocation) -> CtlResult {
    match find(inv.args()) {
        Ok((path, _)) => print_usage(&path),
        Err(_) => {
            // cobra: `Unknown help topic %#q` of the arguments.
            let topic: Vec<String> = inv.args().iter().map(|a| gofmt::quote_sharp(a)).collect();
            eprintln!("Unknown help topic [{}]", topic.join(" "));
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(usage::render_with(&[&ROOT], false).as_bytes());
        }
    }
    Ok(())
}
