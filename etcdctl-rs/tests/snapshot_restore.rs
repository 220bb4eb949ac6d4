//! `snapshot save`, `snapshot status` and `snapshot restore` against etcd-rs
//! (whose snapshot format etcdctl-rs reads): an etcd-rs member is filled
//! with keys by the Go etcdctl, backed up and summarised by etcdctl-rs,
//! restored into a new data dir for a new one-member cluster, and the
//! etcd-rs started on that dir must serve every key with the same
//! revisions. The server binary is `target/debug/etcd-rs` (or `ETCD_RS_BIN`);
//! build it first (`cargo build -p raft-node --bin etcd-rs`).

mod common;

use common::{free_port, run_client, Etcd, Member, GO_ETCDCTL, RS_ETCDCTL};

fn ok(bin: &str, args: &[&str]) -> (String, String) {
    let (out, err, code) = run_client(bin, args);
    assert_eq!(code, Some(0), "{bin} {args:?}\n{out}\n{err}");
    (out, err)
}

/// The JSON of `get "" --prefix` without the cluster-specific header ids.
fn keys_and_revision(ep: &str) -> String {
    let (out, _) = ok(GO_ETCDCTL, &[ep, "get", "", "--prefix", "-w", "json"]);
    let rev = out
        .split("\"revision\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_default()
        .to_string();
    let kvs = out
        .split_once("\"kvs\":")
        .map(|(_, k)| k)
        .unwrap_or_default();
    format!("revision {rev} kvs {kvs}")
}

#[test]
fn save_status_restore_round_trip() {
    if !common::reference_available() {
        return;
    }
    let bin = common::etcd_rs_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let (c1, p1) = (free_port(), free_port());
    let cluster1 = format!("n1=http://127.0.0.1:{p1}");
    let data1 = dir.path().join("n1.etcd");
    let mut src = Etcd::spawn(
        &Member {
            bin: &bin,
            name: "n1",
            data_dir: &data1,
            client_port: c1,
            peer_port: p1,
            initial_cluster: &cluster1,
        },
        tempfile::tempdir().expect("temp dir"),
    );
    src.wait_ready();
    let ep1 = format!("--endpoints={}", src.endpoint());
    for i in 0..20 {
        ok(
            GO_ETCDCTL,
            &[&ep1, "put", &format!("key{i:02}"), &format!("value {i}")],
        );
    }
    ok(GO_ETCDCTL, &[&ep1, "put", "key03", "overwritten"]);
    ok(GO_ETCDCTL, &[&ep1, "del", "key07"]);
    ok(GO_ETCDCTL, &[&ep1, "del", "key1", "--prefix"]);
    let expected = keys_and_revision(&ep1);

    let snap = dir.path().join("backup.db");
    let snap = snap.to_string_lossy().into_owned();
    let (out, err) = ok(RS_ETCDCTL, &[&ep1, "snapshot", "save", &snap]);
    assert_eq!(out, format!("Snapshot saved at {snap}\n"));
    assert!(err.contains("\"msg\":\"saved\""), "{err}");

    // status in every format, consistent with each other and the source.
    let (simple, _) = ok(RS_ETCDCTL, &["snapshot", "status", &snap]);
    let (json, _) = ok(RS_ETCDCTL, &["snapshot", "status", &snap, "-w", "json"]);
    let (table, _) = ok(RS_ETCDCTL, &["snapshot", "status", &snap, "-w", "table"]);
    let (fields, _) = ok(RS_ETCDCTL, &["snapshot", "status", &snap, "-w", "fields"]);
    let parts: Vec<&str> = simple.trim_end().split(", ").collect();
    assert_eq!(parts.len(), 4, "{simple:?}");
    let hash = u32::from_str_radix(parts[0], 16).expect("hex hash");
    let revision: i64 = parts[1].parse().expect("revision");
    let total: usize = parts[2].parse().expect("total keys");
    let size = std::fs::metadata(&snap).expect("backup").len();
    assert_eq!(expected.split(' ').nth(1), Some(parts[1]));
    assert!(total >= 13, "{simple:?}");
    assert_eq!(
        json,
        format!("{{\"hash\":{hash},\"revision\":{revision},\"totalKey\":{total},\"totalSize\":{size}}}\n")
    );
    assert_eq!(
        fields,
        format!(
            "\"Hash\" : {hash}\n\"Revision\" : {revision}\n\"Keys\" : {total}\n\"Size\" : {size}\n"
        )
    );
    assert!(table.starts_with("+--"), "{table}");
    assert!(
        // the hash column is as wide as the hash, which Go prints without
        // leading zeros, so only the fixed-width columns are matched exactly.
        table.contains("HASH") && table.contains(" | REVISION | TOTAL KEYS | TOTAL SIZE |"),
        "{table}"
    );
    assert!(table.contains(&format!("| {} |", parts[0])), "{table}");
    let (_, err, code) = run_client(RS_ETCDCTL, &["snapshot", "status", &snap, "-w", "protobuf"]);
    assert_eq!(
        (err.as_str(), code),
        ("Error: protobuf not supported as output format\n", Some(4))
    );

    // restore into a new data dir for a new cluster.
    let (c2, p2) = (free_port(), free_port());
    let peer2 = format!("http://127.0.0.1:{p2}");
    let cluster2 = format!("n2={peer2}");
    let data2 = dir.path().join("restored");
    let data2s = data2.to_string_lossy().into_owned();
    let (out, err) = ok(
        RS_ETCDCTL,
        &[
            "snapshot",
            "restore",
            &snap,
            "--name",
            "n2",
            "--data-dir",
            &data2s,
            "--initial-cluster",
            &cluster2,
            "--initial-cluster-token",
            "restored-token",
            "--initial-advertise-peer-urls",
            &peer2,
        ],
    );
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    let dirs = format!(
        "\"path\":\"{snap}\",\"wal-dir\":\"{data2s}/member/wal\",\"data-dir\":\"{data2s}\",\"snap-dir\":\"{data2s}/member/snap\"}}"
    );
    assert!(lines[0].starts_with("{\"level\":\"info\",\"ts\":"), "{err}");
    assert!(
        lines[0].ends_with(&format!(
            "\"caller\":\"snapshot/v3_snapshot.go:296\",\"msg\":\"restoring snapshot\",{dirs}"
        )),
        "{err}"
    );
    assert!(
        lines[1].contains("\"msg\":\"added member\",\"cluster-id\":\""),
        "{err}"
    );
    assert!(
        lines[1].ends_with(&format!("\"local-member-id\":\"0\",\"added-peer-id\":\"{:x}\",\"added-peer-peer-urls\":[\"{peer2}\"]}}", member_id(&peer2, "restored-token"))),
        "{err}"
    );
    assert!(
        lines[2].ends_with(&format!("\"msg\":\"restored snapshot\",{dirs}")),
        "{err}"
    );

    // Restoring again into the same dir is refused.
    let (_, err, code) = run_client(
        RS_ETCDCTL,
        &[
            "snapshot",
            "restore",
            &snap,
            "--name",
            "n2",
            "--data-dir",
            &data2s,
            "--initial-cluster",
            &cluster2,
            "--initial-advertise-peer-urls",
            &peer2,
        ],
    );
    assert_eq!(
        (err, code),
        (format!("Error: data-dir \"{data2s}\" exists\n"), Some(1))
    );

    let mut restored = Etcd::spawn(
        &Member {
            bin: &bin,
            name: "n2",
            data_dir: &data2,
            client_port: c2,
            peer_port: p2,
            initial_cluster: &cluster2,
        },
        tempfile::tempdir().expect("temp dir"),
    );
    restored.wait_ready();
    let ep2 = format!("--endpoints={}", restored.endpoint());
    assert_eq!(keys_and_revision(&ep2), expected);
    let (members, _) = ok(GO_ETCDCTL, &[&ep2, "member", "list"]);
    assert!(
        members.starts_with(&format!(
            "{:x}, started, n2, {peer2}, ",
            member_id(&peer2, "restored-token")
        )),
        "{members}"
    );
    assert_ne!(restored.cluster_id, src.cluster_id);
    // The restored member takes writes, continuing the revisions.
    ok(GO_ETCDCTL, &[&ep2, "put", "after", "restore"]);
    let (v, _) = ok(GO_ETCDCTL, &[&ep2, "get", "after", "--print-value-only"]);
    assert_eq!(v, "restore\n");
}

/// etcd's member id of a member with one peer URL.
fn member_id(peer: &str, token: &str) -> u64 {
    etcd_datadir::ids::member_id(&[peer.to_string()], token)
}

#[test]
fn member_ids_match_etcd() {
    // etcd's well-known id of `default=http://localhost:2380` with the
    // default token, as the Go etcdctl's restore logs it.
    assert_eq!(
        member_id("http://localhost:2380", "etcd-cluster"),
        0x8e9e_05c5_2164_694d
    );
}

#[test]
fn restore_defaults_like_etcdctl() {
    let bin = common::etcd_rs_bin();
    if !common::reference_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (c, p) = (free_port(), free_port());
    let cluster = format!("default=http://127.0.0.1:{p}");
    let data = dir.path().join("src");
    let mut src = Etcd::spawn(
        &Member {
            bin: &bin,
            name: "default",
            data_dir: &data,
            client_port: c,
            peer_port: p,
            initial_cluster: &cluster,
        },
        tempfile::tempdir().expect("temp dir"),
    );
    src.wait_ready();
    let ep = format!("--endpoints={}", src.endpoint());
    ok(GO_ETCDCTL, &[&ep, "put", "a", "1"]);
    let snap = dir.path().join("s.db").to_string_lossy().into_owned();
    ok(RS_ETCDCTL, &[&ep, "snapshot", "save", &snap]);
    // Defaults: name "default", data dir "default.etcd" in the working dir,
    // the default cluster and peer URL, whose ids etcdctl logs.
    let out = std::process::Command::new(RS_ETCDCTL)
        .args(["snapshot", "restore", &snap])
        .current_dir(dir.path())
        .output()
        .expect("run etcdctl-rs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(dir.path().join("default.etcd/member").is_dir());
    assert!(
        err.contains("\"cluster-id\":\"cdf818194e3a8c32\",\"local-member-id\":\"0\",\"added-peer-id\":\"8e9e05c52164694d\",\"added-peer-peer-urls\":[\"http://localhost:2380\"]"),
        "{err}"
    );
    assert!(err.contains("\"wal-dir\":\"default.etcd/member/wal\",\"data-dir\":\"default.etcd\",\"snap-dir\":\"default.etcd/member/snap\""), "{err}");
    // A separate WAL dir, and the integrity checks.
    let wal = dir.path().join("wal").to_string_lossy().into_owned();
    let d2 = dir.path().join("d2").to_string_lossy().into_owned();
    ok(
        RS_ETCDCTL,
        &[
            "snapshot",
            "restore",
            &snap,
            "--data-dir",
            &d2,
            "--wal-dir",
            &wal,
        ],
    );
    assert!(std::path::Path::new(&wal).is_dir());
    let mut bytes = std::fs::read(&snap).expect("backup");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let bad = dir.path().join("bad.db").to_string_lossy().into_owned();
    std::fs::write(&bad, &bytes).expect("write");
    let d3 = dir.path().join("d3").to_string_lossy().into_owned();
    let (_, err, code) = run_client(
        RS_ETCDCTL,
        &["snapshot", "restore", &bad, "--data-dir", &d3],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .starts_with("Error: expected sha256 ["),
        "{err}"
    );
    // Skipping the hash check restores it anyway (the body is intact).
    ok(
        RS_ETCDCTL,
        &[
            "snapshot",
            "restore",
            &bad,
            "--data-dir",
            &d3,
            "--skip-hash-check",
        ],
    );
    let (_, err, code) = run_client(RS_ETCDCTL, &["snapshot", "status", &bad]);
    assert_eq!((err.as_str(), code), ("Error: invalid database\n", Some(1)));
    bytes.truncate(bytes.len() - 32);
    bytes.push(0);
    let nohash = dir.path().join("nohash.db").to_string_lossy().into_owned();
    std::fs::write(&nohash, &bytes).expect("write");
    let d4 = dir.path().join("d4").to_string_lossy().into_owned();
    let (_, err, code) = run_client(
        RS_ETCDCTL,
        &["snapshot", "restore", &nohash, "--data-dir", &d4],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.ends_with("Error: snapshot missing hash but --skip-hash-check=false\n"),
        "{err}"
    );
}
