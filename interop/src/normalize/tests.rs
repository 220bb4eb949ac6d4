//! The normalizer's rules, one by one, on real output of both servers.

use super::*;

fn normalizer() -> Normalizer {
    let mut n = Normalizer::new(Path::new("/tmp/interop-x/scratch"));
    n.add_port(40001, "ENDPOINT", "ENDPOINT", "ENDPOINT_PORT");
    n.add_port(40002, "PEER_URL", "PEER_URL", "PEER_PORT");
    n
}

#[test]
fn ports_map_to_placeholders_without_prefix_clashes() {
    let mut n = Normalizer::new(Path::new("/s"));
    n.add_port(4000, "N1_CLIENT_URL", "N1_CLIENT_ADDR", "N1_CLIENT_PORT");
    n.add_port(40001, "N2_PEER_URL", "N2_PEER_ADDR", "N2_PEER_PORT");
    assert_eq!(
        n.normalize(
            "http://127.0.0.1:40001,127.0.0.1:4000 http://localhost:40001 127.0.0.1:4001 /s/x\n"
        ),
        "N2_PEER_URL,N1_CLIENT_ADDR http://localhost:N2_PEER_PORT 127.0.0.1:4001 $TMP/x\n"
    );
}

#[test]
fn named_ids_and_responders() {
    let mut n = normalizer();
    n.name_id(0x15fa361a39aec1c8, "<ID:n1>");
    n.name_id(0x1234567890, "<ID:n2>");
    n.name_id(15583897062594202283, "<CLUSTER_ID>");
    let out = n.normalize(
        "{\"header\":{\"cluster_id\":15583897062594202283,\"member_id\":1583637705238954440},\"ID\":78187493520}\n\
         1234567890, 15fa361a39aec1c8, 694d8b1e2c3a4f05\n",
    );
    assert_eq!(
        out,
        "{\"header\":{\"cluster_id\":<CLUSTER_ID>,\"member_id\":<ID:n1>},\"ID\":<ID:n2>}\n\
         <ID:n2>, <ID:n1>, <ID1>\n"
    );
    assert_eq!(
        mask_responder(&out),
        "{\"header\":{\"cluster_id\":<CLUSTER_ID>,\"member_id\":<ID:member>},\"ID\":<ID:n2>}\n\
         <ID:n2>, <ID:n1>, <ID1>\n"
    );
}

#[test]
fn padded_membership_ids() {
    let mut n = normalizer();
    n.name_id(0x5fa361a39aec1c8, "<ID:n4>");
    assert_eq!(
        n.normalize("Member  5fa361a39aec1c8 added to cluster d8451fcfb82e4aab\n"),
        "Member <ID:n4> added to cluster <ID1>\n"
    );
}

#[test]
fn hashes_are_numbered() {
    let mut n = normalizer();
    let out = n.normalize("ENDPOINT, 123\nENDPOINT, 45\n\"Hash\" : 123\n{\"hash\":45}\n");
    assert_eq!(
        number_hashes(&out),
        "ENDPOINT, HASH_A\nENDPOINT, HASH_B\n\"Hash\" : HASH_A\n{\"hash\":\"HASH_B\"}\n"
    );
    let table = "+--+--+\n| ENDPOINT | HASH |\n+--+--+\n| x | 7 |\n+--+--+\n";
    assert!(number_hashes(&normalize_tables(table)).contains("| x | HASH_A |"));
}

#[test]
fn retry_warnings_collapse() {
    let w = |a: u32| {
        format!("{{\"level\":\"warn\",\"msg\":\"retrying of unary invoker failed\",\"attempt\":{a},\"error\":\"x\"}}\n")
    };
    let text = format!("{}{}{}Error: x\n", w(0), w(1), w(2));
    assert_eq!(
        collapse_retries(&text),
        format!("{}<retried>\nError: x\n", w(0))
    );
    let once = format!("{}Error: x\n", w(0));
    assert_eq!(collapse_retries(&once), once);
}

