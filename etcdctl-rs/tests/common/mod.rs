//! Shared harness of the differential tests: starts real etcd servers on
//! free loopback ports (killed on drop), runs the same command lines with
//! the Go `etcdctl` and with `etcdctl-rs`, masks what legitimately differs
//! between two clusters (ids, ports, lease ids, raft terms, timings, log
//! timestamps) and compares stdout, stderr and exit codes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod masks;
mod servers;

pub use masks::*;
pub use servers::*;

pub const GO_ETCDCTL: &str = "/usr/bin/etcdctl";
pub const ETCD: &str = "/usr/bin/etcd";
pub const RS_ETCDCTL: &str = env!("CARGO_BIN_EXE_etcdctl-rs");

/// The reference binaries must exist: a missing peer fails the test rather
/// than letting it pass untested (`scripts/test-all` installs Debian's
/// etcd-client and etcd-server).
pub fn reference_available() -> bool {
    assert!(
        Path::new(GO_ETCDCTL).exists() && Path::new(ETCD).exists(),
        "{GO_ETCDCTL} and {ETCD} are required: install Debian's etcd-client and etcd-server \
         (scripts/test-all does)"
    );
    true
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// One command line of a differential test.
#[derive(Clone, Copy)]
pub struct Case {
    /// Arguments, whitespace separated; `$LEASE` is the last granted lease.
    pub args: &'static str,
    pub stdin: &'static str,
    pub env: &'static [(&'static str, &'static str)],
}

/// A case with no stdin and no extra environment.
pub const fn case(args: &'static str) -> Case {
    Case {
        args,
        stdin: "",
        env: &[],
    }
}

/// A case fed `stdin`.
pub const fn with_stdin(args: &'static str, stdin: &'static str) -> Case {
    Case {
        args,
        stdin,
        env: &[],
    }
}

/// A case with extra environment variables.
pub const fn with_env(args: &'static str, env: &'static [(&'static str, &'static str)]) -> Case {
    Case {
        args,
        stdin: "",
        env,
    }
}

/// The usual differential setup: a fresh etcd for the Go etcdctl and one
/// for etcdctl-rs. `None` when the reference binaries are not installed.
pub struct Pair {
    pub go_etcd: Etcd,
    pub rs_etcd: Etcd,
}

impl Pair {
    pub fn start() -> Option<Pair> {
        reference_available().then(|| Pair {
            go_etcd: Etcd::start(),
            rs_etcd: Etcd::start(),
        })
    }

    /// The Go etcdctl's side and etcdctl-rs's side.
    pub fn sides(&self) -> (Side<'_>, Side<'_>) {
        (
            Side::new(GO_ETCDCTL, &self.go_etcd),
            Side::new(RS_ETCDCTL, &self.rs_etcd),
        )
    }
}

/// One side of the comparison: a client binary and the etcd it talks to.
pub struct Side<'a> {
    pub bin: &'static str,
    pub etcd: &'a Etcd,
    /// Values captured from earlier outputs (e.g. `$LEASE`).
    pub vars: HashMap<&'static str, String>,
    /// A scratch directory, `$DIR` in arguments.
    pub dir: tempfile::TempDir,
}

