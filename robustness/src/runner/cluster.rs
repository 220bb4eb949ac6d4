//! Real `etcd-rs` member processes on loopback, and the faults done to them.
//!
//! The cluster owns every process it starts: `Drop` kills (SIGKILL also ends a stopped
//! process) and reaps them, so a panicking run leaves nothing behind. Faults are process
//! level, as in etcd's robustness suite: kill -9 then restart on the same data directory and
//! flags (a restarted member must recover from its WAL), and SIGSTOP/SIGCONT (a frozen leader
//! that wakes up believing it still leads). Signals other than SIGKILL go through the `kill`
//! command, which keeps the crate free of unsafe code and of a libc dependency.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    data_dir: PathBuf,
    child: Option<Child>,
    stopped: bool,
}

impl Member {
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

pub struct Cluster {
    bin: PathBuf,
    initial_cluster: String,
    snapshot_count: u64,
    pub members: Vec<Member>,
    // Dropped after the members (fields drop in declaration order): processes die before
    // their data directories are removed.
    _dir: tempfile::TempDir,
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Starts `size` members of a new cluster. `snapshot_count` is small in runs so that
    /// snapshots and log compaction happen during faults.
    pub fn start(bin: &Path, size: usize, snapshot_count: u64) -> io::Result<Cluster> {
        if !bin.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "etcd-rs binary {} not found (build it: cargo build -p raft-node --bin etcd-rs, or set ETCD_RS_BIN)",
                    bin.display()
                ),
            ));
        }
        let dir = tempfile::tempdir()?;
        let mut members = Vec::with_capacity(size);
        for i in 0..size {
            members.push(Member {
                name: format!("m{i}"),
                client_port: free_port()?,
                peer_port: free_port()?,
                data_dir: dir.path().join(format!("m{i}.etcd")),
                child: None,
                stopped: false,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            initial_cluster,
            snapshot_count,
            members,
            _dir: dir,
        };
        for i in 0..size {
            cluster.launch(i)?;
        }
        Ok(cluster)
    }

    fn launch(&mut self, i: usize) -> io::Result<()> {
        let m = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.data_dir.with_extension("log"))?;
        let child = Command::new(&self.bin)
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.data_dir)
            .args(["--listen-client-urls", &m.client_url()])
            .args(["--advertise-client-urls", &m.client_url()])
            .args(["--listen-peer-urls", &m.peer_url()])
            .args(["--initial-advertise-peer-urls", &m.peer_url()])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--snapshot-count", &self.snapshot_count.to_string()])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()?;
        let m = &mut self.members[i];
        m.child = Some(child);
        m.stopped = false;
        Ok(())
    }

    /// kill -9 and reap.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.members[i].stopped = false;
    }

    /// Starts a killed member again on its data directory.
    pub fn restart(&mut self, i: usize) -> io::Result<()> {
        if self.members[i].child.is_none() {
            self.launch(i)?;
        }
        Ok(())
    }

    fn signal(&mut self, i: usize, sig: &str) -> io::Result<()> {
        let Some(child) = &self.members[i].child else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!("kill {sig} failed")));
        }
        Ok(())
    }

    pub fn freeze(&mut self, i: usize) -> io::Result<()> {
        self.signal(i, "-STOP")?;
        self.members[i].stopped = true;
        Ok(())
    }

    pub fn thaw(&mut self, i: usize) -> io::Result<()> {
        if self.members[i].stopped {
            self.signal(i, "-CONT")?;
            self.members[i].stopped = false;
        }
        Ok(())
    }

    /// Makes every member run again (thaws frozen ones, restarts killed ones).
    pub fn heal(&mut self) -> io::Result<()> {
        for i in 0..self.members.len() {
            self.thaw(i)?;
            self.restart(i)?;
        }
        Ok(())
    }

    /// Whether any member process exited by itself (a crash, not a fault we injected).
    pub fn crashed(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &mut self.members {
            if let Some(child) = &mut m.child {
                if let Ok(Some(status)) = child.try_wait() {
                    out.push(format!("{} exited: {status}", m.name));
                    m.child = None;
                }
            }
        }
        out
    }

    pub fn data_dir_log(&self, i: usize) -> PathBuf {
        self.members[i].data_dir.with_extension("log")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
