//! Real `etcd-rs` member processes on loopback, and the faults done to them.
//!
//! The cluster owns every process it starts: `Drop` kills (SIGKILL also ends a stopped
//! process) and reaps them, so a panicking run leaves nothing behind. Faults are process
//! level, as in etcd's robustness suite: kill -9 then restart on the same data directory and
//! flags (a restarted member must recover from its WAL), and SIGSTOP/SIGCONT (a frozen leader
//! that wakes up believing it still leads). Signals other than SIGKILL go through the `kill`
//! command, which keeps the crate free of unsafe code and of a libc dependency.
//!
//! Each member's peer traffic reaches it through its own [`Proxy`] (see `proxy.rs`): the
//! member listens on its real peer port and advertises the proxy's, so network faults are a
//! matter of changing the shared [`Net`] rules. The member list can change during a run:
//! removed members stay in `members` (marked `removed`, never restarted) and new ones join
//! with a fresh data directory and `--initial-cluster-state existing`. A member can be started
//! with crash points armed (`FAILPOINTS`, for a binary built with `raft-node/failpoints`).
//!
//! A full disk needs a disk of its own: [`Cluster::move_to_small_disk`] moves a killed
//! member's data directory onto a tmpfs just larger than what it holds (root only, as
//! mounting is), and [`Cluster::grow_disk`] gives it room again. Mounts are undone when the
//! cluster drops, after its processes are dead.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;

use super::proxy::{Net, Proxy};

pub struct Member {
    pub name: String,
    pub client_port: u16,
    /// Where the member listens for peers.
    pub peer_port: u16,
    /// Where the others reach it (its proxy).
    pub proxy_port: u16,
    data_dir: PathBuf,
    /// Where its log goes (beside the data directory, never on its small disk).
    log: PathBuf,
    /// The tmpfs its data directory was moved to, if any.
    disk: Option<PathBuf>,
    child: Option<Child>,
    stopped: bool,
    /// `--initial-cluster` and `--initial-cluster-state` it was started with.
    initial_cluster: String,
    existing: bool,
    /// Removed from the cluster: never restarted, left out of the final checks.
    pub removed: bool,
    _proxy: Proxy,
}

