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

mod report;

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
