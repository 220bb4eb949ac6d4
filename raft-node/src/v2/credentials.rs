//! Who a v2 request runs as, and what it may touch, on the v3 auth state.
//!
//! While v3 auth is off nothing is checked (as etcd v2 with auth off).
//! While it is on, the HTTP Basic credentials of the request (what etcdctl
//! v2's `--username user:pass` sends) name a v3 user, whose password is
//! checked against its bcrypt hash. A request without credentials runs as
//! nobody and is refused: etcd v2 would fall back to its `guest` role, but
//! v3 refuses anonymous requests and the v2 API must not open a side door
//! around that (see the v2 module essay).
//!
//! bcrypt costs tens of milliseconds by design, so a verified
//! (user, stored hash, password digest) triple is remembered for a short
//! while; a password change replaces the stored hash and so misses the
//! cache. Only a SHA-256 digest of the password is kept in memory.
//!
//! Permissions are v3 permissions on the emulated keys: reading node
//! `/a/b` needs read on the v3 key `\0v2/a/b`; a recursive operation also
//! needs the subtree range `[\0v2/a/b/, \0v2/a/b0)`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine;
use etcd_proto::etcdrs::AuthInfo;
use sha2::{Digest, Sha256};

use super::node::{descendants, v3_key};
use super::V2;
use crate::auth::password;

/// How long a verified password is trusted without another bcrypt check.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Most remembered verifications (the cache is cleared when full).
const VERIFIED_MAX: usize = 1024;

/// (user, stored bcrypt hash).
type Account = (String, String);
/// SHA-256 of the verified password, and when it was verified.
type Verified = ([u8; 32], Instant);

/// Remembered password checks.
#[derive(Default)]
pub struct VerifiedPasswords {
    entries: Mutex<HashMap<Account, Verified>>,
}

impl VerifiedPasswords {
    fn hit(&self, user: &str, hash: &str, digest: &[u8; 32]) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(user.to_string(), hash.to_string()))
            .is_some_and(|(d, at)| d == digest && at.elapsed() < VERIFIED_TTL)
    }

    fn remember(&self, user: &str, hash: &str, digest: [u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= VERIFIED_MAX {
            entries.clear();
        }
        entries.insert(
            (user.to_string(), hash.to_string()),
            (digest, Instant::now()),
        );
    }
}

/// Who a request runs as.
#[derive(Clone, Debug)]
pub enum Caller {
    /// Auth is off: everything is allowed.
    Unchecked,
    /// A user whose password was verified.
    User(AuthInfo),
}

/// The request carried no usable credentials (etcd's 401).
#[derive(Debug)]
pub struct Unauthorized;

/// `user:password` from an HTTP Basic `Authorization` header.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

impl V2 {
    /// The caller of a request: [`Caller::Unchecked`] while auth is off,
    /// else the user its Basic credentials prove.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, Unauthorized> {
        if !self.server.auth_enabled_and_revision().0 {
            return Ok(Caller::Unchecked);
        }
        let (user, pass) = basic_credentials(headers).ok_or(Unauthorized)?;
        let stored = self.server.with_auth_state(|a| {
            a.users
                .get(&user)
                .filter(|u| !u.no_password)
                .map(|u| u.password_hash.clone())
        });
        let hash = stored.ok_or(Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(pass.as_bytes()).into();
        if !self.verified.hit(&user, &hash, &digest) {
            if !password::verify(pass, hash.clone()).await {
                return Err(Unauthorized);
            }
            self.verified.remember(&user, &hash, digest);
        }
        Ok(Caller::User(AuthInfo {
            username: user,
            revision: self.server.auth_enabled_and_revision().1,
        }))
    }

    /// May `caller` read (or write) `[key, end)`?
    pub fn may(&self, caller: &Caller, key: &[u8], end: &[u8], write: bool) -> bool {
        match caller {
            Caller::Unchecked => true,
            Caller::User(info) => self
                .server
                .with_auth_state(|a| a.check_op(info, key, end, write).is_ok()),
        }
    }

    /// May `caller` read (or write) the node at `path`?
    pub fn may_node(&self, caller: &Caller, path: &str, write: bool) -> bool {
        self.may(caller, &v3_key(path), &[], write)
    }

    /// May `caller` read (or write) everything below `path`?
    pub fn may_below(&self, caller: &Caller, path: &str, write: bool) -> bool {
        let (start, end) = descendants(path);
        self.may(caller, &start, &end, write)
    }

    /// May `caller` read (or write) `path` and, when `recursive`, all of
    /// its subtree?
    pub fn may_tree(&self, caller: &Caller, path: &str, recursive: bool, write: bool) -> bool {
        self.may_node(caller, path, write) && (!recursive || self.may_below(caller, path, write))
    }

    /// Is `caller` an administrator (root role)?
    pub fn is_admin(&self, caller: &Caller) -> bool {
        match caller {
            Caller::Unchecked => true,
            Caller::User(info) => self.server.with_auth_state(|a| a.is_root(&info.username)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_basic_credentials() {
        let mut h = HeaderMap::new();
        assert!(basic_credentials(&h).is_none());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Ym9iOnB3OmV4dHJh"),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("bob".into(), "pw:extra".into()))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert!(basic_credentials(&h).is_none());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(basic_credentials(&h).is_none());
    }

    #[test]
    fn verified_passwords_expire_with_the_hash() {
        let v = VerifiedPasswords::default();
        let d = [1u8; 32];
        v.remember("bob", "h1", d);
        assert!(v.hit("bob", "h1", &d));
        assert!(!v.hit("bob", "h2", &d), "a new hash misses");
        assert!(!v.hit("bob", "h1", &[2u8; 32]), "another password misses");
    }
}
