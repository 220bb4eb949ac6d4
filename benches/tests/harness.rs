//! Tests of the parts of `etcd-bench` that give its numbers their meaning:
//! flag parsing and validation, keys and values, percentile maths and the
//! report formats. No server is needed; the load itself is exercised by
//! `compare.sh` against real servers.

use std::time::Duration;

use clap::Parser;
use etcd_benches::config::parse_endpoints;
use etcd_benches::keys::{digits, key, value, value_seq, Rng};
use etcd_benches::report::{percentile, ErrorTally, Latency};
use etcd_benches::{Args, BenchConfig, Op, Report};

fn parse(flags: &[&str]) -> Result<BenchConfig, String> {
    let mut argv = vec!["etcd-bench"];
    argv.extend_from_slice(flags);
    let args = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
    BenchConfig::from_args(&args)
}

#[test]
fn defaults() {
    let cfg = parse(&[]).expect("defaults are valid");
    assert_eq!(cfg.endpoints, vec!["http://127.0.0.1:2379".to_string()]);
    assert_eq!(cfg.clients, 1);
    assert_eq!(cfg.conns, 1);
    assert_eq!(cfg.total, 10_000);
    assert_eq!(cfg.op, Op::Put);
    assert_eq!((cfg.key_size, cfg.val_size, cfg.key_space), (8, 8, 1000));
    assert_eq!(cfg.duration_limit, Duration::from_secs(60));
    assert_eq!(cfg.rate, None);
    assert!(!cfg.preload, "put does not preload");
    assert!(!cfg.json);
}

#[test]
fn all_flags() {
    let cfg = parse(&[
        "--endpoints",
        "127.0.0.1:1, http://[::1]:2",
        "--clients",
        "64",
        "--conns",
        "8",
        "--total",
        "5000",
        "--op",
        "range-serializable",
        "--key-size",
        "4",
        "--val-size",
        "256",
        "--key-space",
        "10000",
        "--duration-limit",
        "2.5",
        "--request-timeout",
        "0.5",
        "--rate",
        "100",
        "--json",
    ])
    .expect("valid flags");
    assert_eq!(
        cfg.endpoints,
        vec![
            "http://127.0.0.1:1".to_string(),
            "http://[::1]:2".to_string()
        ]
    );
    assert_eq!((cfg.clients, cfg.conns, cfg.total), (64, 8, 5000));
    assert_eq!(cfg.op, Op::RangeSerializable);
    assert_eq!(
        (cfg.key_size, cfg.val_size, cfg.key_space),
        (4, 256, 10_000)
    );
    assert_eq!(cfg.duration_limit, Duration::from_millis(2500));
    assert_eq!(cfg.request_timeout, Duration::from_millis(500));
    assert_eq!(cfg.rate, Some(100.0));
    assert!(cfg.preload, "reads preload the key space");
    assert!(cfg.json);

    let cfg = parse(&["--op", "range", "--no-preload"]).expect("valid");
    assert!(!cfg.preload);
}

#[test]
fn every_op_name_round_trips() {
    for op in Op::ALL {
        let cfg = parse(&["--op", op.name()]).expect("op name parses");
        assert_eq!(cfg.op, op);
    }
    let err = parse(&["--op", "delete"]).expect_err("unknown op");
    assert!(err.contains("unknown op 'delete'"), "{err}");
    assert!(err.contains("watch-latency"), "lists the ops: {err}");
}

#[test]
fn invalid_flags_are_refused() {
    let cases: &[(&[&str], &str)] = &[
        (&["--clients", "0"], "--clients"),
        (&["--conns", "0"], "--conns"),
        (&["--total", "0"], "--total"),
        (&["--key-space", "0"], "--key-space"),
        (&["--key-size", "3", "--key-space", "1001"], "too small"),
        (&["--op", "watch-latency", "--val-size", "4"], "--val-size"),
        (&["--duration-limit", "0"], "--duration-limit"),
        (&["--duration-limit=-1"], "--duration-limit"),
        (&["--rate=-5"], "--rate"),
        (&["--read-percent", "101"], "--read-percent"),
        (&["--endpoints", "https://a:1,b:2"], "mixed"),
        (&["--cert", "c.pem"], "--key"),
        (&["--key", "k.pem"], "--key"),
        (&["--cacert="], "--cacert is empty"),
        (&["--insecure-skip-tls-verify"], "needs TLS"),
        (&["--user", "alice"], "needs a password"),
        (&["--user", ":pw"], "empty name"),
        (&["--password", "pw"], "--password needs --user"),
        (&["--endpoints", "unix://sock"], "scheme"),
        (&["--endpoints", "localhost"], "host:port"),
        (&["--endpoints", " , "], "empty"),
    ];
    for (flags, expected) in cases {
        let err = parse(flags).expect_err(&format!("{flags:?} must be refused"));
        assert!(err.contains(expected), "{flags:?}: {err}");
    }
    // The boundary: 1000 keys (0..=999) fit in 3 digits.
    parse(&["--key-size", "3", "--key-space", "1000"]).expect("3 digits suffice");
}

#[test]
fn endpoint_list_forms() {
    let eps = parse_endpoints("a:1,http://b:2,,c:3 ").expect("valid list");
    assert_eq!(eps, vec!["http://a:1", "http://b:2", "http://c:3"]);
}

