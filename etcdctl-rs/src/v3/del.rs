//! `etcdctl del`: deletes a key or a range of keys; also builds the delete
//! request for `del` lines inside `txn`.

use etcd_proto::etcdserverpb::DeleteRangeRequest;

use super::client::kv_stub;
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS};
use super::flags::FlagSet;
use super::util::{key_range, print, setup_and_call};
use super::Invocation;

/// etcdctl's `getDelOp`.
pub fn delete_request(args: &[Vec<u8>], f: &FlagSet) -> CtlResult<DeleteRangeRequest> {
    if args.is_empty() || args.len() > 2 {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = super::util::prefix_or_from_key(f)?;
    let (key, range_end) = key_range(args, prefix, from_key)?;
    Ok(DeleteRangeRequest {
        key,
        range_end,
        prev_kv: f.get_bool("prev-kv"),
    })
}

pub fn run(inv: &Invocation) -> CtlResult {
    let req = delete_request(inv.args(), &inv.flags)?;
    let (setup, resp) = setup_and_call(inv, kv_stub, false, req, |mut c, r| async move {
        c.delete_range(r).await
    })?;
    print(|o| setup.printer.del(o, &resp))
}
