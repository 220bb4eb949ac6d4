//! `etcdctl snapshot status|restore`: the offline snapshot commands. They
//! work on etcd-rs's own snapshot format (what `snapshot save` downloads
//! from an etcd-rs server: the store's rows, zero-padded to 512 bytes, then
//! a sha256 trailer), not on bbolt files. `status` summarises a file;
//! `restore` checks the flags the way etcd's `VerifyBootstrap` does, checks
//! the integrity hash, and writes a new data dir for a new cluster through
//! `etcd_datadir::restore`, logging like etcdctl's snapshot manager.

use std::path::Path;

use etcd_datadir::restore::{self, RestoreOptions};
use etcd_datadir::{bootstrap, ids, NewCluster};
use sha2::{Digest, Sha256};

use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::logline::{snapshot_info, zap_string};
use super::printer::DbStatus;
use super::snapshot::go_errno;
use super::urls::new_urls;
use super::util::print;
use super::{global, gofmt, Invocation};

const SHA256_LEN: usize = 32;

fn fail(msg: impl Into<Vec<u8>>) -> CtlError {
    CtlError::new(EXIT_ERROR, msg)
}

pub fn status(inv: &Invocation) -> CtlResult {
    // The path is bytes, as Go's is.
    let [path] = inv.args() else {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "snapshot status requires exactly one argument",
        ));
    };
    // etcdctl's initDisplayFromCmd: the flags only, no ETCDCTL_* variables.
    let printer = global::display(&inv.flags)?;
    let os_path = {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(path)
    };
    let os_error = |op: &str, e: std::io::Error| {
        fail([op.as_bytes(), path, b": ", go_errno(&e).as_bytes()].concat())
    };
    if let Err(e) = std::fs::metadata(os_path) {
        return Err(os_error("stat ", e));
    }
    let bytes = std::fs::read(os_path).map_err(|e| os_error("open ", e))?;
    let summary = etcd_store::snapshot::summarize_backup(&bytes).map_err(|e| match e {
        etcd_store::StoreError::Corrupt(_) => fail("invalid database"),
        other => fail(other.to_string()),
    })?;
    let ds = DbStatus {
        hash: summary.hash,
        revision: summary.revision,
        total_key: summary.total_keys,
        total_size: summary.total_size as u64,
    };
    print(|o| printer.db_status(o, &ds))
}

/// `types.NewURLsMap`: `name=url,...` into (name, sorted urls), in order of
/// first appearance.
fn new_urls_map(s: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut raw: Vec<(String, Vec<&str>)> = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (name, url) = part.split_once('=').unwrap_or((part, ""));
        match raw.iter_mut().find(|(n, _)| n == name) {
            Some((_, urls)) => urls.push(url),
            None => raw.push((name.to_string(), vec![url])),
        }
    }
    raw.into_iter()
        .map(|(name, urls)| Ok((name, new_urls(&urls)?)))
        .collect()
}

