//! JWT auth tokens (`--auth-token jwt,pub-key=...,priv-key=...,sign-method=...`).
//!
//! As etcd: the token's claims are the user name, the auth revision at
//! issue and an expiry (`ttl`, default 5 minutes); any member holding the
//! public key can check it, so nothing is replicated. A token issued
//! before an auth change carries an older revision, and requests made
//! with it are refused with "revision of auth store is old" until the
//! client authenticates again. Members that only verify may be given just
//! the public key.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const DEFAULT_TTL: Duration = Duration::from_secs(300);

#[derive(Serialize, Deserialize)]
struct Claims {
    username: String,
    revision: u64,
    exp: u64,
}

pub struct JwtTokens {
    algorithm: Algorithm,
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    ttl: Duration,
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading JWT key {path}: {e}"))
}

impl JwtTokens {
    /// Builds the provider from the `key=value` options of `--auth-token`.
    pub fn from_options(opts: &HashMap<String, String>) -> Result<JwtTokens, String> {
        let method = opts
            .get("sign-method")
            .ok_or("jwt auth token needs sign-method")?;
        let algorithm: Algorithm = method
            .parse()
            .map_err(|_| format!("unknown JWT sign-method {method:?}"))?;
        let ttl = match opts.get("ttl") {
            Some(t) => {
                gostd::parse_std_duration(t).map_err(|e| format!("invalid JWT ttl {t:?}: {e}"))?
            }
            None => DEFAULT_TTL,
        };
        let priv_key = opts.get("priv-key").map(|p| read(p)).transpose()?;
        let pub_key = opts.get("pub-key").map(|p| read(p)).transpose()?;
        let bad = |e: jsonwebtoken::errors::Error| format!("JWT key: {e}");
        let (signing, verifying) = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let secret = priv_key.ok_or("HMAC JWT needs priv-key")?;
                (
                    Some(EncodingKey::from_secret(&secret)),
                    DecodingKey::from_secret(&secret),
                )
            }
            Algorithm::ES256 | Algorithm::ES384 => (
                priv_key
                    .map(|k| EncodingKey::from_ec_pem(&k))
                    .transpose()
                    .map_err(bad)?,
                DecodingKey::from_ec_pem(&pub_key.ok_or("JWT needs pub-key")?).map_err(bad)?,
            ),
            Algorithm::EdDSA => (
                priv_key
                    .map(|k| EncodingKey::from_ed_pem(&k))
                    .transpose()
                    .map_err(bad)?,
                DecodingKey::from_ed_pem(&pub_key.ok_or("JWT needs pub-key")?).map_err(bad)?,
            ),
            _ => (
                priv_key
                    .map(|k| EncodingKey::from_rsa_pem(&k))
                    .transpose()
                    .map_err(bad)?,
                DecodingKey::from_rsa_pem(&pub_key.ok_or("JWT needs pub-key")?).map_err(bad)?,
            ),
        };
        Ok(JwtTokens {
            algorithm,
            signing,
            verifying,
            ttl,
        })
    }

    /// A signed token for `username` at auth `revision`.
    pub fn issue(&self, username: &str, revision: u64) -> Result<String, String> {
        let signing = self
            .signing
            .as_ref()
            .ok_or("this member has no JWT private key")?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            username: username.to_string(),
            revision,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, signing)
            .map_err(|e| format!("signing JWT: {e}"))
    }

    /// The user and auth revision of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<(String, u64)> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.required_spec_claims = ["exp".to_string()].into();
        let data = jsonwebtoken::decode::<Claims>(token, &self.verifying, &validation).ok()?;
        Some((data.claims.username, data.claims.revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_tokens_round_trip_and_reject_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("secret");
        std::fs::write(&key, b"0123456789abcdef0123456789abcdef").unwrap();
        let opts: HashMap<String, String> = [
            ("sign-method".to_string(), "HS256".to_string()),
            ("priv-key".to_string(), key.to_string_lossy().into_owned()),
            ("ttl".to_string(), "10m".to_string()),
        ]
        .into();
        let jwt = JwtTokens::from_options(&opts).unwrap();
        let token = jwt.issue("alice", 7).unwrap();
        assert_eq!(jwt.verify(&token), Some(("alice".to_string(), 7)));
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(jwt.verify(&forged), None);
        assert_eq!(jwt.verify("not-a-token"), None);
    }

    #[test]
    fn options_are_checked() {
        let none: HashMap<String, String> = HashMap::new();
        assert!(JwtTokens::from_options(&none).is_err());
        let bad: HashMap<String, String> =
            [("sign-method".to_string(), "XX999".to_string())].into();
        assert!(JwtTokens::from_options(&bad).is_err());
    }
}
