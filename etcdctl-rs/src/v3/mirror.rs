//! `etcdctl make-mirror [options] <destination>`: copies every key under
//! `--prefix` of the source cluster (as of one revision) to the destination
//! cluster, then follows the source's watch stream and replays each source
//! revision as one destination txn. Keys are renamed by replacing the first
//! occurrence of `--prefix` with `--dest-prefix` (or with nothing under
//! `--no-dest-prefix`). The number of mirrored keys is printed every 30
//! seconds. It runs until interrupted or until the mirror breaks (e.g. the
//! source compacted the revisions it still needed).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, WatchCreateRequest,
};
use etcd_proto::mvccpb::event::EventType;

use super::client::{strip_scheme, Client, ConnConfig};
use super::concurrency::{self, prefix_range, AbortOnDrop, EventStream};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::tls::{self, SecureFlags};
use super::util::prefix_end;
use super::{global, Invocation};

/// clientv3/mirror's page size for the initial copy.
const BATCH_LIMIT: i64 = 1000;

/// How keys are renamed on their way to the destination.
struct Rename {
    prefix: Vec<u8>,
    dest_prefix: Vec<u8>,
}

impl Rename {
    /// Go's `strings.Replace(key, prefix, destPrefix, 1)`.
    fn apply(&self, key: &[u8]) -> Vec<u8> {
        let pos = if self.prefix.is_empty() {
            Some(0)
        } else {
            key.windows(self.prefix.len())
                .position(|w| w == self.prefix.as_slice())
        };
        match pos {
            Some(i) => {
                let mut out = key[..i].to_vec();
                out.extend_from_slice(&self.dest_prefix);
                out.extend_from_slice(&key[i + self.prefix.len()..]);
                out
            }
            None => key.to_vec(),
        }
    }
}

pub fn run(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [dest] = str_args.as_slice() else {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "make-mirror takes one destination argument",
        ));
    };
    let flags = &inv.flags;
    // Like etcdctl, the destination client is configured (and its TLS
    // files read) before the source's; it has its own TLS flags and no
    // credentials.
    let dest_tls = tls::client_config(&SecureFlags {
        cert: flags.get_string("dest-cert"),
        key: flags.get_string("dest-key"),
        cacert: flags.get_string("dest-cacert"),
        insecure_transport: flags.get_bool("dest-insecure-transport"),
        insecure_skip_verify: false,
    })?;
    let setup = global::setup(inv)?;
    let mut dest_conn = setup.conn.clone();
    dest_conn.endpoints = vec![strip_scheme(dest).to_string()];
    dest_conn.tls = tls::for_endpoint(dest, &dest_tls);
    dest_conn.token = None;
    let opts = Options {
        prefix: flags.get_bytes("prefix").to_vec(),
        dest_prefix: flags.get_bytes("dest-prefix").to_vec(),
        no_dest_prefix: flags.get_bool("no-dest-prefix"),
    };
    let err = inv.block_on(make_mirror(&setup.conn, &dest_conn, opts))?;
    Err(err)
}

struct Options {
    prefix: Vec<u8>,
    dest_prefix: Vec<u8>,
    no_dest_prefix: bool,
}

fn fail(msg: impl Into<Vec<u8>>) -> CtlError {
    CtlError::new(EXIT_ERROR, msg)
}

