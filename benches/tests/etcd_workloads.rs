//! Every `etcd-bench` subcommand, briefly, against a real etcd 3.4
//! (`/usr/bin/etcd`) that the test starts on free loopback ports and kills
//! when it is dropped. Each run is a few hundred requests under a hard
//! `--duration-limit`; the checks are that the report parses (etcd's text
//! or the JSON lines) and counts exactly the requests asked for, with no
//! errors.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const ETCD: &str = "/usr/bin/etcd";
const BENCH: &str = env!("CARGO_BIN_EXE_etcd-bench");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A single-member etcd, killed on drop.
struct Etcd {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Etcd {
    /// Starts etcd and waits (up to 30 s) for its "ready to serve client
    /// requests" log line.
    fn start() -> Etcd {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is required (Debian's etcd-server)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut child = Command::new(ETCD)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start etcd");
        let stderr = child.stderr.take().expect("etcd's stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads etcd's log to the end, so etcd never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("ready to serve client requests") {
                    let _ = ready_tx.send(());
                }
            }
        });
        let etcd = Etcd {
            child,
            endpoint: format!("127.0.0.1:{client}"),
            _dir: dir,
        };
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("etcd did not become ready within 30 s");
        etcd
    }

    /// Runs `etcd-bench --endpoints <this> <args>` (bounded by its own
    /// `--duration-limit`).
    fn bench(&self, args: &str) -> Output {
        let out = Command::new(BENCH)
            .arg(format!("--endpoints={}", self.endpoint))
            .args(["--duration-limit", "20"])
            .args(args.split_whitespace())
            .stdin(Stdio::null())
            .output()
            .expect("run etcd-bench");
        assert!(
            out.status.success(),
            "etcd-bench {args}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The JSON reports of `args` (with `--output json`).
    fn json(&self, args: &str) -> Vec<serde_json::Value> {
        let out = self.bench(&format!("--output json {args}"));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args}: {e}: {l}")))
            .collect()
    }
}

/// Checks one JSON report: its name, `requests` successes and no failures.
fn assert_report(r: &serde_json::Value, name: &str, requests: u64) {
    assert_eq!(r["name"], name, "{r}");
    assert_eq!(r["requests"], requests, "{name}: {r}");
    assert_eq!(r["failed"], 0, "{name}: {r}");
    assert_eq!(r["stopped_by_duration_limit"], false, "{name}: {r}");
    let histogram: u64 = r["histogram"]
        .as_array()
        .expect("histogram")
        .iter()
        .map(|b| b["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(
        histogram, requests,
        "{name}: the histogram counts every request"
    );
    assert!(r["requests_per_sec"].as_f64().expect("rps") > 0.0, "{r}");
}

/// The fields of etcd's text report that scripts read.
struct TextReport {
    requests_per_sec: f64,
    slowest: f64,
    histogram_total: u64,
    percentile_lines: usize,
}

fn parse_text(text: &str) -> TextReport {
    let field = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("  {name}:\t")))
            .unwrap_or_else(|| panic!("no {name} line in\n{text}"));
        line.split('\t')
            .nth(1)
            .expect("value")
            .trim_end_matches(" secs.")
            .parse()
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    };
    let histogram = text
        .split("\nResponse time histogram:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("histogram block");
    let histogram_total = histogram
        .lines()
        .map(|l| {
            let count = l.split('[').nth(1).and_then(|r| r.split(']').next());
            count.expect("[count]").parse::<u64>().expect("count")
        })
        .sum();
    assert_eq!(histogram.lines().count(), 11, "{histogram}");
    let percentile_lines = text
        .lines()
        .filter(|l| l.contains("% in ") && l.ends_with(" secs."))
        .count();
    TextReport {
        requests_per_sec: field("Requests/sec"),
        slowest: field("Slowest"),
        histogram_total,
        percentile_lines,
    }
}

