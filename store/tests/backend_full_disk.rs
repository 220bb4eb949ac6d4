//! The sled backend on a full disk. Raw sled (no reserve): writes fail with
//! the disk's error, and the backend can still be dropped (sled flushes when
//! its last handle is dropped, and after a failed write that flush waits
//! forever; a member stopping after the failure hung there). With the
//! free-space reserve: writes are refused before sled meets the full disk,
//! an open on a full disk is refused before sled starts recovering, and
//! once there is room the store opens with everything flushed. Needs root
//! to mount small tmpfs file systems, as the CI machine has.

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
    let unmount = Unmount::mount(&disk, "8m");

    // No reserve: sled itself meets the full disk.
    let backend = SledBackend::open_with_reserve(&disk, 0).expect("open");
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

/// A tmpfs mounted at a directory, unmounted when dropped.
struct Unmount(std::path::PathBuf);

impl Unmount {
    /// Mounts a tmpfs of `size` (mount's syntax: bytes, or 16m) at `dir`.
    fn mount(dir: &std::path::Path, size: &str) -> Unmount {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(mounted.success(), "mounting a tmpfs needs root");
        Unmount(dir.to_path_buf())
    }

    /// Gives the tmpfs room: `size` from now on.
    fn resize(&self, size: &str) {
        let grown = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(grown.success());
    }
}

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Once the disk has room again the store opens, with every batch whose
/// write and flush succeeded. (The robustness runner saw sled leave an
/// empty snapshot file behind on a full disk and refuse to open after.)
/// Each filling runs in a child process, as a member would: a backend that
/// failed keeps its lock until its process ends.
#[test]
fn a_store_filled_to_the_brim_opens_again_with_everything_flushed() {
    if let Some(dir) = std::env::var_os("FILL_DIR") {
        let size: usize = std::env::var("FILL_SIZE")
            .expect("size")
            .parse()
            .expect("size");
        fill(std::path::Path::new(&dir), size);
        return;
    }
    for round in 0..6u32 {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = dir.path().join("disk");
        std::fs::create_dir_all(&disk).expect("mount point");
        let unmount = Unmount::mount(&disk, "16m");

        // Values of different sizes per round, so the disk fills at
        // different points of sled's segments.
        let size = 4096 + round as usize * 7919 / 2;
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "a_store_filled_to_the_brim_opens_again_with_everything_flushed",
                "--nocapture",
            ])
            .env("FILL_DIR", &disk)
            .env("FILL_SIZE", size.to_string())
            .output()
            .expect("run the filling child");
        let out = String::from_utf8_lossy(&child.stdout);
        let flushed: u32 = out
            .lines()
            .find_map(|l| l.strip_prefix("FLUSHED "))
            .unwrap_or_else(|| {
                panic!(
                    "round {round}: child said {out} {}",
                    String::from_utf8_lossy(&child.stderr)
                )
            })
            .parse()
            .expect("count");

        unmount.resize("64m");
        let _ = std::fs::remove_file(disk.join("filler"));
        let reopened = SledBackend::open(&disk)
            .unwrap_or_else(|e| panic!("round {round}: the store does not open: {e}"));
        for i in 0..flushed {
            let v = reopened.get(&i.to_be_bytes()).expect("read");
            assert_eq!(v.map(|v| v.len()), Some(size), "round {round}: row {i}");
        }
        drop(reopened);
        drop(unmount);
    }
}

/// Writes and flushes batches until the disk is full; prints how many were
/// flushed, then ends the process. Odd sizes fill the disk with another
/// file first (the WAL, say), so the store itself never fails a write, and
/// drop the store as a clean stop does.
fn fill(dir: &std::path::Path, size: usize) {
    let backend = SledBackend::open(dir).expect("open");
    let mut flushed = 0u32;
    if size % 2 == 1 {
        for i in 0..64u32 {
            let mut batch = WriteBatch::default();
            batch.put(i.to_be_bytes().to_vec(), vec![b'x'; size]);
            backend
                .write(batch)
                .and_then(|()| backend.flush())
                .expect("room yet");
            flushed = i + 1;
        }
        let mut filler = std::fs::File::create(dir.join("filler")).expect("filler");
        let chunk = vec![0u8; 4096];
        while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
        println!("FLUSHED {flushed}");
        drop(backend);
        std::process::exit(0);
    }
    for i in 0..100_000u32 {
        let mut batch = WriteBatch::default();
        batch.put(i.to_be_bytes().to_vec(), vec![b'x'; size]);
        if backend.write(batch).and_then(|()| backend.flush()).is_err() {
            break;
        }
        flushed = i + 1;
    }
    assert!(flushed < 100_000, "the disk never filled");
    println!("FLUSHED {flushed}");
    std::process::exit(0);
}

