//! The sled backend on a full disk: writes fail with the disk's error, and
//! the backend can still be dropped. (sled flushes when its last handle is
//! dropped, and after a failed write that flush waits forever; a member
//! stopping after the failure hung there.) Needs root to mount a small
//! tmpfs, as the CI machine has.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use etcd_store::backend::WriteBatch;
use etcd_store::{Backend, SledBackend};

#[test]
fn a_backend_that_failed_on_a_full_disk_can_be_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("disk");
    std::fs::create_dir_all(&disk).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&disk)
        .status()
        .expect("run mount");
    assert!(mounted.success(), "mounting a tmpfs needs root");
    let unmount = Unmount(disk.clone());

    let backend = SledBackend::open(&disk).expect("open");
    let mut failure = None;
    for i in 0..1_000u32 {
        let mut batch = WriteBatch::default();
        batch.put(i.to_be_bytes().to_vec(), vec![b'x'; 64 * 1024]);
        if let Err(e) = backend.write(batch).and_then(|()| backend.flush()) {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("8 MiB filled up before 64 MiB were written");
    assert!(
        failure.to_string().contains("No space left on device"),
        "{failure}"
    );

    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(backend);
        let _ = done_tx.send(());
    });
    assert!(
        done_rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "dropping the failed backend did not return"
    );
    drop(unmount);
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
