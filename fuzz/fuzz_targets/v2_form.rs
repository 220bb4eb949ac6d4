//! The v2 API's parameter parsing: query string and form body, then etcd's
//! field checks for each method.
#![no_main]

use libfuzzer_sys::fuzz_target;
use raft_node::v2::form::{Form, KeyParams};

fuzz_target!(|data: &[u8]| {
    // The query is a &str (axum hands over valid UTF-8); split at the
    // first 0xff byte, which UTF-8 never contains.
    let (query, body) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let query = String::from_utf8_lossy(query);
    let form = Form::parse(&query, body);
    for method in ["GET", "PUT", "POST", "DELETE"] {
        let _ = KeyParams::parse(&form, method);
    }
});
