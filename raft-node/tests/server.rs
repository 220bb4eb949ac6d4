//! End-to-end tests of the real `etcd-rs` binary over gRPC on loopback:
//! durability across SIGTERM and kill -9 restarts, and etcd's error codes
//! for bad requests. (The Go etcdctl differential suite lives in `interop/`.)

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest, StatusRequest};
use tonic::transport::Channel;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A running `etcd-rs` process, killed on drop.
struct Member {
    child: Child,
    port: u16,
}

impl Member {
    fn start(data_dir: &Path, port: u16, extra: &[&str]) -> Member {
        let url = format!("http://127.0.0.1:{port}");
        let peer = format!("http://127.0.0.1:{}", free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_etcd-rs"))
            .args(["--data-dir", data_dir.to_str().expect("utf-8 path")])
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("default={peer}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn etcd-rs");
        Member { child, port }
    }

    async fn client(&self) -> Channel {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let endpoint =
                Channel::from_shared(format!("http://127.0.0.1:{}", self.port)).expect("endpoint");
            if let Ok(ch) = endpoint.connect().await {
                let mut m = MaintenanceClient::new(ch.clone());
                if let Ok(s) = m.status(StatusRequest {}).await {
                    if s.into_inner().leader != 0 {
                        return ch;
                    }
                }
            }
            assert!(Instant::now() < deadline, "etcd-rs did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&mut self, sig: &str) {
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
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn put(kv: &mut KvClient<Channel>, key: &str, value: &str) -> i64 {
    kv.put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    })
    .await
    .expect("put")
    .into_inner()
    .header
    .expect("header")
    .revision
}

async fn all_keys(kv: &mut KvClient<Channel>) -> (Vec<(String, String)>, i64) {
    let resp = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    let kvs = resp
        .kvs
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect();
    (kvs, resp.header.expect("header").revision)
}

async fn restart_keeps_writes(signal: &str, writes: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut member = Member::start(dir.path(), port, &["--snapshot-count", "25"]);
    let mut kv = KvClient::new(member.client().await);
    let mut expected = Vec::new();
    let mut last_rev = 0;
    for i in 0..writes {
        let (k, v) = (format!("key/{i:04}"), format!("value-{i}"));
        last_rev = put(&mut kv, &k, &v).await;
        expected.push((k, v));
    }
    assert_eq!(last_rev, writes as i64 + 1, "one revision per put");
    member.signal(signal);
    drop(member);

    let member = Member::start(dir.path(), port, &["--snapshot-count", "25"]);
    let mut kv = KvClient::new(member.client().await);
    let (got, rev) = all_keys(&mut kv).await;
    assert_eq!(got, expected, "every acknowledged write survives {signal}");
    assert_eq!(rev, last_rev, "revision survives {signal}");
    assert_eq!(put(&mut kv, "after", "restart").await, last_rev + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restart_keeps_every_write() {
    restart_keeps_writes("-TERM", 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_restart_keeps_every_acknowledged_write() {
    restart_keeps_writes("-KILL", 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_etcd_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(dir.path(), free_port(), &["--max-request-bytes", "4096"]);
    let mut kv = KvClient::new(member.client().await);
    let err = kv.put(PutRequest::default()).await.expect_err("empty key");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(err.message(), "etcdserver: key is not provided");

    let err = kv
        .put(PutRequest {
            key: b"big".to_vec(),
            value: vec![b'x'; 8192],
            ..Default::default()
        })
        .await
        .expect_err("too large");
    assert_eq!(err.message(), "etcdserver: request is too large");

    let err = kv
        .range(RangeRequest {
            key: b"a".to_vec(),
            revision: 100,
            ..Default::default()
        })
        .await
        .expect_err("future revision");
    assert_eq!(err.code(), tonic::Code::OutOfRange);
    assert_eq!(
        err.message(),
        "etcdserver: mvcc: required revision is a future revision"
    );

    let err = kv
        .put(PutRequest {
            key: b"k".to_vec(),
            lease: 12345,
            ..Default::default()
        })
        .await
        .expect_err("no such lease");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(err.message(), "etcdserver: requested lease not found");
    // None of the failures made a revision.
    assert_eq!(put(&mut kv, "ok", "1").await, 2);
}