#[test]
fn keys_and_values() {
    assert_eq!(digits(0), 1);
    assert_eq!(digits(9), 1);
    assert_eq!(digits(10), 2);
    assert_eq!(digits(999), 3);
    assert_eq!(digits(u64::MAX), 20);
    assert_eq!(key(7, 4), b"0007".to_vec());
    assert_eq!(key(1234, 4), b"1234".to_vec());
    let v = value(42, 16);
    assert_eq!(v.len(), 16);
    assert_eq!(value_seq(&v), Some(42));
    assert_eq!(value(1, 3), b"vvv".to_vec(), "short values carry no number");
    assert_eq!(value_seq(b"short"), None);
}

#[test]
fn rng_is_seeded_and_bounded() {
    let a: Vec<u64> = {
        let mut r = Rng::new(7);
        (0..100).map(|_| r.below(10)).collect()
    };
    let b: Vec<u64> = {
        let mut r = Rng::new(7);
        (0..100).map(|_| r.below(10)).collect()
    };
    assert_eq!(a, b, "same seed, same sequence");
    assert!(a.iter().all(|&x| x < 10));
    let distinct: std::collections::BTreeSet<_> = a.iter().collect();
    assert_eq!(distinct.len(), 10, "100 draws cover all 10 values");
    assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
}

#[test]
fn nearest_rank_percentiles() {
    let v: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&v, 50.0), Some(50));
    assert_eq!(percentile(&v, 90.0), Some(90));
    assert_eq!(percentile(&v, 99.0), Some(99));
    assert_eq!(percentile(&v, 99.9), Some(100));
    assert_eq!(percentile(&v, 100.0), Some(100));
    assert_eq!(percentile(&v, 0.0), Some(1));
    assert_eq!(percentile(&[5], 99.0), Some(5));
    // 3 values: p50 is the 2nd (ceil(1.5)), p90 the 3rd.
    assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
    assert_eq!(percentile(&[1, 2, 3], 90.0), Some(3));
    assert_eq!(percentile(&[], 50.0), None);
}

#[test]
fn latency_summary_from_unsorted_micros() {
    // 1..=1000 ms in microseconds, reversed.
    let mut us: Vec<u64> = (1..=1000).rev().map(|ms| ms * 1000).collect();
    let l = Latency::from_micros(&mut us);
    assert_eq!(l.p50, 500.0);
    assert_eq!(l.p90, 900.0);
    assert_eq!(l.p99, 990.0);
    assert_eq!(l.max, 1000.0);
    assert_eq!(l.mean, 500.5);
    assert_eq!(Latency::from_micros(&mut []), Latency::default());
}

#[test]
fn error_tally_counts_and_orders() {
    let mut a = ErrorTally::default();
    a.add("timeout", 2, || "slow".into());
    a.add("grpc Unavailable", 1, || "down".into());
    a.add("ignored", 0, || "never".into());
    let mut b = ErrorTally::default();
    b.add("grpc Unavailable", 3, || "other message".into());
    a.merge(b);
    assert_eq!(a.total(), 6);
    let kinds = a.kinds();
    assert_eq!(kinds.len(), 2, "zero counts are not recorded");
    assert_eq!(kinds[0].kind, "grpc Unavailable");
    assert_eq!(kinds[0].count, 4);
    assert_eq!(kinds[0].sample, "down", "first sample is kept");
    assert_eq!(kinds[1].kind, "timeout");
    assert_eq!(kinds[1].count, 2);
}

fn sample_report() -> Report {
    let mut lat: Vec<u64> = vec![4000, 1000, 3000, 2000];
    let mut errors = ErrorTally::default();
    errors.add("grpc Unavailable", 1, || "leader lost\n".into());
    Report::new(
        "put",
        &["http://127.0.0.1:2379".to_string()],
        16,
        2,
        5,
        &mut lat,
        &errors,
        Duration::from_millis(2000),
        false,
    )
}

#[test]
fn text_report_is_stable() {
    let text = sample_report().to_text();
    let expected = "\
op: put
endpoints: http://127.0.0.1:2379
clients: 16
conns: 2
total: 5
requests: 4
errors: 1
abandoned: 0
elapsed_s: 2.000
throughput_rps: 2.0
latency_ms: p50=2.000 p90=4.000 p99=4.000 max=4.000 mean=2.500
stopped_by_duration_limit: false
error: grpc Unavailable x1: leader lost
";
    assert_eq!(text, expected);
}

#[test]
fn json_report_has_the_same_numbers() {
    let json = sample_report().to_json();
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["op"], "put");
    assert_eq!(v["requests"], 4);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["throughput_rps"], 2.0);
    assert_eq!(v["latency_ms"]["p50"], 2.0);
    assert_eq!(v["latency_ms"]["max"], 4.0);
    assert_eq!(v["stopped_by_duration_limit"], false);
    assert_eq!(v["error_kinds"][0]["kind"], "grpc Unavailable");
    assert_eq!(v["error_kinds"][0]["count"], 1);
}

#[test]
fn empty_run_reports_zeros() {
    let r = Report::new(
        "range",
        &["http://h:1".to_string()],
        1,
        1,
        10,
        &mut [],
        &ErrorTally::default(),
        Duration::ZERO,
        true,
    );
    assert_eq!(r.requests, 0);
    assert_eq!(r.throughput_rps, 0.0);
    assert!(r.to_text().contains("latency_ms: p50=0.000 p90=0.000"));
    assert!(r.to_text().contains("stopped_by_duration_limit: true"));
}
