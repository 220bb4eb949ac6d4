//! etcd's benchmark report: the summary, histogram, percentiles and series,
//! as etcd's tool prints them.

use super::*;

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