#[test]
fn every_subcommand_against_real_etcd() {
    let etcd = Etcd::start();

    // put, with etcd's own command line shape; text report.
    let out = etcd.bench(
        "--conns=2 --clients=8 put --key-size=8 --sequential-keys --total=300 \
         --val-size=256 --key-space-size=100",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("\nSummary:\n  Total:\t"), "{text}");
    let r = parse_text(&text);
    assert_eq!(r.histogram_total, 300, "{text}");
    assert_eq!(
        r.percentile_lines, 7,
        "300 samples reach 99%, not 99.9%: {text}"
    );
    assert!(r.requests_per_sec > 0.0 && r.slowest > 0.0, "{text}");
    assert!(!text.contains("Error distribution"), "{text}");

    // range, serializable; flags after the subcommand.
    let out = etcd.bench("range foo --consistency=s --total=200 --clients 4");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("bench with serializable range\n\nSummary:\n"),
        "{text}"
    );
    assert_eq!(parse_text(&text).histogram_total, 200);

    let r = etcd.json("--clients 4 txn-put --txn-ops 3 --key-space-size 10 --total 200");
    assert_report(&r[0], "txn-put", 200);

    let r = etcd.json("--clients 4 txn-mixed --key-space-size 10 --total 300 --rw-ratio 2");
    assert_eq!(r.len(), 2, "a read and a write report");
    let (reads, writes) = (
        r[0]["requests"].as_u64().expect("reads"),
        r[1]["requests"].as_u64().expect("writes"),
    );
    assert_report(&r[0], "txn-mixed-read", reads);
    assert_report(&r[1], "txn-mixed-write", writes);
    assert_eq!(reads + writes, 300);
    assert!(reads > writes, "rw-ratio 2 reads more: {reads} / {writes}");

    let r = etcd.json("--clients 4 --conns 2 lease-keepalive --total 200");
    assert_report(&r[0], "lease-keepalive", 200);

    // watch: 2 x 5 watchers on 5 keys (2 per key); 40 puts -> 80 events.
    let r = etcd.json(
        "--clients 2 --conns 2 watch --streams 2 --watch-per-stream 5 --put-total 40 \
         --key-space-size 5 --sequential-keys",
    );
    assert_report(&r[0], "watch-creation", 10);
    assert_report(&r[1], "watch-events", 80);

    // watch-latency: 2 x 3 watchers, 30 puts -> 180 events.
    let r = etcd
        .json("watch-latency --streams 2 --watchers-per-stream 3 --put-total 30 --put-rate 500");
    assert_report(&r[0], "watch-latency-put", 30);
    assert_report(&r[1], "watch-latency-events", 180);

    let r = etcd.json("--clients 2 watch-get --watchers 100 --streams 2 --events 4");
    assert_eq!(r[0]["name"], "watch-get");
    assert_eq!(r[0]["failed"], 0, "every watcher got its events: {}", r[0]);
    assert!(r[0]["requests"].as_u64().expect("gets") > 0, "{}", r[0]);

    // --target-leader keeps only the leader of the endpoints given (a
    // dead one is added after etcd's); without it a dead endpoint ends the run.
    let r = etcd.json(
        "--endpoints=127.0.0.1:1 --target-leader --dial-timeout 500ms --conns 2 \
         range foo --total 50",
    );
    assert_report(&r[0], "range", 50);
    let dead = Command::new(BENCH)
        .args([
            "--endpoints=127.0.0.1:1",
            "--dial-timeout",
            "500ms",
            "put",
            "--total",
            "1",
        ])
        .output()
        .expect("run etcd-bench");
    assert_eq!(dead.status.code(), Some(1), "{dead:?}");

    for isolation in ["c", "r", "s", "ss"] {
        let r = etcd.json(&format!(
            "--clients 4 stm --keys 5 --keys-per-txn 2 --total 100 --isolation {isolation}"
        ));
        assert_report(&r[0], "stm", 100);
    }
    // Each transaction inside the distributed mutex (one session per client).
    let r =
        etcd.json("--clients 3 stm --keys 5 --keys-per-txn 2 --total 30 --stm-locker lock-client");
    assert_report(&r[0], "stm", 30);
}

#[test]
fn csv_plot_and_precise_from_a_real_run() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("put.csv");
    let svg = dir.path().join("put.svg");
    let out = etcd.bench(&format!(
        "--precise --sample --clients 2 put --total 150 --csv {} --plot {} \
         --check-hashkv --compact-interval 50ms --compact-index-delta 10",
        csv.display(),
        svg.display()
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\nSample in one second (unix latency throughput):\nUNIX-SECOND,"),
        "{text}"
    );
    assert!(
        text.contains("\n\nHashKV Summary:\n\tHashKV: ") && text.contains("\tDB size: "),
        "{text}"
    );
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("  Requests/sec:\t"))
        .expect("Requests/sec");
    assert!(
        rps.split('.').nth(1).map_or(0, str::len) > 4 || !rps.contains('.'),
        "--precise prints full precision, not %4.4f: {rps}"
    );

    let rows = std::fs::read_to_string(&csv).expect("CSV written");
    let mut lines = rows.lines();
    assert_eq!(
        lines.next(),
        Some("report,seq,start_secs,latency_secs,error")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 150, "one row per request");
    assert!(
        rows.iter()
            .all(|r| r.starts_with("put,") && r.ends_with(',')),
        "no errors"
    );
    let svg = std::fs::read_to_string(&svg).expect("SVG written");
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "a curve is drawn"
    );
}
