//! Starting etcd-compatible servers on loopback: a single member, or a
//! cluster of named members (`@cluster`) that can grow, shrink and lose
//! members while a script runs.
//!
//! Both the reference etcd and the server under test are launched with the
//! exact same etcd command-line flags, on freshly picked free ports and fresh
//! data directories, so that revisions and outputs can be compared.

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;
use tempfile::TempDir;

use crate::process::{run_with_timeout, Captured, ChildGuard, Outcome, POLL_INTERVAL};
use crate::script::ClusterSpec;

mod members;

#[cfg(test)]
use members::parse_leaders;
pub use members::{parse_member_list, MemberEntry, MemberList};

/// How long a server may take to answer `etcdctl endpoint health`.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// How long `@leader` may take to move and confirm the leadership.
pub const LEADER_DEADLINE: Duration = Duration::from_secs(15);

/// `--initial-cluster-token` of every `@cluster`.
pub const CLUSTER_TOKEN: &str = "interop-cluster";

/// Environment variable prefixes that must not leak into child processes:
/// etcd reads `ETCD_*` as flags and etcdctl reads `ETCDCTL_*`.
const SCRUBBED_ENV_PREFIXES: [&str; 2] = ["ETCD_", "ETCDCTL_"];

/// Removes inherited etcd/etcdctl configuration variables from `cmd`.
pub fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if SCRUBBED_ENV_PREFIXES.iter().any(|p| key_str.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
}

/// Runs etcdctl (v3 API, short timeouts) against `endpoints` for the harness
/// itself; the output is not compared.
pub fn etcdctl_raw(
    etcdctl: &Path,
    endpoints: &[String],
    args: &[&str],
) -> Result<Captured, String> {
    let mut cmd = Command::new(etcdctl);
    scrub_env(&mut cmd);
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(["--dial-timeout=1s", "--command-timeout=2s"])
        .args(args);
    run_with_timeout(cmd, None, Duration::from_secs(10)).map_err(|e| {
        format!(
            "cannot run `{}`: {e} (is etcdctl installed?)",
            etcdctl.display()
        )
    })
}

/// Where a member's process stands.
#[derive(Debug)]
pub enum MemberState {
    /// A `@spare` member that has not been started yet.
    NotStarted,
    Running(ChildGuard),
    /// Killed by `@kill`.
    Killed,
    /// Exited by itself (e.g. after being removed from the cluster).
    Exited(ExitStatus),
}

/// One server process of a deployment.
#[derive(Debug)]
pub struct Member {
    /// `n1`, `n2`, ... (`default` in single-member mode).
    pub name: String,
    /// `http://127.0.0.1:PORT` clients connect to.
    pub client_url: String,
    /// `http://127.0.0.1:PORT` of the peer listener.
    pub peer_url: String,
    pub client_port: u16,
    pub peer_port: u16,
    /// Part of the initial cluster (as opposed to a `@spare`).
    pub initial: bool,
    pub state: MemberState,
    data_dir: PathBuf,
    log_path: PathBuf,
    /// The flags of the last start, reused by `@restart`.
    args: Vec<String>,
}

impl Member {
    pub fn is_running(&self) -> bool {
        matches!(self.state, MemberState::Running(_))
    }

    /// `N1` for `n1`: the prefix of its script variables and placeholders.
    pub fn var_prefix(&self) -> String {
        self.name.to_uppercase()
    }
}

/// The reference etcd or the server under test: one member, or a cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Which server this is, for messages ("reference etcd", "server under test").
    pub label: String,
    /// Started by `@cluster` (as opposed to the classic single member).
    pub clustered: bool,
    /// All declared members: the initial ones first, then the spares.
    /// (Dropping a running member kills it.)
    pub members: Vec<Member>,
    /// Member IDs learnt so far, by member name.
    pub ids: BTreeMap<String, u64>,
    pub cluster_id: Option<u64>,
    /// Scratch directory for files commands write (e.g. snapshots).
    pub scratch_dir: PathBuf,
    binary: PathBuf,
    etcdctl: PathBuf,
    extra_flags: Vec<String>,
    // Declared after `members` on purpose: fields drop in order, so the
    // processes die before their directory is removed.
    dir: TempDir,
}