/// Mirrors until something fails; returns what ends the command.
async fn make_mirror(src_conn: &ConnConfig, dest_conn: &ConnConfig, opts: Options) -> CtlError {
    let total = Arc::new(AtomicI64::new(0));
    let counter = Arc::clone(&total);
    let _report = AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(30)).await;
            println!("{}", counter.load(Ordering::SeqCst));
        }
    }));
    let mut src = Client::new(src_conn.clone());
    let mut dst = Client::new(dest_conn.clone());
    // The revision the copy is taken at.
    let rev = match concurrency::range(
        &mut src,
        RangeRequest {
            key: b"foo".to_vec(),
            ..Default::default()
        },
    )
    .await
    {
        Ok(resp) => resp.header.map(|h| h.revision).unwrap_or(0),
        Err(e) => return fail(e.message()),
    };
    if opts.no_dest_prefix && !opts.dest_prefix.is_empty() {
        return CtlError::new(
            EXIT_BAD_ARGS,
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
        );
    }
    let dest_prefix = if !opts.no_dest_prefix && opts.dest_prefix.is_empty() {
        opts.prefix.clone()
    } else {
        opts.dest_prefix.clone()
    };
    let rename = Rename {
        prefix: opts.prefix.clone(),
        dest_prefix,
    };

    // SyncBase: page through the prefix at `rev`, putting every key.
    let (mut key, range_end) = if opts.prefix.is_empty() {
        (vec![0u8], vec![0u8])
    } else {
        (opts.prefix.clone(), prefix_end(&opts.prefix))
    };
    loop {
        let req = RangeRequest {
            key: key.clone(),
            range_end: range_end.clone(),
            limit: BATCH_LIMIT,
            revision: rev,
            ..Default::default()
        };
        let resp = match concurrency::range(&mut src, req).await {
            Ok(r) => r,
            Err(e) => return fail(e.message()),
        };
        for kv in &resp.kvs {
            let put = PutRequest {
                key: rename.apply(&kv.key),
                value: kv.value.clone(),
                ..Default::default()
            };
            if let Err(e) = concurrency::put(&mut dst, put).await {
                return fail(e.message());
            }
            total.fetch_add(1, Ordering::SeqCst);
        }
        match resp.kvs.last() {
            Some(last) if resp.more => {
                key = last.key.clone();
                key.push(0);
            }
            _ => break,
        }
    }

    // SyncUpdates: one destination txn per source revision.
    let pr = prefix_range(&opts.prefix);
    let mut stream = EventStream::new(
        src_conn,
        WatchCreateRequest {
            key: pr.key,
            range_end: pr.range_end,
            start_revision: rev + 1,
            ..Default::default()
        },
    );
    loop {
        let wr = match stream.next().await {
            Ok(wr) => wr,
            Err(e) => return fail(e),
        };
        let mut last_rev = 0;
        let mut ops: Vec<RequestOp> = Vec::new();
        for ev in &wr.events {
            let kv = ev.kv.clone().unwrap_or_default();
            if last_rev != 0 && kv.mod_revision > last_rev {
                if let Err(e) = commit(&mut dst, std::mem::take(&mut ops)).await {
                    return e;
                }
            }
            last_rev = kv.mod_revision;
            let request = if ev.r#type == EventType::Delete as i32 {
                Request::RequestDeleteRange(DeleteRangeRequest {
                    key: rename.apply(&kv.key),
                    ..Default::default()
                })
            } else {
                Request::RequestPut(PutRequest {
                    key: rename.apply(&kv.key),
                    value: kv.value,
                    ..Default::default()
                })
            };
            ops.push(RequestOp {
                request: Some(request),
            });
            total.fetch_add(1, Ordering::SeqCst);
        }
        if !ops.is_empty() {
            if let Err(e) = commit(&mut dst, ops).await {
                return e;
            }
        }
    }
}

/// Applies one source revision's operations to the destination.
async fn commit(dst: &mut Client, ops: Vec<RequestOp>) -> Result<(), CtlError> {
    let req = TxnRequest {
        compare: Vec::new(),
        success: ops,
        failure: Vec::new(),
    };
    concurrency::txn(dst, req)
        .await
        .map(|_| ())
        .map_err(|e| fail(e.message()))
}

#[cfg(test)]
mod tests {
    use super::Rename;

    fn rename(prefix: &str, dest: &str, key: &str) -> String {
        let r = Rename {
            prefix: prefix.as_bytes().to_vec(),
            dest_prefix: dest.as_bytes().to_vec(),
        };
        String::from_utf8(r.apply(key.as_bytes())).unwrap()
    }

    #[test]
    fn renames_like_strings_replace() {
        assert_eq!(rename("p/", "m/", "p/a"), "m/a");
        assert_eq!(rename("p/", "", "p/a"), "a");
        assert_eq!(rename("", "m/", "a"), "m/a");
        assert_eq!(rename("", "", "a"), "a");
        assert_eq!(rename("x", "y", "axbx"), "aybx");
    }
}
