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
