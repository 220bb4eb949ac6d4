//! The v2 TLS flags (`--ca-file`, `--cert-file`, `--key-file` and their
//! `ETCDCTL_*` variables) against a real `etcd --enable-v2` serving https
//! with client certificate authentication. Every command line runs with
//! the Go etcdctl (`ETCDCTL_API=2`) and with etcdctl-rs against the same
//! server (so only idempotent commands), and stdout, stderr and exit codes
//! must be identical: good certificates work; refused handshakes (no or a
//! foreign or expired client certificate, the wrong CA, plain HTTP to the
//! TLS port) fail with Go's texts and exit codes; bad files are refused
//! before anything is sent.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{wait_bounded, TlsEtcd, GO_ETCDCTL, RS_ETCDCTL};

const GOOD: &str =
    "--ca-file $PKI/ca.pem --cert-file $PKI/client-root.pem --key-file $PKI/client-root-key.pem";

/// (arguments, environment); `$EP` is `https://127.0.0.1:<port>`.
const CASES: &[(&str, &[(&str, &str)])] = &[
    ("--endpoints $EP $GOOD set /tls 1", &[]),
    ("--endpoints $EP $GOOD get /tls", &[]),
    ("--endpoints $EP $GOOD -o json get /nokey", &[]),
    ("--endpoints $EP $GOOD update /tls 2", &[]),
    ("--endpoints $EP $GOOD ls /", &[]),
    ("--endpoints $EP $GOOD ls --recursive -p /", &[]),
    ("--endpoints $EP $GOOD member list", &[]),
    ("--endpoints $EP $GOOD cluster-health", &[]),
    ("--endpoints $EP $GOOD --no-sync get /tls", &[]),
    ("--endpoints $EP $GOOD --debug get /tls", &[]),
    ("--endpoints https://localhost:$PORT $GOOD get /tls", &[]),
    ("--endpoints http://127.0.0.1:1,$EP $GOOD get /tls", &[]),
    (
        "--endpoints $EP get /tls",
        &[
            ("ETCDCTL_CA_FILE", "$PKI/ca.pem"),
            ("ETCDCTL_CERT_FILE", "$PKI/client-root.pem"),
            ("ETCDCTL_KEY_FILE", "$PKI/client-root-key.pem"),
        ],
    ),
    (
        "get /tls",
        &[
            ("ETCDCTL_ENDPOINTS", "$EP"),
            ("ETCDCTL_CA_FILE", "$PKI/ca.pem"),
            ("ETCDCTL_CERT_FILE", "$PKI/client-user.pem"),
            ("ETCDCTL_KEY_FILE", "$PKI/client-user-key.pem"),
        ],
    ),
    // Refused handshakes.
    ("--endpoints $EP --ca-file $PKI/ca.pem get /tls", &[]),
    ("--endpoints $EP get /tls", &[]),
    ("--endpoints http://127.0.0.1:$PORT $GOOD get /tls", &[]),
    (
        "--endpoints $EP --ca-file $PKI/other-ca.pem --cert-file $PKI/client-root.pem --key-file $PKI/client-root-key.pem get /tls",
        &[],
    ),
    (
        "--endpoints $EP --ca-file $PKI/ca.pem --cert-file $PKI/client-other-ca.pem --key-file $PKI/client-other-ca-key.pem get /tls",
        &[],
    ),
    (
        "--endpoints $EP --ca-file $PKI/ca.pem --cert-file $PKI/client-expired.pem --key-file $PKI/client-expired-key.pem set /tls 3",
        &[],
    ),
    (
        "--endpoints $EP --ca-file $PKI/ca.pem member list",
        &[],
    ),
    // Bad files and flags.
    ("--endpoints $EP --ca-file $PKI/nope.pem get /tls", &[]),
    ("--endpoints $EP --ca-file $PKI/ca-key.pem get /tls", &[]),
    ("--endpoints $EP --ca-file $PKI/ca.pem --cert-file $PKI/client-root.pem get /tls", &[]),
    ("--endpoints $EP --key-file $PKI/client-root-key.pem get /tls", &[]),
    (
        "--endpoints $EP --cert-file $PKI/nope.pem --key-file $PKI/client-root-key.pem get /tls",
        &[],
    ),
    (
        "--endpoints $EP --cert-file $PKI/client-root.pem --key-file $PKI/client-user-key.pem get /tls",
        &[],
    ),
    (
        "--endpoints $EP --cert-file $PKI/ca-key.pem --key-file $PKI/client-root-key.pem get /tls",
        &[],
    ),
    (
        "--endpoints $EP --cert-file $PKI/client-root.pem --key-file $PKI/ca.pem get /tls",
        &[],
    ),
    (
        "--endpoints $EP --cert-file $PKI/client-root.pem --key-file $PKI/empty get /tls",
        &[],
    ),
    (
        "--endpoints $EP --cert-file $PKI/empty --key-file $PKI/client-root-key.pem get /tls",
        &[],
    ),
];

struct Runner {
    pki: String,
    port: u16,
}

impl Runner {
    fn expand(&self, s: &str) -> String {
        s.replace("$GOOD", GOOD)
            .replace("$EP", &format!("https://127.0.0.1:{}", self.port))
            .replace("$PKI", &self.pki)
            .replace("$PORT", &self.port.to_string())
    }

    fn run(&self, bin: &str, args: &str, env: &[(&str, &str)]) -> Output {
        let args = self.expand(args);
        let mut cmd = Command::new(bin);
        cmd.args(args.split_whitespace())
            .env("ETCDCTL_API", "2")
            .env_remove("ETCDCTL_ENDPOINTS")
            .envs(env.iter().map(|(k, v)| (k.to_string(), self.expand(v))))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        wait_bounded(cmd.spawn().expect("spawn client"), Duration::from_secs(30))
    }
}

#[test]
fn v2_tls_flags_match_go_etcdctl() {
    if !common::reference_available() {
        return;
    }
    let pki_dir = tempfile::tempdir().expect("temp dir");
    etcd_certs::generate(pki_dir.path(), &etcd_certs::PkiSpec::default()).expect("PKI");
    std::fs::write(pki_dir.path().join("empty"), "not pem\n").expect("write");
    let etcd = TlsEtcd::spawn(pki_dir.path(), &["--enable-v2"]);
    etcd.wait_ready();
    let r = Runner {
        pki: pki_dir.path().to_string_lossy().into_owned(),
        port: etcd.port,
    };
    let mut failures = Vec::new();
    for (args, env) in CASES {
        let g = r.run(GO_ETCDCTL, args, env);
        let s = r.run(RS_ETCDCTL, args, env);
        // Go's HTTP transport names its read loop in a refused handshake's
        // error only when the alert arrives while it reads (a race).
        let text = |b: &[u8]| String::from_utf8_lossy(b).replace("readLoopPeekFailLocked: ", "");
        let (gs, ss) = (text(&g.stdout), text(&s.stdout));
        let (ge, se) = (text(&g.stderr), text(&s.stderr));
        if gs != ss || ge != se || g.status.code() != s.status.code() {
            failures.push(format!(
                "`{args}` {env:?}\n  go: rc={:?}\n  stdout: {gs:?}\n  stderr: {ge:?}\n  rs: rc={:?}\n  stdout: {ss:?}\n  stderr: {se:?}",
                g.status.code(),
                s.status.code()
            ));
        }
    }
    // The good cases did reach the server.
    let out = r.run(GO_ETCDCTL, "--endpoints $EP $GOOD get /tls", &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n");
    assert!(
        failures.is_empty(),
        "{} of {} v2 TLS command lines differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
