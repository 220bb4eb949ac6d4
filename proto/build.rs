//! Compiles the .proto files with protox (pure Rust), so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["kv.proto", "auth.proto", "rpc.proto", "internal.proto"];
    for f in files {
        println!("cargo:rerun-if-changed=protos/{f}");
    }
    let descriptors = protox::compile(files, ["protos"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