/// `URLsMap.String()`: sorted `name=url` pairs.
fn urls_map_string(map: &[(String, Vec<String>)]) -> String {
    let mut pairs: Vec<String> = map
        .iter()
        .flat_map(|(n, urls)| urls.iter().map(move |u| format!("{n}={u}")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// Go's `%q` of a `[]string`.
fn quote_list(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| gofmt::quote(s.as_bytes())).collect();
    format!("[{}]", items.join(" "))
}

/// etcd's `ServerConfig.VerifyBootstrap` for the restore flags.
fn verify_bootstrap(
    name: &str,
    peer_urls: &[String],
    cluster: &[(String, Vec<String>)],
) -> Result<(), String> {
    let Some((_, urls)) = cluster.iter().find(|(n, _)| n == name) else {
        return Err(format!(
            "couldn't find local name {} in the initial cluster configuration",
            gofmt::quote(name.as_bytes())
        ));
    };
    // advertiseMatchesCluster ("localhost" and IPs are not resolved).
    let mut ap = peer_urls.to_vec();
    ap.sort();
    let equal_err = if ap.len() != urls.len() {
        Some(format!(
            "len({}) != len({})",
            quote_list(&ap),
            quote_list(urls)
        ))
    } else {
        ap.iter().zip(urls).find(|(a, b)| a != b).map(|(a, b)| {
            format!(
                "resolved urls: {} != {}",
                gofmt::quote(a.as_bytes()),
                gofmt::quote(b.as_bytes())
            )
        })
    };
    if let Some(err) = equal_err {
        let ap_str = ap.join(",");
        let mut missing: Vec<String> = urls
            .iter()
            .filter(|u| !ap.contains(u))
            .map(|u| format!("{name}={u}"))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            return Err(format!(
                "--initial-cluster has {} but missing from --initial-advertise-peer-urls={ap_str} ({err})",
                missing.join(",")
            ));
        }
        let mut extra: Vec<String> = ap.iter().filter(|u| !urls.contains(u)).cloned().collect();
        extra.dedup();
        let umap = urls_map_string(&[(name.to_string(), ap.clone())]);
        if !extra.is_empty() {
            return Err(format!(
                "--initial-advertise-peer-urls has {} but missing from --initial-cluster={umap}",
                extra.join(",")
            ));
        }
        return Err(format!(
            "failed to resolve {ap_str} to match --initial-cluster={umap} ({err})"
        ));
    }
    let mut all: Vec<&String> = cluster.iter().flat_map(|(_, u)| u).collect();
    all.sort();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!(
            "initial cluster {} has duplicate url",
            urls_map_string(cluster)
        ));
    }
    Ok(())
}

fn field(key: &str, value: &str) -> String {
    format!("{}:{}", zap_string(key), zap_string(value))
}

fn dirs_fields(path: &str, wal: &str, data: &str, snap: &str) -> Vec<String> {
    vec![
        field("path", path),
        field("wal-dir", wal),
        field("data-dir", data),
        field("snap-dir", snap),
    ]
}

/// Go's `%v` of a byte slice: `[1 2 3]`.
fn go_bytes(b: &[u8]) -> String {
    let items: Vec<String> = b.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(" "))
}

/// The backup body, after the integrity checks etcdctl's `saveDB` does.
fn checked_body(path: &str, skip_hash_check: bool) -> Result<Vec<u8>, String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("open {path}: {}", go_errno(&e)))?;
    if bytes.len() < SHA256_LEN {
        return Err(format!("seek {path}: invalid argument"));
    }
    let has_hash = bytes.len() % 512 == SHA256_LEN;
    if !has_hash && !skip_hash_check {
        return Err("snapshot missing hash but --skip-hash-check=false".into());
    }
    if has_hash {
        let sha = bytes.split_off(bytes.len() - SHA256_LEN);
        if !skip_hash_check {
            let got = Sha256::digest(&bytes);
            if got.as_slice() != sha.as_slice() {
                return Err(format!(
                    "expected sha256 {}, got {}",
                    go_bytes(&sha),
                    go_bytes(&got)
                ));
            }
        }
    }
    Ok(bytes)
}

