//! `etcdctl-rs`: a drop-in replacement for the Go `etcdctl` 3.4.
//!
//! Like etcdctl, the API version is chosen by the `ETCDCTL_API` environment
//! variable: unset or `3` selects the v3 gRPC client, `2` the (not yet
//! implemented) v2 client, anything else is rejected.

mod v2;
mod v3;

use std::io::Write;

fn main() {
    use std::os::unix::ffi::OsStringExt;
    let api = std::env::var_os("ETCDCTL_API").unwrap_or_default();
    // Arguments are bytes, as Go's are: keys and values need not be UTF-8.
    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
    let code = match api.as_encoded_bytes() {
        b"" | b"3" => v3::run(args),
        b"2" => v2::run(
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        ),
        other => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"unsupported API version ");
            let _ = err.write_all(other);
            let _ = err.write_all(b"\n");
            1
        }
    };
    std::process::exit(code);
}
