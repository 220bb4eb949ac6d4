//! `etcdctl put`: writes a key (value from the arguments or stdin); also
//! builds the put request for `put` lines inside `txn`.

use etcd_proto::etcdserverpb::PutRequest;

use super::client::{kv_stub, Client};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::flags::FlagSet;
use super::util::{print, read_stdin, rpc_failure};
use super::{global, gofmt, Invocation};

const NEEDS_ARGS: &str = "put command needs 1 argument and input from stdin or 2 arguments";

/// etcdctl's `getPutOp`; `stdin` supplies the value when it is not an
/// argument.
pub fn put_request(
    args: &[Vec<u8>],
    f: &FlagSet,
    stdin: &mut dyn FnMut() -> std::io::Result<Vec<u8>>,
) -> CtlResult<PutRequest> {
    if args.is_empty() {
        return Err(CtlError::new(EXIT_BAD_ARGS, NEEDS_ARGS));
    }
    let ignore_value = f.get_bool("ignore-value");
    if ignore_value && args.len() > 1 {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let mut value = Vec::new();
    if !ignore_value {
        value = match args.get(1) {
            Some(v) => v.clone(),
            None => match stdin() {
                Ok(v) if !v.is_empty() => v,
                _ => return Err(CtlError::new(EXIT_BAD_ARGS, NEEDS_ARGS)),
            },
        };
    }
    let lease = gofmt::parse_int_bytes(f.get_bytes("lease"), 16).map_err(|e| {
        CtlError::new(
            EXIT_BAD_ARGS,
            format!("bad lease ID ({e}), expecting ID in Hex"),
        )
    })?;
    Ok(PutRequest {
        key: args[0].clone(),
        value,
        lease,
        prev_kv: f.get_bool("prev-kv"),
        ignore_value,
        ignore_lease: f.get_bool("ignore-lease"),
    })
}

pub fn run(inv: &Invocation) -> CtlResult {
    let req = put_request(inv.args(), &inv.flags, &mut read_stdin)?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(client.call(
            kv_stub,
            false,
            &req,
            |mut c, r| async move { c.put(r).await },
        ))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    print(|o| setup.printer.put(o, &resp))
}
