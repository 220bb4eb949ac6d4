//! Tests of the parts of `etcd-bench` that give its numbers their meaning:
//! etcd's command lines, the key layout, the statistics and etcd's report
//! layout (against hand-computed expectations), the JSON, CSV and SVG
//! outputs. No server is needed; `etcd_workloads.rs` runs every
//! subcommand against a real etcd.

use std::time::{Duration, UNIX_EPOCH};

use clap::Parser;
use etcd_benches::config::{
    parse_endpoints, Command, Consistency, Isolation, OutputFormat, StmLocker,
};
use etcd_benches::keys::{key, varint_len, Rng};
use etcd_benches::outcome::{Outcome, Section};
use etcd_benches::report::{histogram, percentiles, time_series, Sample, Stats};
use etcd_benches::workloads::stm::pick_keys;
use etcd_benches::workloads::txn::{mixed_is_read, txn_put_keys};
use etcd_benches::{BenchConfig, Cli};

fn parse(line: &str) -> Result<BenchConfig, String> {
    let argv = std::iter::once("etcd-bench").chain(line.split_whitespace());
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    BenchConfig::from_cli(&cli)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ------------------------------------------------------------ command line

#[test]
fn etcd_put_command_line() {
    let cfg = parse(
        "--endpoints=127.0.0.1:2379 --conns=100 --clients=1000 put --key-size=8 \
         --sequential-keys --total=100000 --val-size=256",
    )
    .expect("etcd's put line parses");
    assert_eq!(cfg.connect.endpoints, vec!["http://127.0.0.1:2379"]);
    assert_eq!(cfg.connect.conns, 100);
    assert_eq!(cfg.clients, 1000);
    let Command::Put(put) = &cfg.command else {
        panic!("not put: {:?}", cfg.command)
    };
    assert_eq!(put.key_size, 8);
    assert_eq!(put.val_size, 256);
    assert_eq!(put.total, 100_000);
    assert!(put.sequential_keys);
    assert_eq!(put.key_space_size, 1, "etcd's default");
    assert_eq!(put.rate, 0);
    assert_eq!(put.compact_index_delta, 1000);
    assert!(put.compact_interval.is_zero());
    assert_eq!(cfg.output.format, OutputFormat::Text);
    assert!(!cfg.output.precise);
}

#[test]
fn etcd_range_command_line() {
    let cfg = parse("range foo --consistency=s --total=100").expect("range parses");
    let Command::Range(r) = &cfg.command else {
        panic!("not range")
    };
    assert_eq!(r.key, "foo");
    assert_eq!(r.end, None);
    assert_eq!(r.consistency, Consistency::Serializable);
    assert_eq!(r.total, 100);
    assert_eq!(cfg.connect.endpoints, vec!["http://127.0.0.1:2379"]);

    let cfg = parse("range a z").expect("range with an end");
    let Command::Range(r) = &cfg.command else {
        panic!("not range")
    };
    assert_eq!((r.key.as_str(), r.end.as_deref()), ("a", Some("z")));
    assert_eq!(r.consistency, Consistency::Linearizable);
    assert_eq!(r.total, 10_000);

    let err = parse("range").expect_err("range needs a key");
    assert!(err.contains("KEY"), "{err}");
    let err = parse("range foo --consistency=x").expect_err("bad consistency");
    assert!(err.contains("--consistency"), "{err}");
}

#[test]
fn global_flags_before_or_after_the_subcommand() {
    let before =
        parse("--endpoints a:1,b:2 --clients 3 --conns 2 --precise --output json put --total 5")
            .expect("before");
    let after =
        parse("put --total 5 --endpoints a:1,b:2 --clients 3 --conns 2 --precise --output json")
            .expect("after");
    let mixed = parse("--clients 3 put --endpoints=a:1 --endpoints=b:2 --total 5 --conns=2 --precise --output=json")
        .expect("mixed, repeated --endpoints");
    assert_eq!(before, after);
    assert_eq!(before, mixed);
    assert_eq!(before.connect.endpoints, vec!["http://a:1", "http://b:2"]);
    assert_eq!(before.output.format, OutputFormat::Json);
    assert!(before.output.precise);
    // `--key` (TLS) and range's positional key do not collide.
    let cfg = parse("range foo --cert c.pem --key k.pem").expect("TLS with range");
    let Command::Range(r) = &cfg.command else {
        panic!("not range")
    };
    assert_eq!(r.key, "foo");
    assert_eq!(
        cfg.connect.tls.expect("TLS on").key.as_deref(),
        Some("k.pem")
    );
}

#[test]
fn every_subcommand_has_etcds_defaults() {
    let cmd = |line: &str| parse(line).expect(line).command;
    let Command::TxnPut(t) = cmd("txn-put") else {
        panic!()
    };
    assert_eq!(
        (t.key_size, t.val_size, t.txn_ops, t.total, t.key_space_size),
        (8, 8, 1, 10_000, 1)
    );
    let Command::TxnMixed(t) = cmd("txn-mixed") else {
        panic!()
    };
    assert_eq!((t.rw_ratio, t.limit, t.total), (1.0, 1000, 10_000));
    assert_eq!(t.consistency, Consistency::Linearizable);
    let Command::LeaseKeepalive(l) = cmd("lease-keepalive") else {
        panic!()
    };
    assert_eq!(l.total, 10_000);
    let Command::Watch(w) = cmd("watch") else {
        panic!()
    };
    assert_eq!(
        (
            w.streams,
            w.watch_per_stream,
            w.put_total,
            w.put_rate,
            w.key_size
        ),
        (10, 100, 1000, 0, 32)
    );
    let Command::WatchLatency(w) = cmd("watch-latency") else {
        panic!()
    };
    assert_eq!(
        (w.streams, w.watchers_per_stream, w.put_total, w.put_rate),
        (10, 10, 1000, 100)
    );
    assert_eq!((w.key_size, w.val_size, w.prevkv), (32, 32, false));
    let Command::WatchGet(w) = cmd("watch-get") else {
        panic!()
    };
    assert_eq!((w.watchers, w.streams, w.events), (10_000, 1, 8));
    let Command::Stm(s) = cmd("stm") else {
        panic!()
    };
    assert_eq!(s.isolation, Isolation::RepeatableReads);
    assert_eq!(s.stm_locker, StmLocker::Stm);
    assert_eq!(
        (
            s.keys,
            s.total,
            s.keys_per_txn,
            s.txn_wr_percent,
            s.val_size
        ),
        (1, 10_000, 1, 50, 8)
    );
    let Command::Stm(s) = cmd("stm --isolation ss --keys 100 --keys-per-txn 4") else {
        panic!()
    };
    assert_eq!(s.isolation, Isolation::SerializableSnapshot);
}

#[test]
fn extras_keep_runs_bounded() {
    let cfg = parse("put").expect("defaults");
    assert_eq!(cfg.duration_limit, Duration::from_secs(60));
    assert_eq!(cfg.request_timeout, Duration::from_secs(10));
    let cfg =
        parse("--duration-limit 2.5 --request-timeout 0.5 --dial-timeout 2s put").expect("extras");
    assert_eq!(cfg.duration_limit, ms(2500));
    assert_eq!(cfg.request_timeout, ms(500));
    assert_eq!(cfg.connect.dial_timeout, Duration::from_secs(2));
    let cfg = parse("put --compact-interval 5m").expect("Go duration");
    let Command::Put(p) = cfg.command else {
        panic!()
    };
    assert_eq!(p.compact_interval, Duration::from_secs(300));
}

#[test]
fn invalid_command_lines_are_refused() {
    let cases: &[(&str, &str)] = &[
        ("--clients 0 put", "--clients"),
        ("--conns 0 put", "--conns"),
        ("put --key-space-size 0", "--key-space-size"),
        ("put --total 0", "--total"),
        ("put --key-size 1 --key-space-size 100", "too small"),
        (
            "txn-put --txn-ops 3 --key-space-size 2",
            "--txn-ops no larger",
        ),
        ("txn-mixed --rw-ratio=-1", "--rw-ratio"),
        ("stm --txn-wr-percent 101", "--txn-wr-percent"),
        ("stm --keys 2 --keys-per-txn 3", "--keys-per-txn"),
        ("stm --stm-locker lock-rpc", "not supported"),
        ("stm --isolation x", "--isolation"),
        ("watch-latency --streams 0", "--streams"),
        ("--duration-limit 0 put", "--duration-limit"),
        ("--plot out.png put", "SVG"),
        ("--output yaml put", "--output"),
        ("--endpoints https://a:1,b:2 put", "mixed"),
        ("--cert c.pem put", "--key"),
        ("--cacert= put", "--cacert is empty"),
        ("--insecure-skip-tls-verify put", "needs TLS"),
        ("--user alice put", "needs a password"),
        ("--user :pw put", "empty name"),
        ("--password pw put", "--password needs --user"),
        ("--endpoints unix://sock put", "scheme"),
        ("--endpoints localhost put", "host:port"),
        ("--dial-timeout forever put", "invalid duration"),
        ("put --op put", "--op"),
        ("", "Usage"),
    ];
    for (line, expected) in cases {
        let err = parse(line).expect_err(&format!("{line:?} must be refused"));
        assert!(err.contains(expected), "{line:?}: {err}");
    }
}

#[test]
fn endpoint_list_forms() {
    let eps = parse_endpoints(&["a:1,http://b:2", "", "c:3 "]).expect("valid list");
    assert_eq!(eps, vec!["http://a:1", "http://b:2", "http://c:3"]);
    let cfg = parse("--cacert ca.pem --endpoints a:1,https://b:2 put").expect("TLS for all");
    assert_eq!(cfg.connect.endpoints, vec!["https://a:1", "https://b:2"]);
}

// ------------------------------------------------------------------- keys

#[test]
fn keys_are_gos_putvarint_zero_padded() {
    assert_eq!(key(0, 8), vec![0; 8]);
    assert_eq!(key(1, 8), vec![2, 0, 0, 0, 0, 0, 0, 0], "zigzag: 1 -> 2");
    assert_eq!(key(63, 4), vec![126, 0, 0, 0]);
    assert_eq!(key(64, 4), vec![0x80, 0x01, 0, 0], "two varint bytes");
    assert_eq!(key(300, 3), vec![0xd8, 0x04, 0]);
    assert_eq!(key(5, 32).len(), 32);
    assert_eq!(varint_len(0), 1);
    assert_eq!(varint_len(63), 1);
    assert_eq!(varint_len(64), 2);
    assert_eq!(varint_len(8191), 2);
    assert_eq!(varint_len(8192), 3);
    // The boundary the config checks: 64 keys (0..=63) fit one byte.
    parse("put --key-size 1 --key-space-size 64").expect("fits");
    parse("put --key-size 1 --key-space-size 65").expect_err("does not fit");
}

#[test]
fn rng_is_seeded_bounded_and_fills_values() {
    let draw = |seed| -> Vec<u64> {
        let mut r = Rng::new(seed);
        (0..100).map(|_| r.below(10)).collect()
    };
    assert_eq!(draw(7), draw(7), "same seed, same sequence");
    assert_ne!(draw(7), draw(8));
    assert!(draw(7).iter().all(|&x| x < 10));
    assert_eq!(Rng::new(1).bytes(13).len(), 13);
    let u = Rng::new(3).unit();
    assert!((0.0..1.0).contains(&u));
    assert_ne!(
        Rng::for_client(1, 0).next_u64(),
        Rng::for_client(1, 1).next_u64()
    );
}

#[test]
fn workload_key_choices() {
    assert_eq!(txn_put_keys(0, 3, 10), vec![0, 1, 2]);
    assert_eq!(txn_put_keys(3, 3, 10), vec![9, 0, 1], "wraps the key space");
    let picked = pick_keys(&mut Rng::new(1), 5, 5);
    let mut sorted = picked.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2, 3, 4], "distinct keys");
    // rw-ratio 3: about three reads per write, decided by seed and number.
    let reads = (0..10_000).filter(|&i| mixed_is_read(1, i, 3.0)).count();
    assert!((7_000..8_000).contains(&reads), "{reads} reads of 10000");
    assert_eq!(mixed_is_read(1, 42, 3.0), mixed_is_read(1, 42, 3.0));
    assert_eq!((0..100).filter(|&i| mixed_is_read(1, i, 0.0)).count(), 0);
}