impl Cluster {
    /// Starts the deployment a script asks for: a single member named
    /// `default`, or the initial members of `spec`; waits until every member
    /// answers `etcdctl endpoint health` and, for a cluster, learns the member IDs.
    pub fn start(
        label: &str,
        binary: &Path,
        etcdctl: &Path,
        spec: Option<&ClusterSpec>,
        extra_flags: &[String],
    ) -> Result<Self, String> {
        // A port picked by binding :0 can be taken by someone else before the
        // server binds it; retry with new ports if that is why it died.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::start_once(label, binary, etcdctl, spec, extra_flags) {
                Ok(cluster) => return Ok(cluster),
                Err(StartError::Fatal(e)) => return Err(e),
                Err(StartError::Retry(e)) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn start_once(
        label: &str,
        binary: &Path,
        etcdctl: &Path,
        spec: Option<&ClusterSpec>,
        extra_flags: &[String],
    ) -> Result<Self, StartError> {
        let fatal = |what: &str, e: std::io::Error| StartError::Fatal(format!("{what}: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("interop-")
            .tempdir()
            .map_err(|e| fatal("cannot create temp dir", e))?;
        let scratch_dir = dir.path().join("scratch");
        std::fs::create_dir(&scratch_dir).map_err(|e| fatal("cannot create scratch dir", e))?;

        let (names, initial) = match spec {
            None => (vec!["default".to_string()], 1),
            Some(spec) => (spec.all_names(), spec.size),
        };
        let ports = free_ports(names.len() * 2).map_err(|e| fatal("cannot pick free ports", e))?;
        let members = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (client_port, peer_port) = (ports[2 * i], ports[2 * i + 1]);
                let data_dir = match spec {
                    None => dir.path().join("data"),
                    Some(_) => dir.path().join(format!("{name}.data")),
                };
                let log_path = match spec {
                    None => dir.path().join("server.log"),
                    Some(_) => dir.path().join(format!("{name}.log")),
                };
                Member {
                    name: name.clone(),
                    client_url: format!("http://127.0.0.1:{client_port}"),
                    peer_url: format!("http://127.0.0.1:{peer_port}"),
                    client_port,
                    peer_port,
                    initial: i < initial,
                    state: MemberState::NotStarted,
                    data_dir,
                    log_path,
                    args: Vec::new(),
                }
            })
            .collect();
        let mut cluster = Cluster {
            label: label.to_string(),
            clustered: spec.is_some(),
            members,
            ids: BTreeMap::new(),
            cluster_id: None,
            scratch_dir,
            binary: binary.to_path_buf(),
            etcdctl: etcdctl.to_path_buf(),
            extra_flags: extra_flags.to_vec(),
            dir,
        };

        let initial_cluster = cluster.members[..initial]
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        for i in 0..initial {
            let mut args = cluster.base_args(i, &initial_cluster);
            if cluster.clustered {
                args.extend(["--initial-cluster-state".to_string(), "new".to_string()]);
            }
            args.extend(cluster.extra_flags.iter().cloned());
            cluster.spawn(i, args).map_err(StartError::Fatal)?;
        }
        let deadline = Instant::now() + STARTUP_DEADLINE;
        for i in 0..initial {
            cluster.wait_ready(i, &["endpoint", "health"], deadline)?;
        }
        if cluster.clustered {
            cluster
                .learn_ids_until(deadline, |c| {
                    c.members
                        .iter()
                        .filter(|m| m.initial)
                        .all(|m| c.ids.contains_key(&m.name))
                })
                .map_err(StartError::Fatal)?;
        }
        Ok(cluster)
    }

    /// The flags every start of member `i` gets (identity, URLs, cluster).
    fn base_args(&self, i: usize, initial_cluster: &str) -> Vec<String> {
        let m = &self.members[i];
        let mut args: Vec<String> = [
            "--name",
            &m.name,
            "--data-dir",
            &m.data_dir.display().to_string(),
            "--listen-client-urls",
            &m.client_url,
            "--advertise-client-urls",
            &m.client_url,
            "--listen-peer-urls",
            &m.peer_url,
            "--initial-advertise-peer-urls",
            &m.peer_url,
            "--initial-cluster",
            initial_cluster,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.clustered {
            args.extend([
                "--initial-cluster-token".to_string(),
                CLUSTER_TOKEN.to_string(),
            ]);
        }
        args
    }

    fn spawn(&mut self, i: usize, args: Vec<String>) -> Result<(), String> {
        let label = self.label.clone();
        let binary = self.binary.clone();
        let m = &mut self.members[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log_path)
            .map_err(|e| format!("cannot create server log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot clone log handle: {e}"))?;
        let mut cmd = Command::new(&binary);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        scrub_env(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            format!(
                "{label}: cannot start member {} (`{}`): {e}",
                m.name,
                binary.display()
            )
        })?;
        m.args = args;
        m.state = MemberState::Running(ChildGuard::new(child));
        Ok(())
    }

    /// Polls `etcdctl <probe>` against member `i` until it succeeds.
    fn wait_ready(
        &mut self,
        i: usize,
        probe: &[&str],
        deadline: Instant,
    ) -> Result<(), StartError> {
        loop {
            if let Some(status) = self.poll_exit(i) {
                let message = format!(
                    "{} member {} exited during startup with {status}\n{}",
                    self.label,
                    self.members[i].name,
                    self.log_tail(i)
                );
                let port_taken = message.to_lowercase().contains("address already in use");
                return Err(if port_taken {
                    StartError::Retry(message)
                } else {
                    StartError::Fatal(message)
                });
            }
            let url = self.members[i].client_url.clone();
            let last = match etcdctl_raw(&self.etcdctl, std::slice::from_ref(&url), probe) {
                Ok(out) if out.outcome == Outcome::Exited(0) => return Ok(()),
                Ok(out) => format!("{}{}({})", out.stdout, out.stderr, out.outcome),
                Err(e) => return Err(StartError::Fatal(e)),
            };
            if Instant::now() >= deadline {
                return Err(StartError::Fatal(format!(
                    "{} member {} at {url} not ready after {}s; last `etcdctl {}`:\n{last}\n{}",
                    self.label,
                    self.members[i].name,
                    STARTUP_DEADLINE.as_secs(),
                    probe.join(" "),
                    self.log_tail(i)
                )));
            }
            std::thread::sleep(POLL_INTERVAL * 2);
        }
    }

    /// Records and returns the exit status if member `i` exited by itself.
    fn poll_exit(&mut self, i: usize) -> Option<ExitStatus> {
        let m = &mut self.members[i];
        let MemberState::Running(guard) = &mut m.state else {
            return None;
        };
        let status = guard.try_wait()?;
        m.state = MemberState::Exited(status);
        Some(status)
    }

    /// Index of the member called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.name == name)
    }

