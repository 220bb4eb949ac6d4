//! mTLS on the client port, checked with the real Go etcdctl: a client with
//! a certificate from the trusted CA works (put, get, watch, member list,
//! endpoint status); without a certificate, with one from another CA, or
//! with an expired one, it is refused at the handshake.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{eventually, free_port, Member, MemberSpec};

fn etcdctl(endpoint: &str, pki: &Path, client: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", pki.join("ca.pem").display()))
        .args(["--dial-timeout=1s", "--command-timeout=3s"]);
    if let Some(name) = client {
        cmd.arg(format!(
            "--cert={}",
            pki.join(format!("{name}.pem")).display()
        ))
        .arg(format!(
            "--key={}",
            pki.join(format!("{name}-key.pem")).display()
        ));
    }
    cmd.args(args).output().expect("run the Go etcdctl")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    etcd_certs::generate(&pki, &etcd_certs::PkiSpec::default()).expect("generate PKI");
    let port = free_port();
    let mut spec = MemberSpec::single(&dir.path().join("data"), port, &[]);
    spec.extra = vec![
        "--cert-file".into(),
        pki.join("server.pem").display().to_string(),
        "--key-file".into(),
        pki.join("server-key.pem").display().to_string(),
        "--trusted-ca-file".into(),
        pki.join("ca.pem").display().to_string(),
        "--client-cert-auth".into(),
    ];
    spec.tls = true;
    let endpoint = spec.client_url();
    let _member = Member::launch(spec);

    eventually(20, "etcd-rs serving TLS", || {
        let out = etcdctl(&endpoint, &pki, Some("client-root"), &["put", "tls", "yes"]);
        async move { out.status.success().then_some(()) }
    })
    .await;

    let get = etcdctl(&endpoint, &pki, Some("client-root"), &["get", "tls"]);
    assert_eq!(
        String::from_utf8_lossy(&get.stdout),
        "tls\nyes\n",
        "{}",
        text(&get)
    );
    for args in [
        &["member", "list"][..],
        &["endpoint", "status"][..],
        &["watch", "tls", "--rev=1"][..],
    ] {
        let out = if args[0] == "watch" {
            // A watch runs until killed: bound it and check it printed the event.
            let mut child = Command::new("timeout")
                .arg("3")
                .arg("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={endpoint}"))
                .arg(format!("--cacert={}", pki.join("ca.pem").display()))
                .arg(format!("--cert={}", pki.join("client-root.pem").display()))
                .arg(format!(
                    "--key={}",
                    pki.join("client-root-key.pem").display()
                ))
                .args(args)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn watch");
            let _ = child.wait();
            let mut s = String::new();
            use std::io::Read;
            child
                .stdout
                .take()
                .expect("stdout")
                .read_to_string(&mut s)
                .expect("read watch output");
            assert_eq!(s, "PUT\ntls\nyes\n", "watch over mTLS");
            continue;
        } else {
            etcdctl(&endpoint, &pki, Some("client-root"), args)
        };
        assert!(out.status.success(), "{args:?} over mTLS: {}", text(&out));
    }

    for (client, why) in [
        (None, "no client certificate"),
        (Some("client-other-ca"), "a certificate from another CA"),
        (Some("client-expired"), "an expired certificate"),
    ] {
        let out = etcdctl(&endpoint, &pki, client, &["get", "tls"]);
        assert!(
            !out.status.success(),
            "{why} must be refused: {}",
            text(&out)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("yes"),
            "{why} must not read data"
        );
    }
    // Plain HTTP/2 without TLS on the TLS port gets nowhere either.
    let plain = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=127.0.0.1:{port}"))
        .args(["--dial-timeout=1s", "--command-timeout=2s", "get", "tls"])
        .output()
        .expect("run etcdctl");
    assert!(!plain.status.success());
}