// ------------------------------------------------------------ statistics

#[test]
fn percentiles_use_etcds_rank_rule() {
    // 1000 latencies 1..=1000: the first index i with i*100/n >= p.
    let lats: Vec<f64> = (1..=1000).map(f64::from).collect();
    assert_eq!(
        percentiles(&lats),
        [101.0, 251.0, 501.0, 751.0, 901.0, 951.0, 991.0, 1000.0]
    );
    // Five latencies: ranks 0, 20, 40, 60, 80; 90% and up are never reached.
    let five = [1.0, 2.0, 3.0, 4.0, 10.0];
    assert_eq!(
        percentiles(&five),
        [2.0, 3.0, 4.0, 10.0, 0.0, 0.0, 0.0, 0.0]
    );
    assert_eq!(percentiles(&[]), [0.0; 8]);
}

#[test]
fn histogram_has_ten_buckets_and_the_slowest() {
    let lats = [0.001, 0.002, 0.003, 0.004, 0.010];
    let h = histogram(&lats, 0.001, 0.010);
    assert_eq!(h.len(), 11);
    let counts: Vec<u64> = h.iter().map(|b| b.count).collect();
    assert_eq!(counts, vec![1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1]);
    assert!((h[1].mark_secs - 0.0019).abs() < 1e-12);
    assert_eq!(h[10].mark_secs, 0.010);
    // All equal: everything in the first mark.
    let same = histogram(&[0.5, 0.5, 0.5], 0.5, 0.5);
    assert_eq!(same[0].count, 3);
    assert_eq!(same.iter().map(|b| b.count).sum::<u64>(), 3);
}

