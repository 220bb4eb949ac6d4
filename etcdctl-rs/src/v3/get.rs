//! `etcdctl get`: reads a key or a range of keys (also builds the range
//! request for `get` lines inside `txn`).

use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::RangeRequest;

use super::client::kv_stub;
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_BAD_FEATURE};
use super::flags::FlagSet;
use super::util::{key_range, print, setup_and_call};
use super::{gofmt, printer, Invocation};

/// etcdctl's `getGetOp`: validates the arguments and flags.
pub fn range_request(args: &[Vec<u8>], f: &FlagSet) -> CtlResult<RangeRequest> {
    if args.is_empty() {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = super::util::prefix_or_from_key(f)?;
    let mut req = RangeRequest::default();
    match f.get_bytes("consistency") {
        b"s" => req.serializable = true,
        b"l" => {}
        other => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("unknown consistency flag {}", gofmt::quote(other)),
            ))
        }
    }
    (req.key, req.range_end) = key_range(args, prefix, from_key)?;
    req.limit = f.get_i64("limit");
    let rev = f.get_i64("rev");
    if rev > 0 {
        req.revision = rev;
    }
    let order_flag = f.get_string("order");
    let mut order = match order_flag.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        _ => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                [&b"bad sort order "[..], f.get_bytes("order")].concat(),
            ))
        }
    };
    let target_flag = f.get_string("sort-by");
    let target = match target_flag.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                [&b"bad sort target "[..], f.get_bytes("sort-by")].concat(),
            ))
        }
    };
    // clientv3's WithSort: sorting by key ascending is the server default.
    if target == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    req.sort_order = order as i32;
    req.sort_target = target as i32;
    req.keys_only = f.get_bool("keys-only");
    Ok(req)
}

pub fn run(inv: &Invocation) -> CtlResult {
    let req = range_request(inv.args(), &inv.flags)?;
    let (setup, resp) = setup_and_call(inv, kv_stub, true, req, |mut c, r| async move {
        c.range(r).await
    })?;
    let display = if inv.flags.get_bool("print-value-only") {
        if !setup.printer.is_simple() {
            return Err(CtlError::new(
                EXIT_BAD_ARGS,
                "print-value-only is only for `--write-out=simple`",
            ));
        }
        printer::simple_value_only(setup.hex)
    } else {
        setup.printer
    };
    print(|o| display.get(o, &resp))
}