/// Three members with peer mTLS form a cluster, elect and replicate; a
/// member whose peer certificate comes from another CA is shut out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_mtls_cluster_refuses_foreign_member() {
    use etcd_proto::etcdserverpb::kv_client::KvClient;
    use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    etcd_certs::generate(&pki, &etcd_certs::PkiSpec::default()).expect("generate PKI");
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("m{i}=https://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut members = Vec::new();
    for (i, (c, p)) in ports.iter().enumerate() {
        // Member 2 presents a certificate from an unrelated CA.
        let (cert, key) = if i == 2 {
            (
                "client-other-ca.pem".to_string(),
                "client-other-ca-key.pem".to_string(),
            )
        } else {
            (
                format!("peer-{}.pem", i + 1),
                format!("peer-{}-key.pem", i + 1),
            )
        };
        let spec = MemberSpec {
            name: format!("m{i}"),
            data_dir: dir.path().join(format!("m{i}")),
            client_port: *c,
            peer_port: *p,
            initial_cluster: initial.clone(),
            state: "new",
            extra: vec![
                "--peer-cert-file".into(),
                pki.join(cert).display().to_string(),
                "--peer-key-file".into(),
                pki.join(key).display().to_string(),
                "--peer-trusted-ca-file".into(),
                pki.join("ca.pem").display().to_string(),
                "--peer-client-cert-auth".into(),
            ],
            tls: false,
            peer_scheme_https: true,
        };
        members.push(Member::launch(spec));
    }
    let good = [members[0].client().await, members[1].client().await];
    KvClient::new(good[0].clone())
        .put(PutRequest {
            key: b"secure".to_vec(),
            value: b"1".to_vec(),
            ..Default::default()
        })
        .await
        .expect("write through the mTLS cluster");
    for ch in &good {
        let kvs = eventually(20, "replicated over peer TLS", || {
            let ch = ch.clone();
            async move {
                let r = KvClient::new(ch)
                    .range(RangeRequest {
                        key: b"secure".to_vec(),
                        serializable: true,
                        ..Default::default()
                    })
                    .await
                    .ok()?
                    .into_inner();
                (!r.kvs.is_empty()).then_some(r.kvs)
            }
        })
        .await;
        assert_eq!(kvs[0].value, b"1");
    }
    // The foreign member never joins: it cannot publish itself, so, as
    // etcd, it never serves clients; whatever it answers (within a bounded
    // look) never holds the data.
    let foreign = tonic::transport::Channel::from_shared(members[2].spec.client_url())
        .expect("endpoint")
        .connect_lazy();
    for _ in 0..10 {
        let mut kv = KvClient::new(foreign.clone());
        let read = kv.range(RangeRequest {
            key: b"secure".to_vec(),
            serializable: true,
            ..Default::default()
        });
        if let Ok(Ok(r)) = tokio::time::timeout(std::time::Duration::from_millis(200), read).await {
            assert!(
                r.into_inner().kvs.is_empty(),
                "a member with a foreign peer cert got data"
            );
        }
    }
}

/// `--auto-tls`: clients reach an https URL served with a generated
/// self-signed certificate (and must skip verification, as with etcd).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_tls_serves_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = MemberSpec::single(&dir.path().join("data"), free_port(), &["--auto-tls"]);
    spec.tls = true;
    let endpoint = spec.client_url();
    let _member = Member::launch(spec);
    let run = |args: &[&str]| {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoint}"))
            .args(["--dial-timeout=1s", "--command-timeout=3s"])
            .args(args)
            .output()
            .expect("run etcdctl")
    };
    eventually(20, "auto-TLS member serving", || {
        let out = run(&[
            "--insecure-skip-tls-verify",
            "--insecure-transport=false",
            "put",
            "auto",
            "tls",
        ]);
        async move { out.status.success().then_some(()) }
    })
    .await;
    let out = run(&[
        "--insecure-skip-tls-verify",
        "--insecure-transport=false",
        "get",
        "auto",
        "--print-value-only",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tls\n");
    let verified = run(&["--insecure-transport=false", "get", "auto"]);
    assert!(
        !verified.status.success(),
        "a self-signed certificate does not verify"
    );
    assert!(dir.path().join("data/fixtures/client/cert.pem").exists());
}

/// `--peer-cert-allowed-cn`: only peers whose certificate carries that common
/// name get through the peer port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_cert_allowed_cn_is_enforced() {
    use clap::Parser;
    use etcd_proto::etcdrs::peer_client::PeerClient;
    use etcd_proto::etcdrs::ClusterInfoRequest;

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    etcd_certs::generate(&pki, &etcd_certs::PkiSpec::default()).expect("generate PKI");
    let p = |name: &str| pki.join(name).display().to_string();
    let mut spec = MemberSpec::single(&dir.path().join("data"), free_port(), &[]);
    spec.peer_scheme_https = true;
    spec.initial_cluster = format!("default={}", spec.peer_url());
    spec.extra = vec![
        "--peer-cert-file".into(),
        p("peer-1.pem"),
        "--peer-key-file".into(),
        p("peer-1-key.pem"),
        "--peer-trusted-ca-file".into(),
        p("ca.pem"),
        "--peer-client-cert-auth".into(),
        "--peer-cert-allowed-cn".into(),
        "peer-2".into(),
    ];
    let peer_url = spec.peer_url();
    let member = Member::launch(spec);
    member.client().await;

    let ask = |cert: &str, key: &str| {
        let config = raft_node::Config::parse_from([
            "etcd-rs",
            "--peer-cert-file",
            &p(cert),
            "--peer-key-file",
            &p(key),
            "--peer-trusted-ca-file",
            &p("ca.pem"),
        ]);
        let url = peer_url.clone();
        async move {
            let tls = raft_node::tls::peer_client_config(&config).expect("client TLS config");
            let channel = raft_node::tls::peer_channel(&url, tls, false).await.ok()?;
            PeerClient::new(channel)
                .cluster_info(ClusterInfoRequest {})
                .await
                .ok()
                .map(|r| r.into_inner().cluster_id)
        }
    };
    assert!(
        ask("peer-2.pem", "peer-2-key.pem").await.is_some(),
        "CN peer-2 is allowed"
    );
    assert!(
        ask("peer-3.pem", "peer-3-key.pem").await.is_none(),
        "CN peer-3 is refused"
    );
}