fn five_samples_two_errors() -> Vec<Sample> {
    let mut s: Vec<Sample> = [1, 2, 3, 4, 10]
        .into_iter()
        .enumerate()
        .map(|(i, m)| Sample::ok(i as u64, ms(i as u64), ms(m)))
        .collect();
    let unavailable = "rpc error: code = Unavailable desc = x".to_string();
    s.push(Sample::failed(5, ms(5), ms(1), unavailable.clone()));
    s.push(Sample::failed(
        6,
        ms(6),
        ms(1),
        "context deadline exceeded".into(),
    ));
    s.push(Sample::failed(7, ms(7), ms(1), unavailable));
    s
}

#[test]
fn text_report_is_etcds_layout() {
    let stats = Stats::new("put", &five_samples_two_errors(), Duration::from_secs(2));
    let bar = "∎".repeat(40);
    let expected = format!(
        "
Summary:
  Total:\t2.0000 secs.
  Slowest:\t0.0100 secs.
  Fastest:\t0.0010 secs.
  Average:\t0.0040 secs.
  Stddev:\t0.0032 secs.
  Requests/sec:\t2.5000

Response time histogram:
  0.0010 [1]\t|{bar}
  0.0019 [0]\t|
  0.0028 [1]\t|{bar}
  0.0037 [1]\t|{bar}
  0.0046 [1]\t|{bar}
  0.0055 [0]\t|
  0.0064 [0]\t|
  0.0073 [0]\t|
  0.0082 [0]\t|
  0.0091 [0]\t|
  0.0100 [1]\t|{bar}

Latency distribution:
  10% in 0.0020 secs.
  25% in 0.0030 secs.
  50% in 0.0040 secs.
  75% in 0.0100 secs.

Error distribution:
  [2]\trpc error: code = Unavailable desc = x
  [1]\tcontext deadline exceeded
"
    );
    assert_eq!(stats.to_text(false), expected);
    assert_eq!(stats.requests(), 5);
    assert_eq!(stats.failed(), 3);
}

