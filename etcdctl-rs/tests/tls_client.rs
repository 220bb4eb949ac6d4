//! The TLS flags of etcdctl-rs against a real etcd serving https with
//! client certificate authentication (certificates from the workspace's
//! `etcd-certs` PKI). Each command line runs with the Go etcdctl and with
//! etcdctl-rs against the same server, so outputs must be identical (log
//! timestamps and client ids masked): with a good client certificate put,
//! get, watch and the rest work; without a certificate, with one from a
//! foreign CA or an expired one, or verifying the server with the wrong CA,
//! the command fails exactly as Go's does (`context deadline exceeded`,
//! exit 1); unreadable or half-given files are refused before dialing.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{mask_volatile, wait_bounded, Proc, TlsEtcd, GO_ETCDCTL, RS_ETCDCTL};

/// Command-line words; `$PKI` is the certificate directory, `$PORT` the
/// server's client port.
struct Runner {
    pki: PathBuf,
    port: u16,
}

impl Runner {
    fn expand(&self, s: &str) -> String {
        s.replace("$PKI", &self.pki.to_string_lossy())
            .replace("$PORT", &self.port.to_string())
    }

    fn run(&self, bin: &str, args: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(bin);
        if !args.contains("--endpoints") {
            cmd.arg(format!("--endpoints=127.0.0.1:{}", self.port));
        }
        cmd.args(["--dial-timeout=1s", "--command-timeout=2s"])
            .args(args.split_whitespace().map(|a| self.expand(a)))
            .env_remove("ETCDCTL_API")
            .env_remove("ETCDCTL_ENDPOINTS")
            .envs(env.iter().map(|(k, v)| (k.to_string(), self.expand(v))))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        wait_bounded(cmd.spawn().expect("spawn client"), Duration::from_secs(30))
    }

    /// Runs a case with both clients; a description of any difference.
    fn compare(&self, args: &str, env: &[(&str, &str)]) -> Option<String> {
        let g = self.run(GO_ETCDCTL, args, env);
        let r = self.run(RS_ETCDCTL, args, env);
        let text = |b: &[u8]| mask_volatile(&String::from_utf8_lossy(b));
        let (gs, rs) = (text(&g.stdout), text(&r.stdout));
        let (ge, re) = (text(&g.stderr), text(&r.stderr));
        (gs != rs || ge != re || g.status.code() != r.status.code()).then(|| {
            format!(
                "`{args}` {env:?}\n  go: rc={:?}\n  stdout: {gs:?}\n  stderr: {ge:?}\n  rs: rc={:?}\n  stdout: {rs:?}\n  stderr: {re:?}",
                g.status.code(),
                r.status.code()
            )
        })
    }
}

const GOOD: &str =
    "--cacert=$PKI/ca.pem --cert=$PKI/client-root.pem --key=$PKI/client-root-key.pem";

/// (arguments after the good TLS flags or on their own, environment)
const CASES: &[(&str, &[(&str, &str)])] = &[
    // A good client certificate.
    ("$GOOD put tls yes", &[]),
    ("$GOOD get tls", &[]),
    ("$GOOD get tls -w json", &[]),
    ("$GOOD get tls -w protobuf", &[]),
    ("$GOOD get tls -w fields", &[]),
    ("$GOOD put tls again", &[]),
    ("$GOOD --endpoints=https://127.0.0.1:$PORT get tls", &[]),
    ("$GOOD --endpoints=https://localhost:$PORT get tls", &[]),
    ("$GOOD --endpoints=127.0.0.1:$PORT,https://127.0.0.1:$PORT get tls --print-value-only", &[]),
    ("$GOOD member list -w json", &[]),
    ("$GOOD lease list", &[]),
    ("$GOOD del nothing", &[]),
    (
        "get tls",
        &[
            ("ETCDCTL_CACERT", "$PKI/ca.pem"),
            ("ETCDCTL_CERT", "$PKI/client-root.pem"),
            ("ETCDCTL_KEY", "$PKI/client-root-key.pem"),
        ],
    ),
    (
        "get tls --insecure-skip-tls-verify",
        &[
            ("ETCDCTL_CERT", "$PKI/client-root.pem"),
            ("ETCDCTL_KEY", "$PKI/client-root-key.pem"),
        ],
    ),
    (
        "get tls",
        &[
            ("ETCDCTL_CERT", "$PKI/client-user.pem"),
            ("ETCDCTL_KEY", "$PKI/client-user-key.pem"),
            ("ETCDCTL_INSECURE_SKIP_TLS_VERIFY", "true"),
            ("ETCDCTL_INSECURE_TRANSPORT", "false"),
        ],
    ),
    // Refused handshakes: no certificate, a foreign CA, an expired one,
    // the server verified against the wrong CA, no TLS at all.
    ("--cacert=$PKI/ca.pem get tls", &[]),
    (
        "--cacert=$PKI/ca.pem --cert=$PKI/client-other-ca.pem --key=$PKI/client-other-ca-key.pem get tls",
        &[],
    ),
    (
        "--cacert=$PKI/ca.pem --cert=$PKI/client-expired.pem --key=$PKI/client-expired-key.pem put tls no",
        &[],
    ),
    (
        "--cacert=$PKI/other-ca.pem --cert=$PKI/client-root.pem --key=$PKI/client-root-key.pem get tls",
        &[],
    ),
    ("get tls", &[]),
    // Bad flags, refused before dialing.
    ("--cacert=$PKI/nope.pem get tls", &[]),
    ("--cert=$PKI/client-root.pem get tls", &[]),
    ("--key=$PKI/client-root-key.pem get tls", &[]),
    ("--cert=$PKI/nope.pem --key=$PKI/nope-key.pem get tls", &[]),
    ("--cacert= get tls", &[]),
    ("--cert= --key=x get tls", &[]),
];

