//! `check datascale` against real etcd (which serves `/metrics`) with the
//! small load, and against etcd-rs (which does not): the Go etcdctl and
//! etcdctl-rs must print the same lines (the progress bar, revisions and
//! the measured MB masked), exit alike, and leave no keys behind.

mod common;

use common::{run_client, Etcd, GO_ETCDCTL, RS_ETCDCTL};

/// stdout with the progress bar line dropped and numbers that depend on
/// the run (revisions, memory) replaced.
fn mask(out: &str) -> String {
    out.lines()
        .filter(|l| !l.starts_with('\r'))
        .map(|l| {
            if let Some(rest) = l.strip_prefix("PASS: Approximate system memory used : ") {
                let shape_ok = rest.ends_with(" MB.")
                    && rest
                        .trim_end_matches(" MB.")
                        .trim_start_matches('-')
                        .split_once('.')
                        .is_some_and(|(i, f)| {
                            !i.is_empty()
                                && f.len() == 2
                                && (i.to_string() + f).bytes().all(|b| b.is_ascii_digit())
                        });
                return format!("PASS: Approximate system memory used : <MB ok={shape_ok}>");
            }
            for p in ["Compacting with revision ", "Compacted with revision "] {
                if l.starts_with(p) {
                    return format!("{p}<REV>");
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one command line with both clients; a description of a mismatch.
fn compare(ep: &str, args: &[&str]) -> Option<String> {
    let mut all = vec![ep];
    all.extend_from_slice(args);
    let (go_out, go_err, go_code) = run_client(GO_ETCDCTL, &all);
    let (rs_out, rs_err, rs_code) = run_client(RS_ETCDCTL, &all);
    let (g, r) = (mask(&go_out), mask(&rs_out));
    (g != r || go_err != rs_err || go_code != rs_code).then(|| {
        format!(
            "{args:?}\n  go rc={go_code:?} out={g:?} err={go_err:?}\n  rs rc={rs_code:?} out={r:?} err={rs_err:?}"
        )
    })
}

/// How many keys are under `prefix` (the `"Count"` field of a `get`).
fn keys_under(ep: &str, prefix: &str) -> String {
    let (out, _, _) = run_client(
        GO_ETCDCTL,
        &[ep, "get", prefix, "--prefix", "--keys-only", "-w", "fields"],
    );
    out.lines()
        .find(|l| l.starts_with("\"Count\""))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn datascale_against_real_etcd() {
    if !common::reference_available() {
        return;
    }
    let etcd = Etcd::start();
    let ep = format!("--endpoints={}", etcd.endpoint());
    let mut failures = Vec::new();
    for args in [
        &["check", "datascale", "--load=s"][..],
        &[
            "check",
            "datascale",
            "--load",
            "small",
            "--auto-compact",
            "--auto-defrag",
        ],
        &["check", "datascale", "--load=huge"],
    ] {
        failures.extend(compare(&ep, args));
        assert_eq!(
            keys_under(&ep, "/etcdctl-check-datascale/"),
            "\"Count\" : 0"
        );
    }
    // A prefix that already has keys is refused before writing.
    let (_, _, code) = run_client(GO_ETCDCTL, &[&ep, "put", "/busy/k", "v"]);
    assert_eq!(code, Some(0));
    failures.extend(compare(&ep, &["check", "datascale", "--prefix=/busy/"]));
    assert_eq!(keys_under(&ep, "/busy/"), "\"Count\" : 1");
    // The output shape itself.
    let (out, _, code) = run_client(RS_ETCDCTL, &[&ep, "check", "datascale", "--auto-compact"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        mask(&out),
        "Start data scale check for work load [10000 key-value pairs, 1024 bytes per key-value, 50 concurrent clients].\n\
         Compacting with revision <REV>\nCompacted with revision <REV>\n\
         PASS: Approximate system memory used : <MB ok=true>"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn datascale_without_metrics_fails_like_etcdctl() {
    if !common::reference_available() {
        return;
    }
    let etcd = Etcd::start_rs();
    let ep = format!("--endpoints={}", etcd.endpoint());
    let mut failures = Vec::new();
    for args in [
        &["check", "datascale"][..],
        &["check", "datascale", "--load=m", "--auto-defrag"],
    ] {
        failures.extend(compare(&ep, args));
    }
    let (out, err, code) = run_client(RS_ETCDCTL, &[&ep, "check", "datascale"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        (
            "could not find: process_resident_memory_bytes\n\
             FAIL: Could not read process_resident_memory_bytes before the put operations.\n",
            "",
            Some(1)
        )
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
