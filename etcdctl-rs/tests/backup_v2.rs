//! v2 `backup` of an etcd-rs data dir: a member (serving v2 too) is filled
//! with v3 keys and v2 nodes by the Go etcdctl, killed, and backed up by
//! etcdctl-rs; etcd-rs started on the backup must serve the same v3 keys
//! with the same revisions (`--with-v3`) and the same v2 nodes, or only the
//! v2 nodes without `--with-v3`. A directory that is not a data dir fails
//! exactly as with the Go etcdctl.

mod common;

use std::path::Path;

use common::{
    etcd_rs_bin, free_port, mask_volatile, run_client, Etcd, Member, Proc, GO_ETCDCTL, RS_ETCDCTL,
};

fn ok(bin: &str, args: &[&str]) -> String {
    let (out, err, code) = run_client(bin, args);
    assert_eq!(code, Some(0), "{bin} {args:?}\n{out}\n{err}");
    out
}

/// Runs `bin` in v2 mode (bounded).
fn run_v2(bin: &str, args: &[&str]) -> (String, String, Option<i32>) {
    let mut p = Proc::spawn_env(bin, args, &[("ETCDCTL_API", "2")]);
    let code = p.wait_exit(std::time::Duration::from_secs(30));
    (p.stdout(), p.stderr(), code)
}

/// The Go etcdctl in v2 mode, without syncing the endpoint list.
fn v2(args: &[&str]) -> (String, String, Option<i32>) {
    let mut all = vec!["--no-sync"];
    all.extend_from_slice(args);
    run_v2(GO_ETCDCTL, &all)
}

/// etcdctl-rs `backup ...`, which must succeed silently.
fn rs_backup(args: &[&str]) {
    let (out, err, code) = run_v2(RS_ETCDCTL, args);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "", Some(0)),
        "{args:?}"
    );
}

/// The v3 keys (with revisions) and the v2 tree of a member.
fn contents(ep: &str) -> (String, String) {
    let e3 = format!("--endpoints={ep}");
    let out = ok(GO_ETCDCTL, &[&e3, "get", "", "--prefix", "-w", "json"]);
    let kvs = out
        .split_once("\"kvs\":")
        .map(|(_, k)| k.to_string())
        .unwrap_or_default();
    let e2 = format!("--endpoints=http://{ep}");
    let (tree, err, code) = v2(&[&e2, "ls", "--recursive", "-p", "/"]);
    assert_eq!(code, Some(0), "{err}");
    let mut v2_text = tree.clone();
    for line in tree.lines().filter(|l| !l.ends_with('/')) {
        let (value, err, code) = v2(&[&e2, "get", line]);
        assert_eq!(code, Some(0), "{err}");
        v2_text.push_str(&format!("{line} = {value}"));
    }
    (kvs, v2_text)
}

/// Starts etcd-rs (v2 enabled, plus `extra` flags) on `data_dir`.
fn start(bin: &str, data_dir: &Path, client: u16, peer: u16, extra: &[&str]) -> Etcd {
    let cluster = format!("n1=http://127.0.0.1:{peer}");
    let mut etcd = Etcd::spawn_with(
        &Member {
            bin,
            name: "n1",
            data_dir,
            client_port: client,
            peer_port: peer,
            initial_cluster: &cluster,
        },
        tempfile::tempdir().expect("temp dir"),
        &[&["--enable-v2"], extra].concat(),
    );
    etcd.wait_ready();
    etcd
}