#[test]
fn histogram_bars_scale_to_forty() {
    // 4 fast, 2 slow: the fullest bucket gets 40, the other 2*40/4 = 20.
    let samples: Vec<Sample> = [1, 1, 1, 1, 9, 9]
        .into_iter()
        .enumerate()
        .map(|(i, m)| Sample::ok(i as u64, ms(0), ms(m)))
        .collect();
    let text = Stats::new("x", &samples, Duration::from_secs(1)).to_text(false);
    assert!(
        text.contains(&format!("  0.0010 [4]\t|{}\n", "∎".repeat(40))),
        "{text}"
    );
    assert!(
        text.contains(&format!("  0.0090 [2]\t|{}\n", "∎".repeat(20))),
        "{text}"
    );
}

#[test]
fn precise_uses_gos_g() {
    let samples = vec![Sample::ok(0, ms(0), ms(500)), Sample::ok(1, ms(0), ms(250))];
    let text = Stats::new("x", &samples, Duration::from_secs(4)).to_text(true);
    for line in [
        "  Total:\t4 secs.\n",
        "  Slowest:\t0.5 secs.\n",
        "  Fastest:\t0.25 secs.\n",
        "  Average:\t0.375 secs.\n",
        "  Stddev:\t0.125 secs.\n",
        "  Requests/sec:\t0.5\n",
        "  0.25 [1]\t|",
        "  0.5 [1]\t|",
        "  10% in 0.5 secs.\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("25% in"),
        "two samples reach only 10%: {text}"
    );
}

