//! The JSON of etcd's gRPC gateway, byte for byte: these strings are what
//! etcd 3.4's `/v3/...` endpoints answered to the same requests.

use etcd_proto::etcdserverpb::{
    LeaseGrantResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest,
};
use etcd_proto::mvccpb::KeyValue;

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        cluster_id: 14841639068965178418,
        member_id: 10276657743932975437,
        revision,
        raft_term: 2,
    })
}

#[test]
fn responses_serialize_like_the_gateway() {
    let range = RangeResponse {
        header: header(2),
        kvs: vec![KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            value: b"bar".to_vec(),
            lease: 0,
        }],
        more: false,
        count: 1,
    };
    assert_eq!(
        serde_json::to_string(&range).unwrap(),
        r#"{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}"#
    );
    let empty = RangeResponse {
        header: header(2),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"}}"#
    );
    let grant = LeaseGrantResponse {
        header: header(2),
        id: 7587899423087657481,
        ttl: 30,
        error: String::new(),
    };
    assert_eq!(
        serde_json::to_string(&grant).unwrap(),
        r#"{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"},"ID":"7587899423087657481","TTL":"30"}"#
    );
}

#[test]
fn requests_parse_like_the_gateway() {
    let r: RangeRequest = serde_json::from_str(r#"{"key":"Zm9v","limit":"2"}"#).unwrap();
    assert_eq!((r.key.as_slice(), r.limit), (&b"foo"[..], 2));
    let t: TxnRequest = serde_json::from_str(
        r#"{"compare":[{"key":"Zm9v","result":"EQUAL","target":"VERSION","version":"0"}],"success":[{"request_put":{"key":"Zm9v","value":"YmFy"}}]}"#,
    )
    .unwrap();
    assert_eq!(t.compare.len(), 1);
    assert_eq!(t.success.len(), 1);
    assert!(serde_json::from_str::<RangeRequest>(r#"{"key":1}"#).is_err());
}
