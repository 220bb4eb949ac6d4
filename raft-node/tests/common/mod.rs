//! Test support: real `etcd-rs` processes on loopback with free ports,
//! killed when dropped, and readiness waits with deadlines.

#![allow(dead_code)]

pub mod http;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::StatusRequest;
use tonic::transport::Channel;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// How to start one member.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub name: String,
    pub data_dir: PathBuf,
    pub client_port: u16,
    pub peer_port: u16,
    pub initial_cluster: String,
    pub state: &'static str,
    pub extra: Vec<String>,
    /// Serve clients over https (the extra flags carry the certificates).
    pub tls: bool,
    /// Peer URLs are https (the extra flags carry the peer certificates).
    pub peer_scheme_https: bool,
}

impl MemberSpec {
    pub fn single(data_dir: &Path, client_port: u16, extra: &[&str]) -> MemberSpec {
        let peer_port = free_port();
        MemberSpec {
            name: "default".into(),
            data_dir: data_dir.to_path_buf(),
            client_port,
            peer_port,
            initial_cluster: format!("default=http://127.0.0.1:{peer_port}"),
            state: "new",
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls: false,
            peer_scheme_https: false,
        }
    }

    pub fn client_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    pub fn peer_url(&self) -> String {
        let scheme = if self.peer_scheme_https {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.peer_port)
    }
}

/// A running `etcd-rs` process, killed on drop.
pub struct Member {
    pub spec: MemberSpec,
    child: Child,
    pub port: u16,
}

impl Member {
    pub fn start(data_dir: &Path, port: u16, extra: &[&str]) -> Member {
        Member::launch(MemberSpec::single(data_dir, port, extra))
    }

    pub fn launch(spec: MemberSpec) -> Member {
        Member::launch_binary(env!("CARGO_BIN_EXE_etcd-rs"), spec, &[])
    }

    /// Starts etcd-rs with extra environment variables (`FAILPOINTS`, say).
    pub fn launch_with_env(spec: MemberSpec, env: &[(&str, &str)]) -> Member {
        Member::launch_binary(env!("CARGO_BIN_EXE_etcd-rs"), spec, env)
    }

    /// Starts the real etcd (Debian's `etcd`, for differential tests) with
    /// the same flags.
    pub fn launch_real_etcd(spec: MemberSpec) -> Member {
        Member::launch_binary("etcd", spec, &[])
    }

    fn launch_binary(binary: &str, spec: MemberSpec, env: &[(&str, &str)]) -> Member {
        let log = std::fs::File::create(spec.data_dir.with_extension("log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let child = Command::new(binary)
            .args(["--name", &spec.name])
            .args(["--data-dir", spec.data_dir.to_str().expect("utf-8 path")])
            .args(["--listen-client-urls", &spec.client_url()])
            .args(["--advertise-client-urls", &spec.client_url()])
            .args(["--listen-peer-urls", &spec.peer_url()])
            .args(["--initial-advertise-peer-urls", &spec.peer_url()])
            .args(["--initial-cluster", &spec.initial_cluster])
            .args(["--initial-cluster-state", spec.state])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(&spec.extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
        let port = spec.client_port;
        Member { spec, child, port }
    }

    pub async fn channel(&self) -> Channel {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let endpoint = Channel::from_shared(self.spec.client_url()).expect("endpoint");
            if let Ok(ch) = endpoint.connect().await {
                return ch;
            }
            assert!(
                Instant::now() < deadline,
                "etcd-rs {} did not listen",
                self.spec.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A channel once the member knows a leader.
    pub async fn client(&self) -> Channel {
        let ch = self.channel().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut m = MaintenanceClient::new(ch.clone());
            if let Ok(s) = m.status(StatusRequest {}).await {
                if s.into_inner().leader != 0 {
                    return ch;
                }
            }
            assert!(
                Instant::now() < deadline,
                "etcd-rs {} found no leader",
                self.spec.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&mut self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.child.try_wait().expect("wait").is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd-rs did not exit after {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_some()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns Some, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