#[test]
fn backup_of_an_etcd_rs_data_dir_starts_with_the_same_data() {
    if !common::reference_available() {
        return;
    }
    let bin = etcd_rs_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("n1.etcd");
    let peer = free_port();
    let src = start(&bin, &data, free_port(), peer, &[]);
    let ep = src.endpoint();
    let e3 = format!("--endpoints={ep}");
    for i in 0..15 {
        ok(
            GO_ETCDCTL,
            &[&e3, "put", &format!("key{i:02}"), &format!("value {i}")],
        );
    }
    ok(GO_ETCDCTL, &[&e3, "put", "key03", "overwritten"]);
    ok(GO_ETCDCTL, &[&e3, "del", "key07"]);
    let e2 = format!("--endpoints=http://{ep}");
    for args in [
        &["set", "/v2/a", "1"][..],
        &["set", "/v2/dir/b", "2"],
        &["mkdir", "/v2/empty"],
        &["set", "/top", "t"],
        &["update", "/v2/a", "1b"],
    ] {
        let mut all = vec![e2.as_str()];
        all.extend_from_slice(args);
        let (_, err, code) = v2(&all);
        assert_eq!(code, Some(0), "{args:?}: {err}");
    }
    let expected = contents(&ep);
    assert!(expected.0.contains("a2V5MDM="), "{expected:?}");
    assert!(expected.1.contains("/v2/dir/b = 2"), "{expected:?}");
    drop(src); // killed: the store may lag its WAL

    let data_s = data.to_string_lossy().into_owned();
    // With v3: everything.
    let full = dir.path().join("full");
    let full_s = full.to_string_lossy().into_owned();
    rs_backup(&[
        "backup",
        "--data-dir",
        &data_s,
        "--backup-dir",
        &full_s,
        "--with-v3",
    ]);
    // Without: only the v2 nodes; a separate WAL dir.
    let v2_only = dir.path().join("v2only");
    let v2_only_s = v2_only.to_string_lossy().into_owned();
    let wal = dir.path().join("v2only-wal").to_string_lossy().into_owned();
    rs_backup(&[
        "backup",
        "--data-dir",
        &data_s,
        "--backup-dir",
        &v2_only_s,
        "--backup-wal-dir",
        &wal,
    ]);
    assert!(Path::new(&wal).is_dir());

    let restored = start(&bin, &full, free_port(), peer, &[]);
    assert_eq!(contents(&restored.endpoint()), expected);
    let e3r = format!("--endpoints={}", restored.endpoint());
    ok(GO_ETCDCTL, &[&e3r, "put", "after", "backup"]);
    drop(restored);

    let restored = start(&bin, &v2_only, free_port(), peer, &["--wal-dir", &wal]);
    let (kvs, tree) = contents(&restored.endpoint());
    assert_eq!(tree, expected.1);
    // Only the v2 namespace (v3 keys under "\0v2", base64 "AHYy") is left.
    let kvs = kvs
        .split_once(",\"count\"")
        .map_or(kvs.as_str(), |(k, _)| k);
    let kvs: serde_json::Value = serde_json::from_str(kvs).expect("kvs JSON");
    let keys: Vec<&str> = kvs
        .as_array()
        .expect("kvs")
        .iter()
        .filter_map(|kv| kv["key"].as_str())
        .collect();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| k.starts_with("AHYy")), "{keys:?}");
}

#[test]
fn backup_of_other_directories_fails_like_go() {
    if !common::reference_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("empty")).expect("mkdir");
    let d = dir.path().to_string_lossy().into_owned();
    let mut failures = Vec::new();
    for (i, args) in [
        "backup --data-dir $D/empty --backup-dir $D/out",
        "backup --data-dir $D/missing/ --backup-dir $D/out",
        "backup --data-dir $D/empty --wal-dir $D/w --backup-dir $D/out --with-v3",
    ]
    .iter()
    .enumerate()
    {
        let mut results = Vec::new();
        for bin in [GO_ETCDCTL, RS_ETCDCTL] {
            let side = dir.path().join(format!("{i}-{}", bin.len()));
            let sd = side.to_string_lossy().into_owned();
            std::fs::create_dir_all(&side).expect("mkdir");
            let args: Vec<String> = args
                .split_whitespace()
                .map(|a| a.replace("$D/out", &format!("{sd}/out")).replace("$D", &d))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (out, err, code) = run_v2(bin, &args);
            let created = side.join("out/member/snap").is_dir();
            results.push((
                out,
                mask_volatile(&err).replace(&sd, "<SIDE>"),
                code,
                created,
            ));
        }
        if results[0] != results[1] {
            failures.push(format!(
                "{args}\n  go {:?}\n  rs {:?}",
                results[0], results[1]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