/// A store left by a killed process, copied to a disk with almost no room:
/// opening it may fail for lack of space, but once the disk grows it must
/// open with everything that was flushed (the robustness runner saw sled
/// write an empty snapshot file while recovering on a full disk, and refuse
/// to open ever after).
#[test]
fn a_store_recovering_on_a_full_disk_opens_once_there_is_room() {
    if let Some(dir) = std::env::var_os("KILLED_DIR") {
        let backend = SledBackend::open(std::path::Path::new(&dir)).expect("open");
        for i in 0..400u32 {
            let mut batch = WriteBatch::default();
            batch.put(i.to_be_bytes().to_vec(), vec![b'y'; 3000]);
            backend.write(batch).expect("write");
            if i == 199 {
                backend.flush().expect("flush");
            }
        }
        // Ends without a flush or a drop, as kill -9 would.
        std::process::exit(0);
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let original = scratch.path().join("killed");
    let made = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_store_recovering_on_a_full_disk_opens_once_there_is_room",
        ])
        .env("KILLED_DIR", &original)
        .status()
        .expect("run the writing child");
    assert!(made.success());
    let used: u64 = walk_size(&original);
    for headroom_kib in [0u64, 16, 48, 96, 160, 256, 400] {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = dir.path().join("disk");
        std::fs::create_dir_all(&disk).expect("mount point");
        let size = (used + headroom_kib * 1024).div_ceil(4096) * 4096 + 8 * 4096;
        let unmount = Unmount::mount(&disk, &size.to_string());
        let mut from = original.clone().into_os_string();
        from.push("/.");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(&disk)
            .status()
            .expect("cp");
        if !copied.success() {
            continue; // no room even for the copy
        }
        // First open on the full disk, in a process of its own.
        let _ = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "open_only_child", "--nocapture"])
            .env("OPEN_DIR", &disk)
            .output();
        unmount.resize("64m");
        let reopened = SledBackend::open(&disk).unwrap_or_else(|e| {
            panic!("{headroom_kib} KiB to spare: the store does not open once there is room: {e}")
        });
        for i in 0..200u32 {
            let v = reopened.get(&i.to_be_bytes()).expect("read");
            assert_eq!(v.map(|v| v.len()), Some(3000), "row {i}");
        }
        drop(reopened);
        drop(unmount);
    }
}

/// Opens the store named by `OPEN_DIR` and ends (a member that starts and
/// stops); does nothing when run as a test.
#[test]
fn open_only_child() {
    if let Some(dir) = std::env::var_os("OPEN_DIR") {
        let opened = SledBackend::open(std::path::Path::new(&dir));
        println!("OPENED {}", opened.is_ok());
        std::process::exit(0);
    }
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("entry");
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                walk_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// A batch larger than the room above the reserve is refused before sled
/// writes any of it, even right after a small write found room (a write
/// buffer hands sled megabytes at once; sled meeting the full disk inside
/// one recovered its index row without some of its large values).
#[test]
fn a_batch_that_would_not_fit_above_the_reserve_is_refused_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unmount = Unmount::mount(dir.path(), "48m");
    let reserve = 8 << 20;
    let backend = SledBackend::open_with_reserve(&dir.path().join("db"), reserve).expect("open");
    let mut small = WriteBatch::default();
    small.put(b"small".to_vec(), vec![1; 1000]);
    backend.write(small).expect("a small batch fits");
    let free = fs2::available_space(dir.path()).expect("free space");
    // Half the free space above the reserve would fit once, not twice over.
    let big_bytes = (free - reserve) / 2 + (1 << 20);
    let mut rows = etcd_store::backend::Rows::new();
    let value_bytes = 200_000;
    for i in 0..big_bytes / value_bytes {
        rows.insert(
            format!("big{i:05}").into_bytes(),
            Some(vec![2; value_bytes as usize]),
        );
    }
    let refused = backend.write_rows(&rows).expect_err("the batch is refused");
    assert!(refused.to_string().contains("No space left"), "{refused}");
    assert_eq!(
        backend.get(b"big00000").expect("get"),
        None,
        "nothing of it was written"
    );
    std::mem::forget(backend);
    drop(unmount);
}