#[test]
fn ids_are_numbered_by_first_appearance_across_forms() {
    let mut n = normalizer();
    let out = n.normalize(
        "lease 694d8b1e2c3a4f05 granted with TTL(10s)\n\
         {\"cluster_id\":15118495548433857066,\"member_id\":13668033151171901709,\"ID\":7587873908896452357}\n",
    );
    assert_eq!(
        out,
        "lease <ID1> granted with TTL(10s)\n\
         {\"cluster_id\":<ID2>,\"member_id\":<ID3>,\"ID\":<ID1>}\n"
    );
    // The table persists across calls.
    assert_eq!(n.normalize("bdae9bbc11dd390d\n"), "<ID3>\n");
}

#[test]
fn keeps_revisions_and_masks_volatile_status_fields() {
    let mut n = normalizer();
    let out = n.normalize(
        "http://127.0.0.1:40001, 2943212f5e2cf73, 3.4.23, 20 kB, true, false, 2, 7, 7, \n",
    );
    assert_eq!(
        out,
        "ENDPOINT, <ID1>, VERSION, DB_SIZE, true, false, RAFT_TERM, RAFT_INDEX, RAFT_APPLIED_INDEX, \n"
    );
    let out = n.normalize(r#"{"header":{"revision":3,"raft_term":2},"kvs":[{"create_revision":2,"mod_revision":3,"version":2}]}"#);
    assert_eq!(
        out,
        r#"{"header":{"revision":3,"raft_term":"MASKED"},"kvs":[{"create_revision":2,"mod_revision":3,"version":2}]}"#
    );
}

#[test]
fn v2_indexes_numbered_by_first_appearance() {
    let mut n = normalizer();
    let out = n.normalize(concat!(
        "Key: /a\nCreated-Index: 4\nModified-Index: 7\nTTL: 0\nIndex: 7\n",
        "{\"node\":{\"key\":\"/q/00000000000000000004\",\"createdIndex\":4,",
        "\"expiration\":\"2026-11-24T02:01:51.6Z\"}}\n",
        "Error:  100: Key not found (/nope) [9]\n",
        "Error:  101: Compare failed ([4 != 7]) [9]\n",
    ));
    assert_eq!(
        out,
        concat!(
            "Key: /a\nCreated-Index: <V2IDX1>\nModified-Index: <V2IDX2>\nTTL: 0\nIndex: <V2IDX2>\n",
            "{\"node\":{\"key\":\"/q/<V2IDX1>\",\"createdIndex\":<V2IDX1>,",
            "\"expiration\":\"<TIME>\"}}\n",
            "Error:  100: Key not found (/nope) [<V2IDX3>]\n",
            "Error:  101: Compare failed ([<V2IDX1> != <V2IDX2>]) [<V2IDX3>]\n",
        )
    );
}

#[test]
fn tables_ignore_column_widths() {
    let a = "+-----+---------+\n|  ID | DB SIZE |\n+-----+---------+\n| abc |   25 kB |\n+-----+---------+\n";
    let b = "+-----+--------+\n|  ID | DB SIZE |\n+-----+--------+\n| abc | 1.2 MB |\n+-----+--------+\n";
    assert_eq!(normalize_tables(a), normalize_tables(b));
    assert!(normalize_tables(a).contains("| abc | MASKED |"));
}

#[test]
fn lease_keys_are_sorted_and_ttl_masked() {
    let mut n = normalizer();
    let out = n.normalize(
        "lease 0000000000001234 granted with TTL(300s), remaining(299s), attached keys([b c a])\n",
    );
    assert_eq!(
        out,
        "lease <ID1> granted with TTL(300s), remaining(TTL), attached keys([a b c])\n"
    );
    let out = n.normalize(
        "\"ID\" : 4660\n\"TTL\" : 9\n\"GrantedTTL\" : 10\n\"Key\" : \"b\"\n\"Key\" : \"a\"\n",
    );
    assert_eq!(
        out,
        "\"ID\" : <ID1>\n\"TTL\" : TTL\n\"GrantedTTL\" : 10\n\"Key\" : \"a\"\n\"Key\" : \"b\"\n"
    );
}

#[test]
fn masks_client_log_lines() {
    let mut n = normalizer();
    let out = n.normalize(
        r#"{"level":"warn","ts":"2026-11-23T23:31:06.966Z","target":"endpoint://client-87a82c14-b987-482d-b1a1-964902b0659e/127.0.0.1:40001","attempt":0}"#,
    );
    assert_eq!(
        out,
        r#"{"level":"warn","ts":"TS","target":"endpoint://client-UUID/ENDPOINT","attempt":0}"#
    );
}