    /// The endpoints commands go to by default: every initial member that
    /// is still running (all of them until `@kill` or a removal).
    pub fn default_endpoints(&self) -> Vec<String> {
        let live: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.initial && m.is_running())
            .map(|m| m.client_url.clone())
            .collect();
        if live.is_empty() {
            // Let etcdctl report the dead endpoint instead of passing nothing.
            vec![self.members[0].client_url.clone()]
        } else {
            live
        }
    }

    /// Client URLs of the named members (names were checked by the parser).
    pub fn endpoints_of(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter_map(|n| self.index(n))
            .map(|i| self.members[i].client_url.clone())
            .collect()
    }

    /// Checks every running member; returns a message for the first one that
    /// exited unless its exit is `expected` (`@expect-exit`).
    pub fn check_exits(&mut self, expected: &HashSet<String>) -> Option<String> {
        for i in 0..self.members.len() {
            if let Some(status) = self.poll_exit(i) {
                let name = &self.members[i].name;
                if !expected.contains(name) {
                    let who = if self.clustered {
                        format!("{} member {name}", self.label)
                    } else {
                        self.label.clone()
                    };
                    return Some(format!("{who} exited with {status}\n{}", self.log_tail(i)));
                }
            }
        }
        None
    }

    /// `@kill NAME`: SIGKILL, no shutdown.
    pub fn kill(&mut self, name: &str) {
        if let Some(i) = self.index(name) {
            if let MemberState::Running(guard) = &mut self.members[i].state {
                guard.kill();
                self.members[i].state = MemberState::Killed;
            }
        }
    }

    /// `@restart NAME`: starts a stopped member again on its data directory
    /// with the flags of its last start; ready once `endpoint status` answers.
    pub fn restart(&mut self, name: &str) -> Result<(), String> {
        let i = self.index(name).ok_or(format!("no member {name}"))?;
        let m = &self.members[i];
        if m.is_running() {
            return Err(format!("member {name} is still running"));
        }
        if m.args.is_empty() {
            return Err(format!("member {name} was never started"));
        }
        let args = m.args.clone();
        self.spawn(i, args)?;
        self.wait_ready(
            i,
            &["endpoint", "status"],
            Instant::now() + STARTUP_DEADLINE,
        )
        .map_err(StartError::into_message)
    }

    /// The last lines of member `i`'s log (without terminal colours), for
    /// failure messages.
    pub fn log_tail(&self, i: usize) -> String {
        static ANSI: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").expect("ANSI escape regex is valid")
        });
        let m = &self.members[i];
        let raw = std::fs::read_to_string(&m.log_path).unwrap_or_default();
        let text = ANSI.replace_all(&raw, "");
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        format!(
            "--- last log lines of {} member {} ({}) ---\n{}",
            self.label,
            m.name,
            self.dir.path().display(),
            tail.join("\n")
        )
    }
}