pub fn restore(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [path] = str_args.as_slice() else {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "snapshot restore requires exactly one argument",
        ));
    };
    let flags = &inv.flags;
    let name = flags.get_string("name");
    let mut data_dir = flags.get_string("data-dir");
    if data_dir.is_empty() {
        data_dir = format!("{name}.etcd");
    }
    let mut wal_dir = flags.get_string("wal-dir");
    let wal_given = !wal_dir.is_empty();
    if !wal_given {
        wal_dir = Path::new(&data_dir)
            .join("member")
            .join("wal")
            .to_string_lossy()
            .into_owned();
    }
    let snap_dir = Path::new(&data_dir)
        .join("member")
        .join("snap")
        .to_string_lossy()
        .into_owned();
    let peer_flag = flags.get_string("initial-advertise-peer-urls");
    let cluster_flag = flags.get_string("initial-cluster");
    let token = flags.get_string("initial-cluster-token");

    let peer_urls = new_urls(&peer_flag.split(',').collect::<Vec<_>>()).map_err(fail)?;
    let cluster = new_urls_map(&cluster_flag).map_err(fail)?;
    verify_bootstrap(&name, &peer_urls, &cluster).map_err(fail)?;
    if Path::new(&data_dir).exists() {
        return Err(fail(format!(
            "data-dir {} exists",
            gofmt::quote(data_dir.as_bytes())
        )));
    }
    if wal_given && Path::new(&wal_dir).exists() {
        return Err(fail(format!(
            "wal-dir {} exists",
            gofmt::quote(wal_dir.as_bytes())
        )));
    }
    let dirs = dirs_fields(path, &wal_dir, &data_dir, &snap_dir);
    eprint!(
        "{}",
        snapshot_info("snapshot/v3_snapshot.go:296", "restoring snapshot", &dirs)
    );
    let mut body = checked_body(path, flags.get_bool("skip-hash-check")).map_err(fail)?;
    // etcd_datadir::restore takes a backup file: give it back a valid trailer.
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);

    let cluster = NewCluster {
        members: cluster,
        token,
    };
    let options = RestoreOptions {
        name,
        data_dir: data_dir.clone().into(),
        wal_dir: wal_dir.clone().into(),
        cluster,
    };
    restore::restore(&body, &options).map_err(|e| fail(e.to_string()))?;

    let members = bootstrap::initial_members(&options.cluster);
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    let cluster_id = ids::cluster_id(&ids);
    for m in &members {
        let mut urls = m.peer_urls.clone();
        urls.sort();
        let urls: Vec<String> = urls.iter().map(|u| zap_string(u)).collect();
        eprint!(
            "{}",
            snapshot_info(
                "membership/cluster.go:392",
                "added member",
                &[
                    field("cluster-id", &format!("{cluster_id:x}")),
                    field("local-member-id", "0"),
                    field("added-peer-id", &format!("{:x}", m.id)),
                    format!("\"added-peer-peer-urls\":[{}]", urls.join(",")),
                ]
            )
        );
    }
    eprint!(
        "{}",
        snapshot_info("snapshot/v3_snapshot.go:309", "restored snapshot", &dirs)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_errors_match_etcd() {
        let cluster = new_urls_map("default=http://localhost:2380").unwrap();
        let ap = vec!["http://127.0.0.1:9".to_string()];
        assert_eq!(
            verify_bootstrap("default", &ap, &cluster).unwrap_err(),
            "--initial-cluster has default=http://localhost:2380 but missing from \
             --initial-advertise-peer-urls=http://127.0.0.1:9 \
             (resolved urls: \"http://127.0.0.1:9\" != \"http://localhost:2380\")"
        );
        assert_eq!(
            verify_bootstrap("n3", &ap, &cluster).unwrap_err(),
            "couldn't find local name \"n3\" in the initial cluster configuration"
        );
        let two =
            new_urls_map("default=http://localhost:2380,default=http://localhost:2381").unwrap();
        let ap = vec!["http://localhost:2380".to_string()];
        assert_eq!(
            verify_bootstrap("default", &ap, &two).unwrap_err(),
            "--initial-cluster has default=http://localhost:2381 but missing from \
             --initial-advertise-peer-urls=http://localhost:2380 \
             (len([\"http://localhost:2380\"]) != len([\"http://localhost:2380\" \"http://localhost:2381\"]))"
        );
        assert!(verify_bootstrap("default", &ap, &cluster).is_ok());
    }

    #[test]
    fn byte_slices_print_like_go() {
        assert_eq!(go_bytes(&[1, 20, 255]), "[1 20 255]");
    }
}
