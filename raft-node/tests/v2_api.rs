//! The v2 HTTP API (`--enable-v2`) of a real `etcd-rs` process, spoken
//! over plain HTTP/1.1: etcd's JSON bodies, status codes, headers and error
//! codes for set/get/create/update/CAS/delete, directories, in-order keys,
//! hidden keys, TTL expiry, waits with `waitIndex` (including a compacted
//! one), members/stats/machines, and v2 data surviving a restart.

mod common;

use std::time::Duration;

use common::http::{exchange, Reply};
use common::{eventually, free_port, Member};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::CompactionRequest;

fn http(port: u16, method: &str, target: &str, body: &str) -> Reply {
    http_typed(
        port,
        method,
        target,
        body,
        "application/x-www-form-urlencoded",
    )
}

fn http_typed(port: u16, method: &str, target: &str, body: &str, ctype: &str) -> Reply {
    exchange(port, method, target, body, ctype, None)
}

async fn start_v2(dir: &std::path::Path) -> Member {
    let m = Member::start(dir, free_port(), &["--enable-v2"]);
    m.client().await;
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_semantics_match_etcd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = start_v2(&tmp.path().join("m")).await;
    let p = m.port;

    // set: 201 on a new key, headers, then 200 with prevNode.
    let r = http(p, "PUT", "/v2/keys/foo", "value=bar");
    assert_eq!(r.status, 201, "{}", r.body);
    let idx: i64 = r
        .header("x-etcd-index")
        .expect("index")
        .parse()
        .expect("int");
    assert!(r.header("x-raft-index").is_some() && r.header("x-raft-term").is_some());
    assert!(r.header("x-etcd-cluster-id").is_some());
    assert_eq!(
        r.body,
        format!(
            "{}\n",
            format_args!(
                r#"{{"action":"set","node":{{"key":"/foo","value":"bar","modifiedIndex":{idx},"createdIndex":{idx}}}}}"#
            )
        )
    );
    let r = http(p, "PUT", "/v2/keys/foo", "value=baz");
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["prevNode"]["value"], "bar");
    assert_eq!(
        j["node"]["createdIndex"], j["node"]["modifiedIndex"],
        "set makes a new node"
    );

    // get and key not found (cause is the first missing segment).
    let r = http(p, "GET", "/v2/keys/foo", "");
    assert_eq!((r.status, r.json()["action"].as_str()), (200, Some("get")));
    let r = http(p, "GET", "/v2/keys/nope/deeper", "");
    assert_eq!(r.status, 404);
    let j = r.json();
    assert_eq!(
        (j["errorCode"].as_i64(), j["cause"].as_str()),
        (Some(100), Some("/nope"))
    );
    assert_eq!(j["message"], "Key not found");
    let r = http(p, "GET", "/v2/keys/foo/x", "");
    assert_eq!((r.status, r.json()["errorCode"].as_i64()), (400, Some(104)));

    // CAS: value and index compares, etcd's causes.
    let r = http(p, "PUT", "/v2/keys/foo?prevValue=x", "value=1");
    assert_eq!(r.status, 412);
    assert_eq!(r.json()["cause"], "[x != baz]");
    let modified = http(p, "GET", "/v2/keys/foo", "").json()["node"]["modifiedIndex"]
        .as_i64()
        .expect("index");
    let r = http(
        p,
        "PUT",
        &format!("/v2/keys/foo?prevIndex={modified}"),
        "value=2",
    );
    assert_eq!(
        (r.status, r.json()["action"].as_str()),
        (200, Some("compareAndSwap"))
    );
    let r = http(p, "DELETE", "/v2/keys/foo?prevValue=nope", "");
    assert_eq!((r.status, r.json()["errorCode"].as_i64()), (412, Some(101)));
    let r = http(p, "DELETE", "/v2/keys/foo?prevValue=2", "");
    assert_eq!(r.json()["action"], "compareAndDelete");

    // create / update via prevExist.
    let r = http(p, "PUT", "/v2/keys/c?prevExist=false", "value=1");
    assert_eq!(
        (r.status, r.json()["action"].as_str()),
        (201, Some("create"))
    );
    let r = http(p, "PUT", "/v2/keys/c?prevExist=false", "value=1");
    assert_eq!((r.status, r.json()["errorCode"].as_i64()), (412, Some(105)));
    let r = http(p, "PUT", "/v2/keys/c?prevExist=true", "value=2");
    assert_eq!(r.json()["action"], "update");
    let r = http(p, "PUT", "/v2/keys/none?prevExist=true", "value=2");
    assert_eq!(r.status, 404);

    // directories: auto-created parents, listing, not a file, not empty.
    let r = http(p, "PUT", "/v2/keys/d/e/f", "value=1");
    let set_index = r.json()["node"]["modifiedIndex"].clone();
    let r = http(p, "GET", "/v2/keys/d", "");
    let j = r.json();
    assert_eq!(j["node"]["dir"], true);
    assert_eq!(
        j["node"]["createdIndex"], set_index,
        "parents share the write's index"
    );
    assert!(
        j["node"]["nodes"][0].get("nodes").is_none(),
        "not recursive"
    );
    let r = http(p, "GET", "/v2/keys/d?recursive=true", "");
    assert_eq!(r.json()["node"]["nodes"][0]["nodes"][0]["value"], "1");
    let r = http(p, "PUT", "/v2/keys/d?dir=true", "");
    assert_eq!((r.status, r.json()["errorCode"].as_i64()), (403, Some(102)));
    let r = http(p, "DELETE", "/v2/keys/d", "");
    assert_eq!(r.json()["errorCode"], 102);
    let r = http(p, "DELETE", "/v2/keys/d?dir=true", "");
    assert_eq!((r.status, r.json()["errorCode"].as_i64()), (403, Some(108)));
    let r = http(p, "DELETE", "/v2/keys/d?recursive=true", "");
    let j = r.json();
    assert_eq!(
        (j["action"].as_str(), j["node"]["dir"].as_bool()),
        (Some("delete"), Some(true))
    );
    assert_eq!(http(p, "GET", "/v2/keys/d/e/f", "").status, 404);
    let r = http(p, "PUT", "/v2/keys/empty?dir=true", "");
    assert_eq!(r.status, 201);
    assert_eq!(http(p, "DELETE", "/v2/keys/empty?dir=true", "").status, 200);

    // root is read only; validation errors carry index 0.
    let r = http(p, "PUT", "/v2/keys/", "value=1");
    assert_eq!((r.status, r.json()["errorCode"].as_i64()), (400, Some(107)));
    let r = http(p, "PUT", "/v2/keys/x?ttl=abc", "value=1");
    assert_eq!(
        r.body,
        concat!(
            r#"{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}"#,
            "\n"
        )
    );
    assert_eq!(
        http(p, "GET", "/v2/keys/x?recursive=maybe", "").json()["errorCode"],
        209
    );
    assert_eq!(
        http(p, "DELETE", "/v2/keys/x?prevValue=", "").json()["errorCode"],
        201
    );
    assert_eq!(
        http(p, "PUT", "/v2/keys/x?refresh=true", "").json()["errorCode"],
        212
    );

    // in-order keys: unique, increasing, named by their index.
    let a = http(p, "POST", "/v2/keys/q", "value=1").json();
    let b = http(p, "POST", "/v2/keys/q", "value=2").json();
    assert_eq!(a["action"], "create");
    let (ka, kb) = (
        a["node"]["key"].as_str().unwrap(),
        b["node"]["key"].as_str().unwrap(),
    );
    assert!(ka < kb, "{ka} < {kb}");
    assert_eq!(
        ka,
        format!("/q/{:020}", a["node"]["createdIndex"].as_i64().unwrap())
    );
    let list = http(p, "GET", "/v2/keys/q?sorted=true", "").json();
    assert_eq!(list["node"]["nodes"][1]["value"], "2");

    // hidden keys: readable directly, not listed.
    http(p, "PUT", "/v2/keys/_hidden", "value=h");
    assert_eq!(
        http(p, "GET", "/v2/keys/_hidden", "").json()["node"]["value"],
        "h"
    );
    let root = http(p, "GET", "/v2/keys/?recursive=true", "").body;
    assert!(!root.contains("_hidden"), "{root}");
    assert!(
        root.starts_with(r#"{"action":"get","node":{"dir":true,"nodes":["#),
        "{root}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ttl_expiry_and_waits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = start_v2(&tmp.path().join("m")).await;
    let p = m.port;

    let r = http(p, "PUT", "/v2/keys/t", "value=1&ttl=1");
    let j = r.json();
    assert_eq!(j["node"]["ttl"], 1);
    assert!(j["node"]["expiration"]
        .as_str()
        .is_some_and(|e| e.ends_with('Z')));
    let set_index = j["node"]["modifiedIndex"].as_i64().expect("index");

    // A wait opened now gets the expiry.
    let waiter = std::thread::spawn(move || http(p, "GET", "/v2/keys/t?wait=true", ""));
    eventually(15, "ttl key expired", || async {
        (http(p, "GET", "/v2/keys/t", "").status == 404).then_some(())
    })
    .await;
    let expired = waiter.join().expect("waiter").json();
    assert_eq!(expired["action"], "expire");
    assert_eq!(expired["node"]["createdIndex"], set_index);
    assert_eq!(expired["prevNode"]["value"], "1");

    // waitIndex in the past answers from history at once.
    let r = http(
        p,
        "GET",
        &format!("/v2/keys/t?wait=true&waitIndex={set_index}"),
        "",
    );
    assert_eq!(r.json()["action"], "set");

    // A recursive wait sees a write below the directory.
    http(p, "PUT", "/v2/keys/w/a", "value=0");
    let waiter =
        std::thread::spawn(move || http(p, "GET", "/v2/keys/w?wait=true&recursive=true", ""));
    // The wait is registered once its headers are out; writes until it sees one.
    let mut n = 0;
    while !waiter.is_finished() && n < 100 {
        n += 1;
        http(p, "PUT", "/v2/keys/w/b", &format!("value={n}"));
        std::thread::sleep(Duration::from_millis(50));
    }
    let j = waiter.join().expect("waiter").json();
    assert_eq!(
        (j["action"].as_str(), j["node"]["key"].as_str()),
        (Some("set"), Some("/w/b"))
    );

    // A TTL directory expires with its contents.
    http(p, "PUT", "/v2/keys/td?dir=true", "ttl=1");
    http(p, "PUT", "/v2/keys/td/child", "value=c");
    eventually(15, "ttl dir expired", || async {
        (http(p, "GET", "/v2/keys/td/child", "").status == 404).then_some(())
    })
    .await;

    // A waitIndex below the compacted revision is cleared (401).
    let current: i64 = http(p, "GET", "/v2/keys/", "")
        .header("x-etcd-index")
        .expect("index")
        .parse()
        .expect("int");
    KvClient::new(m.client().await)
        .compact(CompactionRequest {
            revision: current,
            physical: true,
        })
        .await
        .expect("compact");
    let r = http(p, "GET", "/v2/keys/t?wait=true&waitIndex=1", "");
    assert_eq!(r.status, 400);
    let j = r.json();
    assert_eq!(j["errorCode"], 401);
    assert_eq!(
        j["message"],
        "The event in requested index is outdated and cleared"
    );
    assert_eq!(
        j["cause"],
        format!("the requested history has been cleared [{current}/1]")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn members_stats_machines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = start_v2(&tmp.path().join("m")).await;
    let p = m.port;
    let url = format!("http://127.0.0.1:{p}");

    // The member publishes its client URLs through the log after start.
    let j = eventually(20, "client URLs published", || async {
        let j = http(p, "GET", "/v2/members", "").json();
        (j["members"][0]["clientURLs"][0].is_string()).then_some(j)
    })
    .await;
    let me = &j["members"][0];
    assert_eq!(me["name"], "default");
    assert_eq!(me["clientURLs"][0], url.as_str());
    let id = me["id"].as_str().expect("id").to_string();
    assert_eq!(
        http(p, "GET", "/v2/members/leader", "").json()["id"],
        id.as_str()
    );
    assert_eq!(http(p, "GET", "/v2/machines", "").body, url);

    let s = http(p, "GET", "/v2/stats/self", "").json();
    assert_eq!(
        (s["state"].as_str(), s["id"].as_str()),
        (Some("StateLeader"), Some(id.as_str()))
    );
    assert!(s["leaderInfo"]["uptime"]
        .as_str()
        .is_some_and(|u| u.ends_with('s')));
    let l = http(p, "GET", "/v2/stats/leader", "").json();
    assert_eq!(l["leader"], id.as_str());
    http(p, "PUT", "/v2/keys/s", "value=1");
    http(p, "GET", "/v2/keys/nope", "");
    let st = http(p, "GET", "/v2/stats/store", "").json();
    assert_eq!(
        (st["setsSuccess"].as_u64(), st["getsFail"].as_u64()),
        (Some(1), Some(1))
    );

    // Errors of the members API.
    assert_eq!(http(p, "DELETE", "/v2/members/zz", "").status, 404);
    let r = http(p, "DELETE", "/v2/members/1234", "");
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("No such member: 1234"))
    );
    let r = http(
        p,
        "POST",
        "/v2/members",
        r#"{"peerURLs":["http://127.0.0.1:1"]}"#,
    );
    assert_eq!(r.status, 415, "form content type is refused");
    // Updating this member's peer URLs to themselves is a no-op change.
    let peer = me["peerURLs"][0].as_str().expect("peer url");
    let r = http_typed(
        p,
        "PUT",
        &format!("/v2/members/{id}"),
        &format!(r#"{{"peerURLs":["{peer}"]}}"#),
        "application/json",
    );
    assert_eq!(r.status, 204, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_is_off_by_default_and_survives_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plain = Member::start(&tmp.path().join("plain"), free_port(), &[]);
    plain.client().await;
    assert_eq!(http(plain.port, "GET", "/v2/keys/", "").status, 404);
    assert_eq!(http(plain.port, "GET", "/v2/members", "").status, 404);
    drop(plain);

    let dir = tmp.path().join("m");
    let port = free_port();
    let mut m = Member::start(&dir, port, &["--enable-v2"]);
    m.client().await;
    http(port, "PUT", "/v2/keys/keep/a", "value=1");
    let before = http(port, "GET", "/v2/keys/keep?recursive=true", "").body;
    m.signal("-TERM");
    drop(m);
    let m = Member::start(&dir, port, &["--enable-v2"]);
    m.client().await;
    let after = eventually(20, "v2 answers after restart", || async {
        let r = http(port, "GET", "/v2/keys/keep?recursive=true", "");
        (r.status == 200).then_some(r.body)
    })
    .await;
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_waits_send_every_event_and_bodies_end_in_newlines() {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().expect("tempdir");
    let m = start_v2(&dir.path().join("data")).await;
    let p = m.port;
    let r = http(p, "PUT", "/v2/keys/s", "value=0");
    assert!(
        r.body.ends_with("}\n"),
        "etcd ends JSON bodies with a newline"
    );
    assert!(http(p, "GET", "/v2/keys/none", "").body.ends_with("}\n"));

    let mut watch = std::net::TcpStream::connect(("127.0.0.1", p)).expect("connect");
    watch
        .write_all(
            b"GET /v2/keys/s?wait=true&stream=true HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .expect("send");
    watch
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    // The response head arrives at once; events follow as they happen.
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("\r\n\r\n") {
        assert!(std::time::Instant::now() < deadline, "no response head");
        if let Ok(n) = watch.read(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    http(p, "PUT", "/v2/keys/s", "value=1");
    http(p, "PUT", "/v2/keys/other", "value=x");
    http(p, "PUT", "/v2/keys/s", "value=2");
    http(p, "DELETE", "/v2/keys/s", "");
    while seen.matches("\"action\"").count() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "events missing: {seen}"
        );
        if let Ok(n) = watch.read(&mut buf) {
            assert!(n > 0, "the stream ended early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let actions: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("{\"action\":\""))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert_eq!(actions, ["set", "set", "delete"], "{seen}");
    assert!(!seen.contains("/other"), "{seen}");
}
