//! A member refuses to start on a damaged WAL, naming the segment and the
//! offset (the WAL's own rules are tested with the WAL, in etcd-datadir).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etcd_datadir::wal::Wal;
use raft::eraftpb::{Entry, HardState};

/// The only segment of `dir` after five appends, and where each append's
/// records start in it.
fn five_appends(dir: &Path) -> (PathBuf, Vec<usize>) {
    let (mut wal, _) = Wal::open(dir, 1 << 20).expect("open");
    let segment = || -> PathBuf {
        let mut all: Vec<PathBuf> = fs::read_dir(dir)
            .expect("wal dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "wal"))
            .collect();
        all.sort();
        all.pop().expect("a segment")
    };
    let mut starts = Vec::new();
    for i in 1..=5 {
        // Segments are zero-filled and records 8-aligned.
        let bytes = fs::read(segment()).expect("read");
        starts.push(
            bytes
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |i| i + 1)
                .div_ceil(8)
                * 8,
        );
        let entry = Entry {
            index: i,
            term: 1,
            data: b"payload of some length".to_vec().into(),
            ..Default::default()
        };
        let hs = HardState {
            term: 1,
            vote: i,
            commit: i,
            ..Default::default()
        };
        wal.append(&[entry], Some(&hs)).expect("append");
    }
    (segment(), starts)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn server_refuses_to_start_on_a_damaged_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let wal_dir = data.join("member").join("wal");
    let (seg, starts) = five_appends(&wal_dir);
    let mut bytes = fs::read(&seg).expect("read segment");
    bytes[starts[3] + 12] ^= 0x10;
    fs::write(&seg, &bytes).expect("write segment");
    let log = dir.path().join("etcd.log");
    let port = free_port();
    let peer = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_etcd-rs"))
        .args(["--data-dir", data.to_str().expect("utf-8")])
        .args([
            "--listen-client-urls",
            &format!("http://127.0.0.1:{}", port),
        ])
        .args([
            "--advertise-client-urls",
            &format!("http://127.0.0.1:{}", port),
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{}", peer)])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{}", peer),
        ])
        .args([
            "--initial-cluster",
            &format!("default=http://127.0.0.1:{}", peer),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn etcd-rs");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("etcd-rs kept running on a damaged WAL");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = fs::read_to_string(&log).expect("log");
    assert!(!status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(&seg.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(&format!("damaged at byte offset {}", starts[3])),
        "{stderr}"
    );
}
