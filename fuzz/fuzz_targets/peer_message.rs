//! What the peer service decodes from other members: the gRPC messages of
//! the raft and snapshot streams (prost), then each raft message inside
//! them (rust-protobuf), exactly as `api::peer` does.
#![no_main]

use etcd_proto::etcdrs::{RaftBatch, SnapshotChunk};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use raft_node::api::peer::decode_message;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = RaftBatch::decode(data) {
        for bytes in &batch.messages {
            let _ = decode_message(bytes, "raft message");
        }
    }
    if let Ok(chunk) = SnapshotChunk::decode(data) {
        let _ = decode_message(&chunk.message, "snapshot message");
    }
    if let Ok(msg) = decode_message(data, "raft message") {
        // What was decoded encodes again and decodes back. (Not compared for
        // equality: rust-protobuf keeps unknown fields, and a field given
        // twice, in ways that print alike but differ after a round trip.)
        let bytes = protobuf::Message::write_to_bytes(&msg).expect("re-encode");
        decode_message(&bytes, "raft message").expect("decode re-encoded");
    }
});
