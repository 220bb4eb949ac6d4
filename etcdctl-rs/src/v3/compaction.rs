//! `etcdctl compaction`: compacts the key-value history up to a revision.

use etcd_proto::etcdserverpb::CompactionRequest;

use super::client::{kv_stub, Client};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::util::rpc_failure;
use super::{global, gofmt, Invocation};

pub fn run(inv: &Invocation) -> CtlResult {
    let args = inv.args();
    if args.len() != 1 {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "compaction command needs 1 argument",
        ));
    }
    let revision =
        gofmt::parse_int_bytes(&args[0], 10).map_err(|e| CtlError::new(EXIT_ERROR, e))?;
    let req = CompactionRequest {
        revision,
        physical: inv.flags.get_bool("physical"),
    };
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    inv.block_on(client.call(kv_stub, false, &req, |mut c, r| async move {
        c.compact(r).await
    }))?
    .map_err(rpc_failure(EXIT_ERROR))?;
    println!("compacted revision {revision}");
    Ok(())
}