#[test]
fn report_numbers_are_go_verbs() {
    use etcd_benches::report::number;
    assert_eq!(number(0.00012, false), "0.0001");
    assert_eq!(number(1234.56789, false), "1234.5679");
    assert_eq!(number(2.0, false), "2.0000");
    assert_eq!(number(0.000015, true), "1.5e-05");
}

#[test]
fn sample_series_groups_by_second() {
    let start = UNIX_EPOCH + Duration::from_secs(1000);
    let samples = vec![
        Sample::ok(0, ms(100), ms(2)),
        Sample::ok(1, ms(900), ms(4)),
        Sample::ok(2, ms(2100), ms(6)),
        Sample::failed(3, ms(1500), ms(1), "e".into()),
    ];
    let ts = time_series(&samples, start);
    assert_eq!(ts.len(), 3, "second 1001 is filled in empty");
    assert_eq!((ts[0].unix_second, ts[0].count), (1000, 2));
    assert_eq!((ts[0].min, ts[0].avg, ts[0].max), (ms(2), ms(3), ms(4)));
    assert_eq!((ts[1].unix_second, ts[1].count), (1001, 0));
    assert_eq!((ts[2].unix_second, ts[2].count), (1002, 1));
    let text = Stats::new("x", &samples, Duration::from_secs(3))
        .with_time_series(&samples, start)
        .to_text(false);
    assert!(
        text.contains(
            "\nSample in one second (unix latency throughput):\n\
             UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT\n\
             1000,2ms,3ms,4ms,2\n1001,0s,0s,0s,0\n1002,6ms,6ms,6ms,1\n\n"
        ),
        "{text}"
    );
}

#[test]
fn nothing_succeeded_prints_only_errors() {
    let samples = vec![Sample::failed(0, ms(0), ms(1), "boom".into())];
    let stats = Stats::new("x", &samples, Duration::from_secs(1));
    assert_eq!(stats.to_text(false), "\nError distribution:\n  [1]\tboom\n");
    assert_eq!(Stats::new("x", &[], Duration::ZERO).to_text(false), "");
}

#[test]
fn mutex_prefix_range() {
    use etcd_benches::workloads::mutex::prefix_end;
    assert_eq!(prefix_end(b"stmlock/"), b"stmlock0".to_vec());
    assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
    assert_eq!(prefix_end(b"\xff\xff"), vec![0], "all keys");
}

