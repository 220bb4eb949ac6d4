//! The servers `compare` starts: one member per run on free loopback
//! ports in a temp data dir, waited for until it answers `Status`, killed
//! and removed after the run; and what `/proc` says of its CPU time and
//! peak memory.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::StatusRequest;

/// How long a started server may take to answer `Status`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// User plus system CPU seconds process `pid` has spent.
pub(super) fn cpu_secs(pid: u32) -> Result<f64, String> {
    let stat = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .map_err(|e| format!("reading the server's CPU time: {e}"))?;
    Ok((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// The peak resident memory (`VmHWM`) of process `pid`, in MiB.
pub(super) fn peak_mib(pid: u32) -> Result<f64, String> {
    let status = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.status())
        .map_err(|e| format!("reading the server's memory: {e}"))?;
    let kib = status.vmhwm.ok_or("the server's status has no VmHWM")?;
    Ok(kib as f64 / 1024.0)
}

/// A one-member server started for one run.
pub(super) struct StartedServer {
    child: Child,
    pub endpoint: String,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl StartedServer {
    pub(super) fn start(
        name: &str,
        bin: &Path,
        flags: &[String],
        log_dir: Option<&Path>,
    ) -> Result<StartedServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("etcd-bench-compare.")
            .tempdir()
            .map_err(|e| format!("creating a data dir: {e}"))?;
        let (client, peer) = (free_port()?, free_port()?);
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = match log_dir {
            Some(d) => d.join(format!(
                "{}.{}.log",
                name.replace('/', "_"),
                dir.path().file_name().unwrap_or_default().to_string_lossy()
            )),
            None => dir.path().join("server.log"),
        };
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(["--name", "bench", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("bench={peer_url}")])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        Ok(StartedServer {
            child,
            endpoint: format!("127.0.0.1:{client}"),
            dir,
            log,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the server answers `Status` (or exits, or time runs out).
    pub(super) async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("http://{}", self.endpoint);
        loop {
            let attempt = async {
                let mut client = MaintenanceClient::connect(url.clone()).await.ok()?;
                client.status(StatusRequest {}).await.ok()
            };
            if tokio::time::timeout(Duration::from_secs(2), attempt)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                return Ok(());
            }
            if procfs::process::Process::new(self.pid() as i32)
                .and_then(|p| p.stat())
                .map(|s| s.state == 'Z')
                .unwrap_or(true)
            {
                return Err("the server exited before it served".into());
            }
            if Instant::now() > deadline {
                return Err(format!("not serving after {READY_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the server and removes its data dir; returns the tail of its
    /// log (for an error message) when the log is removed with the dir.
    pub(super) fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let tail = std::fs::read_to_string(&self.log)
            .map(|s| {
                let lines: Vec<&str> = s.lines().collect();
                lines[lines.len().saturating_sub(5)..].join("\n")
            })
            .unwrap_or_default();
        let kept = !self.log.starts_with(self.dir.path());
        drop(self.dir);
        if kept {
            format!(" (log: {})", self.log.display())
        } else if tail.is_empty() {
            String::new()
        } else {
            format!("\nlast lines of its log:\n{tail}")
        }
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}
