//! Member and cluster IDs, derived exactly as etcd derives them, so that a
//! member started with the same peer URLs and cluster token gets the same ID
//! as it would under etcd, and two clusters with different tokens differ.
//!
//! - member ID: first 8 bytes (big-endian) of sha1(sorted peer URLs joined
//!   with "" + cluster token);
//! - cluster ID: first 8 bytes of sha1(sorted member IDs as 8-byte big-endian).

use sha1::{Digest, Sha1};

pub fn member_id(peer_urls: &[String], cluster_token: &str) -> u64 {
    hash_member(peer_urls, cluster_token, "")
}

/// etcd's ID for a member added at runtime (MemberAdd): as [`member_id`],
/// with the Unix time in seconds appended, so re-adding the same URLs gives
/// a new ID.
pub fn added_member_id(peer_urls: &[String], cluster_token: &str, unix_secs: u64) -> u64 {
    hash_member(peer_urls, cluster_token, &unix_secs.to_string())
}

fn hash_member(peer_urls: &[String], cluster_token: &str, suffix: &str) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut h = Sha1::new();
    h.update(urls.concat().as_bytes());
    h.update(cluster_token.as_bytes());
    h.update(suffix.as_bytes());
    first_u64(&h.finalize())
}

pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha1::new();
    for id in ids {
        h.update(id.to_be_bytes());
    }
    first_u64(&h.finalize())
}

fn first_u64(digest: &[u8]) -> u64 {
    u64::from_be_bytes(digest[..8].try_into().expect("sha1 is 20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_single_member_matches_etcd() {
        // etcd's well-known IDs for `etcd` started with no flags.
        let id = member_id(&["http://localhost:2380".to_string()], "etcd-cluster");
        assert_eq!(format!("{id:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[id])), "cdf818194e3a8c32");
    }

    #[test]
    fn an_added_member_id_depends_on_the_time() {
        let urls = ["http://127.0.0.1:2380".to_string()];
        let at = |t| added_member_id(&urls, "etcd-cluster", t);
        assert_eq!(at(7), at(7));
        assert_ne!(at(7), at(8));
        assert_ne!(at(7), member_id(&urls, "etcd-cluster"));
    }

    #[test]
    fn token_changes_ids() {
        let urls = ["http://127.0.0.1:2380".to_string()];
        assert_ne!(member_id(&urls, "a"), member_id(&urls, "b"));
    }
}
