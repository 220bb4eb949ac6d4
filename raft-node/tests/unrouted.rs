//! A path no route serves never looks like success: plain HTTP gets Go's
//! `404 page not found` (etcd's HTTP mux; under `/v3/` the JSON gateway's
//! `Not Found`), a gRPC call to an unknown service gets Unimplemented
//! (grpc-go). Before, all of them answered HTTP 200 with a gRPC status in
//! the headers.

mod common;

use common::http::exchange;
use common::{free_port, Member};
use etcd_proto::etcdserverpb::RangeRequest;
use tonic::codegen::http::uri::PathAndQuery;

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_are_not_found_and_unknown_services_unimplemented() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let member = Member::start(&tmp.path().join("m"), free_port(), &[]);
    let channel = member.client().await;

    for (method, path) in [
        ("GET", "/nonexistent"),
        ("GET", "/metrics/x"),
        ("GET", "/v2/keys/a"),
        ("PUT", "/v2/members"),
    ] {
        let r = exchange(member.port, method, path, "", "text/plain", None);
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        assert_eq!(r.body, "404 page not found\n", "{method} {path}");
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{method} {path}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    // Under the JSON gateway's prefixes, the gateway's own answer (as etcd).
    let r = exchange(
        member.port,
        "POST",
        "/v3/nope",
        "{}",
        "application/json",
        None,
    );
    assert_eq!((r.status, r.body.as_str()), (404, "Not Found\n"));
    // The served endpoints still answer.
    assert_eq!(
        exchange(member.port, "GET", "/version", "", "text/plain", None).status,
        200
    );

    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let status = grpc
        .unary::<_, RangeRequest, _>(
            tonic::Request::new(RangeRequest::default()),
            PathAndQuery::from_static("/v3lockpb.Lock/Lock"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("no such service");
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
}