/// With auth enabled (root and alice exist; alice has no role).
const AUTH_CASES: &[&str] = &[
    "$GOOD --user root:rootpw get tls",
    "$GOOD --user root:rootpw user list -w json",
    "$GOOD --user root:bad get tls",
    "$GOOD --user alice:apw get tls",
    "$GOOD --user alice:apw put tls x",
    "$GOOD --user nobody:x get tls",
];

/// Polls (at most 30s) until the Go etcdctl can write over mTLS.
fn wait_ready(r: &Runner) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if r.run(GO_ETCDCTL, &format!("{GOOD} endpoint health"), &[])
            .status
            .success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("etcd with TLS on port {} did not become ready", r.port);
}

#[test]
fn tls_flags_match_go_etcdctl() {
    if !common::reference_available() {
        return;
    }
    let pki_dir = tempfile::tempdir().expect("temp dir");
    let pki = pki_dir.path().to_path_buf();
    etcd_certs::generate(&pki, &etcd_certs::PkiSpec::default()).expect("generate PKI");
    let etcd = TlsEtcd::spawn(&pki, &[]);
    let runner = Runner {
        pki: pki.clone(),
        port: etcd.port,
    };
    wait_ready(&runner);

    let mut failures = Vec::new();
    for (args, env) in CASES {
        let args = args.replace("$GOOD", GOOD);
        failures.extend(runner.compare(&args, env));
    }

    // A watch over mTLS prints the four puts of `tls` (3 lines each).
    let watch: Vec<String> = format!(
        "--endpoints=127.0.0.1:{} {GOOD} watch tls --rev=1",
        etcd.port
    )
    .split_whitespace()
    .map(|a| runner.expand(a))
    .collect();
    let watch: Vec<&str> = watch.iter().map(String::as_str).collect();
    let mut outputs = Vec::new();
    for bin in [GO_ETCDCTL, RS_ETCDCTL] {
        let mut p = Proc::spawn(bin, &watch);
        let printed = p.wait_lines(12, Duration::from_secs(10));
        outputs.push((printed, p.stdout()));
    }
    if outputs[0] != outputs[1] || !outputs[0].0 {
        failures.push(format!(
            "watch over mTLS: go {:?} rs {:?}",
            outputs[0], outputs[1]
        ));
    }

    // Password authentication over TLS: the token travels on the mTLS
    // connection. Users are set up (and auth disabled again) with Go.
    let setup = |args: &str| {
        let out = runner.run(GO_ETCDCTL, &format!("{GOOD} {args}"), &[]);
        assert!(out.status.success(), "{args}: {out:?}");
    };
    setup("user add root:rootpw");
    setup("user add alice:apw");
    setup("auth enable");
    for args in AUTH_CASES {
        failures.extend(runner.compare(&args.replace("$GOOD", GOOD), &[]));
    }
    setup("--user root:rootpw auth disable");

    assert!(
        failures.is_empty(),
        "{} of {} TLS command lines differ:\n{}",
        failures.len(),
        CASES.len() + 1 + AUTH_CASES.len(),
        failures.join("\n")
    );
}