#[tokio::test]
async fn pacer_counts_paces_and_stops_at_the_deadline() {
    use etcd_benches::load::Pacer;
    use std::time::Instant;
    let far = Instant::now() + Duration::from_secs(60);
    let pacer = Pacer::new(3, 0, far);
    let mut got = Vec::new();
    while let Some(seq) = pacer.claim().await {
        got.push(seq);
    }
    assert_eq!(got, vec![0, 1, 2], "exactly --total numbers");
    assert!(!pacer.hit_deadline());

    // 200/s: the 5th request may start 4 * 5 ms after the first, no sooner.
    let paced = Pacer::new(5, 200, far);
    let began = Instant::now();
    while paced.claim().await.is_some() {}
    assert!(began.elapsed() >= ms(20), "{:?}", began.elapsed());

    // A deadline already past: nothing is handed out, and it says why.
    let late = Pacer::new(5, 0, Instant::now());
    assert_eq!(late.claim().await, None);
    assert!(late.hit_deadline());
    // A rate that cannot fit the total before the deadline stops early.
    let slow = Pacer::new(100, 10, Instant::now() + ms(250));
    let mut n = 0;
    while slow.claim().await.is_some() {
        n += 1;
    }
    assert!((2..=3).contains(&n), "{n} requests at 10/s in 250 ms");
    assert!(slow.hit_deadline());
}

// ---------------------------------------------------------------- outputs

#[test]
fn json_report_shape() {
    let stats = Stats::new("put", &five_samples_two_errors(), Duration::from_secs(2));
    let v: serde_json::Value = serde_json::from_str(&stats.to_json()).expect("valid JSON");
    assert_eq!(v["name"], "put");
    assert_eq!(v["total_secs"], 2.0);
    assert_eq!(v["slowest_secs"], 0.01);
    assert_eq!(v["fastest_secs"], 0.001);
    assert_eq!(v["requests_per_sec"], 2.5);
    assert_eq!(v["requests"], 5);
    assert_eq!(v["failed"], 3);
    let p = v["percentiles"].as_object().expect("percentiles object");
    let keys: Vec<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["p10", "p25", "p50", "p75", "p90", "p95", "p99", "p99.9"]
    );
    assert_eq!(p["p50"], 0.004);
    assert_eq!(v["histogram"].as_array().map(Vec::len), Some(11));
    assert_eq!(
        v["errors"][0]["message"],
        "rpc error: code = Unavailable desc = x"
    );
    assert_eq!(v["errors"][0]["count"], 2);

    let clean = Stats::new(
        "put",
        &[Sample::ok(0, ms(0), ms(1))],
        Duration::from_secs(1),
    );
    let v: serde_json::Value = serde_json::from_str(&clean.to_json()).expect("valid JSON");
    assert!(v.get("errors").is_none(), "errors left out when empty: {v}");
}

fn two_report_outcome() -> Outcome {
    let read = vec![Sample::ok(0, ms(0), ms(1)), Sample::ok(2, ms(5), ms(3))];
    let write = vec![Sample::failed(1, ms(1), ms(2), "boom".into())];
    let section = |name: &str, label: &str, samples: Vec<Sample>| Section {
        heading: format!("Total {label} Ops: {}\nDetails:", samples.len()),
        stats: Stats::new(name, &samples, Duration::from_secs(1)),
        samples,
        trailer: "\n".into(),
    };
    Outcome {
        preamble: "bench with linearizable range\n".into(),
        sections: vec![
            section("txn-mixed-read", "Read", read),
            section("txn-mixed-write", "Write", write),
        ],
        epilogue: String::new(),
    }
}

#[test]
fn outcome_frames_reports_like_etcd() {
    let o = two_report_outcome();
    let text = o.to_text(false);
    assert!(
        text.starts_with("bench with linearizable range\nTotal Read Ops: 2\nDetails:\nSummary:\n")
    );
    assert!(text.contains("\nTotal Write Ops: 1\nDetails:\nError distribution:\n  [1]\tboom\n\n"));
    let lines: Vec<serde_json::Value> = o
        .to_json_lines()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["name"], "txn-mixed-read");
    assert_eq!(lines[1]["failed"], 1);
}

