//! A full disk: the member's data dir is on a small tmpfs that fills up
//! under writes. As etcd, the member stops rather than carry on with a store
//! it could not write (and it does stop: the process exits, releasing its
//! lock and ports); nothing acknowledged is lost, and once there is room
//! again it starts on the same data dir and serves every acknowledged write.
//! Needs root to mount the tmpfs, as the CI machine has.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{eventually, free_port, Member};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

const VALUE_BYTES: usize = 100_000;

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("{i}:").into_bytes();
    v.resize(VALUE_BYTES, b'a');
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_member_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "100m");
    // The data dir is the mount point, so the member log (beside it) is not
    // on the full disk.
    let data = disk.dir.clone();
    let port = free_port();
    let extra = ["--quota-backend-bytes", "8000000000"];
    let mut member = Member::start(&data, port, &extra);
    let mut kv = KvClient::new(member.client().await);

    let mut acknowledged = 0;
    let mut refused = None;
    for i in 0..2_000 {
        let put = kv.put(PutRequest {
            key: format!("k{i:04}").into_bytes(),
            value: value(i),
            ..Default::default()
        });
        match tokio::time::timeout(std::time::Duration::from_secs(10), put).await {
            Ok(Ok(_)) => acknowledged = i + 1,
            Ok(Err(status)) => {
                refused = Some(format!("{:?} {}", status.code(), status.message()));
                break;
            }
            Err(_) => {
                refused = Some("no answer".into());
                break;
            }
        }
    }
    let refused = refused.expect("the disk filled up before 2000 puts of 100 kB");
    assert!(
        acknowledged > 10,
        "only {acknowledged} puts before {refused}"
    );
    eventually(30, "the member stops on the full disk", || {
        let exited = member.exited();
        async move { exited.then_some(()) }
    })
    .await;
    drop(member);

    disk.resize("400m");
    let member = Member::start(&data, port, &extra);
    let mut kv = KvClient::new(member.client().await);
    for i in 0..acknowledged {
        let got = kv
            .range(RangeRequest {
                key: format!("k{i:04}").into_bytes(),
                ..Default::default()
            })
            .await
            .expect("range")
            .into_inner();
        assert_eq!(
            got.kvs.first().map(|kv| kv.value.clone()),
            Some(value(i)),
            "acknowledged write k{i:04} after the restart (refused: {refused})"
        );
    }
    kv.put(PutRequest {
        key: b"after".to_vec(),
        value: b"room again".to_vec(),
        ..Default::default()
    })
    .await
    .expect("writes work again");
}