impl<'a> Side<'a> {
    pub fn new(bin: &'static str, etcd: &'a Etcd) -> Self {
        Side {
            bin,
            etcd,
            vars: HashMap::new(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn expand(&self, args: &str) -> Vec<String> {
        args.split_whitespace()
            .map(|a| {
                let mut a = a
                    .replace("$EP", &self.etcd.endpoint())
                    .replace("$MID", &format!("{:x}", self.etcd.member_id))
                    .replace("$DIR", &self.dir.path().to_string_lossy());
                for (k, v) in &self.vars {
                    a = a.replace(&format!("${k}"), v);
                }
                a
            })
            .collect()
    }

    /// The arguments of a command line, with `--endpoints` pointing at
    /// this side's etcd unless the case sets it itself.
    fn command_args(&self, args: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !args.contains("--endpoints") {
            out.push(format!("--endpoints={}", self.etcd.endpoint()));
        }
        out.extend(self.expand(args));
        out
    }

    /// Runs a case.
    pub fn run(&mut self, c: &Case) -> Output {
        let mut cmd = Command::new(self.bin);
        cmd.args(self.command_args(c.args))
            .env_remove("ETCDCTL_API")
            .env_remove("ETCDCTL_ENDPOINTS")
            .envs(c.env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn client");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(c.stdin.as_bytes());
        }
        let out = wait_bounded(child, Duration::from_secs(30));
        if c.args.starts_with("lease grant") {
            if let Some(id) = granted_lease(&String::from_utf8_lossy(&out.stdout)) {
                self.vars.insert("LEASE", id);
            }
        }
        out
    }

    /// Replaces what differs between two clusters with placeholders.
    pub fn mask(&self, text: &str) -> String {
        let e = self.etcd;
        let mut s = text.to_string();
        if let Some(lease) = self.vars.get("LEASE") {
            if let Ok(dec) = i64::from_str_radix(lease, 16) {
                s = s.replace(&dec.to_string(), "<LEASE>");
            }
            s = s.replace(lease.as_str(), "<LEASE>");
        }
        s = s.replace(self.dir.path().to_string_lossy().as_ref(), "<DIR>");
        let pairs = [
            (e.cluster_id.to_string(), "<CID>"),
            (e.member_id.to_string(), "<MID>"),
            (format!("{:x}", e.cluster_id), "<CID>"),
            (format!("{:x}", e.member_id), "<MID>"),
            (format!("{:16x}", e.cluster_id), "<CID>"),
            (format!("{:16x}", e.member_id), "<MID>"),
            (e.client_port.to_string(), "<PORT>"),
            (e.peer_port.to_string(), "<PPORT>"),
        ];
        for (from, to) in pairs {
            s = replace_token(&s, from.trim_start(), to);
        }
        mask_volatile(&s)
    }
}

/// The lease id (hex) in `lease grant` output of any format.
fn granted_lease(stdout: &str) -> Option<String> {
    if let Some(rest) = stdout.strip_prefix("lease ") {
        return rest.split_whitespace().next().map(str::to_string);
    }
    let after = stdout
        .split_once("\"ID\":")
        .or_else(|| stdout.split_once("\"ID\" : "))?
        .1;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<i64>().ok().map(|v| format!("{v:x}"))
}

/// Waits for a child with a time bound, killing it when exceeded.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    child.wait_with_output().expect("collect output")
}

/// Runs every case on both sides and returns the mismatches.
pub fn compare_all(go: &mut Side, rs: &mut Side, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let g = go.run(c);
        let r = rs.run(c);
        let (gs, rs_) = (
            masked_table_widths(&go.mask(&String::from_utf8_lossy(&g.stdout))),
            masked_table_widths(&rs.mask(&String::from_utf8_lossy(&r.stdout))),
        );
        let (ge, re) = (
            go.mask(&String::from_utf8_lossy(&g.stderr)),
            rs.mask(&String::from_utf8_lossy(&r.stderr)),
        );
        if gs != rs_ || ge != re || g.status.code() != r.status.code() {
            failures.push(format!(
                "`{}`\n  go: rc={:?}\n  stdout: {gs:?}\n  stderr: {ge:?}\n  rs: rc={:?}\n  stdout: {rs_:?}\n  stderr: {re:?}",
                c.args,
                g.status.code(),
                r.status.code()
            ));
        }
    }
    failures
}

/// Fails the test with every mismatch listed.
pub fn assert_no_failures(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} command lines differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

impl Side<'_> {
    /// Starts a long-running command (e.g. `watch`), waits until its stdout
    /// has `lines` lines (at most 10s), then stops it and returns
    /// (stdout, stderr), masked.
    pub fn run_until_lines(&mut self, args: &str, lines: usize) -> (String, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let out_path = dir.path().join("out");
        let err_path = dir.path().join("err");
        let mut child = Command::new(self.bin)
            .args(self.command_args(args))
            .env_remove("ETCDCTL_API")
            .env_remove("ETCDCTL_ENDPOINTS")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("spawn client");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let n = std::fs::read_to_string(&out_path)
                .map(|s| s.lines().count())
                .unwrap_or(0);
            if n >= lines || matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let read = |p: &Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
        (
            self.mask(&read(&out_path).unwrap_or_default()),
            self.mask(&read(&err_path).unwrap_or_default()),
        )
    }
}

/// Compares a long-running command on both sides; see [`Side::run_until_lines`].
pub fn compare_streaming(go: &mut Side, rs: &mut Side, args: &str, lines: usize) -> Option<String> {
    let g = go.run_until_lines(args, lines);
    let r = rs.run_until_lines(args, lines);
    (g != r).then(|| format!("`{args}`\n  go: {g:?}\n  rs: {r:?}"))
}

/// Runs a client to completion (bounded) and returns (stdout, stderr, code).
pub fn run_client(bin: &str, args: &[&str]) -> (String, String, Option<i32>) {
    let mut p = Proc::spawn(bin, args);
    let code = p.wait_exit(Duration::from_secs(60));
    (p.stdout(), p.stderr(), code)
}
