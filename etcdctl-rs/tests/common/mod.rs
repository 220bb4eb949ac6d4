//! Shared harness of the differential tests: starts real etcd servers on
//! free loopback ports (killed on drop), runs the same command lines with
//! the Go `etcdctl` and with `etcdctl-rs`, masks what legitimately differs
//! between two clusters (ids, ports, lease ids, raft terms, timings, log
//! timestamps) and compares stdout, stderr and exit codes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// A single-member etcd on loopback, removed when dropped.
pub struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    pub client_port: u16,
    pub peer_port: u16,
    pub cluster_id: u64,
    pub member_id: u64,
}

/// How to launch one member.
pub struct Member<'a> {
    pub bin: &'a str,
    pub name: &'a str,
    /// The data dir (inside `dir` or `dir` itself).
    pub data_dir: &'a Path,
    pub client_port: u16,
    pub peer_port: u16,
    pub initial_cluster: &'a str,
}

impl Etcd {
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let client_port = free_port();
        let peer_port = free_port();
        let cluster = format!("default=http://127.0.0.1:{peer_port}");
        let data_dir = dir.path().to_path_buf();
        let mut etcd = Etcd::spawn(
            &Member {
                bin: ETCD,
                name: "default",
                data_dir: &data_dir,
                client_port,
                peer_port,
                initial_cluster: &cluster,
            },
            dir,
        );
        etcd.wait_ready();
        etcd
    }

    /// A single-member etcd serving the v2 API too (`--enable-v2`).
    pub fn start_v2() -> Etcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let client_port = free_port();
        let peer_port = free_port();
        let cluster = format!("default=http://127.0.0.1:{peer_port}");
        let data_dir = dir.path().to_path_buf();
        let member = Member {
            bin: ETCD,
            name: "default",
            data_dir: &data_dir,
            client_port,
            peer_port,
            initial_cluster: &cluster,
        };
        let mut etcd = Etcd::spawn_with(&member, dir, &["--enable-v2"]);
        etcd.wait_ready();
        etcd
    }

    /// Launches a member without waiting for it; `dir` is removed on drop.
    pub fn spawn(m: &Member, dir: tempfile::TempDir) -> Etcd {
        Etcd::spawn_with(m, dir, &[])
    }

    /// [`Etcd::spawn`] with extra server flags.
    pub fn spawn_with(m: &Member, dir: tempfile::TempDir, extra: &[&str]) -> Etcd {
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let child = Command::new(m.bin)
            .args(["--name", m.name])
            .arg("--data-dir")
            .arg(m.data_dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", m.initial_cluster])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd");
        Etcd {
            child,
            _dir: dir,
            client_port: m.client_port,
            peer_port: m.peer_port,
            cluster_id: 0,
            member_id: 0,
        }
    }

    /// Starts an `n`-member Go etcd cluster on loopback.
    pub fn start_cluster(n: usize) -> Vec<Etcd> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let cluster: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
            .collect();
        let cluster = cluster.join(",");
        let mut members: Vec<Etcd> = ports
            .iter()
            .enumerate()
            .map(|(i, (c, p))| {
                let dir = tempfile::tempdir().expect("temp dir");
                let data_dir = dir.path().to_path_buf();
                let name = format!("m{i}");
                Etcd::spawn(
                    &Member {
                        bin: ETCD,
                        name: &name,
                        data_dir: &data_dir,
                        client_port: *c,
                        peer_port: *p,
                        initial_cluster: &cluster,
                    },
                    dir,
                )
            })
            .collect();
        for m in &mut members {
            m.wait_ready();
        }
        members
    }

    /// The process id, to signal the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// Polls until the server answers a status request (at most 30s).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = self.endpoint();
        while Instant::now() < deadline {
            if TcpStream::connect(&addr).is_ok() {
                let out = Command::new(GO_ETCDCTL)
                    .args(["--endpoints", &addr, "--command-timeout=1s"])
                    .args(["endpoint", "status", "-w", "fields"])
                    .output()
                    .expect("run etcdctl");
                let text = String::from_utf8_lossy(&out.stdout);
                if out.status.success() {
                    self.cluster_id = field(&text, "ClusterID");
                    self.member_id = field(&text, "MemberID");
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("etcd on {addr} did not become ready");
    }
}

fn field(text: &str, name: &str) -> u64 {
    let prefix = format!("\"{name}\" : ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Masks timings, timestamps, UUIDs, raft terms and Go stack traces.
/// Replaces `from` with `to` where it stands alone: not inside a longer run
/// of letters and digits. A port such as 33333 must not be found inside a
/// value of a million `3`s.
pub fn replace_token(s: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let word = |i: usize| bytes[i].is_ascii_alphanumeric();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(pos) = s[at..].find(from) {
        let start = at + pos;
        let end = start + from.len();
        let alone = (start == 0 || !word(start - 1)) && (end == bytes.len() || !word(end));
        if alone {
            out.push_str(&s[copied..start]);
            out.push_str(to);
            copied = end;
            at = end;
        } else {
            at = start + 1;
            while !s.is_char_boundary(at) {
                at += 1;
            }
        }
    }
    out.push_str(&s[copied..]);
    out
}

pub fn mask_volatile(s: &str) -> String {
    let mut out = String::new();
    for line in s.split_inclusive('\n') {
        if line.starts_with('\t') && out.contains("goroutine ") {
            continue;
        }
        let mut l = line.to_string();
        l = replace_after(&l, "\"ts\":", |c| c != ',');
        l = replace_after(&l, "client-", |c| c.is_ascii_hexdigit() || c == '-');
        l = replace_after(&l, "took = ", |c| !c.is_whitespace());
        l = replace_after(&l, "\"took\":", |c| c != ',' && c != '}');
        l = replace_after(&l, "\"Took\" : ", |c| c != '\n');
        l = replace_after(&l, "\"raft_term\":", |c| c.is_ascii_digit());
        l = replace_after(&l, "\"RaftTerm\" : ", |c| c.is_ascii_digit());
        if l.len() > 26 && l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b' ' && l.contains(" | ")
        {
            l = format!("<TS>{}", &l[26..]);
        }
        if l.starts_with("[signal") || l.starts_with("main.main") || l.contains(".go:") {
            continue;
        }
        out.push_str(&l);
    }
    out
}

/// Replaces the run of characters after each `marker` accepted by `keep`.
fn replace_after(s: &str, marker: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let end = rest.find(|c| !keep(c)).unwrap_or(rest.len());
        out.push('*');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
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

/// Tables whose cells hold masked IDs: the two sides' IDs differ, and so
/// may their hex widths (Go prints no leading zeros) and with them the
/// column widths, so runs of padding and rule dashes are collapsed there.
/// Tables without masked values keep their exact widths.
pub fn masked_table_widths(s: &str) -> String {
    if !["<MID>", "<CID>", "<ID>"].iter().any(|m| s.contains(m)) {
        return s.to_string();
    }
    s.split_inclusive('\n')
        .map(|line| {
            if !(line.starts_with("+-") || line.starts_with("| ")) {
                return line.to_string();
            }
            let mut out = String::new();
            for c in line.chars() {
                if (c == ' ' || c == '-') && out.ends_with(c) {
                    continue;
                }
                out.push(c);
            }
            out
        })
        .collect()
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

/// A client running in the background with its output in files; killed
/// (SIGKILL) when dropped if it is still running.
pub struct Proc {
    child: Child,
    _dir: tempfile::TempDir,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
    pub code: Option<i32>,
}

impl Proc {
    /// Starts `bin` with `args` (no `--endpoints` added).
    pub fn spawn(bin: &str, args: &[&str]) -> Proc {
        Proc::spawn_env(bin, args, &[])
    }

    /// [`Proc::spawn`] with extra environment variables.
    pub fn spawn_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("out");
        let err = dir.path().join("err");
        let child = Command::new(bin)
            .args(args)
            .env_remove("ETCDCTL_API")
            .env_remove("ETCDCTL_ENDPOINTS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn client");
        Proc {
            child,
            _dir: dir,
            out,
            err,
            code: None,
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read(&self.out)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read(&self.err)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits (at most `limit`) until stdout has `lines` lines.
    pub fn wait_lines(&mut self, lines: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.stdout().lines().count() >= lines {
                return true;
            }
            if self.exited() {
                return self.stdout().lines().count() >= lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the process has exited (recording its exit code).
    pub fn exited(&mut self) -> bool {
        if self.code.is_some() {
            return true;
        }
        match self.child.try_wait() {
            Ok(Some(s)) => {
                self.code = Some(s.code().unwrap_or(-1));
                true
            }
            _ => false,
        }
    }

    /// Sends SIGINT (as Ctrl-C would) to this process only.
    pub fn interrupt(&self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
    }

    /// Waits (at most `limit`) for the exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.exited() {
                return self.code;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Masks runs of 12 or more lowercase hex digits (lease and member ids).
pub fn mask_ids(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once('\u{0}')) {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            run.push(c);
            continue;
        }
        if run.len() >= 12 {
            out.push_str("<ID>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\u{0}' {
            out.push(c);
        }
    }
    out
}

/// Runs a client to completion (bounded) and returns (stdout, stderr, code).
pub fn run_client(bin: &str, args: &[&str]) -> (String, String, Option<i32>) {
    let mut p = Proc::spawn(bin, args);
    let code = p.wait_exit(Duration::from_secs(60));
    (p.stdout(), p.stderr(), code)
}

/// The etcd-rs server binary: `ETCD_RS_BIN` or `<target>/debug/etcd-rs`
/// (build it first with `cargo build -p raft-node --bin etcd-rs`).
pub fn etcd_rs_bin() -> String {
    let path = std::env::var_os("ETCD_RS_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
                });
            target.join("debug/etcd-rs")
        });
    assert!(
        path.is_file(),
        "{} does not exist: build it with `cargo build -p raft-node --bin etcd-rs`",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

impl Etcd {
    /// A single-member etcd-rs (see [`etcd_rs_bin`]) on loopback.
    pub fn start_rs() -> Etcd {
        let bin = etcd_rs_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        let client_port = free_port();
        let peer_port = free_port();
        let cluster = format!("default=http://127.0.0.1:{peer_port}");
        let data_dir = dir.path().join("data");
        let mut etcd = Etcd::spawn(
            &Member {
                bin: &bin,
                name: "default",
                data_dir: &data_dir,
                client_port,
                peer_port,
                initial_cluster: &cluster,
            },
            dir,
        );
        etcd.wait_ready();
        etcd
    }
}

/// A real etcd with an https client URL, the server certificate of the
/// `etcd-certs` PKI in `pki`, and `--client-cert-auth`; killed on drop.
pub struct TlsEtcd {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
    pub pki: std::path::PathBuf,
}

impl TlsEtcd {
    /// Starts it (with `extra` server flags) without waiting.
    pub fn spawn(pki: &Path, extra: &[&str]) -> TlsEtcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let peer = free_port();
        let client_url = format!("https://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new(ETCD)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .arg("--cert-file")
            .arg(pki.join("server.pem"))
            .arg("--key-file")
            .arg(pki.join("server-key.pem"))
            .arg("--trusted-ca-file")
            .arg(pki.join("ca.pem"))
            .arg("--client-cert-auth")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd");
        TlsEtcd {
            child,
            _dir: dir,
            port,
            pki: pki.to_path_buf(),
        }
    }

    /// The v3 TLS flags of the root client certificate.
    pub fn root_flags(&self) -> Vec<String> {
        let p = |f: &str| self.pki.join(f).to_string_lossy().into_owned();
        vec![
            format!("--cacert={}", p("ca.pem")),
            format!("--cert={}", p("client-root.pem")),
            format!("--key={}", p("client-root-key.pem")),
        ]
    }

    /// Polls (at most 30s) until the Go etcdctl can read over mTLS.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let ep = format!("--endpoints=127.0.0.1:{}", self.port);
        while Instant::now() < deadline {
            let ok = Command::new(GO_ETCDCTL)
                .arg(&ep)
                .args(self.root_flags())
                .args(["--dial-timeout=1s", "endpoint", "health"])
                .env_remove("ETCDCTL_API")
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("etcd with TLS on port {} did not become ready", self.port);
    }
}

impl Drop for TlsEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
