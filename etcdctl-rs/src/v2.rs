//! Placeholder for the etcd v2 API mode (`ETCDCTL_API=2`), not implemented yet.

/// Reports that the v2 API is not supported and returns the exit code.
pub fn run(_args: Vec<String>) -> i32 {
    eprintln!("Error: etcdctl-rs: the v2 API (ETCDCTL_API=2) is not supported yet");
    1
}
