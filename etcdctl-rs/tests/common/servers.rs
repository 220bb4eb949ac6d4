//! Servers the differential tests start: real etcd and etcd-rs members on
//! free loopback ports (plain or with TLS), and background client
//! processes; all killed on drop.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

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