impl Member {
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn listen_peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// The peer URL the cluster knows: the member's proxy.
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

pub struct Cluster {
    bin: PathBuf,
    snapshot_count: u64,
    /// More flags every member starts with.
    member_flags: Vec<String>,
    pub net: Arc<Net>,
    pub members: Vec<Member>,
    // Dropped after the members (fields drop in declaration order): processes die before
    // their data directories are removed.
    _dir: tempfile::TempDir,
}

/// A port nothing listens on, below the kernel's ephemeral range (32768 and up on Linux):
/// the member binds it only later, and a port from the ephemeral range can be taken in
/// between as the source port of some outgoing connection (seen: "Address already in
/// use"). Ports are handed out in turn from an offset that depends on the process, so
/// concurrent test processes rarely try the same ones.
fn free_port() -> io::Result<u16> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    const BASE: usize = 20_000;
    const SPAN: usize = 12_000;
    let offset = std::process::id() as usize * 7919;
    for _ in 0..SPAN {
        let port = (BASE + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free port below the ephemeral range"))
}

impl Cluster {
    /// Starts `size` members of a new cluster. `snapshot_count` is small in runs so that
    /// snapshots and log compaction happen during faults.
    pub fn start(
        bin: &Path,
        size: usize,
        snapshot_count: u64,
        member_flags: &[String],
    ) -> io::Result<Cluster> {
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
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            snapshot_count,
            member_flags: member_flags.to_vec(),
            net: Net::new(),
            members: Vec::with_capacity(size),
            _dir: dir,
        };
        for _ in 0..size {
            cluster.new_slot()?;
        }
        let initial_cluster = cluster
            .members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        for i in 0..size {
            cluster.members[i].initial_cluster = initial_cluster.clone();
            cluster.launch(i, None)?;
        }
        Ok(cluster)
    }

    /// A new member slot with fresh ports, data directory and proxy; not started. Must be
    /// called inside a tokio runtime (the proxy runs on it).
    pub fn new_slot(&mut self) -> io::Result<usize> {
        let i = self.members.len();
        let peer_port = free_port()?;
        let proxy_listener = TcpListener::bind("127.0.0.1:0")?;
        let proxy_port = proxy_listener.local_addr()?.port();
        let proxy = Proxy::start(
            proxy_listener,
            ([127, 0, 0, 1], peer_port).into(),
            i,
            Arc::clone(&self.net),
        )?;
        self.members.push(Member {
            name: format!("m{i}"),
            client_port: free_port()?,
            peer_port,
            proxy_port,
            data_dir: self._dir.path().join(format!("m{i}.etcd")),
            log: self._dir.path().join(format!("m{i}.log")),
            disk: None,
            child: None,
            stopped: false,
            initial_cluster: String::new(),
            existing: false,
            removed: false,
            _proxy: proxy,
        });
        Ok(i)
    }

    /// Starts slot `i` (made by [`Self::new_slot`]) as a member joining a running cluster
    /// whose members (after MemberAdd) are `initial_cluster`.
    pub fn join(&mut self, i: usize, initial_cluster: String) -> io::Result<()> {
        self.members[i].initial_cluster = initial_cluster;
        self.members[i].existing = true;
        self.launch(i, None)
    }

    fn launch(&mut self, i: usize, failpoints: Option<&str>) -> io::Result<()> {
        let m = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.data_dir)
            .args(["--listen-client-urls", &m.client_url()])
            .args(["--advertise-client-urls", &m.client_url()])
            .args(["--listen-peer-urls", &m.listen_peer_url()])
            .args(["--initial-advertise-peer-urls", &m.peer_url()])
            .args(["--initial-cluster", &m.initial_cluster])
            .args([
                "--initial-cluster-state",
                if m.existing { "existing" } else { "new" },
            ])
            .args(["--snapshot-count", &self.snapshot_count.to_string()])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(&self.member_flags)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        // Armed: these crash points replace whatever `FAILPOINTS` the runner inherited
        // (otherwise members inherit it, which is how a test plants a bug in all of them).
        if let Some(fp) = failpoints {
            cmd.env("FAILPOINTS", fp);
        }
        let child = cmd.spawn()?;
        self.net.register(child.id(), i);
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
            self.net.unregister(child.id());
        }
        self.members[i].stopped = false;
    }

    /// Starts a killed member again on its data directory (not a removed one).
    pub fn restart(&mut self, i: usize) -> io::Result<()> {
        if self.members[i].child.is_none() && !self.members[i].removed {
            self.launch(i, None)?;
        }
        Ok(())
    }

    /// Starts a killed member again with crash points armed (`FAILPOINTS` syntax).
    pub fn restart_armed(&mut self, i: usize, failpoints: &str) -> io::Result<()> {
        if self.members[i].child.is_none() && !self.members[i].removed {
            self.launch(i, Some(failpoints))?;
        }
        Ok(())
    }

    /// The exit status of member `i` if its process has ended (reaped; it can be restarted).
    pub fn exited(&mut self, i: usize) -> Option<ExitStatus> {
        let child = self.members[i].child.as_mut()?;
        let status = child.try_wait().ok()??;
        let pid = child.id();
        self.members[i].child = None;
        self.net.unregister(pid);
        Some(status)
    }

    /// Member `i` was removed from the cluster: it is killed and never started again.
    pub fn retire(&mut self, i: usize) {
        self.kill(i);
        self.members[i].removed = true;
    }

    /// Indexes of the members that belong to the cluster (not removed).
    pub fn active(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|i| !self.members[*i].removed)
            .collect()
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
        self.net.heal();
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
            if m.removed {
                continue;
            }
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
        self.members[i].log.clone()
    }

    /// Moves the data directory of member `i` (killed, not running) onto a new tmpfs with
    /// about `headroom` bytes free beyond what the directory holds; returns the tmpfs size.
    pub fn move_to_small_disk(&mut self, i: usize, headroom: u64) -> io::Result<u64> {
        let m = &self.members[i];
        if m.child.is_some() {
            return Err(io::Error::other("member still running"));
        }
        let used = apparent_size(&m.data_dir)?;
        // tmpfs counts whole pages: a few more than the bytes for the files' last pages.
        let size = (used + headroom).div_ceil(4096) * 4096 + 16 * 4096;
        if let Some(mount) = &m.disk {
            // Already on a disk of its own: shrink it.
            return run(Command::new("mount")
                .args(["-o", &format!("remount,size={size}")])
                .arg(mount))
            .map(|()| size);
        }
        let mount = self._dir.path().join(format!("m{i}.disk"));
        std::fs::create_dir_all(&mount)?;
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount))?;
        self.members[i].disk = Some(mount.clone());
        let data = mount.join("data");
        std::fs::create_dir(&data)?;
        // `cp -a dir/. data`: the directory's contents, with modes and sizes kept.
        let mut from = self.members[i].data_dir.clone().into_os_string();
        from.push("/.");
        run(Command::new("cp").arg("-a").arg(from).arg(&data))?;
        std::fs::remove_dir_all(&self.members[i].data_dir)?;
        self.members[i].data_dir = data;
        Ok(size)
    }

    /// Gives member `i`'s small disk room again (nothing if it has none).
    pub fn grow_disk(&mut self, i: usize) -> io::Result<()> {
        match &self.members[i].disk {
            Some(mount) => run(Command::new("mount")
                .args(["-o", "remount,size=2g"])
                .arg(mount)),
            None => Ok(()),
        }
    }

    /// Whether this process may mount a tmpfs (it runs as root).
    pub fn can_mount() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                == Some("0")
        })
    }

    /// Copies every member's log to a new directory (deleted when dropped, unless kept:
    /// a failed run keeps it); `ETCD_ROBUSTNESS_LOGS` names its parent (default: the
    /// system's temporary directory).
    pub fn copy_logs(&self) -> Option<tempfile::TempDir> {
        let parent = std::env::var_os("ETCD_ROBUSTNESS_LOGS")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&parent).ok()?;
        let dir = tempfile::Builder::new()
            .prefix("etcd-robustness-logs-")
            .tempdir_in(parent)
            .ok()?;
        for i in 0..self.members.len() {
            let _ = std::fs::copy(
                self.data_dir_log(i),
                dir.path().join(format!("{}.log", self.members[i].name)),
            );
        }
        Some(dir)
    }

    /// kill -9 of every member (the end of a run).
    pub fn kill_all(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
        for m in &self.members {
            if let Some(mount) = &m.disk {
                let _ = Command::new("umount").arg("-l").arg(mount).status();
            }
        }
    }
}

/// Runs a command, failing unless it exits 0.
fn run(cmd: &mut Command) -> io::Result<()> {
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{cmd:?}: {status}")))
    }
}

/// The bytes of every file under `dir` (apparent sizes: preallocated space counts).
fn apparent_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            apparent_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
