//! `etcdctl snapshot save`: streams the backend snapshot of one member into
//! `FILE.part`, checks its size and sha256 trailer, fsyncs it and renames
//! it into place, logging like clientv3's snapshot manager.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant as StdInstant;

use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::SnapshotRequest;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::client::{grpc_error_string, Client, RpcError};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_INTERRUPTED};
use super::logline::{self, zap_string};
use super::{global, gofmt, Invocation};

/// Go's text for an OS error (`syscall.Errno`), e.g. "no such file or directory".
pub fn go_errno(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn field(key: &str, value: &str) -> String {
    field_bytes(key, value.as_bytes())
}

fn field_bytes(key: &str, value: &[u8]) -> String {
    format!("{}:{}", zap_string(key), logline::zap_bytes(value))
}

fn os(path: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(path)
}

/// Checks the snapshot framing: a bolt file (a multiple of 512 bytes)
/// followed by the sha256 of that file.
fn verify(data: &[u8]) -> Result<(), String> {
    if data.len() % 512 != 32 {
        return Err(format!(
            "snapshot file size {} is not a bolt database followed by a 32-byte sha256 trailer",
            data.len()
        ));
    }
    let (db, sum) = data.split_at(data.len() - 32);
    if Sha256::digest(db).as_slice() != sum {
        return Err("snapshot sha256 checksum mismatch".to_string());
    }
    Ok(())
}

/// Receives the whole snapshot stream into `f`, returning its bytes.
async fn download(
    client: &mut Client,
    deadline: Option<Instant>,
    endpoint: &str,
    f: &mut File,
) -> Result<Vec<u8>, String> {
    let connect_deadline = deadline.unwrap_or_else(|| Instant::now() + client.command_timeout());
    let ch = client
        .channel(connect_deadline)
        .await
        .map_err(|e| e.message())?;
    let transfer = async {
        let mut stream = MaintenanceClient::new(ch)
            .max_decoding_message_size(super::client::MAX_RECV_MSG_SIZE)
            .snapshot(SnapshotRequest {})
            .await
            .map_err(|s| RpcError::Status(s).message())?
            .into_inner();
        eprint!(
            "{}",
            logline::maintenance_info(
                "clientv3/maintenance.go:200",
                "opened snapshot stream; downloading"
            )
        );
        eprint!(
            "{}",
            logline::snapshot_info(
                "snapshot/v3_snapshot.go:127",
                "fetching snapshot",
                &[field("endpoint", endpoint)]
            )
        );
        let mut data = Vec::new();
        loop {
            match stream.message().await {
                Ok(Some(resp)) => {
                    f.write_all(&resp.blob).map_err(|e| go_errno(&e))?;
                    data.extend_from_slice(&resp.blob);
                }
                Ok(None) => break,
                Err(s) => {
                    let err = grpc_error_string(s.code(), s.message());
                    eprintln!(
                        "{{\"level\":\"warn\",\"msg\":\"failed to receive from snapshot stream; closing\",\"error\":{}}}",
                        zap_string(&err)
                    );
                    return Err(RpcError::Status(s).message());
                }
            }
        }
        eprint!(
            "{}",
            logline::maintenance_info(
                "clientv3/maintenance.go:208",
                "completed snapshot read; closing"
            )
        );
        Ok(data)
    };
    match deadline {
        Some(d) => tokio::time::timeout_at(d, transfer)
            .await
            .unwrap_or_else(|_| Err(RpcError::Deadline.message())),
        None => transfer.await,
    }
}

pub fn save(inv: &Invocation) -> CtlResult {
    // The path is bytes, as Go's is.
    let [path] = inv.args() else {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "snapshot save expects one argument",
        ));
    };
    let setup = global::setup(inv)?;
    let fail = |msg: String| CtlError::new(EXIT_INTERRUPTED, msg);
    if setup.endpoints.len() != 1 {
        return Err(fail(format!(
            "snapshot must be requested to one selected node, not multiple {}",
            gofmt::go_string_slice(&setup.endpoints)
        )));
    }
    let endpoint = setup.endpoints[0].clone();
    let part = [&path[..], b".part"].concat();
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(os(&part))
        .map_err(|e| {
            let errno = go_errno(&e);
            CtlError::new(
                EXIT_INTERRUPTED,
                [
                    &b"could not open "[..],
                    &part,
                    b" (open ",
                    &part,
                    b": ",
                    errno.as_bytes(),
                    b")",
                ]
                .concat(),
            )
        })?;
    eprint!(
        "{}",
        logline::snapshot_info(
            "snapshot/v3_snapshot.go:119",
            "created temporary db file",
            &[field_bytes("path", &part)]
        )
    );
    let result = write_snapshot(inv, &setup, &endpoint, &mut f, path, &part);
    if result.is_err() {
        let _ = std::fs::remove_file(os(&part));
    }
    result
}

fn write_snapshot(
    inv: &Invocation,
    setup: &global::Setup,
    endpoint: &str,
    f: &mut File,
    path: &[u8],
    part: &[u8],
) -> CtlResult {
    let fail = |msg: String| CtlError::new(EXIT_INTERRUPTED, msg);
    let started = StdInstant::now();
    let mut client = Client::for_endpoint(&setup.conn, endpoint);
    // Without an explicit --command-timeout the download is not time-bound.
    let timeout = setup
        .flags
        .changed("command-timeout")
        .then_some(setup.conn.command_timeout);
    let data = inv
        .block_on(async {
            let deadline = timeout.map(|t| Instant::now() + t);
            download(&mut client, deadline, endpoint, f).await
        })?
        .map_err(fail)?;
    verify(&data).map_err(fail)?;
    f.sync_all().map_err(|e| fail(go_errno(&e)))?;
    eprint!(
        "{}",
        logline::snapshot_info(
            "snapshot/v3_snapshot.go:142",
            "fetched snapshot",
            &[
                field("endpoint", endpoint),
                field("size", &gofmt::humanize_bytes(data.len() as u64)),
                format!("\"took\":{}", started.elapsed().as_secs_f64()),
            ]
        )
    );
    std::fs::rename(os(part), os(path)).map_err(|e| {
        let errno = go_errno(&e);
        CtlError::new(
            EXIT_INTERRUPTED,
            [
                &b"could not rename "[..],
                part,
                b" to ",
                path,
                b" (rename ",
                part,
                b" ",
                path,
                b": ",
                errno.as_bytes(),
                b")",
            ]
            .concat(),
        )
    })?;
    eprint!(
        "{}",
        logline::snapshot_info(
            "snapshot/v3_snapshot.go:152",
            "saved",
            &[field_bytes("path", path)]
        )
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&[&b"Snapshot saved at "[..], path, b"\n"].concat());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_trailer() {
        let db = vec![7u8; 1024];
        let mut data = db.clone();
        data.extend_from_slice(&Sha256::digest(&db));
        assert!(verify(&data).is_ok());
        data[0] = 8;
        assert!(verify(&data).is_err());
        assert!(verify(&[0u8; 100]).is_err());
    }

    #[test]
    fn errno_text() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(go_errno(&e), "no such file or directory");
    }
}
