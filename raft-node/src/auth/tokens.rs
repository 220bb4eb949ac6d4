//! Auth tokens, as etcd's `--auth-token`.
//!
//! - `simple` (the default): an opaque random string plus `.` and the raft
//!   index of the `Authenticate` entry. The entry is replicated, and every
//!   member records the token for the user when applying it, so a token
//!   works on any member. Tokens live in memory only, expire after
//!   `--auth-token-ttl` seconds without use, and are dropped when the user
//!   is deleted or changes password, or auth is disabled. A member that has
//!   not yet applied the entry waits for it (the index says how far).
//! - `jwt`: a token signed with a configured key ([`super::jwt`]), checked
//!   by signature and expiry on any member without shared state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::distributions::Alphanumeric;
use rand::Rng;

use super::jwt::JwtTokens;

/// Length of the random part of a simple token.
const SIMPLE_TOKEN_LEN: usize = 16;

/// What `--auth-token` selected.
pub enum TokenProvider {
    Simple(SimpleTokens),
    Jwt(JwtTokens),
}

impl TokenProvider {
    /// Parses `--auth-token` (`simple`, or `jwt,<key>=<value>,...`).
    pub fn from_flags(spec: &str, simple_ttl: Duration) -> Result<TokenProvider, String> {
        let mut parts = spec.split(',');
        let kind = parts.next().unwrap_or_default();
        let mut opts = HashMap::new();
        for p in parts {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("invalid auth token option {p:?} in {spec:?}"))?;
            if opts.insert(k.to_string(), v.to_string()).is_some() {
                return Err(format!("duplicate auth token option {k:?} in {spec:?}"));
            }
        }
        match kind {
            "simple" => Ok(TokenProvider::Simple(SimpleTokens::new(simple_ttl))),
            "jwt" => JwtTokens::from_options(&opts).map(TokenProvider::Jwt),
            other => Err(format!("unknown auth token type {other:?}")),
        }
    }
}

struct Assigned {
    user: String,
    expires: Instant,
}

/// The simple tokens this member knows.
pub struct SimpleTokens {
    ttl: Duration,
    tokens: Mutex<HashMap<String, Assigned>>,
}

impl SimpleTokens {
    pub fn new(ttl: Duration) -> Self {
        SimpleTokens {
            ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh random token prefix (the proposer's part of a token).
    pub fn gen_prefix() -> String {
        rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .filter(u8::is_ascii_alphabetic)
            .take(SIMPLE_TOKEN_LEN)
            .map(char::from)
            .collect()
    }

    /// Records `token` for `user` (on every member, when applying).
    pub fn assign(&self, token: &str, user: &str) {
        let now = Instant::now();
        let mut map = self.tokens.lock().expect("tokens lock");
        map.retain(|_, a| a.expires > now);
        map.insert(
            token.to_string(),
            Assigned {
                user: user.to_string(),
                expires: now + self.ttl,
            },
        );
    }

    /// The user of a live token; using a token extends its life.
    pub fn lookup(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let mut map = self.tokens.lock().expect("tokens lock");
        let a = map.get_mut(token)?;
        if a.expires <= now {
            map.remove(token);
            return None;
        }
        a.expires = now + self.ttl;
        Some(a.user.clone())
    }

    /// Drops every token of `user`.
    pub fn invalidate_user(&self, user: &str) {
        self.tokens
            .lock()
            .expect("tokens lock")
            .retain(|_, a| a.user != user);
    }

    /// Drops every token (auth disabled).
    pub fn clear(&self) {
        self.tokens.lock().expect("tokens lock").clear();
    }

    /// The raft index a simple token was issued at, if it has that shape.
    pub fn issued_at(token: &str) -> Option<u64> {
        token.rsplit_once('.')?.1.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_lookup_expire_invalidate() {
        let t = SimpleTokens::new(Duration::from_secs(60));
        let prefix = SimpleTokens::gen_prefix();
        assert_eq!(prefix.len(), SIMPLE_TOKEN_LEN);
        assert!(prefix.chars().all(|c| c.is_ascii_alphabetic()));
        let token = format!("{prefix}.42");
        assert_eq!(SimpleTokens::issued_at(&token), Some(42));
        t.assign(&token, "alice");
        assert_eq!(t.lookup(&token).as_deref(), Some("alice"));
        assert_eq!(t.lookup("nope.1"), None);
        t.invalidate_user("alice");
        assert_eq!(t.lookup(&token), None);
        let short = SimpleTokens::new(Duration::ZERO);
        short.assign(&token, "bob");
        assert_eq!(short.lookup(&token), None, "expired");
    }

    #[test]
    fn parses_the_flag() {
        let ttl = Duration::from_secs(300);
        assert!(matches!(
            TokenProvider::from_flags("simple", ttl),
            Ok(TokenProvider::Simple(_))
        ));
        assert!(TokenProvider::from_flags("magic", ttl).is_err());
        assert!(TokenProvider::from_flags("jwt,ttl", ttl).is_err());
        assert!(TokenProvider::from_flags("jwt,ttl=1m,ttl=2m", ttl).is_err());
    }
}
