//! Starting a single-member etcd-compatible server on loopback.
//!
//! Both the reference etcd and the server under test are launched with the
//! exact same etcd command-line flags, on freshly picked free ports and a
//! fresh data directory, so that revisions and outputs can be compared.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;
use tempfile::TempDir;

use crate::process::{run_with_timeout, ChildGuard, Outcome, POLL_INTERVAL};

/// How long a server may take to answer `etcdctl endpoint health`.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

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

/// A running server; killed and its data directory removed on drop.
#[derive(Debug)]
pub struct Server {
    /// Which server this is, for messages ("etcd", "server under test").
    pub label: String,
    /// `http://127.0.0.1:PORT` clients connect to.
    pub client_url: String,
    /// `http://127.0.0.1:PORT` of the peer listener.
    pub peer_url: String,
    /// Scratch directory for files commands write (e.g. snapshots).
    pub scratch_dir: PathBuf,
    log_path: PathBuf,
    // Field order matters: the process must die before its directory goes.
    process: ChildGuard,
    _dir: TempDir,
}

impl Server {
    /// Starts `binary` with the standard single-member flags plus `extra_flags`
    /// and waits until it answers `etcdctl endpoint health`.
    pub fn start(
        label: &str,
        binary: &Path,
        etcdctl: &Path,
        extra_flags: &[String],
    ) -> Result<Self, String> {
        // A port picked by binding :0 can be taken by someone else before the
        // server binds it; retry with new ports if that is why it died.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::start_once(label, binary, etcdctl, extra_flags) {
                Ok(server) => return Ok(server),
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
        extra_flags: &[String],
    ) -> Result<Self, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("interop-")
            .tempdir()
            .map_err(|e| StartError::Fatal(format!("cannot create temp dir: {e}")))?;
        let data_dir = dir.path().join("data");
        let scratch_dir = dir.path().join("scratch");
        std::fs::create_dir(&scratch_dir)
            .map_err(|e| StartError::Fatal(format!("cannot create scratch dir: {e}")))?;
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path)
            .map_err(|e| StartError::Fatal(format!("cannot create server log: {e}")))?;
        let log_err = log
            .try_clone()
            .map_err(|e| StartError::Fatal(format!("cannot clone log handle: {e}")))?;

        let [client_port, peer_port] =
            free_ports().map_err(|e| StartError::Fatal(format!("cannot pick free ports: {e}")))?;
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");

        let mut cmd = Command::new(binary);
        cmd.arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .args(extra_flags)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        scrub_env(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            StartError::Fatal(format!("{label}: cannot start `{}`: {e}", binary.display()))
        })?;
        let mut server = Server {
            label: label.to_string(),
            client_url,
            peer_url,
            scratch_dir,
            log_path,
            process: ChildGuard::new(child),
            _dir: dir,
        };
        server.wait_ready(etcdctl)?;
        Ok(server)
    }

    /// Polls `etcdctl endpoint health` until it succeeds or the deadline passes.
    fn wait_ready(&mut self, etcdctl: &Path) -> Result<(), StartError> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Some(status) = self.process.try_wait() {
                let message = format!(
                    "{} (pid {}) exited during startup with {status}\n{}",
                    self.label,
                    self.process.id(),
                    self.log_tail()
                );
                let port_taken = message.to_lowercase().contains("address already in use");
                return Err(if port_taken {
                    StartError::Retry(message)
                } else {
                    StartError::Fatal(message)
                });
            }
            let mut cmd = Command::new(etcdctl);
            cmd.arg(format!("--endpoints={}", self.client_url))
                .args(["--dial-timeout=1s", "--command-timeout=2s"])
                .args(["endpoint", "health"]);
            scrub_env(&mut cmd);
            cmd.env("ETCDCTL_API", "3");
            let last = match run_with_timeout(cmd, None, Duration::from_secs(10)) {
                Ok(out) if out.outcome == Outcome::Exited(0) => return Ok(()),
                Ok(out) => format!("{}{}({})", out.stdout, out.stderr, out.outcome),
                Err(e) => {
                    return Err(StartError::Fatal(format!(
                        "cannot run `{}`: {e} (is etcdctl installed?)",
                        etcdctl.display()
                    )))
                }
            };
            if Instant::now() >= deadline {
                return Err(StartError::Fatal(format!(
                    "{} at {} not healthy after {}s; last `etcdctl endpoint health`:\n{last}\n{}",
                    self.label,
                    self.client_url,
                    STARTUP_DEADLINE.as_secs(),
                    self.log_tail()
                )));
            }
            std::thread::sleep(POLL_INTERVAL * 2);
        }
    }

    /// Returns the exit status if the server process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_wait()
    }

    /// The last lines of the server's log (without terminal colours), for
    /// failure messages.
    pub fn log_tail(&self) -> String {
        static ANSI: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").expect("ANSI escape regex is valid")
        });
        let raw = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let text = ANSI.replace_all(&raw, "");
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        format!(
            "--- last log lines of {} ---\n{}",
            self.label,
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

/// Picks two distinct free loopback ports by binding port 0, then releases them.
fn free_ports() -> std::io::Result<[u16; 2]> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok([a.local_addr()?.port(), b.local_addr()?.port()])
}
