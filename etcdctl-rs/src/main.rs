//! `etcdctl-rs`: a drop-in replacement for the Go `etcdctl` 3.4.
//!
//! Like etcdctl, the API version is chosen by the `ETCDCTL_API` environment
//! variable: unset or `3` selects the v3 gRPC client, `2` the (not yet
//! implemented) v2 client, anything else is rejected.

mod v2;
mod v3;

fn main() {
    let api = std::env::var("ETCDCTL_API").unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match api.as_str() {
        "" | "3" => v3::run(args),
        "2" => v2::run(args),
        other => {
            eprintln!("unsupported API version {other}");
            1
        }
    };
    std::process::exit(code);
}