#[test]
fn csv_has_one_row_per_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.csv");
    let o = two_report_outcome();
    let reports: Vec<(&str, &[Sample])> = o
        .sections
        .iter()
        .map(|s| (s.stats.name.as_str(), s.samples.as_slice()))
        .collect();
    etcd_benches::csv_out::write_csv(&path, &reports).expect("written");
    let text = std::fs::read_to_string(&path).expect("read back");
    assert_eq!(
        text,
        "report,seq,start_secs,latency_secs,error\n\
         txn-mixed-read,0,0.0,0.001,\n\
         txn-mixed-read,2,0.005,0.003,\n\
         txn-mixed-write,1,0.001,0.002,boom\n"
    );
}

#[test]
fn plot_is_an_svg_with_both_panels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lat.svg");
    let samples: Vec<Sample> = (1..=500)
        .map(|i| Sample::ok(i, ms(i), Duration::from_micros(i * 37 % 5000 + 100)))
        .collect();
    let a = Stats::new("put-report", &samples, Duration::from_secs(1));
    let b = Stats::new("range-report", &samples[..100], Duration::from_secs(1));
    etcd_benches::plot::write_plot(&path, &[&a, &b]).expect("drawn");
    let svg = std::fs::read_to_string(&path).expect("read back");
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.contains("latency by percentile"));
    assert!(svg.contains("latency histogram"));
    assert!(
        svg.contains("put-report") && svg.contains("range-report"),
        "the legend names both reports"
    );
    assert!(svg.contains("<polyline"), "a percentile curve is drawn");

    let curve = etcd_benches::plot::percentile_curve(&a.lats);
    assert_eq!(curve.first().map(|p| p.0), Some(100.0 / 500.0));
    assert_eq!(curve.last(), Some(&(100.0, a.slowest * 1000.0)));
    let bars = etcd_benches::plot::histogram_bars(&a.lats, 0.1, 5.1);
    assert_eq!(bars.len(), 40);
    assert_eq!(bars.iter().map(|b| b.2).sum::<u64>(), 500);
}

#[test]
fn compare_median_and_report_text() {
    use etcd_benches::compare::{median, PairResult, RunResult, WorkloadResult};
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    let run = |put: f64, cpu: Option<f64>, mib: Option<f64>| RunResult {
        rps: vec![("put".to_string(), put)],
        failed: 0,
        cpu_secs: cpu,
        peak_mib: mib,
    };
    let result = WorkloadResult {
        workload: "put --total 10".into(),
        pairs: vec![
            PairResult {
                a: run(100.0, Some(2.0), Some(50.0)),
                b: run(150.0, Some(1.0), Some(25.0)),
            },
            PairResult {
                a: run(100.0, Some(2.0), Some(50.0)),
                b: run(50.0, Some(3.0), Some(100.0)),
            },
            PairResult {
                a: run(200.0, Some(2.0), Some(50.0)),
                b: run(220.0, Some(2.0), Some(50.0)),
            },
        ],
    };
    assert_eq!(result.reports(), vec!["put".to_string()]);
    assert_eq!(result.ratios("put"), vec![1.5, 0.5, 1.1]);
    let text = result.to_text("etcd", "etcd-rs");
    assert!(text.starts_with("workload: put --total 10\n"), "{text}");
    assert!(
        text.contains("  pair 2: put: etcd 100.0 req/s (cpu 2.00 s, peak 50 MiB), etcd-rs 50.0 req/s (cpu 3.00 s, peak 100 MiB), ratio 0.500\n"),
        "{text}"
    );
    assert!(
        text.contains("  median ratio (etcd-rs / etcd), put: 1.100 [1.500, 0.500, 1.100]\n"),
        "{text}"
    );
    assert!(
        text.contains("CPU seconds: 1.000 [0.500, 1.500, 1.000]"),
        "{text}"
    );
    assert!(
        text.contains("peak memory: 1.000 [0.500, 2.000, 1.000]"),
        "{text}"
    );
}
