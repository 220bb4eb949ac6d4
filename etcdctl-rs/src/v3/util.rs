//! Small helpers shared by the command modules: key range arithmetic,
//! mapping RPC failures to exit codes, and printing through a printer.

use super::client::{Client, Conn, RpcError};
use super::error::{CtlError, CtlResult, EXIT_ERROR};
use super::global::{self, Setup};
use super::printer::Out;
use super::Invocation;

/// clientv3's `getPrefix`: the range end covering every key with `key` as
/// prefix (`\0`, i.e. "to the end", when no such end exists).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.last_mut() {
        if *last < 0xff {
            *last += 1;
            return end;
        }
        end.pop();
    }
    vec![0]
}

/// An RPC failure as etcdctl reports it, with the given exit code.
pub fn rpc_failure(code: i32) -> impl Fn(RpcError) -> CtlError {
    move |e| CtlError::new(code, e.message())
}

/// One RPC of a command, run to completion ([`Client::call`]); a failure
/// exits 1 with etcdctl's message.
pub fn rpc<S, Req, T, F, Fut>(
    inv: &Invocation,
    client: &mut Client,
    stub: fn(Conn) -> S,
    idempotent: bool,
    req: Req,
    call: F,
) -> CtlResult<T>
where
    Req: prost::Message + Clone,
    F: Fn(S, Req) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    inv.block_on(client.call(stub, idempotent, &req, call))?
        .map_err(rpc_failure(EXIT_ERROR))
}

/// The start of most commands: connect with the global flags and run one
/// RPC ([`rpc`]). Returns the setup (for its printer) and the response.
pub fn setup_and_call<S, Req, T, F, Fut>(
    inv: &Invocation,
    stub: fn(Conn) -> S,
    idempotent: bool,
    req: Req,
    call: F,
) -> CtlResult<(Setup, T)>
where
    Req: prost::Message + Clone,
    F: Fn(S, Req) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn.clone());
    let resp = rpc(inv, &mut client, stub, idempotent, req, call)?;
    Ok((setup, resp))
}

/// Runs a printer call and writes its output, even when it then fails.
pub fn print(f: impl FnOnce(&mut Out) -> CtlResult) -> CtlResult {
    let mut o = Out::new();
    let result = f(&mut o);
    o.flush();
    result
}

/// Reads all of standard input (etcdctl's `ioutil.ReadAll(os.Stdin)`).
pub fn read_stdin() -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf)?;
    Ok(buf)
}

/// SIGINT and SIGTERM, caught like Go's `signal.Notify(c, SIGINT, SIGTERM)`:
/// once created, these signals no longer end the process.
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts catching the signals (must run inside the runtime).
    pub fn catch() -> CtlResult<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let fail = |e: std::io::Error| CtlError::new(super::error::EXIT_ERROR, e.to_string());
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(fail)?,
            term: signal(SignalKind::terminate()).map_err(fail)?,
        })
    }

    /// Completes when either signal arrives.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Go's name of a signal, as `exec.ExitError` prints it (`signal: killed`).
fn signal_name(sig: i32) -> String {
    match sig {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        3 => "quit".into(),
        6 => "aborted".into(),
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        13 => "broken pipe".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

/// The error Go's `exec.Cmd.Run` returns for a finished (or unstartable)
/// command, `None` on success.
pub fn exec_error(prog: &str, result: std::io::Result<std::process::ExitStatus>) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    match result {
        Ok(s) if s.success() => None,
        Ok(s) => Some(match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(sig)) => format!("signal: {}", signal_name(sig)),
            (None, None) => "exit status -1".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !prog.contains('/') => Some(format!(
            "exec: {}: executable file not found in $PATH",
            super::gofmt::quote(prog.as_bytes())
        )),
        Err(e) => Some(format!(
            "fork/exec {prog}: {}",
            super::snapshot::go_errno(&e)
        )),
    }
}

/// etcdctl's key and range end of `get` and `del`: `key [range_end]`, or
/// every key with `key` as prefix (`--prefix`) or from `key` on
/// (`--from-key`), an empty key meaning all keys. `args` is not empty.
pub fn key_range(args: &[Vec<u8>], prefix: bool, from_key: bool) -> CtlResult<(Vec<u8>, Vec<u8>)> {
    let mut key = args[0].clone();
    let mut range_end = Vec::new();
    if args.len() > 1 {
        if prefix || from_key {
            return Err(CtlError::new(
                super::error::EXIT_BAD_ARGS,
                "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
            ));
        }
        range_end = args[1].clone();
    }
    if prefix {
        if key.is_empty() {
            key = vec![0];
            range_end = vec![0];
        } else {
            range_end = prefix_end(&key);
        }
    }
    if from_key {
        if key.is_empty() {
            key = vec![0];
        }
        range_end = vec![0];
    }
    Ok((key, range_end))
}

/// The `--prefix` and `--from-key` flags of get and del, which exclude each
/// other (etcdctl's message and exit code).
pub fn prefix_or_from_key(f: &super::flags::FlagSet) -> crate::v3::CtlResult<(bool, bool)> {
    let prefix = f.get_bool("prefix");
    let from_key = f.get_bool("from-key");
    if prefix && from_key {
        return Err(crate::v3::CtlError::new(
            crate::v3::error::EXIT_BAD_ARGS,
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    Ok((prefix, from_key))
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    }
}
