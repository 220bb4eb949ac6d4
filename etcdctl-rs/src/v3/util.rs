//! Small helpers shared by the command modules: key range arithmetic,
//! mapping RPC failures to exit codes, and printing through a printer.

use super::client::RpcError;
use super::error::{CtlError, CtlResult};
use super::printer::Out;

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