enum StartError {
    /// Worth another try with new ports (the server died early).
    Retry(String),
    /// Retrying will not help.
    Fatal(String),
}

impl StartError {
    fn into_message(self) -> String {
        match self {
            StartError::Retry(m) | StartError::Fatal(m) => m,
        }
    }
}

/// Picks `n` distinct free loopback ports by binding port 0, then releases
/// them. Ports are never handed out twice by this process, so the reference
/// and the server under test (started concurrently) cannot get the same one.
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    static HANDED_OUT: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(Mutex::default);
    let mut handed_out = HANDED_OUT.lock().expect("port registry mutex poisoned");
    let mut listeners = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        // Keep the listener open either way so the OS moves on to another port.
        listeners.push(listener);
        if handed_out.insert(port) {
            ports.push(port);
        }
        if listeners.len() > n + 1000 {
            return Err(std::io::Error::other("no unused free ports"));
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_member_list_and_status() {
        let list = parse_member_list(
            r#"{"header":{"cluster_id":15583897062594202283,"member_id":1,"raft_term":2},"members":[{"ID":1583637705238954440,"name":"n3","peerURLs":["http://127.0.0.1:32383"],"clientURLs":["http://127.0.0.1:32373"]},{"ID":10803441770901586977,"peerURLs":["http://127.0.0.1:32384","http://127.0.0.1:1"],"isLearner":true}]}"#,
        );
        assert_eq!(list.cluster_id, 15583897062594202283);
        assert_eq!(list.members.len(), 2);
        assert_eq!(list.members[0].name, "n3");
        assert_eq!(list.members[1].name, "");
        assert_eq!(
            list.members[1].peer_urls,
            ["http://127.0.0.1:32384", "http://127.0.0.1:1"]
        );
        let leaders = parse_leaders(
            r#"[{"Endpoint":"a","Status":{"header":{"cluster_id":1,"member_id":7,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":1,"leader":9,"raftIndex":8}},{"Endpoint":"b","Status":{"header":{"cluster_id":1,"member_id":9,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":1,"leader":9}}]"#,
        );
        assert_eq!(leaders.into_iter().collect::<Vec<_>>(), [(7, 9), (9, 9)]);
    }

    #[test]
    fn free_ports_are_distinct_and_never_reused() {
        let a = free_ports(4).expect("ports");
        let b = free_ports(4).expect("ports");
        let all: HashSet<u16> = a.iter().chain(&b).copied().collect();
        assert_eq!(all.len(), 8);
    }
}
