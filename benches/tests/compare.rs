//! `etcd-bench compare` end to end: real etcd 3.4 (`/usr/bin/etcd`) on both
//! sides, started and killed by compare itself, a few hundred puts per run.
//! Checks the shape of the report (every pair, a ratio each, the median,
//! CPU and memory of the started servers) and that no server is left
//! running; and that bad command lines are refused before anything starts.

use std::process::Command;

const ETCD: &str = "/usr/bin/etcd";
const BENCH: &str = env!("CARGO_BIN_EXE_etcd-bench");

/// Processes whose command line mentions `marker`.
fn processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(marker))
        .count()
}

#[test]
fn compare_alternates_two_started_servers_and_reports_ratios() {
    // A flag only these servers carry, to find them in /proc afterwards.
    let marker = format!(
        "--quota-backend-bytes={}",
        3_000_000_000u64 + u64::from(std::process::id())
    );
    let out = Command::new(BENCH)
        .args(["compare", "--pairs", "2", "--output", "json"])
        .args(["--a-server", ETCD, "--a-name", "first"])
        .args(["--b-server", ETCD, "--b-name", "second"])
        .arg(format!("--a-flag={marker}"))
        .arg(format!("--b-flag={marker}"))
        .args([
            "--workload",
            "--clients 4 put --total 200 --key-size 8 --val-size 16",
        ])
        .args([
            "--workload",
            "--clients 2 range foo --total 100 --consistency s",
        ])
        .output()
        .expect("run etcd-bench compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "compare failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "one object per workload and report: {stdout}"
    );
    for (line, report) in lines.iter().zip(["put", "range"]) {
        assert_eq!(line["report"], report);
        assert_eq!(line["a"], "first");
        assert_eq!(line["b"], "second");
        let pairs = line["pairs"].as_array().expect("pairs");
        assert_eq!(pairs.len(), 2);
        let mut ratios = Vec::new();
        for p in pairs {
            for side in ["a", "b"] {
                let run = &p[side];
                assert!(run["requests_per_sec"].as_f64().expect("rps") > 0.0);
                assert_eq!(run["failed"], 0);
                assert!(run["cpu_secs"].as_f64().expect("cpu of a started server") >= 0.0);
                assert!(
                    run["peak_mib"]
                        .as_f64()
                        .expect("memory of a started server")
                        > 1.0
                );
            }
            ratios.push(
                p["b"]["requests_per_sec"].as_f64().unwrap()
                    / p["a"]["requests_per_sec"].as_f64().unwrap(),
            );
        }
        let reported: Vec<f64> = line["ratios"]
            .as_array()
            .expect("ratios")
            .iter()
            .map(|r| r.as_f64().unwrap())
            .collect();
        assert_eq!(reported.len(), ratios.len());
        for (r, want) in reported.iter().zip(&ratios) {
            assert!((r - want).abs() < 1e-9, "{reported:?} vs {ratios:?}");
        }
        let median = line["median_ratio"].as_f64().expect("median");
        assert!((median - (ratios[0] + ratios[1]) / 2.0).abs() < 1e-9);
    }
    assert_eq!(processes_with(&marker), 0, "compare left a server running");
}

#[test]
fn compare_refuses_bad_command_lines_before_starting_anything() {
    for (args, wanted) in [
        (vec!["--b-server", ETCD, "--workload", "put"], "side A"),
        (
            vec![
                "--a-server",
                ETCD,
                "--a-endpoint",
                "127.0.0.1:1",
                "--b-server",
                ETCD,
                "--workload",
                "put",
            ],
            "not both",
        ),
        (
            vec![
                "--a-server",
                ETCD,
                "--b-server",
                ETCD,
                "--workload",
                "put --no-such-flag",
            ],
            "no-such-flag",
        ),
        (
            vec![
                "--a-server",
                ETCD,
                "--b-server",
                ETCD,
                "--workload",
                "--endpoints x:1 put",
            ],
            "--endpoints is set by compare",
        ),
        (
            vec![
                "--a-server",
                ETCD,
                "--b-server",
                ETCD,
                "--pairs",
                "0",
                "--workload",
                "put",
            ],
            "--pairs",
        ),
    ] {
        let out = Command::new(BENCH)
            .arg("compare")
            .args(&args)
            .output()
            .expect("run etcd-bench compare");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    }
}
