//! Compiles the .proto files with protox (pure Rust), so building needs no system `protoc`.
//! The client-facing packages also get serde impls (pbjson) with the JSON of etcd's gRPC
//! gateway: proto field names, 64-bit integers as strings, bytes as base64, enums by name,
//! default values left out.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["kv.proto", "auth.proto", "rpc.proto", "internal.proto"];
    for f in files {
        println!("cargo:rerun-if-changed=protos/{f}");
    }
    let descriptors = protox::compile(files, ["protos"])?;
    let encoded = descriptors.encode_to_vec();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .preserve_proto_field_names()
        // As grpc-gateway v1 (etcd 3.4/3.5): unknown JSON fields are ignored.
        .ignore_unknown_fields()
        .build(&[".etcdserverpb", ".mvccpb", ".authpb"])?;
    Ok(())
}
