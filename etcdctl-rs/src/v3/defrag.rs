//! `etcdctl defrag`: defragments the backend of each endpoint.

use etcd_proto::etcdserverpb::DefragmentRequest;

use super::client::{maintenance_stub, Client};
use super::error::{CtlError, CtlResult, EXIT_ERROR};
use super::{endpoint, global, Invocation};

pub fn run(inv: &Invocation) -> CtlResult {
    let data_dir = inv.flags.get_string("data-dir");
    if !data_dir.is_empty() {
        return Err(CtlError::raw(
            EXIT_ERROR,
            format!(
                "Failed to defragment etcd data[{data_dir}] (etcdctl-rs cannot open a data directory; defragment through a running member instead)\n"
            ),
        ));
    }
    let setup = global::setup(inv)?;
    let mut failures = 0;
    for ep in endpoint::endpoints(inv, &setup)? {
        let mut client = Client::for_endpoint(&setup.conn, &ep);
        let result = inv.block_on(client.call(
            maintenance_stub,
            false,
            &DefragmentRequest {},
            |mut c, r| async move { c.defragment(r).await },
        ))?;
        match result {
            Ok(_) => println!("Finished defragmenting etcd member[{ep}]"),
            Err(e) => {
                eprintln!("Failed to defragment etcd member[{ep}] ({})", e.message());
                failures += 1;
            }
        }
    }
    if failures != 0 {
        return Err(CtlError::silent(EXIT_ERROR));
    }
    Ok(())
}
