//! `etcd-bench` against a real etcd serving https with client certificate
//! authentication (certificates from the workspace's `etcd-certs` PKI):
//! tiny bounded put loads over mTLS, with `--insecure-skip-tls-verify`,
//! and, once auth is enabled, with `--user` (whose token must override the
//! certificate's CN); refused TLS and wrong passwords end the run with
//! exit code 1 before anything is measured.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ETCD: &str = "/usr/bin/etcd";
const GO_ETCDCTL: &str = "/usr/bin/etcdctl";
const BENCH: &str = env!("CARGO_BIN_EXE_etcd-bench");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tls_etcd(pki: &Path, port: u16) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let peer = format!("http://127.0.0.1:{}", free_port());
    let client = format!("https://127.0.0.1:{port}");
    let child = Command::new(ETCD)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("default={peer}")])
        .arg("--cert-file")
        .arg(pki.join("server.pem"))
        .arg("--key-file")
        .arg(pki.join("server-key.pem"))
        .arg("--trusted-ca-file")
        .arg(pki.join("ca.pem"))
        .arg("--client-cert-auth")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd");
    Server { child, _dir: dir }
}

/// Runs a command, killing it after 60s.
fn run(bin: &str, args: &[String]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("ETCDCTL_API")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().expect("output")
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// A tiny JSON put run; the report.
fn bench(common: &str, extra: &str) -> serde_json::Value {
    let out = run(
        BENCH,
        &words(&format!(
            "{common} {extra} --clients 4 --conns 2 --duration-limit 30 --output json put --total 40"
        )),
    );
    assert!(
        out.status.success(),
        "{extra}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn bench_fails(common: &str, extra: &str) -> String {
    let out = run(
        BENCH,
        &words(&format!(
            "{common} {extra} --duration-limit 3 --output json put --total 5"
        )),
    );
    assert_eq!(out.status.code(), Some(1), "{extra}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bench_over_mtls_and_auth() {
    assert!(
        Path::new(ETCD).exists() && Path::new(GO_ETCDCTL).exists(),
        "{ETCD} and {GO_ETCDCTL} are required (Debian's etcd-server and etcd-client)"
    );
    let pki_dir = tempfile::tempdir().expect("temp dir");
    let pki = pki_dir.path();
    etcd_certs::generate(pki, &etcd_certs::PkiSpec::default()).expect("PKI");
    let port = free_port();
    let _etcd = start_tls_etcd(pki, port);
    let p = |f: &str| pki.join(f).to_string_lossy().into_owned();
    let ep = format!("--endpoints 127.0.0.1:{port}");
    let root = format!(
        "--cacert {} --cert {} --key {}",
        p("ca.pem"),
        p("client-root.pem"),
        p("client-root-key.pem")
    );
    let user_cert = format!(
        "--cacert {} --cert {} --key {}",
        p("ca.pem"),
        p("client-user.pem"),
        p("client-user-key.pem")
    );
    let ctl = |args: &str| {
        run(
            GO_ETCDCTL,
            &words(&format!(
                "--endpoints=127.0.0.1:{port} --cacert={} --cert={} --key={} --dial-timeout=1s {args}",
                p("ca.pem"),
                p("client-root.pem"),
                p("client-root-key.pem")
            )),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ctl("endpoint health").status.success() {
        assert!(Instant::now() < deadline, "etcd over TLS did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let ok = |r: &serde_json::Value, what: &str| {
        assert_eq!(r["requests"], 40, "{what}: {r}");
        assert_eq!(r["failed"], 0, "{what}: {r}");
    };
    ok(&bench(&ep, &root), "mTLS");
    ok(
        &bench(
            &format!("--endpoints https://localhost:{port}"),
            &format!(
                "--insecure-skip-tls-verify --cert {} --key {}",
                p("client-root.pem"),
                p("client-root-key.pem")
            ),
        ),
        "skip verify",
    );
    // Refused: no client certificate, a foreign CA, plain text.
    bench_fails(&ep, &format!("--cacert {}", p("ca.pem")));
    let err = bench_fails(
        &ep,
        &format!(
            "--cacert {} --cert {} --key {}",
            p("other-ca.pem"),
            p("client-root.pem"),
            p("client-root-key.pem")
        ),
    );
    assert!(err.contains("connecting to https://127.0.0.1"), "{err}");
    bench_fails(&ep, "");
    let err = bench_fails(&ep, &format!("--cacert {}", p("nope.pem")));
    assert!(err.contains("nope.pem"), "{err}");

    // Auth on: the token of --user decides, whatever the certificate's CN.
    for args in ["user add root:rootpw", "auth enable"] {
        let out = ctl(args);
        assert!(out.status.success(), "{args}: {out:?}");
    }
    ok(
        &bench(&ep, &format!("{user_cert} --user root:rootpw")),
        "user root",
    );
    ok(
        &bench(&ep, &format!("{user_cert} --user root --password rootpw")),
        "--password",
    );
    let r = bench(&ep, &user_cert);
    assert_eq!(r["requests"], 0, "CN user has no permission: {r}");
    assert_eq!(r["failed"], 40, "{r}");
    let err = bench_fails(&ep, &format!("{root} --user root:bad"));
    assert!(
        err.contains("authentication failed, invalid user ID or password"),
        "{err}"
    );
}
